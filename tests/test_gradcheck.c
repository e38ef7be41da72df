/*
 * test_gradcheck.c — klc_gradcheck passes the fake models' correct
 * gradients and catches a deliberately wrong one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_model.h"

static double check(const klc_model_def *def, int dense, char **text)
{
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 20, 41, dense), 0);
    klc_model *m = klc_model_new(def, 3);
    klc_fit_options opt = { .epochs = 1, .batch_size = 8 }; /* away from the initial point */
    assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), 0);
    const char *path = fake_path("gradcheck.out");
    FILE *out = fopen(path, "w");
    double err = -1.0;
    assert_int_equal(klc_gradcheck(m, &x, &y, out, &err), 0);
    fclose(out);
    *text = fake_read_text(path);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return err;
}

static void test_correct_gradients_pass(void **state)
{
    (void)state;
    const klc_model_def *defs[3] = { &fake_sgd_def, &fake_adam_def, &fake_mse_def };
    for (int i = 0; i < 3; i++) {
        char *text;
        double err = check(defs[i], defs[i] == &fake_mse_def, &text);
        if (!(err >= 0.0 && err < 1e-6))
            fail_msg("model %d: max relative error %g\n%s", i, err, text);
        assert_non_null(strstr(text, "dense.kernel"));
        assert_non_null(strstr(text, "[4, 3]"));
        assert_non_null(strstr(text, "dense.bias"));
        assert_null(strstr(text, "dense.input_mean")); /* state has no gradient */
        assert_non_null(strstr(text, "max relative error: "));
        free(text);
    }
}

static void test_wrong_gradient_caught(void **state)
{
    (void)state;
    char *text;
    double err = check(&fake_bad_def, 0, &text);
    assert_true(err > 0.1);
    /* the kernel is right, the bias is not: the report says which */
    const char *kernel = strstr(text, "dense.kernel");
    const char *bias = strstr(text, "dense.bias");
    assert_non_null(kernel);
    assert_non_null(bias);
    double kerr = atof(strstr(kernel, "max relative error") + 19);
    double berr = atof(strstr(bias, "max relative error") + 19);
    assert_true(kerr < 1e-6);
    assert_true(berr > 0.1);
    free(text);
}

/* fake_sgd_def's gradients with the kernel's first one replaced by NaN. */
static void nan_kernel_grad(klc_step_f64 *s)
{
    fake_sgd_def.grad_f64(s);
    if (s->compute_grads)
        s->grads[0] = NAN;
}

/* A NaN error must fail the check even when a later weight (here the bias,
 * checked after the kernel) agrees: "keep the larger" with <= drops NaN. */
static void test_nan_fails(void **state)
{
    (void)state;
    klc_model_def def = fake_sgd_def;
    def.grad_f64 = nan_kernel_grad;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 20, 41, 0), 0);
    klc_model *m = klc_model_new(&def, 3);
    const char *path = fake_path("gradcheck_nan.out");
    FILE *out = fopen(path, "w");
    double err = 0.0;
    assert_int_equal(klc_gradcheck(m, &x, &y, out, &err), 0);
    fclose(out);
    char *text = fake_read_text(path);
    if (!isnan(err))
        fail_msg("max relative error %g, expected NaN:\n%s", err, text);
    assert_non_null(strstr(text, "max relative error: nan"));
    assert_false(err < 1e-6); /* what the trainer's pass test asks */
    free(text);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

/* A kink in the loss: fake_sgd_def's loss plus KINK_SLOPE · |Σθ − kink_at|,
 * Σθ the sum of the kernel's 12 weights (offsets 0..11), kink_at set near
 * the checked point; the gradient of the term is added correctly
 * (kink_factor 1) or wrongly.  A random unit direction d moves Σθ by
 * s·Σd, with Σd ~ N(0, 1): the kink lies at s = offset / Σd. */
#define KINK_SLOPE 0.5
static double kink_at, kink_offset, kink_factor = 1.0;
static int kink_placed;

