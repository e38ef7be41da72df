/*
 * test_gradcheck_ops.c — every model of one compiled .kl file against
 * finite differences (tests/gradcheck.cmake builds one copy of this program
 * per file: every .kl file of tests/gradcheck/ and examples/).
 *
 * For each model of the file (<base>_models[]), one cmocka test:
 *   1. klc_model_new, random data of the model's input shape and labels of
 *      the kind its loss takes (below);
 *   2. klc_gradcheck: the derived gradients against Richardson-extrapolated
 *      central differences in double; every weight must agree to 1e-6
 *      relative (on one of GC_ATTEMPTS data sets: see test_model);
 *   3. the double-precision step run twice, with the workspace sized for the
 *      batch and for a larger capacity: the loss and every gradient must be
 *      the same (the generated code must size its loops by the rows of the
 *      batch, n, and only address its buffers by the capacity);
 *   4. the float training step (what fit runs: BLAS sgemm, float helpers)
 *      must compute the gradients of the double one, to float accuracy
 *      (1e-4 of the largest gradient of each weight).
 *
 * Data conventions (the .kl files are written for them):
 *   - float inputs are standard normal;
 *   - integer inputs (Input(..., dtype = "int32")) are ids in [0, GC_VOCAB):
 *     a model's tables need at least GC_VOCAB rows, and with GC_ROWS rows of
 *     data ids repeat, so gathers accumulate;
 *   - sparse labels are class ids in [0, C), C the output's last dimension;
 *   - dense labels: soft class distributions (rows summing to 1) for
 *     categorical_crossentropy, uniform in (0, 1) for binary_crossentropy,
 *     standard normal for the regression losses.
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

#include <klc/runtime.h>

#include KLC_GC_HEADER

#define GC_ROWS 6
#define GC_CAP_EXTRA 5
#define GC_VOCAB 4
#define GC_TOLERANCE 1e-6
#define GC_ATTEMPTS 3

/* ---- deterministic data (splitmix64), independent of the runtime's RNG ---- */

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s)
{
    return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}

