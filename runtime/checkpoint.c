/*
 * checkpoint.c — weights and checkpoints as safetensors files.
 *
 * Keys: every weight under its def name ("dense.kernel", float32, the def's
 * shape); a checkpoint adds "optimizer.iterations" (int64, shape []) and the
 * optimizer slots under their def names.  __metadata__:
 *     format     "klc"
 *     model      the model's name
 *     signature  "dense.kernel[784,64];dense.bias[64];..." (weights in def order)
 *     seed, epoch  (checkpoints) the model seed and the epochs completed, so a
 *                  fit resumed from the file shuffles and drops out as the
 *                  uninterrupted one would have.
 * Loading checks names and shapes before changing anything, so a failed load
 * leaves the model as it was; files from other tools (no metadata, float64)
 * load when names and shapes match.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "keras_h5.h"
#include "model.h"
#include "safetensors.h"

#define ITERATIONS_KEY "optimizer.iterations"

/* "dense.kernel[784,64];dense.bias[64]" (malloc'd). */
static char *signature(const klc_model_def *def)
{
    size_t size = 1;
    for (int i = 0; i < def->n_tensors; i++)
        size += strlen(def->tensors[i].name) + 4 + 21 * (size_t)(def->tensors[i].rank + 1);
    char *s = malloc(size);
    if (!s)
        return NULL;
    size_t len = 0;
    s[0] = '\0';
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        len += (size_t)snprintf(s + len, size - len, "%s%s[", i ? ";" : "", t->name);
        for (int d = 0; d < t->rank; d++)
            len += (size_t)snprintf(s + len, size - len, "%s%" PRId64, d ? "," : "", t->shape[d]);
        len += (size_t)snprintf(s + len, size - len, "]");
    }
    return s;
}

static int save(klc_model *m, const char *path, int with_optimizer)
{
    const klc_model_def *def = m->def;
    int n_slots = with_optimizer ? def->optimizer.n_slots : 0;
    int n = def->n_tensors + (with_optimizer ? 1 + n_slots : 0);
    klc_st_tensor *ts = calloc((size_t)n, sizeof *ts);
    char *sig = signature(def);
    if (!ts || !sig) {
        free(ts);
        free(sig);
        return klc_seterr("%s: out of memory", path);
    }
    int k = 0;
    for (int i = 0; i < def->n_tensors; i++, k++) {
        const klc_tensor_def *t = &def->tensors[i];
        ts[k].name = (char *)t->name; /* the writer only reads it */
        ts[k].dtype = KLC_F32;
        ts[k].rank = t->rank;
        memcpy(ts[k].shape, t->shape, sizeof t->shape);
        ts[k].data = klc_weight_data(m, t);
        ts[k].nbytes = (size_t)t->size * sizeof(float);
    }
    int64_t iterations = m->iteration;
    if (with_optimizer) {
        ts[k].name = ITERATIONS_KEY;
        ts[k].dtype = KLC_I64;
        ts[k].rank = 0;
        ts[k].data = &iterations;
        ts[k].nbytes = sizeof iterations;
        k++;
        for (int i = 0; i < n_slots; i++, k++) {
            const klc_slot_def *s = &def->optimizer.slots[i];
            const klc_tensor_def *t = &def->tensors[s->param];
            ts[k].name = (char *)s->name;
            ts[k].dtype = KLC_F32;
            ts[k].rank = t->rank;
            memcpy(ts[k].shape, t->shape, sizeof t->shape);
            ts[k].data = m->slots + s->offset;
            ts[k].nbytes = (size_t)t->size * sizeof(float);
        }
    }
    char seed[32], epoch[32];
    snprintf(seed, sizeof seed, "%" PRIu64, m->seed);
    snprintf(epoch, sizeof epoch, "%d", m->epoch);
    klc_st_meta meta[5] = {
        { "format", "klc" },
        { "model", (char *)def->name },
        { "signature", sig },
        { "seed", seed },
        { "epoch", epoch },
    };
    int rc = klc_st_write(path, ts, n, meta, with_optimizer ? 5 : 3);
    free(ts);
    free(sig);
    return rc;
}

/* A path ending in .h5 gets Keras' .weights.h5 layout (weights only); .keras
 * archives are read, not written. */
static int save_as(klc_model *m, const char *path, int with_optimizer)
{
    switch (klc_weights_format_for_save(path)) {
    case KLC_WEIGHTS_H5:
        return klc_h5_save(m, path);
    case KLC_WEIGHTS_KERAS:
        return klc_seterr("%s: klc reads .keras archives but does not write them; save the "
                          "weights as .weights.h5 (Keras' model.load_weights reads it) or "
                          ".safetensors", path);
    case KLC_WEIGHTS_SAFETENSORS:
        break;
    }
    return save(m, path, with_optimizer);
}

