/*
 * test_grad_exact.c — derived gradients checked against values computed by
 * hand, where finite differences cannot judge them (models of
 * tests/gradcheck/exact/exact.kl):
 *   - exact ties in max / min reductions and max / min pooling windows: the
 *     whole adjoint goes to the FIRST extremum (in the order of the loops,
 *     row-major over a window), none to the others;
 *   - maximum / minimum ties go to the first argument; relu'(0) = abs'(0) = 0;
 *   - repeated gather ids: d table[id] is the sum over the occurrences;
 *   - stop_gradient blocks its input's gradient (finite differences see
 *     through it, so gradcheck cannot test it);
 *   - add_metric and assign do not change the gradient.
 * Each test evaluates the generated double-precision step (grad_f64)
 * directly, on data written out below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <klc/runtime.h>

#include "gc_exact.h"

/* The loss and the gradient of every parameter at the model's weights. */
typedef struct result {
    double loss;
    double *grads; /* [n_params], at the offsets of the klc_tensor_defs */
} result;

static result run(klc_model *m, const void *x, int64_t n)
{
    const klc_model_def *def = klc_model_def_of(m);
    size_t np = (size_t)(def->n_params > 0 ? def->n_params : 1);
    size_t ns = (size_t)(def->n_state > 0 ? def->n_state : 1);
    double *params = calloc(np, sizeof(double)), *state = calloc(ns, sizeof(double));
    double *work = calloc((size_t)(def->work_c + def->work_k * n) + 1, sizeof(double));
    int32_t *iwork = calloc((size_t)(def->iwork_c + def->iwork_k * n) + 1, sizeof(int32_t));
    result r = {0, calloc(np, sizeof(double))};
    assert_true(params && state && work && iwork && r.grads);
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        const float *w = klc_model_weight(m, t->name);
        for (int64_t j = 0; j < t->size; j++)
            (t->kind == KLC_TENSOR_PARAM ? params : state)[t->offset + j] = w[j];
    }
    klc_step_f64 s;
    memset(&s, 0, sizeof s);
    s.n = n;
    s.cap = n;
    s.x = x;
    s.params = params;
    s.grads = r.grads;
    s.state = state;
    s.work = work;
    s.iwork = iwork;
    s.compute_grads = 1;
    def->grad_f64(&s);
    r.loss = s.loss;
    free(params);
    free(state);
    free(work);
    free(iwork);
    return r;
}

static const klc_tensor_def *tensor(const klc_model_def *def, const char *name)
{
    for (int i = 0; i < def->n_tensors; i++)
        if (!strcmp(def->tensors[i].name, name))
            return &def->tensors[i];
    fail_msg("model '%s' has no weight '%s'", def->name, name);
    return NULL;
}

/* The gradient of weight `name` must be exactly `want` (up to rounding). */
static void expect_grad(const klc_model_def *def, const result *r, const char *name, const double *want)
{
    const klc_tensor_def *t = tensor(def, name);
    for (int64_t j = 0; j < t->size; j++) {
        double got = r->grads[t->offset + j];
        if (!(fabs(got - want[j]) <= 1e-12 * fmax(1.0, fabs(want[j]))))
            fail_msg("model '%s': d %s[%lld] is %.17g, expected %.17g", def->name, name, (long long)j, got,
                     want[j]);
    }
}

/* A model with its weights initialised (to ones by exact.kl). */
static klc_model *model(const klc_model_def *def)
{
    klc_model *m = klc_model_new(def, 1);
    if (!m)
        fail_msg("%s", klc_last_error());
    return m;
}

static void check(const klc_model_def *def, const float *x, int64_t n, const char *weight, const double *want)
{
    klc_model *m = model(def);
    result r = run(m, x, n);
    expect_grad(def, &r, weight, want);
    free(r.grads);
    klc_model_free(m);
}

/* ---- ties ---- */

static void test_max_reduction_ties(void **state)
{
    (void)state;
    /* loss = Σ_n max_j x[n, j] w[j]; w = 1; each row's maximum is tied */
    static const float x[] = {
        1, 3, 3, 2,     /* first maximum at j = 1 (not 2) */
        -1, -1, -1, -1, /* at j = 0 */
        2, 5, 0, 5,     /* at j = 1 (not 3) */
        0.5, 0.5, 0.25, 0.5, /* at j = 0 */
    };
    static const double want[] = {-1 + 0.5, 3 + 5, 0, 0};
    check(&x_max_def, x, 4, "max_reduce.w", want);
}

