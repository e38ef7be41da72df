/*
 * test_learn.c — compiled models learn: a generated task with each optimizer.
 *
 * Inputs are standard normal vectors of 8 features; the class of a row is the
 * argmax of a random teacher network, tanh(x W1) W2 (8 -> 16 -> 4), so the
 * task is learnable but not linear (rows too near the teacher's boundaries are
 * drawn again).  Each model of learn.kl (the same MLP,
 * one per optimizer: sgd with momentum, adam, adamw, rmsprop) trains with its
 * file's fit settings (5 epochs of 32) through the C API and must reach at least 95% accuracy
 * on held-out rows; the loss must fall from epoch to epoch overall.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "e2e_learn.h"
#include "e2e_util.h"

enum { IN = 8, HID = 16, CLASSES = 4, TRAIN = 4000, TEST = 1000 };
/* Rows whose two best teacher logits are closer than this are drawn again:
 * the classes are separated by a margin, so 95% is reachable in a few epochs
 * by every optimizer, not only by luck. */
#define MARGIN 1.0

typedef struct Task {
    float *x;       /* [TRAIN + TEST, IN] */
    int32_t *y;     /* [TRAIN + TEST] */
} Task;

static Task task;

static int setup(void **state)
{
    (void)state;
    e2e_rng r = { 12345 };
    double w1[IN][HID], w2[HID][CLASSES];
    for (int i = 0; i < IN; i++)
        for (int j = 0; j < HID; j++)
            w1[i][j] = e2e_normal(&r) / sqrt(IN);
    for (int i = 0; i < HID; i++)
        for (int j = 0; j < CLASSES; j++)
            w2[i][j] = e2e_normal(&r);
    int n = TRAIN + TEST;
    task.x = malloc(sizeof(float) * (size_t)n * IN);
    task.y = malloc(sizeof(int32_t) * (size_t)n);
    if (!task.x || !task.y)
        return -1;
    int count[CLASSES] = { 0 };
    for (int s = 0; s < n;) {
        double h[HID], z[CLASSES];
        float *row = task.x + (size_t)s * IN;
        for (int i = 0; i < IN; i++)
            row[i] = (float)e2e_normal(&r);
        for (int j = 0; j < HID; j++) {
            double a = 0;
            for (int i = 0; i < IN; i++)
                a += row[i] * w1[i][j];
            h[j] = tanh(a);
        }
        int best = 0, second = -1;
        for (int c = 0; c < CLASSES; c++) {
            z[c] = 0;
            for (int j = 0; j < HID; j++)
                z[c] += h[j] * w2[j][c];
        }
        for (int c = 1; c < CLASSES; c++)
            if (z[c] > z[best])
                best = c;
        for (int c = 0; c < CLASSES; c++)
            if (c != best && (second < 0 || z[c] > z[second]))
                second = c;
        if (z[best] - z[second] < MARGIN)
            continue; /* too close to the teacher's boundary: drawn again */
        task.y[s] = best;
        count[best]++;
        s++;
    }
    /* every class is common: chance level is far below 95% */
    for (int c = 0; c < CLASSES; c++)
        if (count[c] > n / 2 || count[c] < n / 10) {
            fprintf(stderr, "class %d has %d of %d rows\n", c, count[c], n);
            return -1;
        }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(task.x);
    free(task.y);
    return 0;
}

static void learns(void **state)
{
    const klc_model_def *def = *state;
    klc_model *m = klc_model_new(def, 2024);
    assert_non_null(m);
    int64_t xs[2] = { TRAIN, IN }, ys[1] = { TRAIN };
    int64_t txs[2] = { TEST, IN }, tys[1] = { TEST };
    klc_tensor x = klc_tensor_wrap(KLC_F32, 2, xs, task.x);
    klc_tensor y = klc_tensor_wrap(KLC_I32, 1, ys, task.y);
    klc_tensor tx = klc_tensor_wrap(KLC_F32, 2, txs, task.x + (size_t)TRAIN * IN);
    klc_tensor ty = klc_tensor_wrap(KLC_I32, 1, tys, task.y + TRAIN);

    klc_logs before;
    assert_int_equal(klc_evaluate(m, &tx, &ty, &before), 0);
    klc_fit_options opt = { 0 }; /* the file's fit(): 5 epochs of 32 */
    klc_history h;
    if (klc_fit(m, &x, &y, &opt, &h) != 0)
        fail_msg("fit: %s", klc_last_error());
    assert_int_equal(h.n_epochs, def->fit.epochs);
    double first = klc_logs_get(&h.logs[0], "loss");
    double last = klc_logs_get(&h.logs[h.n_epochs - 1], "loss");
    klc_history_free(&h);
    klc_logs after;
    assert_int_equal(klc_evaluate(m, &tx, &ty, &after), 0);
    double acc0 = klc_logs_get(&before, "accuracy"), acc = klc_logs_get(&after, "accuracy");
    printf("%s: test accuracy %.4f -> %.4f, training loss %.4f -> %.4f\n", def->name, acc0, acc,
           first, last);
    assert_true(isfinite(first) && isfinite(last));
    assert_true(last < 0.5 * first);
    assert_true(acc0 < 0.6);
    if (!(acc >= 0.95))
        fail_msg("%s reached %.4f test accuracy, not 0.95", def->name, acc);
    klc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        { "sgd", learns, NULL, NULL, (void *)&learn_sgd_def },
        { "adam", learns, NULL, NULL, (void *)&learn_adam_def },
        { "adamw", learns, NULL, NULL, (void *)&learn_adamw_def },
        { "rmsprop", learns, NULL, NULL, (void *)&learn_rmsprop_def },
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
