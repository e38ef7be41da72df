/*
 * test_shape.c — dimensions c + k·N (compiler/shape.c): arithmetic with
 * overflow, the order that holds for every batch size, printing for
 * messages and Keras' summary; and Keras' snake_case of class names
 * (compiler/layer.c), which names layers and their weights.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/arena.h"
#include "check/layer.h"
#include "ir/shape.h"

static const Dim N = {0, 1};

static Dim D(int64_t c, int64_t k)
{
    return (Dim){c, k};
}

static void expect_dim(Dim got, int64_t c, int64_t k)
{
    if (got.c != c || got.k != k)
        fail_msg("got %lld + %lld*N, want %lld + %lld*N", (long long)got.c, (long long)got.k, (long long)c,
                 (long long)k);
}

static void test_arithmetic(void **state)
{
    (void)state;
    Dim r;
    assert_true(dim_add(D(3, 1), D(4, 2), &r));
    expect_dim(r, 7, 3);
    assert_true(dim_sub(D(3, 1), D(4, 2), &r));
    expect_dim(r, -1, -1);
    assert_true(dim_mul(D(49, 0), N, &r)); /* Flatten of [N, 7, 7] */
    expect_dim(r, 0, 49);
    assert_true(dim_mul(D(2, 3), D(5, 0), &r));
    expect_dim(r, 10, 15);
    assert_true(dim_mul(D(5, 0), D(2, 3), &r)); /* either side constant */
    expect_dim(r, 10, 15);
    assert_false(dim_mul(N, N, &r)); /* N squared is not c + k*N */
    assert_false(dim_mul(D(1, 1), D(0, 2), &r));

    assert_true(dim_div_exact(D(0, 49), D(7, 0), &r));
    expect_dim(r, 0, 7);
    assert_true(dim_div_exact(D(12, 6), D(-3, 0), &r));
    expect_dim(r, -4, -2);
    assert_false(dim_div_exact(D(0, 49), D(2, 0), &r)); /* inexact */
    assert_false(dim_div_exact(D(6, 0), D(4, 0), &r));
    assert_false(dim_div_exact(D(6, 0), D(0, 0), &r)); /* by zero */
    assert_false(dim_div_exact(D(0, 6), N, &r));       /* by the batch */

    /* overflow is refused, never wrapped */
    assert_false(dim_add(D(INT64_MAX, 0), D(1, 0), &r));
    /* division by -1 negates, and -INT64_MIN does not exist (it trapped: SIGFPE) */
    assert_true(dim_div_exact(D(3, 1), D(-1, 0), &r));
    expect_dim(r, -3, -1);
    assert_false(dim_div_exact(D(INT64_MIN, 1), D(-1, 0), &r));
    assert_false(dim_div_exact(D(0, INT64_MIN), D(-1, 0), &r));
    assert_false(dim_add(D(0, INT64_MAX), D(0, 1), &r));
    assert_false(dim_sub(D(INT64_MIN, 0), D(1, 0), &r));
    assert_false(dim_mul(D(INT64_MAX / 2 + 1, 0), D(2, 0), &r));
    assert_false(dim_mul(D(0, 1LL << 40), D(1LL << 40, 0), &r));
    assert_true(dim_mul(D(1LL << 31, 0), D(1LL << 31, 0), &r));
    expect_dim(r, 1LL << 62, 0);
}

static void test_order(void **state)
{
    (void)state;
    /* a <= b for every batch size N >= 1 */
    assert_true(dim_le_always(D(3, 0), D(3, 0)));
    assert_true(dim_le_always(D(2, 0), D(3, 0)));
    assert_false(dim_le_always(D(4, 0), D(3, 0)));
    assert_true(dim_le_always(D(0, 0), N));       /* 0 <= N */
    assert_true(dim_le_always(D(1, 0), N));       /* 1 <= N */
    assert_false(dim_le_always(D(2, 0), N));      /* not when N = 1 */
    assert_false(dim_le_always(N, D(1000, 0)));   /* N is unbounded */
    assert_true(dim_le_always(D(-1, 1), D(0, 1))); /* N - 1 <= N */
    assert_true(dim_le_always(N, D(0, 2)));
    assert_true(dim_le_always(D(5, 1), D(0, 6))); /* 5 + N <= 6N for N >= 1 */
    assert_false(dim_le_always(D(6, 1), D(0, 6)));
    assert_false(dim_le_always(D(INT64_MIN, 0), D(INT64_MAX, 0))); /* the difference overflows: unknown */
    assert_false(dim_le_always(D(0, 0), D(INT64_MAX, INT64_MAX))); /* its value at N = 1 overflows */
    assert_false(dim_positive(D(INT64_MAX, 1)));

    assert_true(dim_positive(D(1, 0)));
    assert_false(dim_positive(D(0, 0)));
    assert_false(dim_positive(D(-3, 0)));
    assert_true(dim_positive(N));
    assert_true(dim_positive(D(-1, 2)));  /* 2N - 1 >= 1 */
    assert_false(dim_positive(D(-1, 1))); /* N - 1 is 0 when N = 1 */
    assert_false(dim_positive(D(10, -1)));
    assert_true(dim_eq(D(3, 1), D(3, 1)));
    assert_false(dim_eq(D(3, 1), D(3, 0)));
    assert_int_equal(dim_eval(D(3, 2), 10), 23);
}