static double normal(uint64_t *s)
{
    double u = uniform01(s), v = uniform01(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static int64_t per_sample(int rank, const int64_t *shape)
{
    int64_t c = 1;
    for (int i = 0; i < rank; i++)
        c *= shape[i];
    return c;
}

static void make_x(const klc_model_def *def, int64_t n, uint64_t seed, klc_tensor *x)
{
    int64_t shape[KLC_MAX_RANK + 1] = {n};
    for (int i = 0; i < def->input_rank; i++)
        shape[i + 1] = def->input_shape[i];
    klc_dtype dt = def->input_dtype == KLC_I32 ? KLC_I32 : KLC_F32;
    assert_int_equal(klc_tensor_alloc(x, dt, def->input_rank + 1, shape), 0);
    int64_t count = n * per_sample(def->input_rank, def->input_shape);
    for (int64_t i = 0; i < count; i++) {
        if (dt == KLC_I32)
            ((int32_t *)x->data)[i] = (int32_t)(next_u64(&seed) % GC_VOCAB);
        else
            ((float *)x->data)[i] = (float)normal(&seed);
    }
}

/* Returns 0 when the model takes no labels. */
static int make_y(const klc_model_def *def, int64_t n, uint64_t seed, klc_tensor *y)
{
    int64_t shape[KLC_MAX_RANK + 1] = {n};
    int rank = def->output_rank;
    for (int i = 0; i < rank; i++)
        shape[i + 1] = def->output_shape[i];
    int64_t classes = rank > 0 ? def->output_shape[rank - 1] : 1;
    switch (def->labels) {
    case KLC_LABELS_NONE:
        return 0;
    case KLC_LABELS_SPARSE: {
        assert_int_equal(klc_tensor_alloc(y, KLC_I32, rank, shape), 0); /* the class axis dropped */
        int64_t count = n * per_sample(rank - 1, def->output_shape);
        for (int64_t i = 0; i < count; i++)
            ((int32_t *)y->data)[i] = (int32_t)(next_u64(&seed) % (uint64_t)classes);
        return 1;
    }
    case KLC_LABELS_DENSE: {
        assert_int_equal(klc_tensor_alloc(y, KLC_F32, rank + 1, shape), 0);
        float *v = y->data;
        int64_t count = n * per_sample(rank, def->output_shape);
        for (int64_t i = 0; i < count; i++) {
            if (def->loss == KLC_LOSS_CATEGORICAL_CROSSENTROPY || def->loss == KLC_LOSS_BINARY_CROSSENTROPY)
                v[i] = (float)uniform01(&seed);
            else
                v[i] = (float)normal(&seed);
        }
        if (def->loss == KLC_LOSS_CATEGORICAL_CROSSENTROPY)
            for (int64_t r = 0; r < count; r += classes) {
                double sum = 0;
                for (int64_t c = 0; c < classes; c++)
                    sum += v[r + c];
                for (int64_t c = 0; c < classes; c++)
                    v[r + c] = (float)(v[r + c] / sum);
            }
        return 1;
    }
    }
    fail_msg("unknown label kind %d", (int)def->labels);
    return 0;
}

/* The whole text of a temporary file. */
static char *slurp(FILE *f)
{
    long len = ftell(f);
    char *text = calloc((size_t)(len > 0 ? len : 0) + 1, 1);
    assert_non_null(text);
    rewind(f);
    if (len > 0 && fread(text, 1, (size_t)len, f) != (size_t)len)
        text[0] = '\0';
    return text;
}

/* One double-precision step (forward, loss, backward) at the model's current
 * weights with a workspace for `cap` rows; the gradients go to `grads`. */
static double step_f64(klc_model *m, const klc_tensor *x, const klc_tensor *y, int64_t cap, double *grads)
{
    const klc_model_def *def = klc_model_def_of(m);
    size_t np = (size_t)(def->n_params > 0 ? def->n_params : 1);
    size_t ns = (size_t)(def->n_state > 0 ? def->n_state : 1);
    double *params = calloc(np, sizeof *params), *state = calloc(ns, sizeof *state);
    double *work = calloc((size_t)(def->work_c + def->work_k * cap) + 1, sizeof *work);
    int32_t *iwork = calloc((size_t)(def->iwork_c + def->iwork_k * cap) + 1, sizeof *iwork);
    assert_true(params && state && work && iwork);
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        const float *w = klc_model_weight(m, t->name);
        double *dst = (t->kind == KLC_TENSOR_PARAM ? params : state) + t->offset;
        for (int64_t j = 0; j < t->size; j++)
            dst[j] = w[j];
    }
    /* stale values in the workspace and the gradients must not matter: the
     * step writes every gradient whole */
    for (int64_t i = 0; i < def->work_c + def->work_k * cap; i++)
        work[i] = NAN;
    for (size_t i = 0; i < np; i++)
        grads[i] = NAN;
    klc_step_f64 s;
    memset(&s, 0, sizeof s);
    s.n = x->shape[0];
    s.cap = cap;
    s.x = x->data;
    s.y = y ? y->data : NULL;
    s.params = params;
    s.grads = grads;
    s.state = state;
    s.work = work;
    s.iwork = iwork;
    s.seed = 0x5eed;
    s.compute_grads = 1;
    def->grad_f64(&s);
    free(params);
    free(state);
    free(work);
    free(iwork);
    return s.loss;
}

/* The float training step's gradients against the double step's (the same
 * weights, data and dropout seed); the update it then applies is not
 * looked at. */
static void check_float_step(klc_model *m, const klc_tensor *x, const klc_tensor *y)
{
    const klc_model_def *def = klc_model_def_of(m);
    size_t np = (size_t)(def->n_params > 0 ? def->n_params : 1);
    size_t ns = (size_t)(def->n_state > 0 ? def->n_state : 1);
    size_t nslots = (size_t)(def->n_slots > 0 ? def->n_slots : 1);
    int64_t n = x->shape[0];
    double *g64 = calloc(np, sizeof *g64);
    float *params = calloc(np, sizeof *params), *grads = calloc(np, sizeof *grads);
    float *state = calloc(ns, sizeof *state), *slots = calloc(nslots, sizeof *slots);
    float *work = calloc((size_t)(def->work_c + def->work_k * n) + 1, sizeof *work);
    int32_t *iwork = calloc((size_t)(def->iwork_c + def->iwork_k * n) + 1, sizeof *iwork);
    float *y_pred = calloc((size_t)(n * per_sample(def->output_rank, def->output_shape)), sizeof *y_pred);
    double *added = calloc((size_t)def->n_added_metrics + 1, sizeof *added);
    assert_true(g64 && params && grads && state && slots && work && iwork && y_pred && added);
    step_f64(m, x, y, n, g64);
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        memcpy((t->kind == KLC_TENSOR_PARAM ? params : state) + t->offset, klc_model_weight(m, t->name),
               (size_t)t->size * sizeof(float));
    }
    for (int64_t i = 0; i < def->work_c + def->work_k * n; i++)
        work[i] = NAN;
    for (size_t i = 0; i < np; i++)
        grads[i] = NAN;
    klc_step s;
    memset(&s, 0, sizeof s);
    s.n = n;
    s.cap = n;
    s.x = x->data;
    s.y = y ? y->data : NULL;
    s.params = params;
    s.grads = grads;
    s.state = state;
    s.slots = slots;
    s.work = work;
    s.iwork = iwork;
    s.learning_rate = 0.0f;
    s.seed = 0x5eed;
    s.y_pred = y_pred;
    s.added_metrics = added;
    def->train_step(&s);
    /* (the losses are not compared: a probability clipped to 1 - 1e-7 is
     * 1 - 1.19e-7 in float, as in Keras, and log(1 - p) differs visibly) */
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        if (t->kind != KLC_TENSOR_PARAM)
            continue;
        double scale = 1e-30;
        for (int64_t j = 0; j < t->size; j++)
            scale = fmax(scale, fabs(g64[t->offset + j]));
        for (int64_t j = 0; j < t->size; j++) {
            double a = grads[t->offset + j], b = g64[t->offset + j];
            if (!(fabs(a - b) <= 1e-4 * scale + 1e-6))
                fail_msg("model '%s' (%s): d %s[%lld] is %.9g in the float step but %.9g in the double one",
                         def->name, def->source, t->name, (long long)j, a, b);
        }
    }
    free(g64);
    free(params);
    free(grads);
    free(state);
    free(slots);
    free(work);
    free(iwork);
    free(y_pred);
    free(added);
}

