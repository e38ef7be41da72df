/*
 * init.c — Keras' initializers from a seeded stream (keras-semantics §2).
 *
 * Values are computed in double and rounded to float.  Keras' own random
 * streams cannot be reproduced bit for bit; the distributions are exact.
 */
#include "init.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "rng.h"

/* The stddev of a standard normal truncated at ±2: VarianceScaling divides
 * by it so that the truncated distribution has variance `scale / n`. */
#define TRUNCATION_STDDEV 0.87962566103423978

/* A standard normal redrawn until it lies within ±2 (tf.random.truncated_normal). */
static double truncated_normal(klc_rng *r)
{
    for (;;) {
        double z = klc_rng_normal(r);
        if (fabs(z) <= 2.0)
            return z;
    }
}

static void fill_uniform(float *dst, int64_t n, double lo, double hi, klc_rng *r)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)(lo + (hi - lo) * klc_rng_uniform(r));
}

static void fill_normal(float *dst, int64_t n, double mean, double stddev, int truncated,
                        klc_rng *r)
{
    for (int64_t i = 0; i < n; i++) {
        double z = truncated ? truncated_normal(r) : klc_rng_normal(r);
        dst[i] = (float)(mean + stddev * z);
    }
}

/* VarianceScaling(scale, mode, distribution) with the fans of the def. */
static int variance_scaling(float *dst, const klc_tensor_def *t, klc_rng *r)
{
    double scale = t->init_args[0];
    int mode = (int)t->init_args[1];
    int distribution = (int)t->init_args[2];
    double n;
    switch (mode) {
    case 0: n = (double)t->fan_in; break;
    case 1: n = (double)t->fan_out; break;
    case 2: n = ((double)t->fan_in + (double)t->fan_out) / 2.0; break;
    default: return klc_seterr("%s: unknown variance_scaling mode %d", t->name, mode);
    }
    double s = scale / (n > 1.0 ? n : 1.0);
    switch (distribution) {
    case 0: fill_normal(dst, t->size, 0.0, sqrt(s) / TRUNCATION_STDDEV, 1, r); return 0;
    case 1: fill_normal(dst, t->size, 0.0, sqrt(s), 0, r); return 0;
    case 2: {
        double limit = sqrt(3.0 * s);
        fill_uniform(dst, t->size, -limit, limit, r);
        return 0;
    }
    default: return klc_seterr("%s: unknown variance_scaling distribution %d", t->name, distribution);
    }
}

/*
 * Orthogonal(gain): the weight seen as a [rows, cols] matrix (rows = product
 * of all but the last dimension).  A normal matrix A of [max, min] is
 * factored A = QR and Q's columns are multiplied by sign(diag(R)), which makes
 * the factorisation unique; then Q (or Qᵀ when rows < cols) times gain.
 * Gram–Schmidt, orthogonalising twice ("twice is enough"), yields exactly
 * that Q: its R has a positive diagonal by construction.
 */
static int orthogonal(float *dst, const klc_tensor_def *t, klc_rng *r)
{
    if (t->rank < 2)
        return klc_seterr("%s: the orthogonal initializer needs a weight of rank 2 or more, "
                          "this one has rank %d", t->name, t->rank);
    int64_t cols = t->shape[t->rank - 1];
    int64_t rows = t->size / (cols > 0 ? cols : 1);
    if (t->size == 0)
        return 0;
    int64_t m = rows > cols ? rows : cols; /* [m, k], m >= k */
    int64_t k = rows > cols ? cols : rows;
    double *a = malloc((size_t)(m * k) * sizeof *a); /* column-major: column j at a + j*m */
    if (!a)
        return klc_seterr("%s: out of memory for the orthogonal initializer", t->name);
    for (int64_t i = 0; i < m; i++) /* draw row by row, as a C-order [m, k] array */
        for (int64_t j = 0; j < k; j++)
            a[j * m + i] = klc_rng_normal(r);
    for (int64_t j = 0; j < k; j++) {
        double *v = a + j * m;
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t p = 0; p < j; p++) {
                const double *q = a + p * m;
                double dot = 0.0;
                for (int64_t i = 0; i < m; i++)
                    dot += q[i] * v[i];
                for (int64_t i = 0; i < m; i++)
                    v[i] -= dot * q[i];
            }
        }
        double norm = 0.0;
        for (int64_t i = 0; i < m; i++)
            norm += v[i] * v[i];
        norm = sqrt(norm);
        if (!(norm > 0.0)) {
            free(a);
            return klc_seterr("%s: the orthogonal initializer drew a singular matrix", t->name);
        }
        for (int64_t i = 0; i < m; i++)
            v[i] /= norm;
    }
    double gain = t->init_args[0];
    for (int64_t i = 0; i < rows; i++) /* dst [rows, cols] = Q [m, k] or Qᵀ */
        for (int64_t j = 0; j < cols; j++) {
            double q = rows >= cols ? a[j * m + i] : a[i * m + j];
            dst[i * cols + j] = (float)(gain * q);
        }
    free(a);
    return 0;
}

int klc_init_weight(float *dst, const klc_tensor_def *t, uint64_t seed, int index)
{
    klc_rng r;
    klc_rng_init(&r, seed, KLC_RNG_INIT, (uint64_t)index);
    const double *args = t->init_args;
    switch (t->init) {
    case KLC_INIT_ZEROS:
    case KLC_INIT_ONES:
    case KLC_INIT_CONSTANT: {
        float v = t->init == KLC_INIT_ZEROS ? 0.0f : t->init == KLC_INIT_ONES ? 1.0f : (float)args[0];
        for (int64_t i = 0; i < t->size; i++)
            dst[i] = v;
        return 0;
    }
    case KLC_INIT_RANDOM_UNIFORM: fill_uniform(dst, t->size, args[0], args[1], &r); return 0;
    case KLC_INIT_RANDOM_NORMAL: fill_normal(dst, t->size, args[0], args[1], 0, &r); return 0;
    case KLC_INIT_TRUNCATED_NORMAL: fill_normal(dst, t->size, args[0], args[1], 1, &r); return 0;
    case KLC_INIT_VARIANCE_SCALING: return variance_scaling(dst, t, &r);
    case KLC_INIT_ORTHOGONAL: return orthogonal(dst, t, &r);
    case KLC_INIT_UNIT_FORGET_BIAS:
        if (t->size % 4 != 0)
            return klc_seterr("%s: unit_forget_bias needs a bias of 4 * units elements, this one has %lld",
                              t->name, (long long)t->size);
        for (int64_t i = 0; i < t->size; i++)
            dst[i] = i >= t->size / 4 && i < t->size / 2 ? 1.0f : 0.0f;
        return 0;
    case KLC_INIT_IDENTITY:
        if (t->rank != 2)
            return klc_seterr("%s: the identity initializer needs a rank-2 weight, this one has "
                              "rank %d", t->name, t->rank);
        for (int64_t i = 0; i < t->shape[0]; i++)
            for (int64_t j = 0; j < t->shape[1]; j++)
                dst[i * t->shape[1] + j] = i == j ? (float)args[0] : 0.0f;
        return 0;
    }
    return klc_seterr("%s: unknown initializer kind %d", t->name, (int)t->init);
}
