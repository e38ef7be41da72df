/*
 * test_repro.c — reproducible training and exact resumption of a compiled
 * model (repro.kl: Adam slots, a state weight updated by assign(), dropout).
 *
 * - the same seed gives bit-identical weights, state and slots after fit;
 *   another seed does not;
 * - a fit stopped after 2 of 4 epochs, saved as a checkpoint, loaded into a
 *   model created with another seed and resumed at epoch 2 ends bit for bit
 *   where the uninterrupted fit ends (shuffles, dropout masks, Adam's step
 *   count and slots, the moving mean), with the same epoch logs; resuming
 *   from the weights alone (no optimizer state) does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "e2e_repro.h"
#include "e2e_util.h"
#include "model.h" /* runtime internals: the slabs */

enum { ROWS = 100, IN = 6, CLASSES = 3 };

static float X[ROWS][IN];
static int32_t Y[ROWS];

static int setup(void **state)
{
    (void)state;
    e2e_rng r = { 99 };
    for (int i = 0; i < ROWS; i++) {
        double s = 0;
        for (int j = 0; j < IN; j++) {
            X[i][j] = (float)(e2e_normal(&r) + 0.5);
            s += X[i][j] * (j % 3 - 1);
        }
        Y[i] = s > 0.7 ? 2 : s < -0.7 ? 0 : 1;
    }
    return 0;
}

static klc_tensor xt(void)
{
    static int64_t shape[2] = { ROWS, IN };
    return klc_tensor_wrap(KLC_F32, 2, shape, X);
}

static klc_tensor yt(void)
{
    static int64_t shape[1] = { ROWS };
    return klc_tensor_wrap(KLC_I32, 1, shape, Y);
}

/* fit from the model's current state: epochs [initial, epochs) */
static void fit(klc_model *m, int initial, int epochs, klc_history *h)
{
    klc_tensor x = xt(), y = yt();
    klc_fit_options opt = { .epochs = epochs, .initial_epoch = initial }; /* batch 16: the file's */
    if (klc_fit(m, &x, &y, &opt, h) != 0)
        fail_msg("fit: %s", klc_last_error());
}

static int same_model(const klc_model *a, const klc_model *b)
{
    const klc_model_def *d = a->def;
    return a->iteration == b->iteration &&
           !memcmp(a->params, b->params, sizeof(float) * (size_t)d->n_params) &&
           !memcmp(a->state, b->state, sizeof(float) * (size_t)d->n_state) &&
           !memcmp(a->slots, b->slots, sizeof(float) * (size_t)d->n_slots);
}

static void test_same_seed_same_weights(void **state)
{
    (void)state;
    klc_model *a = klc_model_new(&repro_def, 5), *b = klc_model_new(&repro_def, 5);
    klc_model *c = klc_model_new(&repro_def, 6);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    fit(a, 0, 4, NULL);
    fit(b, 0, 4, NULL);
    fit(c, 0, 4, NULL);
    assert_int_equal(a->iteration, 4 * 7); /* 100 rows in batches of 16: 6 full, 1 of 4 */
    assert_true(same_model(a, b));
    assert_false(same_model(a, c));
    /* the state weight was assigned, the slots written */
    float *mean = klc_model_weight(a, "mean_tracker.moving_mean");
    assert_non_null(mean);
    double s = 0;
    for (int i = 0; i < 16; i++)
        s += fabs(mean[i]);
    assert_true(s > 0);
    klc_model_free(a);
    klc_model_free(b);
    klc_model_free(c);
}

static void test_resume_bit_for_bit(void **state)
{
    (void)state;
    const char *ck = e2e_path("repro_epoch2.safetensors");
    const char *wo = e2e_path("repro_weights2.safetensors");

    klc_model *full = klc_model_new(&repro_def, 11);
    klc_history hf;
    fit(full, 0, 4, &hf);

    klc_model *first = klc_model_new(&repro_def, 11);
    fit(first, 0, 2, NULL);
    assert_int_equal(klc_save_checkpoint(first, ck), 0);
    assert_int_equal(klc_save_weights(first, wo), 0);

    klc_model *resumed = klc_model_new(&repro_def, 12345); /* the checkpoint's seed wins */
    if (klc_load_weights(resumed, ck) != 0)
        fail_msg("load: %s", klc_last_error());
    assert_int_equal(resumed->iteration, 2 * 7);
    klc_history hr;
    fit(resumed, 2, 4, &hr);
    assert_true(same_model(full, resumed));
    assert_int_equal(hr.n_epochs, 2);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(hr.epochs[e], 2 + e);
        assert_memory_equal(&hr.logs[e], &hf.logs[2 + e], sizeof hr.logs[e]);
    }

    /* the checkpoint's seed matters: with another one, shuffles and dropout masks differ */
    klc_model *reseeded = klc_model_new(&repro_def, 11);
    assert_int_equal(klc_load_weights(reseeded, ck), 0);
    reseeded->seed = 12345;
    fit(reseeded, 2, 4, NULL);
    assert_false(same_model(full, reseeded));
    klc_model_free(reseeded);

    /* weights alone: Adam restarts from step 0 with empty slots */
    klc_model *partial = klc_model_new(&repro_def, 11);
    assert_int_equal(klc_load_weights(partial, wo), 0);
    assert_int_equal(partial->iteration, 0);
    fit(partial, 2, 4, NULL);
    assert_false(same_model(full, partial));

    klc_history_free(&hf);
    klc_history_free(&hr);
    klc_model_free(full);
    klc_model_free(first);
    klc_model_free(resumed);
    klc_model_free(partial);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_weights),
        cmocka_unit_test(test_resume_bit_for_bit),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
