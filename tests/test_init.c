/*
 * test_init.c — the PRNG, Keras' initializers (statistics from the
 * formulas of keras-semantics §2), determinism, and klc_model_new's checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "fake_model.h"
#include "init.h"
#include "model.h"
#include "rng.h"

/* A def with one weight of the given shape and initializer, no steps. */
static klc_model_def one_weight_def(klc_tensor_def *t, int rank, const int64_t *shape,
                                    klc_init_kind kind, double a0, double a1, double a2)
{
    memset(t, 0, sizeof *t);
    t->name = "layer.w";
    t->layer = "layer";
    t->weight = "w";
    t->kind = KLC_TENSOR_PARAM;
    t->rank = rank;
    t->size = 1;
    for (int i = 0; i < rank; i++) {
        t->shape[i] = shape[i];
        t->size *= shape[i];
    }
    t->init = kind;
    t->init_args[0] = a0;
    t->init_args[1] = a1;
    t->init_args[2] = a2;
    /* Keras' compute_fans */
    if (rank == 0) {
        t->fan_in = t->fan_out = 1;
    } else if (rank == 1) {
        t->fan_in = t->fan_out = shape[0];
    } else {
        int64_t receptive = 1;
        for (int i = 0; i < rank - 2; i++)
            receptive *= shape[i];
        t->fan_in = shape[rank - 2] * receptive;
        t->fan_out = shape[rank - 1] * receptive;
    }
    klc_model_def def;
    memset(&def, 0, sizeof def);
    def.abi_version = KLC_ABI_VERSION;
    def.name = "init_model";
    def.input_rank = 1;
    def.input_shape[0] = 1;
    def.output_rank = 1;
    def.output_shape[0] = 1;
    def.n_tensors = 1;
    def.tensors = t;
    def.n_params = t->size;
    return def;
}

typedef struct stats {
    double mean, var, min, max;
} stats;

static stats stats_of(const float *v, int64_t n)
{
    stats s = { 0, 0, INFINITY, -INFINITY };
    for (int64_t i = 0; i < n; i++) {
        s.mean += v[i];
        s.min = fmin(s.min, v[i]);
        s.max = fmax(s.max, v[i]);
    }
    s.mean /= (double)n;
    for (int64_t i = 0; i < n; i++)
        s.var += (v[i] - s.mean) * (v[i] - s.mean);
    s.var /= (double)n;
    return s;
}

/* Initialise one weight with seed 7 and return its statistics. */
static stats init_stats(int rank, const int64_t *shape, klc_init_kind kind, double a0, double a1,
                        double a2)
{
    klc_tensor_def t;
    klc_model_def def = one_weight_def(&t, rank, shape, kind, a0, a1, a2);
    klc_model *m = klc_model_new(&def, 7);
    assert_non_null(m);
    stats s = stats_of(klc_model_weight(m, "layer.w"), t.size);
    klc_model_free(m);
    return s;
}

/* |mean − want| within 5 standard errors of a mean of n draws of variance var. */
static void assert_mean(double mean, double want, double var, int64_t n)
{
    double tol = 5.0 * sqrt(var / (double)n);
    if (fabs(mean - want) > tol)
        fail_msg("mean %.6g, expected %.6g ± %.3g", mean, want, tol);
}

static void assert_close_rel(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fabs(want))
        fail_msg("got %.8g, expected %.8g within %.2g%%", got, want, rel * 100);
}

static void test_glorot_uniform(void **state)
{
    (void)state;
    int64_t shape[2] = { 784, 64 };
    stats s = init_stats(2, shape, KLC_INIT_VARIANCE_SCALING, 1.0, 2, 2);
    double limit = sqrt(6.0 / (784 + 64));
    assert_true(fabs(limit - 0.0841158) < 1e-7);
    assert_true(s.min >= -limit && s.max <= limit);
    assert_true(s.max > 0.99 * limit && s.min < -0.99 * limit);
    assert_mean(s.mean, 0.0, limit * limit / 3, 784 * 64);
    assert_close_rel(s.var, limit * limit / 3, 0.02);
}