static void check_capacity(klc_model *m, const klc_tensor *x, const klc_tensor *y)
{
    const klc_model_def *def = klc_model_def_of(m);
    size_t np = (size_t)(def->n_params > 0 ? def->n_params : 1);
    double *g1 = calloc(np, sizeof *g1), *g2 = calloc(np, sizeof *g2);
    assert_true(g1 && g2);
    int64_t n = x->shape[0];
    double l1 = step_f64(m, x, y, n, g1);
    double l2 = step_f64(m, x, y, n + GC_CAP_EXTRA, g2);
    if (!(fabs(l1 - l2) <= 1e-12 * fmax(1.0, fabs(l1))))
        fail_msg("model '%s' (%s): the loss is %.17g with a workspace for %lld rows but %.17g with one "
                 "for %lld", def->name, def->source, l1, (long long)n, l2, (long long)(n + GC_CAP_EXTRA));
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        if (t->kind != KLC_TENSOR_PARAM)
            continue;
        for (int64_t j = 0; j < t->size; j++) {
            double a = g1[t->offset + j], b = g2[t->offset + j];
            if (!(fabs(a - b) <= 1e-12 * fmax(1.0, fabs(a))))
                fail_msg("model '%s' (%s): d %s[%lld] is %.17g with a workspace for %lld rows but %.17g "
                         "with one for %lld", def->name, def->source, t->name, (long long)j, a,
                         (long long)n, b, (long long)(n + GC_CAP_EXTRA));
        }
    }
    free(g1);
    free(g2);
}

/* klc_gradcheck on data drawn from `seed`; the report is returned in *text. */
static double gradcheck_on(klc_model *m, uint64_t seed, char **text)
{
    const klc_model_def *def = klc_model_def_of(m);
    klc_tensor x, y;
    memset(&y, 0, sizeof y);
    make_x(def, GC_ROWS, seed, &x);
    int has_y = make_y(def, GC_ROWS, seed + 1, &y);
    FILE *out = tmpfile();
    assert_non_null(out);
    double err = -1.0;
    int rc = klc_gradcheck(m, &x, has_y ? &y : NULL, out, &err);
    *text = slurp(out);
    fclose(out);
    if (rc != 0)
        fail_msg("model '%s' (%s): gradcheck failed: %s", def->name, def->source, klc_last_error());
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return err;
}

static void test_model(void **state)
{
    const klc_model_def *def = *state;
    klc_model *m = klc_model_new(def, 1234);
    if (!m)
        fail_msg("model '%s': %s", def->name, klc_last_error());
    /* A point where the loss is not differentiable (relu at 0, a tie in a
     * max) may lie within the differences' step of the data; that is rare,
     * and then other data are tried.  A wrong derivative fails on all. */
    double err = 0.0;
    for (int attempt = 0; attempt < GC_ATTEMPTS; attempt++) {
        char *report;
        err = gradcheck_on(m, 42 + 1000 * (uint64_t)attempt, &report);
        if (err <= GC_TOLERANCE) {
            free(report);
            break;
        }
        print_message("model '%s' (%s), data set %d: max relative error %.3e exceeds %g\n%s", def->name,
                      def->source, attempt + 1, err, GC_TOLERANCE, report);
        free(report);
    }
    if (!(err <= GC_TOLERANCE))
        fail_msg("model '%s' (%s): the derived gradient disagrees with finite differences on %d data sets",
                 def->name, def->source, GC_ATTEMPTS);
    print_message("model '%s': max relative error %.3e\n", def->name, err);

    klc_tensor x, y;
    memset(&y, 0, sizeof y);
    make_x(def, GC_ROWS, 42, &x);
    int has_y = make_y(def, GC_ROWS, 43, &y);
    check_capacity(m, &x, has_y ? &y : NULL);
    check_float_step(m, &x, has_y ? &y : NULL);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    klc_model_free(m);
}

int main(void)
{
    int n = KLC_GC_N_MODELS;
    struct CMUnitTest *tests = calloc((size_t)n + 1, sizeof *tests);
    if (!tests)
        return 1;
    for (int i = 0; i < n; i++) {
        tests[i].name = KLC_GC_MODELS[i]->name;
        tests[i].test_func = test_model;
        tests[i].initial_state = (void *)KLC_GC_MODELS[i];
    }
    int failed = _cmocka_run_group_tests(KLC_GC_HEADER, tests, (size_t)n, NULL, NULL);
    free(tests);
    return failed;
}