int klc_save_weights(klc_model *m, const char *path)
{
    if (!m || !path)
        return klc_seterr("save_weights: no model or no path");
    return save_as(m, path, 0);
}

int klc_save_checkpoint(klc_model *m, const char *path)
{
    if (!m || !path)
        return klc_seterr("save_checkpoint: no model or no path");
    return save_as(m, path, 1);
}

/* A file tensor must have the def's shape and a float dtype, and its values must fit
 * float32. */
static int check_tensor(const char *path, const klc_model_def *def, const klc_st_tensor *ft,
                        const char *name, int rank, const int64_t *shape)
{
    int same = ft->rank == rank;
    for (int d = 0; same && d < rank; d++)
        same = ft->shape[d] == shape[d];
    if (!same) {
        char got[256], want[256];
        klc_format_shape(got, sizeof got, ft->rank, ft->shape, 0);
        klc_format_shape(want, sizeof want, rank, shape, 0);
        return klc_seterr("%s: tensor '%s' has shape %s, but model '%s' expects %s", path, name,
                          got, def->name, want);
    }
    if (ft->dtype != KLC_F32 && ft->dtype != KLC_F64)
        return klc_seterr("%s: tensor '%s' has dtype %s; weights must be float32 or float64",
                          path, name, klc_dtype_name(ft->dtype));
    if (ft->dtype == KLC_F64) { /* as klc_tensor_convert: no finite value may become inf */
        const unsigned char *src = ft->data; /* maybe unaligned in the file */
        for (size_t i = 0; i < ft->nbytes / sizeof(double); i++) {
            double v;
            memcpy(&v, src + i * sizeof v, sizeof v);
            if (isfinite(v) && fabs(v) > FLT_MAX)
                return klc_seterr("%s: tensor '%s': cannot convert float64 to float32: value "
                                  "%.17g at index %lld is out of range", path, name, v,
                                  (long long)i);
        }
    }
    return 0;
}

static void copy_floats(float *dst, const klc_st_tensor *ft, int64_t count)
{
    if (ft->dtype == KLC_F32) {
        memcpy(dst, ft->data, (size_t)count * sizeof(float));
        return;
    }
    const unsigned char *src = ft->data; /* F64, maybe unaligned in the file */
    for (int64_t i = 0; i < count; i++) {
        double v;
        memcpy(&v, src + (size_t)i * sizeof v, sizeof v);
        dst[i] = (float)v;
    }
}

static int is_slot(const klc_model_def *def, const char *name)
{
    for (int i = 0; i < def->optimizer.n_slots; i++)
        if (strcmp(def->optimizer.slots[i].name, name) == 0)
            return 1;
    return 0;
}

static int is_weight(const klc_model_def *def, const char *name)
{
    for (int i = 0; i < def->n_tensors; i++)
        if (strcmp(def->tensors[i].name, name) == 0)
            return 1;
    return 0;
}

/* What a checkpoint sets besides the tensors (validated before any is copied). */
typedef struct loaded_state {
    int with_optimizer;
    int64_t iterations;
    int has_seed, has_epoch;    /* klc checkpoints record both */
    uint64_t seed;
    int epoch;
} loaded_state;

/* Metadata `key`, when present, must be a decimal integer in [0, max]. */
static int meta_uint(const char *path, const klc_st_file *f, const char *key, uint64_t max,
                     int *found, uint64_t *value)
{
    const char *s = klc_st_meta_get(f, key);
    *found = s != NULL;
    if (!s)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    /* a leading digit rules out "", "-1" (which strtoull negates), "+1" and spaces */
    if (!(*s >= '0' && *s <= '9') || *end || errno)
        return klc_seterr("%s: metadata '%s' is '%.40s', not a non-negative integer", path, key,
                          s);
    if (v > max)
        return klc_seterr("%s: metadata '%s' is '%.40s', not a non-negative integer up to %llu",
                          path, key, s, (unsigned long long)max);
    *value = v;
    return 0;
}