static void kinked_grad(klc_step_f64 *s)
{
    /* the first evaluation is gradcheck's, at the point itself */
    double sum = 0.0;
    for (int j = 0; j < 12; j++)
        sum += s->params[j];
    if (!kink_placed) {
        kink_at = sum - kink_offset;
        kink_placed = 1;
    }
    fake_sgd_def.grad_f64(s);
    double t = sum - kink_at;
    s->loss += KINK_SLOPE * fabs(t);
    if (s->compute_grads)
        for (int j = 0; j < 12; j++)
            s->grads[j] += kink_factor * KINK_SLOPE * (t > 0 ? 1.0 : t < 0 ? -1.0 : 0.0);
}

/* klc_gradcheck on fake_sgd_def with the kink `offset` away from the
 * trained point; returns its status, the error in *err, the report in *text. */
static int check_kinked(double offset, double factor, double *err, char **text)
{
    klc_model_def def = fake_sgd_def;
    def.grad_f64 = kinked_grad;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 20, 41, 0), 0);
    klc_model *m = klc_model_new(&def, 3);
    klc_fit_options opt = { .epochs = 1, .batch_size = 8 }; /* trains with the float step */
    assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), 0);
    kink_offset = offset;
    kink_placed = 0;
    kink_factor = factor;
    const char *path = fake_path("gradcheck_kink.out");
    FILE *out = fopen(path, "w");
    *err = -1.0;
    int rc = klc_gradcheck(m, &x, &y, out, err);
    fclose(out);
    *text = fake_read_text(path);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return rc;
}

/* A kink 1e-5 away from the point lies within 2 eps (2e-4) of it in almost
 * every direction, and within 2e-6 in none: finite differences at eps mix two
 * slopes.  The check must notice, use a smaller eps, and pass the correct
 * gradient. */
static void test_kink_near_point_passes(void **state)
{
    (void)state;
    char *text;
    double err;
    assert_int_equal(check_kinked(1e-5, 1.0, &err, &text), 0);
    if (!(err >= 0.0 && err < 1e-6))
        fail_msg("a correct gradient near a kink: max relative error %g\n%s", err, text);
    if (!strstr(text, "a kink within 2 eps"))
        fail_msg("no direction near the kink noticed it:\n%s", text);
    free(text);
}

/* The same kink with the gradient of its term doubled: still a failure. */
static void test_kink_does_not_hide_wrong_gradient(void **state)
{
    (void)state;
    char *text;
    double err;
    assert_int_equal(check_kinked(1e-5, 2.0, &err, &text), 0);
    if (!(err > 0.1))
        fail_msg("a wrong gradient near a kink passed: max relative error %g\n%s", err, text);
    free(text);
}

/* A kink at the point itself (1e-12 away) is crossed at every eps: the
 * kernel cannot be checked, and the check fails saying so, never passes. */
static void test_kink_at_point_refused(void **state)
{
    (void)state;
    char *text;
    double err;
    assert_int_equal(check_kinked(1e-12, 1.0, &err, &text), -1);
    assert_non_null(strstr(klc_last_error(), "not smooth around the weights of dense.kernel"));
    assert_non_null(strstr(text, "dense.kernel"));
    assert_non_null(strstr(text, "not checked"));
    free(text);
}

static void test_errors(void **state)
{
    (void)state;
    klc_model *m = klc_model_new(&fake_sgd_def, 1);
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 5, 1, 0), 0);
    double err;
    assert_int_equal(klc_gradcheck(m, &x, NULL, NULL, &err), -1);
    assert_non_null(strstr(klc_last_error(), "no y given"));
    klc_model_def nograd = fake_sgd_def;
    nograd.grad_f64 = NULL;
    klc_model *n = klc_model_new(&nograd, 1);
    assert_int_equal(klc_gradcheck(n, &x, &y, NULL, &err), -1);
    assert_non_null(strstr(klc_last_error(), "no double-precision gradient"));
    klc_model_free(n);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_correct_gradients_pass),
        cmocka_unit_test(test_nan_fails),
        cmocka_unit_test(test_wrong_gradient_caught),
        cmocka_unit_test(test_kink_near_point_passes),
        cmocka_unit_test(test_kink_does_not_hide_wrong_gradient),
        cmocka_unit_test(test_kink_at_point_refused),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
