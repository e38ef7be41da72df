/*
 * test_transformer.c — examples/text_transformer.kl (keras.io's text
 * classification with a Transformer) learns a task that needs its inputs'
 * tokens: a sequence of 200 random token ids in [3, 20000) is positive when
 * it holds the marker id 1 (forty times, at random places), negative when it
 * does not.  The example's model trains through the C API (Adam, batch 32,
 * the file's settings but EPOCHS epochs) on TRAIN sequences; the training
 * loss must fall below half the first epoch's, and the accuracy on TEST
 * held-out sequences must reach 90% (chance: 50%).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "e2e_transformer.h"
#include "e2e_util.h"

enum { LEN = 200, TRAIN = 384, TEST = 128, EPOCHS = 4, MARKS = 40 };

static int32_t *xs, *ys;

static int setup(void **state)
{
    (void)state;
    e2e_rng r = { 2025 };
    int n = TRAIN + TEST;
    xs = malloc(sizeof(int32_t) * (size_t)n * LEN);
    ys = malloc(sizeof(int32_t) * (size_t)n);
    if (!xs || !ys)
        return -1;
    for (int s = 0; s < n; s++) {
        int32_t *row = xs + (size_t)s * LEN;
        for (int t = 0; t < LEN; t++)
            row[t] = 3 + (int32_t)(e2e_uniform(&r) * 19997.0);
        ys[s] = s % 2;
        for (int k = 0; ys[s] && k < MARKS; k++)
            row[(int)(e2e_uniform(&r) * LEN) % LEN] = 1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(xs);
    free(ys);
    return 0;
}

static void classifies(void **state)
{
    (void)state;
    klc_model *m = klc_model_new(&model_def, 7);
    assert_non_null(m);
    int64_t xsh[2] = { TRAIN, LEN }, ysh[1] = { TRAIN };
    int64_t txsh[2] = { TEST, LEN }, tysh[1] = { TEST };
    klc_tensor x = klc_tensor_wrap(KLC_I32, 2, xsh, xs);
    klc_tensor y = klc_tensor_wrap(KLC_I32, 1, ysh, ys);
    klc_tensor tx = klc_tensor_wrap(KLC_I32, 2, txsh, xs + (size_t)TRAIN * LEN);
    klc_tensor ty = klc_tensor_wrap(KLC_I32, 1, tysh, ys + TRAIN);

    klc_fit_options opt = { 0 };
    opt.epochs = EPOCHS;
    klc_history h;
    if (klc_fit(m, &x, &y, &opt, &h) != 0)
        fail_msg("fit: %s", klc_last_error());
    double first = klc_logs_get(&h.logs[0], "loss");
    double last = klc_logs_get(&h.logs[h.n_epochs - 1], "loss");
    klc_history_free(&h);
    klc_logs after;
    assert_int_equal(klc_evaluate(m, &tx, &ty, &after), 0);
    double acc = klc_logs_get(&after, "accuracy");
    printf("transformer: training loss %.4f -> %.4f, held-out accuracy %.3f\n", first, last, acc);
    assert_true(isfinite(first) && isfinite(last));
    if (!(last < 0.5 * first))
        fail_msg("the training loss went from %.4f to %.4f", first, last);
    if (!(acc >= 0.9))
        fail_msg("held-out accuracy %.3f", acc);
    klc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(classifies, NULL, NULL),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
