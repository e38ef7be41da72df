/*
 * fake_model.c — the models of fake_model.h, written by hand as generated
 * code would be: every buffer comes from the step's slabs and workspace.
 *
 * Workspace (floats, or doubles in grad_f64), work_c = D, work_k = 2C + D:
 *   xmean [D]        batch mean of x (for the state update)
 *   z     [cap, C]   logits
 *   dz    [cap, C]   d loss / d z
 *   xd    [cap, D]   inputs after dropout
 */
#define _POSIX_C_SOURCE 200809L

#include "fake_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { D = FAKE_D, C = FAKE_C };
enum { KERNEL = 0, BIAS = D * C, N_PARAMS = D * C + C };

typedef struct cfg {
    int adam;
    int mse;
    double dropout;
    int grad_bug;
    double lr;
} cfg;

static const cfg SGD_CFG = { 0, 0, 0.0, 0, 0.1 };
static const cfg ADAM_CFG = { 1, 0, 0.25, 0, 0.05 };
static const cfg MSE_CFG = { 0, 1, 0.0, 0, 0.05 };
static const cfg BAD_CFG = { 0, 0, 0.0, 1, 0.1 };

/* Uniform [0, 1) from (seed, i): the dropout mask of element i. */
static double hash_uniform(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15u * (i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/*
 * The model in one precision: T is float for the steps and double for
 * grad_f64.  forward: xd = dropout(x), z = xd·W + b.  loss_grad: per-batch
 * loss (sum_over_batch_size) and dz; y_pred when wanted.
 */
#define DEFINE_MODEL(T, SUFFIX)                                                                   \
    static void forward_##SUFFIX(const cfg *c, int training, uint64_t seed, int64_t n,          \
                                 const float *x, const T *p, T *z, T *xd)                        \
    {                                                                                             \
        T keep = (T)(1.0 - c->dropout);                                                           \
        for (int64_t i = 0; i < n * D; i++) {                                                     \
            int drop = training && c->dropout > 0 && hash_uniform(seed, (uint64_t)i) < c->dropout; \
            xd[i] = drop ? (T)0 : training && c->dropout > 0 ? (T)x[i] / keep : (T)x[i];        \
        }                                                                                         \
        for (int64_t r = 0; r < n; r++)                                                           \
            for (int j = 0; j < C; j++) {                                                         \
                T acc = p[BIAS + j];                                                              \
                for (int k = 0; k < D; k++)                                                       \
                    acc += xd[r * D + k] * p[KERNEL + k * C + j];                                 \
                z[r * C + j] = acc;                                                               \
            }                                                                                     \
    }                                                                                             \
    static double loss_grad_##SUFFIX(const cfg *c, int64_t n, const void *y, const T *z, T *dz,  \
                                     float *y_pred, double *confidence)                          \
    {                                                                                             \
        double loss = 0.0, conf = 0.0;                                                            \
        for (int64_t r = 0; r < n; r++) {                                                         \
            const T *zr = z + r * C;                                                              \
            if (c->mse) {                                                                         \
                const float *yr = (const float *)y + r * C;                                      \
                for (int j = 0; j < C; j++) {                                                     \
                    T e = zr[j] - (y ? (T)yr[j] : (T)0);                                          \
                    loss += (double)(e * e);                                                      \
                    if (dz)                                                                       \
                        dz[r * C + j] = (T)2 * e / (T)(n * C);                                    \
                    if (y_pred)                                                                   \
                        y_pred[r * C + j] = (float)zr[j];                                         \
                    conf += fabs((double)zr[j]) / C;                                              \
                }                                                                                 \
                continue;                                                                         \
            }                                                                                     \
            T max = zr[0];                                                                        \
            for (int j = 1; j < C; j++)                                                           \
                max = zr[j] > max ? zr[j] : max;                                                  \
            T sum = 0;                                                                            \
            for (int j = 0; j < C; j++)                                                           \
                sum += (T)exp((double)(zr[j] - max));                                             \
            T lse = max + (T)log((double)sum);                                                    \
            int label = y ? ((const int32_t *)y)[r] : 0;                                          \
            loss += (double)(lse - zr[label]);                                                    \
            T pmax = 0;                                                                           \
            for (int j = 0; j < C; j++) {                                                         \
                T prob = (T)exp((double)(zr[j] - lse));                                           \
                pmax = prob > pmax ? prob : pmax;                                                 \
                if (dz)                                                                           \
                    dz[r * C + j] = (prob - (j == label ? (T)1 : (T)0)) / (T)n;                   \
                if (y_pred)                                                                       \
                    y_pred[r * C + j] = (float)prob;                                              \
            }                                                                                     \
            conf += (double)pmax;                                                                 \
        }                                                                                         \
        if (confidence)                                                                           \
            *confidence = conf / (double)n;                                                       \
        return c->mse ? loss / (double)(n * C) : loss / (double)n;                                \
    }                                                                                             \
    /* gW = xdᵀ·dz [D, C], gb = Σ_rows dz [C] */                                                  \
    static void backward_##SUFFIX(int64_t n, const T *xd, const T *dz, T *g)                     \
    {                                                                                             \
        for (int k = 0; k < D; k++)                                                               \
            for (int j = 0; j < C; j++) {                                                         \
                T acc = 0;                                                                        \
                for (int64_t r = 0; r < n; r++)                                                   \
                    acc += xd[r * D + k] * dz[r * C + j];                                         \
                g[KERNEL + k * C + j] = acc;                                                      \
            }                                                                                     \
        for (int j = 0; j < C; j++) {                                                             \
            T acc = 0;                                                                            \
            for (int64_t r = 0; r < n; r++)                                                       \
                acc += dz[r * C + j];                                                             \
            g[BIAS + j] = acc;                                                                    \
        }                                                                                         \
    }

