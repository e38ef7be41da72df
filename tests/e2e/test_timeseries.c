/*
 * test_timeseries.c — examples/timeseries_lstm.kl learns to forecast.
 *
 * Series are sine waves of random frequency (0.1 to 0.4 radians per step),
 * phase and amplitude (0.5 to 1.5) with a little noise (stddev 0.05); a
 * sample is a window of 24 values and its target the next one.  The
 * example's `forecast` model (LSTM(16) then Dense(1), Adam) trains with its
 * file's fit settings (8 epochs of 32) through the C API on 2000 windows;
 * the training loss must fall to a quarter of the first epoch's, and the
 * mean squared error on 500 held-out windows must beat the persistence
 * forecast (the window's last value), which a model that learned nothing
 * about the series cannot do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "e2e_timeseries.h"
#include "e2e_util.h"

enum { STEPS = 24, TRAIN = 2000, TEST = 500 };

static float *xs, *ys;

static int setup(void **state)
{
    (void)state;
    e2e_rng r = { 777 };
    int n = TRAIN + TEST;
    xs = malloc(sizeof(float) * (size_t)n * STEPS);
    ys = malloc(sizeof(float) * (size_t)n);
    if (!xs || !ys)
        return -1;
    for (int s = 0; s < n; s++) {
        double w = 0.1 + 0.3 * e2e_uniform(&r), phase = 6.283185307179586 * e2e_uniform(&r);
        double amp = 0.5 + e2e_uniform(&r);
        for (int t = 0; t <= STEPS; t++) {
            double v = amp * sin(w * t + phase) + 0.05 * e2e_normal(&r);
            if (t < STEPS)
                xs[(size_t)s * STEPS + t] = (float)v;
            else
                ys[s] = (float)v;
        }
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

static void forecasts(void **state)
{
    (void)state;
    const klc_model_def *def = &forecast_def;
    klc_model *m = klc_model_new(def, 2024);
    assert_non_null(m);
    int64_t xsh[3] = { TRAIN, STEPS, 1 }, ysh[2] = { TRAIN, 1 };
    int64_t txsh[3] = { TEST, STEPS, 1 }, tysh[2] = { TEST, 1 };
    klc_tensor x = klc_tensor_wrap(KLC_F32, 3, xsh, xs);
    klc_tensor y = klc_tensor_wrap(KLC_F32, 2, ysh, ys);
    klc_tensor tx = klc_tensor_wrap(KLC_F32, 3, txsh, xs + (size_t)TRAIN * STEPS);
    klc_tensor ty = klc_tensor_wrap(KLC_F32, 2, tysh, ys + TRAIN);

    klc_fit_options opt = { 0 }; /* the file's fit(): 8 epochs of 32 */
    klc_history h;
    if (klc_fit(m, &x, &y, &opt, &h) != 0)
        fail_msg("fit: %s", klc_last_error());
    assert_int_equal(h.n_epochs, def->fit.epochs);
    double first = klc_logs_get(&h.logs[0], "loss");
    double last = klc_logs_get(&h.logs[h.n_epochs - 1], "loss");
    klc_history_free(&h);
    klc_logs after;
    assert_int_equal(klc_evaluate(m, &tx, &ty, &after), 0);
    double test_mse = klc_logs_get(&after, "loss");
    double persist = 0;
    for (int s = TRAIN; s < TRAIN + TEST; s++) {
        double d = ys[s] - xs[(size_t)s * STEPS + STEPS - 1];
        persist += d * d;
    }
    persist /= TEST;
    printf("forecast: training loss %.4f -> %.4f, test mse %.4f, persistence %.4f\n", first, last, test_mse,
           persist);
    assert_true(isfinite(first) && isfinite(last) && isfinite(test_mse));
    assert_true(last < 0.25 * first);
    if (!(test_mse < persist))
        fail_msg("test mse %.4f does not beat the persistence forecast %.4f", test_mse, persist);
    klc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(forecasts, NULL, NULL),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