static void test_he_normal_truncated(void **state)
{
    (void)state;
    int64_t shape[2] = { 100, 300 };
    stats s = init_stats(2, shape, KLC_INIT_VARIANCE_SCALING, 2.0, 0, 0);
    double sigma = sqrt(2.0 / 100) / 0.87962566103423978;
    assert_true(s.min >= -2 * sigma && s.max <= 2 * sigma);
    assert_true(s.max > 1.95 * sigma); /* truncated, not clipped short */
    /* the divisor restores the variance scale / fan_in after truncation */
    assert_close_rel(s.var, 2.0 / 100, 0.03);
    assert_mean(s.mean, 0.0, 2.0 / 100, 30000);
}

static void test_conv_fans_and_modes(void **state)
{
    (void)state;
    /* Conv kernel [3, 3, 8, 16]: fan_in 72, fan_out 144.  lecun_uniform: L = sqrt(3/72). */
    int64_t conv[4] = { 3, 3, 8, 16 };
    stats s = init_stats(4, conv, KLC_INIT_VARIANCE_SCALING, 1.0, 0, 2);
    double limit = sqrt(3.0 / 72);
    assert_true(s.min >= -limit && s.max <= limit && s.max > 0.98 * limit);
    /* fan_out, untruncated normal: σ² = 1/144, values beyond 2σ exist */
    s = init_stats(4, conv, KLC_INIT_VARIANCE_SCALING, 1.0, 1, 1);
    assert_close_rel(s.var, 1.0 / 144, 0.08);
    assert_true(s.max > 2.0 * sqrt(1.0 / 144));
    /* fan_avg uniform with scale 3 on a vector: fans (50, 50) */
    int64_t vec[1] = { 20000 };
    s = init_stats(1, vec, KLC_INIT_VARIANCE_SCALING, 3.0, 2, 2);
    limit = sqrt(3.0 * 3.0 / 20000);
    assert_true(s.max <= limit && s.max > 0.99 * limit);
    /* a scalar (fans 1, 1): max(1, n) keeps the scale */
    s = init_stats(0, vec, KLC_INIT_VARIANCE_SCALING, 1.0, 0, 2);
    assert_true(fabs(s.mean) <= sqrt(3.0));
}

static void test_random_distributions(void **state)
{
    (void)state;
    int64_t shape[1] = { 40000 };
    stats s = init_stats(1, shape, KLC_INIT_RANDOM_UNIFORM, -0.05, 0.05, 0);
    assert_true(s.min >= -0.05 && s.max < 0.05 && s.max > 0.0499);
    assert_close_rel(s.var, 0.1 * 0.1 / 12, 0.03);
    s = init_stats(1, shape, KLC_INIT_RANDOM_NORMAL, 0.5, 2.0, 0);
    assert_mean(s.mean, 0.5, 4.0, 40000);
    assert_close_rel(s.var, 4.0, 0.03);
    assert_true(s.max > 0.5 + 2 * 2.0); /* not truncated */
    s = init_stats(1, shape, KLC_INIT_TRUNCATED_NORMAL, 1.0, 0.5, 0);
    assert_true(s.min >= 0.0 && s.max <= 2.0 && s.max > 1.97);
    assert_mean(s.mean, 1.0, 0.25, 40000);
    /* variance of a standard normal truncated at ±2 is 0.87962566² */
    assert_close_rel(s.var, 0.25 * 0.87962566103423978 * 0.87962566103423978, 0.03);
}

static void test_constants(void **state)
{
    (void)state;
    int64_t shape[2] = { 3, 5 };
    stats s = init_stats(2, shape, KLC_INIT_ZEROS, 0, 0, 0);
    assert_true(s.min == 0.0 && s.max == 0.0);
    s = init_stats(2, shape, KLC_INIT_ONES, 0, 0, 0);
    assert_true(s.min == 1.0 && s.max == 1.0);
    s = init_stats(2, shape, KLC_INIT_CONSTANT, 0.25, 0, 0);
    assert_true(s.min == 0.25 && s.max == 0.25);
}