DEFINE_MODEL(float, f32)
DEFINE_MODEL(double, f64)

/* Keras' Adam (keras-semantics §3) on one weight of `size` floats. */
static void adam_update(float *theta, const float *g, float *m, float *v, int64_t size,
                        int64_t iteration, float lr)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
    float t = (float)(iteration + 1);
    float alpha = lr * sqrtf(1.0f - powf(b2, t)) / (1.0f - powf(b1, t));
    for (int64_t i = 0; i < size; i++) {
        m[i] += (g[i] - m[i]) * (1.0f - b1);
        v[i] += (g[i] * g[i] - v[i]) * (1.0f - b2);
        theta[i] -= alpha * m[i] / (sqrtf(v[i]) + eps);
    }
}

static void train_step(klc_step *s, const cfg *c)
{
    int64_t n = s->n, cap = s->cap;
    const float *x = s->x;
    float *xmean = s->work;              /* [D] */
    float *z = xmean + D;                /* [cap, C] */
    float *dz = z + cap * C;             /* [cap, C] */
    float *xd = dz + cap * C;            /* [cap, D] */
    forward_f32(c, 1, s->seed, n, x, s->params, z, xd);
    double confidence;
    s->loss = loss_grad_f32(c, n, s->y, z, dz, s->y_pred, &confidence);
    s->added_metrics[0] = confidence;
    backward_f32(n, xd, dz, s->grads);
    /* assign(input_mean, 0.99·input_mean + 0.01·mean(x)) */
    for (int k = 0; k < D; k++) {
        float acc = 0.0f;
        for (int64_t r = 0; r < n; r++)
            acc += x[r * D + k];
        xmean[k] = acc / (float)n;
        s->state[k] = s->state[k] * 0.99f + xmean[k] * 0.01f;
    }
    if (c->adam) {
        /* slots: kernel m, kernel v, bias m, bias v (Keras' interleaved order) */
        adam_update(s->params + KERNEL, s->grads + KERNEL, s->slots, s->slots + D * C, D * C,
                    s->iteration, s->learning_rate);
        adam_update(s->params + BIAS, s->grads + BIAS, s->slots + 2 * D * C,
                    s->slots + 2 * D * C + C, C, s->iteration, s->learning_rate);
    } else {
        for (int i = 0; i < N_PARAMS; i++)
            s->params[i] -= s->learning_rate * s->grads[i];
    }
}

static void test_step(klc_step *s, const cfg *c)
{
    float *z = s->work + D, *xd = z + 2 * s->cap * C;
    forward_f32(c, 0, s->seed, s->n, s->x, s->params, z, xd);
    s->loss = loss_grad_f32(c, s->n, s->y, z, NULL, s->y_pred, &s->added_metrics[0]);
}

static void predict_step(klc_step *s, const cfg *c)
{
    float *z = s->work + D, *xd = z + 2 * s->cap * C;
    forward_f32(c, 0, s->seed, s->n, s->x, s->params, z, xd);
    loss_grad_f32(c, s->n, NULL, z, NULL, s->y_pred, NULL);
}

