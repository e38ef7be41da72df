/*
 * tensor.c — klc_tensor: dense C-order arrays of the runtime's five dtypes,
 * their allocation and checked conversion between dtypes.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "klc/runtime.h"

size_t klc_dtype_size(klc_dtype dt)
{
    switch (dt) {
    case KLC_F32: return 4;
    case KLC_F64: return 8;
    case KLC_I32: return 4;
    case KLC_I64: return 8;
    case KLC_U8: return 1;
    }
    return 0;
}

const char *klc_dtype_name(klc_dtype dt)
{
    switch (dt) {
    case KLC_F32: return "float32";
    case KLC_F64: return "float64";
    case KLC_I32: return "int32";
    case KLC_I64: return "int64";
    case KLC_U8: return "uint8";
    }
    return "unknown";
}

int klc_shape_size(int rank, const int64_t *shape, size_t elem_size, int64_t *count,
                   size_t *nbytes)
{
    if (rank < 0 || rank > KLC_MAX_RANK)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    if (elem_size != 0 && (uint64_t)n > SIZE_MAX / elem_size)
        return -1;
    if (count)
        *count = n;
    if (nbytes)
        *nbytes = (size_t)n * elem_size;
    return 0;
}

const char *klc_shape_str(char *buf, size_t size, int rank, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && i < KLC_MAX_RANK && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

int64_t klc_tensor_count(const klc_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank && i < KLC_MAX_RANK; i++)
        n *= t->shape[i];
    return n;
}

int klc_tensor_alloc(klc_tensor *t, klc_dtype dt, int rank, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    size_t elem = klc_dtype_size(dt);
    size_t nbytes;
    if (elem == 0)
        return klc_seterr("cannot allocate a tensor of unknown dtype %d", (int)dt);
    if (klc_shape_size(rank, shape, elem, NULL, &nbytes) != 0)
        return klc_seterr("cannot allocate a tensor of rank %d: invalid or too large shape", rank);
    /* calloc(0) may return NULL; an empty tensor still gets a valid pointer. */
    void *data = calloc(nbytes ? nbytes : 1, 1);
    if (!data)
        return klc_seterr("out of memory allocating %zu bytes for a %s tensor", nbytes,
                          klc_dtype_name(dt));
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    t->data = data;
    t->owns = 1;
    return 0;
}

klc_tensor klc_tensor_wrap(klc_dtype dt, int rank, const int64_t *shape, void *data)
{
    klc_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int i = 0; i < rank && i < KLC_MAX_RANK; i++)
        t.shape[i] = shape[i];
    t.data = data;
    t.owns = 0;
    return t;
}

void klc_tensor_free(klc_tensor *t)
{
    if (!t)
        return;
    if (t->owns)
        free(t->data);
    memset(t, 0, sizeof *t);
}

void klc_tensor_set_source(klc_tensor *t, const char *path)
{
    size_t n = path ? strlen(path) : 0;
    if (n < sizeof t->source) {
        memcpy(t->source, path ? path : "", n + 1);
        return;
    }
    /* keep the tail, where the file's name is */
    size_t keep = sizeof t->source - 4;
    memcpy(t->source, "...", 3);
    memcpy(t->source + 3, path + n - keep, keep + 1);
}

/* ----------------------------------------------------------------------------
 * Conversion.  Every value goes through double (floats) or int64 (integers),
 * which hold each source dtype exactly.
 * ------------------------------------------------------------------------- */

static int is_float(klc_dtype dt)
{
    return dt == KLC_F32 || dt == KLC_F64;
}

static double get_float(const void *data, klc_dtype dt, int64_t i)
{
    if (dt == KLC_F32)
        return ((const float *)data)[i];
    return ((const double *)data)[i];
}

static int64_t get_int(const void *data, klc_dtype dt, int64_t i)
{
    switch (dt) {
    case KLC_I32: return ((const int32_t *)data)[i];
    case KLC_I64: return ((const int64_t *)data)[i];
    default: return ((const uint8_t *)data)[i];
    }
}

/* Range of the integer dtypes. */
static void int_range(klc_dtype dt, int64_t *lo, int64_t *hi)
{
    switch (dt) {
    case KLC_I32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case KLC_I64: *lo = INT64_MIN; *hi = INT64_MAX; break;
    default: *lo = 0; *hi = UINT8_MAX; break;
    }
}