static void test_identity(void **state)
{
    (void)state;
    int64_t shape[2] = { 3, 5 };
    klc_tensor_def t;
    klc_model_def def = one_weight_def(&t, 2, shape, KLC_INIT_IDENTITY, 2.0, 0, 0);
    klc_model *m = klc_model_new(&def, 1);
    assert_non_null(m);
    const float *w = klc_model_weight(m, "layer.w");
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            assert_true(w[i * 5 + j] == (i == j ? 2.0f : 0.0f));
    klc_model_free(m);
    int64_t cube[3] = { 2, 2, 2 };
    def = one_weight_def(&t, 3, cube, KLC_INIT_IDENTITY, 1.0, 0, 0);
    assert_null(klc_model_new(&def, 1));
    assert_non_null(strstr(klc_last_error(), "identity initializer needs a rank-2 weight"));
}

/* WᵀW = gain²·I for tall W; W·Wᵀ = gain²·I for wide W. */
static void check_orthogonal(int64_t rows, int64_t cols, double gain)
{
    int64_t shape[2] = { rows, cols };
    klc_tensor_def t;
    klc_model_def def = one_weight_def(&t, 2, shape, KLC_INIT_ORTHOGONAL, gain, 0, 0);
    klc_model *m = klc_model_new(&def, 3);
    assert_non_null(m);
    const float *w = klc_model_weight(m, "layer.w");
    int tall = rows >= cols;
    int64_t k = tall ? cols : rows, len = tall ? rows : cols;
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = 0; b < k; b++) {
            double dot = 0.0;
            for (int64_t i = 0; i < len; i++)
                dot += tall ? (double)w[i * cols + a] * w[i * cols + b]
                            : (double)w[a * cols + i] * w[b * cols + i];
            double want = a == b ? gain * gain : 0.0;
            if (fabs(dot - want) > 1e-5 * gain * gain)
                fail_msg("[%lld, %lld] orthogonal: entry (%lld, %lld) = %g, want %g",
                         (long long)rows, (long long)cols, (long long)a, (long long)b, dot, want);
        }
    klc_model_free(m);
}

static void test_orthogonal(void **state)
{
    (void)state;
    check_orthogonal(64, 32, 1.0);
    check_orthogonal(16, 48, 2.0);
    check_orthogonal(20, 20, 0.5);
    int64_t vec[1] = { 5 };
    klc_tensor_def t;
    klc_model_def def = one_weight_def(&t, 1, vec, KLC_INIT_ORTHOGONAL, 1.0, 0, 0);
    assert_null(klc_model_new(&def, 1));
    assert_non_null(strstr(klc_last_error(), "orthogonal initializer needs a weight of rank 2"));
}

static void test_determinism_and_streams(void **state)
{
    (void)state;
    klc_model *a = klc_model_new(&fake_sgd_def, 42);
    klc_model *b = klc_model_new(&fake_sgd_def, 42);
    klc_model *c = klc_model_new(&fake_sgd_def, 43);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    const float *ka = klc_model_weight(a, "dense.kernel");
    assert_memory_equal(ka, klc_model_weight(b, "dense.kernel"), FAKE_D * FAKE_C * sizeof(float));
    assert_memory_not_equal(ka, klc_model_weight(c, "dense.kernel"),
                            FAKE_D * FAKE_C * sizeof(float));
    /* One stream per tensor index: tensor 1 is the same whatever tensor 0 draws. */
    klc_tensor_def t2[2];
    int64_t s0[2] = { 10, 10 }, s1[1] = { 50 };
    klc_model_def d1 = one_weight_def(&t2[0], 2, s0, KLC_INIT_RANDOM_NORMAL, 0, 1, 0);
    klc_model_def d2 = d1;
    one_weight_def(&t2[1], 1, s1, KLC_INIT_RANDOM_UNIFORM, 0, 1, 0);
    t2[1].name = "layer.v";
    t2[1].offset = 100;
    d1.tensors = t2;
    d1.n_tensors = 2;
    d1.n_params = 150;
    klc_tensor_def t3[2] = { t2[0], t2[1] };
    t3[0].init = KLC_INIT_ORTHOGONAL; /* consumes a different number of draws */
    t3[0].init_args[0] = 1.0;
    d2 = d1;
    d2.tensors = t3;
    klc_model *m1 = klc_model_new(&d1, 5), *m2 = klc_model_new(&d2, 5);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_memory_equal(klc_model_weight(m1, "layer.v"), klc_model_weight(m2, "layer.v"),
                        50 * sizeof(float));
    assert_memory_not_equal(klc_model_weight(m1, "layer.w"), klc_model_weight(m2, "layer.w"),
                            100 * sizeof(float));
    klc_model_free(m1);
    klc_model_free(m2);
    klc_model_free(a);
    klc_model_free(b);
    klc_model_free(c);
}