static void grad_f64(klc_step_f64 *s, const cfg *c)
{
    double *z = s->work + D, *dz = z + s->cap * C, *xd = dz + s->cap * C;
    forward_f64(c, 1, s->seed, s->n, s->x, s->params, z, xd);
    s->loss = loss_grad_f64(c, s->n, s->y, z, dz, NULL, NULL);
    if (!s->compute_grads)
        return;
    backward_f64(s->n, xd, dz, s->grads);
    if (c->grad_bug)
        for (int j = 0; j < C; j++)
            s->grads[BIAS + j] *= 1.5; /* the deliberate bug */
}

#define STEPS(name, CFG)                                                                          \
    static void name##_train(klc_step *s) { train_step(s, &CFG); }                               \
    static void name##_test(klc_step *s) { test_step(s, &CFG); }                                 \
    static void name##_predict(klc_step *s) { predict_step(s, &CFG); }                           \
    static void name##_grad(klc_step_f64 *s) { grad_f64(s, &CFG); }
STEPS(sgd, SGD_CFG)
STEPS(adam, ADAM_CFG)
STEPS(mse, MSE_CFG)
STEPS(bad, BAD_CFG)

/* glorot_uniform kernel [4, 3], zeros bias [3], zeros state [4] */
static const klc_tensor_def tensors[] = {
    { "dense.kernel", "dense", "kernel", KLC_TENSOR_PARAM, 2, { D, C }, D * C, KERNEL,
      KLC_INIT_VARIANCE_SCALING, { 1.0, 2, 2 }, D, C, "layers/dense/vars/0" },
    { "dense.bias", "dense", "bias", KLC_TENSOR_PARAM, 1, { C }, C, BIAS, KLC_INIT_ZEROS,
      { 0 }, C, C, "layers/dense/vars/1" },
    { "dense.input_mean", "dense", "input_mean", KLC_TENSOR_STATE, 1, { D }, D, 0,
      KLC_INIT_ZEROS, { 0 }, D, D, "layers/dense/vars/2" },
};

static const klc_slot_def adam_slots[] = {
    { "optimizer.dense.kernel.momentum", 0, 0 },
    { "optimizer.dense.kernel.velocity", 0, D * C },
    { "optimizer.dense.bias.momentum", 1, 2 * D * C },
    { "optimizer.dense.bias.velocity", 1, 2 * D * C + C },
};

static const klc_layer_def layers[] = {
    { "dense", "Dense", "(None, 3)", N_PARAMS + D, N_PARAMS },
};

static const klc_metric_def accuracy[] = { { "accuracy", KLC_METRIC_SPARSE_CATEGORICAL_ACCURACY } };
static const klc_metric_def mse_metrics[] = {
    { "mae", KLC_METRIC_MEAN_ABSOLUTE_ERROR },
    { "mse", KLC_METRIC_MEAN_SQUARED_ERROR },
};
static const char *const confidence[] = { "confidence" };
static const char *const mean_abs[] = { "mean_abs_output" };

#define FAKE_DEF(NAME, STEP, LOSS, LOSS_NAME, LABELS, METRICS, N_METRICS, ADDED, OPT, OPT_NAME,   \
                 LR, N_SLOTS, SLOTS)                                                              \
    const klc_model_def NAME = {                                                                  \
        .abi_version = KLC_ABI_VERSION,                                                           \
        .name = "model",                                                                          \
        .keras_name = "sequential",                                                               \
        .source = "fake_model.c",                                                                 \
        .input_dtype = KLC_F32,                                                                   \
        .input_rank = 1,                                                                          \
        .input_shape = { D },                                                                     \
        .output_rank = 1,                                                                         \
        .output_shape = { C },                                                                    \
        .loss = LOSS,                                                                             \
        .loss_name = LOSS_NAME,                                                                   \
        .labels = LABELS,                                                                         \
        .n_metrics = N_METRICS,                                                                   \
        .metrics = METRICS,                                                                       \
        .n_added_metrics = 1,                                                                     \
        .added_metric_names = ADDED,                                                              \
        .n_tensors = 3,                                                                           \
        .tensors = tensors,                                                                       \
        .n_params = N_PARAMS,                                                                     \
        .n_state = D,                                                                             \
        .n_slots = (N_SLOTS) ? 2 * N_PARAMS : 0,                                                  \
        .n_layers = 1,                                                                            \
        .layers = layers,                                                                         \
        .optimizer = { OPT, OPT_NAME, LR, N_SLOTS, SLOTS },                                       \
        .fit = { 2, 16, 0.0, 1, 1 },                                                              \
        .work_c = D,                                                                              \
        .work_k = 2 * C + D,                                                                      \
        .iwork_c = 0,                                                                             \
        .iwork_k = 0,                                                                             \
        .train_step = STEP##_train,                                                               \
        .test_step = STEP##_test,                                                                 \
        .predict_step = STEP##_predict,                                                           \
        .grad_f64 = STEP##_grad,                                                                  \
    }

