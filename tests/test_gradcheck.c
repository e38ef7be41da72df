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
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