static void test_min_reduction_ties(void **state)
{
    (void)state;
    static const float x[] = {
        2, 1, 1, 3,     /* first minimum at j = 1 */
        -2, 4, -2, -2,  /* at j = 0 */
        5, 5, 5, 5,     /* at j = 0 */
        3, 2, 4, 2,     /* at j = 1 */
    };
    static const double want[] = {-2 + 5, 1 + 2, 0, 0};
    check(&x_min_def, x, 4, "max_reduce.w", want);
}

static void test_max_over_batch_ties(void **state)
{
    (void)state;
    /* loss = Σ_j max_n h[n, j], h = x w + (x w)²: rows 0 and 1 tie at h = 2
     * in both columns, with different derivatives dh/dw = x + 2x²:
     * column 0: x = 1 → 3 (row 0, the first) vs x = -2 → 6;
     * column 1: x = -2 → 6 (row 0) vs x = 1 → 3 */
    static const float x[] = {
        1, -2,
        -2, 1,
        0, 1,
    };
    static const double want[] = {3, 6};
    check(&x_max_batch_def, x, 3, "max_reduce.w", want);
}

static void test_max_pool_ties(void **state)
{
    (void)state;
    /* windows of 2, stride 2 */
    static const float x[] = {
        1, 1, 2, 0, 3, 3,  /* → j 0 (1), 2 (2), 4 (3) */
        0, 5, -1, -1, 2, 4, /* → j 1 (5), 2 (-1), 5 (4) */
    };
    static const double want[] = {1, 5, 2 - 1, 0, 3, 4};
    check(&x_pool_def, x, 2, "max_pool.w", want);
}

static void test_overlapping_pool_ties(void **state)
{
    (void)state;
    /* windows of 3, stride 1: an element wins in several windows */
    static const float x[] = {
        2, 2, 2, 1, 2, /* windows (0 1 2) → 0, (1 2 3) → 1, (2 3 4) → 2 */
        0, 3, 1, 3, 3, /* (0 1 2) → 1, (1 2 3) → 1, (2 3 4) → 3 */
    };
    static const double want[] = {2, 2 + 3 + 3, 2, 3, 0};
    check(&x_overlap_def, x, 2, "max_pool.w", want);
}

static void test_min_pool_ties(void **state)
{
    (void)state;
    static const float x[] = {
        1, 1, 0.5, 0.5, /* → j 0, 2 */
        3, -1, 2, 2,    /* → j 1, 2 */
    };
    static const double want[] = {1, -1, 0.5 + 2, 0};
    check(&x_min_pool_def, x, 2, "max_pool.w", want);
}

static void test_max_pool_2d_ties(void **state)
{
    (void)state;
    /* 2x2 windows of a [2, 4] image: the first maximum in row-major order */
    static const float x[] = {
        1, 2, 3, 3,
        2, 0, 3, 1,   /* window 0: 2 at (0,1) and (1,0) → (0,1); window 1: 3 at (0,2) (0,3) (1,2) → (0,2) */
        -1, -1, 1, 0,
        -1, -1, 0, 1, /* window 0: all -1 → (0,0); window 1: 1 at (0,2) and (1,3) → (0,2) */
    };
    static const double want[] = {
        -1, 2, 3 + 1, 0,
        0, 0, 0, 0,
    };
    check(&x_pool2_def, x, 2, "max_pool2.w", want);
}

static void test_kinks(void **state)
{
    (void)state;
    /* maximum(x w1, x w2) and minimum(x w1, x w2) tie everywhere: both to w1;
     * relu(x w1 - x) and abs(x w2 - x) sit at 0: no gradient */
    static const float x[] = {
        1, -2, 0.5,
        0, 3, -1,
    };
    static const double want1[] = {2 * (1 + 0), 2 * (-2 + 3), 2 * (0.5 - 1)};
    static const double want2[] = {0, 0, 0};
    klc_model *m = model(&x_kinks_def);
    result r = run(m, x, 2);
    expect_grad(&x_kinks_def, &r, "kinks.w1", want1);
    expect_grad(&x_kinks_def, &r, "kinks.w2", want2);
    free(r.grads);
    klc_model_free(m);
}