static void put_int(void *data, klc_dtype dt, int64_t i, int64_t v)
{
    switch (dt) {
    case KLC_I32: ((int32_t *)data)[i] = (int32_t)v; break;
    case KLC_I64: ((int64_t *)data)[i] = v; break;
    default: ((uint8_t *)data)[i] = (uint8_t)v; break;
    }
}

/* Is the integral double v inside [lo, hi]?  Compared in double: 2^63 is
 * exact there, and INT64_MAX rounds up to it, hence the strict bound. */
static int double_fits(double v, int64_t lo, int64_t hi)
{
    if (hi == INT64_MAX)
        return v >= -9223372036854775808.0 && v < 9223372036854775808.0;
    return v >= (double)lo && v <= (double)hi;
}

/* Is the integer v exactly representable in float dtype dt? */
static int int_exact_in(int64_t v, klc_dtype dt)
{
    double d = dt == KLC_F32 ? (double)(float)v : (double)v;
    /* d may be 2^63, which does not convert back to int64. */
    return d < 9223372036854775808.0 && (int64_t)d == v;
}

static int convert_values(void *dst, klc_dtype to, const void *src, klc_dtype from, int64_t n)
{
    const char *fname = klc_dtype_name(from), *tname = klc_dtype_name(to);
    int64_t lo = 0, hi = 0;
    if (!is_float(to))
        int_range(to, &lo, &hi);
    for (int64_t i = 0; i < n; i++) {
        if (is_float(from)) {
            double v = get_float(src, from, i);
            int digits = from == KLC_F32 ? 9 : 17;
            if (to == KLC_F32) {
                if (isfinite(v) && fabs(v) > FLT_MAX)
                    return klc_seterr("cannot convert %s to %s: value %.*g at index %lld is out "
                                      "of range", fname, tname, digits, v, (long long)i);
                ((float *)dst)[i] = (float)v;
            } else if (to == KLC_F64) {
                ((double *)dst)[i] = v;
            } else {
                if (!isfinite(v) || v != floor(v))
                    return klc_seterr("cannot convert %s to %s: value %.*g at index %lld is not "
                                      "an integer", fname, tname, digits, v, (long long)i);
                if (!double_fits(v, lo, hi))
                    return klc_seterr("cannot convert %s to %s: value %.*g at index %lld is out "
                                      "of range", fname, tname, digits, v, (long long)i);
                put_int(dst, to, i, (int64_t)v);
            }
        } else {
            int64_t v = get_int(src, from, i);
            if (is_float(to)) {
                if (!int_exact_in(v, to))
                    return klc_seterr("cannot convert %s to %s: value %lld at index %lld has no "
                                      "exact %s representation", fname, tname, (long long)v,
                                      (long long)i, tname);
                if (to == KLC_F32)
                    ((float *)dst)[i] = (float)v;
                else
                    ((double *)dst)[i] = (double)v;
            } else {
                if (v < lo || v > hi)
                    return klc_seterr("cannot convert %s to %s: value %lld at index %lld is out "
                                      "of range", fname, tname, (long long)v, (long long)i);
                put_int(dst, to, i, v);
            }
        }
    }
    return 0;
}

/*
 * dst may be src: the converted tensor replaces it (its old data is freed
 * when owned).  On failure dst is left untouched.
 */
int klc_tensor_convert(klc_tensor *dst, const klc_tensor *src, klc_dtype dt)
{
    klc_tensor out;
    if (klc_dtype_size(src->dtype) == 0)
        return klc_seterr("cannot convert a tensor of unknown dtype %d", (int)src->dtype);
    if (klc_tensor_alloc(&out, dt, src->rank, src->shape) != 0)
        return -1;
    int64_t n = klc_tensor_count(src);
    if (n > 0 && !src->data) {
        klc_tensor_free(&out);
        return klc_seterr("cannot convert a %s tensor without data", klc_dtype_name(src->dtype));
    }
    if (dt == src->dtype) {
        if (n > 0)
            memcpy(out.data, src->data, (size_t)n * klc_dtype_size(dt));
    } else if (convert_values(out.data, dt, src->data, src->dtype, n) != 0) {
        klc_tensor_free(&out);
        return -1;
    }
    memcpy(out.source, src->source, sizeof out.source); /* the same data, the same file */
    if (dst == src)
        klc_tensor_free(dst);
    *dst = out;
    return 0;
}