/* Everything is checked first; only a file that fits changes the model. */
static int validate(const char *path, const klc_model_def *def, const klc_st_file *f,
                    loaded_state *ls)
{
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        const klc_st_tensor *ft = klc_st_find(f, t->name);
        if (!ft)
            return klc_seterr("%s has no tensor '%s' (model '%s' needs it)", path, t->name,
                              def->name);
        if (check_tensor(path, def, ft, t->name, t->rank, t->shape))
            return -1;
    }
    for (int i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        if (!is_weight(def, name) && !is_slot(def, name) && strcmp(name, ITERATIONS_KEY) != 0)
            return klc_seterr("%s has tensor '%s' that model '%s' does not have", path, name,
                              def->name);
    }
    const klc_st_tensor *it = klc_st_find(f, ITERATIONS_KEY);
    ls->with_optimizer = it != NULL;
    if (!it) {
        for (int i = 0; i < def->optimizer.n_slots; i++)
            if (klc_st_find(f, def->optimizer.slots[i].name))
                return klc_seterr("%s has optimizer slots but no '%s'", path, ITERATIONS_KEY);
        return 0;
    }
    if ((it->dtype != KLC_I64 && it->dtype != KLC_I32) || it->rank > 1 ||
        (it->rank == 1 && it->shape[0] != 1))
        return klc_seterr("%s: '%s' must be one int64 (or int32) value", path, ITERATIONS_KEY);
    if (it->dtype == KLC_I64) {
        memcpy(&ls->iterations, it->data, sizeof ls->iterations);
    } else {
        int32_t v;
        memcpy(&v, it->data, sizeof v);
        ls->iterations = v;
    }
    if (ls->iterations < 0)
        return klc_seterr("%s: '%s' is negative", path, ITERATIONS_KEY);
    for (int i = 0; i < def->optimizer.n_slots; i++) {
        const klc_slot_def *s = &def->optimizer.slots[i];
        const klc_tensor_def *t = &def->tensors[s->param];
        const klc_st_tensor *ft = klc_st_find(f, s->name);
        if (!ft)
            return klc_seterr("%s has no tensor '%s' (model '%s' needs it with %s)", path,
                              s->name, def->name, ITERATIONS_KEY);
        if (check_tensor(path, def, ft, s->name, t->rank, t->shape))
            return -1;
    }
    const char *fmt = klc_st_meta_get(f, "format");
    if (fmt && strcmp(fmt, "klc") == 0) {
        uint64_t epoch = 0;
        if (meta_uint(path, f, "seed", UINT64_MAX, &ls->has_seed, &ls->seed) ||
            meta_uint(path, f, "epoch", INT_MAX, &ls->has_epoch, &epoch))
            return -1;
        ls->epoch = (int)epoch;
    }
    return 0;
}

/* The weights of a parsed file (named path in messages) into m; f is freed. */
static int load_parsed(klc_model *m, const char *path, klc_st_file *f0)
{
    const klc_model_def *def = m->def;
    klc_st_file f = *f0;
    loaded_state ls;
    memset(&ls, 0, sizeof ls);
    if (validate(path, def, &f, &ls)) {
        klc_st_free(&f);
        return -1;
    }
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        copy_floats(klc_weight_data(m, t), klc_st_find(&f, t->name), t->size);
    }
    if (ls.with_optimizer) {
        for (int i = 0; i < def->optimizer.n_slots; i++) {
            const klc_slot_def *s = &def->optimizer.slots[i];
            copy_floats(m->slots + s->offset, klc_st_find(&f, s->name),
                        def->tensors[s->param].size);
        }
        m->iteration = ls.iterations;
        m->optimizer_built = 1;
        if (ls.has_seed)
            m->seed = ls.seed;
        if (ls.has_epoch)
            m->epoch = ls.epoch;
    }
    klc_st_free(&f);
    return 0;
}

int klc_load_weights(klc_model *m, const char *path)
{
    if (!m || !path)
        return klc_seterr("load_weights: no model or no path");
    unsigned char *buf;
    size_t size;
    if (klc_read_file(path, &buf, &size))
        return -1;
    int rc = klc_load_weights_bytes(m, path, buf, size);
    free(buf);
    return rc;
}

/* safetensors, Keras' .weights.h5 or a .keras archive, by the bytes (keras_h5.h) */
int klc_load_weights_bytes(klc_model *m, const char *name, const unsigned char *buf, size_t size)
{
    if (!m || !name || (!buf && size))
        return klc_seterr("load_weights: no model, no name or no bytes");
    switch (klc_weights_format_of(name, buf, size)) {
    case KLC_WEIGHTS_H5:
        return klc_h5_load_image(m, name, buf, size);
    case KLC_WEIGHTS_KERAS:
        return klc_keras_load_image(m, name, buf, size);
    case KLC_WEIGHTS_SAFETENSORS:
        break;
    }
    klc_st_file f;
    if (klc_st_parse(&f, name, buf, size))
        return -1;
    return load_parsed(m, name, &f);
}