/* ---- gathers ---- */

static void check_gather(const klc_model_def *def)
{
    /* loss = ½ Σ table[ids]²: d table[v, e] = count(v) · table[v, e] */
    static const int32_t ids[] = {
        0, 2, 0,
        3, 0, 2,
    };
    klc_model *m = model(def);
    float *table = klc_model_weight(m, "gather.table");
    assert_non_null(table);
    for (int v = 0; v < 4; v++)
        for (int e = 0; e < 2; e++)
            table[v * 2 + e] = (float)(v + 1) + 0.5f * (float)e;
    static const double want[] = {
        3 * 1.0, 3 * 1.5, /* id 0 three times */
        0, 0,             /* id 1 never */
        2 * 3.0, 2 * 3.5, /* id 2 twice */
        1 * 4.0, 1 * 4.5, /* id 3 once */
    };
    result r = run(m, ids, 2);
    expect_grad(def, &r, "gather.table", want);
    free(r.grads);
    klc_model_free(m);
}

static void test_repeated_ids_comprehension(void **state)
{
    (void)state;
    check_gather(&x_gather_def);
}

static void test_repeated_ids_take(void **state)
{
    (void)state;
    check_gather(&x_take_def);
}

/* ---- what must not be differentiated ---- */

static void test_stop_gradient(void **state)
{
    (void)state;
    /* loss = ½ Σ sg(x w) · x w, w = 1: d w = ½ Σ_n x², not Σ_n x² */
    static const float x[] = {
        1, 2, -1,
        0.5, -1, 3,
    };
    static const double want[] = {0.5 * (1 + 0.25), 0.5 * (4 + 1), 0.5 * (1 + 9)};
    check(&x_stop_def, x, 2, "stop.w", want);
}

static void test_metric_and_assign_do_not_change_gradients(void **state)
{
    (void)state;
    /* loss = Σ h² avg + h³ with h = x w: d w[j] = Σ_n (2 h avg[j] + 3 h²) x */
    static const float x[] = {
        1, 2, -1,
        0.5, -1, 3,
        -2, 0.25, 1,
    };
    static const double w[] = {0.5, -1, 2}, avg[] = {1, 2, 3};
    double want[3] = {0};
    for (int n = 0; n < 3; n++)
        for (int j = 0; j < 3; j++) {
            double h = x[n * 3 + j] * w[j];
            want[j] += (2 * h * avg[j] + 3 * h * h) * x[n * 3 + j];
        }
    const klc_model_def *defs[] = {&x_plain_def, &x_metric_def, &x_state_def};
    double loss0 = 0;
    for (int i = 0; i < 3; i++) {
        klc_model *m = model(defs[i]);
        float *wv = klc_model_weight(m, "side.w"), *av = klc_model_weight(m, "side.avg");
        for (int j = 0; j < 3; j++) {
            wv[j] = (float)w[j];
            av[j] = (float)avg[j];
        }
        result r = run(m, x, 3);
        expect_grad(defs[i], &r, "side.w", want);
        if (i == 0)
            loss0 = r.loss;
        else if (r.loss != loss0)
            fail_msg("model '%s': loss %.17g, but %.17g without add_metric / assign", defs[i]->name, r.loss,
                     loss0);
        /* the state is read only in grad_f64: the assign is not committed */
        assert_true(av[0] == 1.0f && av[1] == 2.0f && av[2] == 3.0f);
        free(r.grads);
        klc_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_reduction_ties),
        cmocka_unit_test(test_min_reduction_ties),
        cmocka_unit_test(test_max_over_batch_ties),
        cmocka_unit_test(test_max_pool_ties),
        cmocka_unit_test(test_overlapping_pool_ties),
        cmocka_unit_test(test_min_pool_ties),
        cmocka_unit_test(test_max_pool_2d_ties),
        cmocka_unit_test(test_kinks),
        cmocka_unit_test(test_repeated_ids_comprehension),
        cmocka_unit_test(test_repeated_ids_take),
        cmocka_unit_test(test_stop_gradient),
        cmocka_unit_test(test_metric_and_assign_do_not_change_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