FAKE_DEF(fake_sgd_def, sgd, KLC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
         "sparse_categorical_crossentropy", KLC_LABELS_SPARSE, accuracy, 1, confidence, KLC_OPT_SGD,
         "sgd", 0.1, 0, NULL);
FAKE_DEF(fake_adam_def, adam, KLC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
         "sparse_categorical_crossentropy", KLC_LABELS_SPARSE, accuracy, 1, confidence,
         KLC_OPT_ADAM, "adam", 0.05, 4, adam_slots);
FAKE_DEF(fake_mse_def, mse, KLC_LOSS_MEAN_SQUARED_ERROR, "mean_squared_error", KLC_LABELS_DENSE,
         mse_metrics, 2, mean_abs, KLC_OPT_SGD, "sgd", 0.05, 0, NULL);
FAKE_DEF(fake_bad_def, bad, KLC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
         "sparse_categorical_crossentropy", KLC_LABELS_SPARSE, accuracy, 1, confidence, KLC_OPT_SGD,
         "sgd", 0.1, 0, NULL);

int fake_make_data(klc_tensor *x, klc_tensor *y, int64_t n, uint64_t seed, int dense)
{
    static const float truth[D][C] = {
        { 1.0f, -0.5f, 0.2f }, { -0.3f, 0.8f, 0.1f }, { 0.5f, 0.4f, -0.9f }, { -0.2f, 0.1f, 0.7f }
    };
    int64_t xs[2] = { n, D }, ys[2] = { n, C };
    if (klc_tensor_alloc(x, KLC_F32, 2, xs))
        return -1;
    if (klc_tensor_alloc(y, dense ? KLC_F32 : KLC_I32, dense ? 2 : 1, ys))
        return -1;
    float *xv = x->data;
    for (int64_t r = 0; r < n; r++) {
        for (int k = 0; k < D; k++) { /* Box–Muller from the hash */
            uint64_t i = (uint64_t)(r * D + k);
            double u1 = 1.0 - hash_uniform(seed, 2 * i), u2 = hash_uniform(seed, 2 * i + 1);
            xv[r * D + k] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
        }
        float score[C];
        int best = 0;
        for (int j = 0; j < C; j++) {
            score[j] = 0.0f;
            for (int k = 0; k < D; k++)
                score[j] += xv[r * D + k] * truth[k][j];
            if (score[j] > score[best])
                best = j;
        }
        if (dense)
            for (int j = 0; j < C; j++)
                ((float *)y->data)[r * C + j] =
                    score[j] + 0.1f * (float)(hash_uniform(seed ^ 0xabcdefu, (uint64_t)(r * C + j)) - 0.5);
        else
            ((int32_t *)y->data)[r] = best;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Test helpers
 * ------------------------------------------------------------------------- */

const char *fake_path(const char *name)
{
    static char slots[8][4096];
    static int next;
    const char *dir = getenv("KLC_TEST_TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp/klc-test";
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) { /* mkdir -p */
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0777);
            *p = '/';
        }
    }
    mkdir(tmp, 0777);
    char *out = slots[next++ % 8];
    snprintf(out, sizeof slots[0], "%s/%s", dir, name);
    return out;
}

char *fake_read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(fp);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static int saved_out = -1, saved_err = -1;

void fake_capture_begin(void)
{
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    FILE *o = fopen(fake_path("captured.out"), "w");
    FILE *e = fopen(fake_path("captured.err"), "w");
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    fclose(o);
    fclose(e);
}

void fake_capture_end(char **out, char **err)
{
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    if (out)
        *out = fake_read_text(fake_path("captured.out"));
    if (err)
        *err = fake_read_text(fake_path("captured.err"));
}