static void test_rng(void **state)
{
    (void)state;
    klc_rng r, r2;
    klc_rng_init(&r, 1, KLC_RNG_SHUFFLE, 0);
    klc_rng_init(&r2, 1, KLC_RNG_SHUFFLE, 1);
    assert_true(klc_rng_next(&r) != klc_rng_next(&r2));
    int counts[7] = { 0 };
    for (int i = 0; i < 70000; i++) {
        uint64_t v = klc_rng_below(&r, 7);
        assert_true(v < 7);
        counts[v]++;
    }
    for (int i = 0; i < 7; i++) /* 10000 ± 5·sqrt(10000·6/7) */
        assert_true(abs(counts[i] - 10000) < 470);
    double sum = 0, sq = 0;
    for (int i = 0; i < 100000; i++) {
        double z = klc_rng_normal(&r);
        sum += z;
        sq += z * z;
    }
    assert_true(fabs(sum / 100000) < 0.016);
    assert_true(fabs(sq / 100000 - 1.0) < 0.03);
    assert_true(klc_rng_derive(1, 2, 3) != klc_rng_derive(1, 3, 2));
}

static void test_model_new_checks(void **state)
{
    (void)state;
    klc_model_def def = fake_sgd_def;
    def.abi_version = KLC_ABI_VERSION + 1;
    assert_null(klc_model_new(&def, 1));
    assert_non_null(strstr(klc_last_error(), "ABI version 4"));
    assert_non_null(strstr(klc_last_error(), "recompile"));
    def = fake_sgd_def;
    def.n_params = 5; /* too small for the kernel */
    assert_null(klc_model_new(&def, 1));
    assert_non_null(strstr(klc_last_error(), "'dense.kernel' does not fit"));
    assert_null(klc_model_new(NULL, 1));

    klc_model *m = klc_model_new(&fake_adam_def, 1);
    assert_non_null(m);
    assert_ptr_equal(klc_model_def_of(m), &fake_adam_def);
    assert_null(klc_model_weight(m, "dense.nothing"));
    const float *bias = klc_model_weight(m, "dense.bias");
    const float *mean = klc_model_weight(m, "dense.input_mean");
    for (int i = 0; i < FAKE_C; i++)
        assert_true(bias[i] == 0.0f);
    for (int i = 0; i < FAKE_D; i++)
        assert_true(mean[i] == 0.0f);
    for (int i = 0; i < 2 * (FAKE_D * FAKE_C + FAKE_C); i++)
        assert_true(m->slots[i] == 0.0f);
    assert_int_equal(m->cap, 16); /* the def's batch size */
    assert_int_equal(klc_model_reserve(m, 100), 0);
    assert_int_equal(m->cap, 100);
    assert_int_equal(klc_model_reserve(m, 50), 0);
    assert_int_equal(m->cap, 100);
    klc_model_free(m);
    klc_model_free(NULL);
}


/* The OPENBLAS_CORETYPE suggested for OpenBLAS' kernel choice (cpu.h): its
 * pre-AVX fallbacks on a CPU with AVX-512F or AVX2, nothing otherwise. */
static void test_blas_coretype_hint(void **state)
{
    (void)state;
    assert_string_equal(klc_blas_coretype_hint("Prescott", 1, 1), "SkylakeX");
    assert_string_equal(klc_blas_coretype_hint("Nehalem", 0, 1), "Haswell");
    assert_null(klc_blas_coretype_hint("Prescott", 0, 0));
    assert_null(klc_blas_coretype_hint("SkylakeX", 1, 1));
    assert_null(klc_blas_coretype_hint("Haswell", 1, 1));
    assert_null(klc_blas_coretype_hint("Zen", 0, 1));
    assert_null(klc_blas_coretype_hint(NULL, 1, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glorot_uniform),
        cmocka_unit_test(test_he_normal_truncated),
        cmocka_unit_test(test_conv_fans_and_modes),
        cmocka_unit_test(test_random_distributions),
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_orthogonal),
        cmocka_unit_test(test_determinism_and_streams),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_model_new_checks),
        cmocka_unit_test(test_blas_coretype_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