static void test_printing(void **state)
{
    (void)state;
    Arena *a = arena_new();
    assert_string_equal(dim_str(a, D(784, 0)), "784");
    assert_string_equal(dim_str(a, D(-1, 0)), "-1");
    assert_string_equal(dim_str(a, N), "N");
    assert_string_equal(dim_str(a, D(0, 49)), "49*N");
    assert_string_equal(dim_str(a, D(0, -1)), "-N");
    assert_string_equal(dim_str(a, D(1, 1)), "N + 1");
    assert_string_equal(dim_str(a, D(-3, 2)), "2*N - 3");
    assert_string_equal(dim_str(a, D(INT64_MIN, 1)), "N - 9223372036854775808"); /* no -INT64_MIN */

    Dim dims[] = {N, D(784, 0)};
    Shape s = shape_make(2, dims);
    assert_string_equal(shape_str(a, &s), "[N, 784]");
    assert_string_equal(shape_keras(a, &s), "(None, 784)");
    Dim d64[] = {N, D(64, 0)};
    Shape s64 = shape_make(2, d64);
    assert_string_equal(shape_keras(a, &s64), "(None, 64)");
    Shape one = shape_make(1, dims);
    assert_string_equal(shape_str(a, &one), "[N]");
    assert_string_equal(shape_keras(a, &one), "(None,)"); /* Python's 1-tuple */
    Dim img[] = {N, D(28, 0), D(28, 0), D(1, 0)};
    Shape four = shape_make(4, img);
    assert_string_equal(shape_keras(a, &four), "(None, 28, 28, 1)");
    assert_string_equal(shape_str(a, &four), "[N, 28, 28, 1]");
    Dim flat[] = {D(0, 49), D(64, 0)};
    Shape f = shape_make(2, flat);
    assert_string_equal(shape_keras(a, &f), "(None, 64)");
    assert_string_equal(shape_str(a, &f), "[49*N, 64]");
    Shape scalar = shape_make(0, NULL);
    assert_string_equal(shape_str(a, &scalar), "[]");
    assert_string_equal(shape_keras(a, &scalar), "()");
    arena_free(a);
}

static void test_shapes(void **state)
{
    (void)state;
    Dim a[] = {N, D(7, 0), D(7, 0), D(64, 0)};
    Shape s = shape_make(4, a);
    Dim n;
    assert_true(shape_count(&s, &n));
    expect_dim(n, 0, 3136);
    int64_t c;
    assert_false(shape_const_count(&s, &c)); /* it involves the batch */
    Dim w[] = {D(3, 0), D(3, 0), D(64, 0), D(128, 0)};
    Shape k = shape_make(4, w);
    assert_true(shape_const_count(&k, &c));
    assert_int_equal(c, 73728);
    Dim huge[] = {D(1LL << 40, 0), D(1LL << 40, 0)};
    Shape h = shape_make(2, huge);
    assert_false(shape_const_count(&h, &c));
    assert_false(shape_count(&h, &n));
    Shape s2 = shape_make(4, a);
    assert_true(shape_eq(&s, &s2));
    s2.d[3] = D(65, 0);
    assert_false(shape_eq(&s, &s2));
    Shape s3 = shape_make(3, a);
    assert_false(shape_eq(&s, &s3));
}

/* Keras' to_snake_case: \W+ removed, (.)([A-Z][a-z]+) -> \1_\2, ([a-z])([A-Z]) -> \1_\2, lower.
 * The expected names are those Python's re.sub gives. */
static void test_snake_case(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"MyCustomLayer", "my_custom_layer"},
        {"Conv2D", "conv2d"},
        {"LeakyReLU", "leaky_re_lu"},
        {"GlobalAveragePooling2D", "global_average_pooling2d"},
        {"BatchNormalization", "batch_normalization"},
        {"ReLU", "re_lu"},
        {"Dense", "dense"},
        {"MyHTTPLayer2D", "my_http_layer2d"},
        {"HTTPServer", "http_server"},
        {"ABCDef", "abc_def"},
        {"AbcDEF", "abc_def"},
        {"PReLU", "p_re_lu"},
        {"UpSampling2D", "up_sampling2d"},
        {"LSTMCell", "lstm_cell"},
        {"SELU", "selu"},
        {"Conv1DLike", "conv1d_like"},
        {"MaxPool1D", "max_pool1d"},
        {"Emb2Layer", "emb2_layer"},
        {"already_snake", "already_snake"},
        {"Layer_Name", "layer__name"},
        {"a_Bc", "a__bc"},
        {"aB", "a_b"},
        {"A", "a"},
        {"X2", "x2"},
        {"_", "_"},
    };
    Arena *a = arena_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = keras_snake_case(a, cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("%s: got %s, want %s", cases[i][0], got, cases[i][1]);
    }
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arithmetic), cmocka_unit_test(test_order),  cmocka_unit_test(test_printing),
        cmocka_unit_test(test_shapes),     cmocka_unit_test(test_snake_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
