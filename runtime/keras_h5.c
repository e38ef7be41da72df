/*
 * keras_h5.c — Keras 3 .weights.h5 files and .keras archives (keras_h5.h).
 *
 * Reading: the file's bytes are opened as an in-memory HDF5 image (the core
 * driver, no backing file); every link is walked first (only hard links are
 * accepted, so an external link never opens another file), each dataset
 * must be one of the model's weights or lie under optimizer/, and each
 * weight's dataset is checked (float class, the weight's shape) and read
 * into a staging buffer; the model changes only when all of them passed.
 * Writing: an in-memory HDF5 file in Keras' layout, whose image is then
 * written atomically (klc_atomic_open), as safetensors files are.
 */
#include "keras_h5.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "model.h"

#ifdef KLC_HAVE_HDF5
#include <hdf5.h>
#endif
#ifdef KLC_HAVE_ZIP
#include <zip.h>
#endif

static const unsigned char hdf5_magic[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
static const unsigned char zip_magic[4] = { 'P', 'K', 3, 4 };

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

klc_weights_format klc_weights_format_of(const char *path, const unsigned char *buf, size_t size)
{
    if (size >= sizeof hdf5_magic && memcmp(buf, hdf5_magic, sizeof hdf5_magic) == 0)
        return KLC_WEIGHTS_H5;
    if (size >= sizeof zip_magic && memcmp(buf, zip_magic, sizeof zip_magic) == 0)
        return KLC_WEIGHTS_KERAS;
    return klc_weights_format_for_save(path);
}

klc_weights_format klc_weights_format_for_save(const char *path)
{
    if (ends_with(path, ".h5"))
        return KLC_WEIGHTS_H5;
    if (ends_with(path, ".keras"))
        return KLC_WEIGHTS_KERAS;
    return KLC_WEIGHTS_SAFETENSORS;
}

#ifndef KLC_HAVE_HDF5

int klc_h5_load_image(klc_model *m, const char *name, const unsigned char *buf, size_t size)
{
    (void)m, (void)buf, (void)size;
    return klc_seterr("%s: Keras .weights.h5 files need klc built with HDF5 (libhdf5-dev); this "
                      "klc runtime was built without it", name);
}

int klc_h5_save(klc_model *m, const char *path)
{
    (void)m;
    return klc_seterr("%s: Keras .weights.h5 files need klc built with HDF5 (libhdf5-dev); this "
                      "klc runtime was built without it", path);
}

#else /* KLC_HAVE_HDF5 */

/* This file uses only klc_model's slabs (model.h) and error.c, fileio.c:
 * klc links it too (klc import). */
static void *zalloc(int64_t count, size_t size)
{
    return calloc(count > 0 ? (size_t)count : 1, size);
}

static float *weight_data(klc_model *m, const klc_tensor_def *t)
{
    return (t->kind == KLC_TENSOR_PARAM ? m->params : m->state) + t->offset;
}

/* Every weight of the model must know its Keras path (the compiler writes them). */
static int check_paths(const klc_model *m, const char *name)
{
    for (int i = 0; i < m->def->n_tensors; i++)
        if (!m->def->tensors[i].keras_path)
            return klc_seterr("%s: model '%s' has no Keras path for weight '%s' (not compiled by "
                              "klc?): it cannot use .weights.h5 files", name, m->def->name,
                              m->def->tensors[i].name);
    return 0;
}

/* HDF5 prints its error stack on stderr by default: errors are ours to report. */
static void h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* An HDF5 file held in memory: the core driver without a backing store. */
static hid_t h5_open_image(const unsigned char *buf, size_t size)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return -1;
    hid_t f = -1;
    if (H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 && H5Pset_file_image(fapl, (void *)buf, size) >= 0)
        f = H5Fopen("klc-image.h5", H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

typedef struct walk {
    const klc_model_def *def;
    const char *name;
    unsigned char *seen;      /* [n_tensors] */
    char extra[512];          /* the first dataset the model does not have */
    int failed;               /* a message is set */
} walk;

static int find_path(const klc_model_def *def, const char *path)
{
    for (int i = 0; i < def->n_tensors; i++)
        if (strcmp(def->tensors[i].keras_path, path) == 0)
            return i;
    return -1;
}

static herr_t walk_link(hid_t g, const char *path, const H5L_info_t *info, void *data)
{
    walk *w = data;
    if (info->type != H5L_TYPE_HARD) {
        w->failed = 1;
        klc_seterr("%s: '%.200s' is a soft or external link; Keras weight files have none", w->name,
                   path);
        return -1;
    }
    hid_t o = H5Oopen(g, path, H5P_DEFAULT);
    if (o < 0) {
        w->failed = 1;
        klc_seterr("%s: cannot open '%.200s': not a valid HDF5 file", w->name, path);
        return -1;
    }
    H5I_type_t type = H5Iget_type(o);
    H5Oclose(o);
    if (type != H5I_DATASET)
        return 0;
    int k = find_path(w->def, path);
    if (k >= 0)
        w->seen[k] = 1;
    else if (strncmp(path, "optimizer/", 10) != 0 && !w->extra[0])
        snprintf(w->extra, sizeof w->extra, "%s", path);
    return 0;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_OPAQUE: return "opaque";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    default: return "non-numeric";
    }
}

/* Check one weight's dataset and read it as float32 into dst. */
static int read_weight(hid_t f, const char *name, const klc_model_def *def, const klc_tensor_def *t,
                       float *dst)
{
    const char *p = t->keras_path;
    hid_t ds = H5Dopen2(f, p, H5P_DEFAULT);
    if (ds < 0)
        return klc_seterr("%s: cannot open dataset '%s' (for '%s')", name, p, t->name);
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds);
    int rc = -1;
    char got[256], want[256];
    if (type < 0 || space < 0) {
        klc_seterr("%s: dataset '%s' (for '%s') is unreadable", name, p, t->name);
        goto out;
    }
    size_t tsize = H5Tget_size(type);
    if (H5Tget_class(type) != H5T_FLOAT || (tsize != 4 && tsize != 8)) {
        klc_seterr("%s: dataset '%s' (for '%s') is not float32 or float64 but %s of %zu "
                   "bytes; klc weights are float32", name, p, t->name,
                   class_name(H5Tget_class(type)), tsize);
        goto out;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    int rank = sc == H5S_SCALAR ? 0 : sc == H5S_SIMPLE ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank < 0 || rank > KLC_MAX_RANK) {
        klc_seterr("%s: dataset '%s' (for '%s') has no shape klc can take", name, p, t->name);
        goto out;
    }
    hsize_t dims[KLC_MAX_RANK];
    int64_t shape[KLC_MAX_RANK];
    if (rank > 0 && H5Sget_simple_extent_dims(space, dims, NULL) != rank) {
        klc_seterr("%s: dataset '%s' (for '%s') has an unreadable shape", name, p, t->name);
        goto out;
    }
    int same = rank == t->rank;
    for (int d = 0; d < rank; d++) {
        shape[d] = dims[d] > (hsize_t)INT64_MAX ? -1 : (int64_t)dims[d];
        same = same && shape[d] == t->shape[d];
    }
    if (!same) {
        klc_shape_str(got, sizeof got, rank, shape);
        klc_shape_str(want, sizeof want, t->rank, t->shape);
        klc_seterr("%s: dataset '%s' (for '%s') has shape %s, but model '%s' expects %s", name, p,
                   t->name, got, def->name, want);
        goto out;
    }
    if (tsize == 4) {
        if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
            klc_seterr("%s: cannot read dataset '%s' (for '%s')", name, p, t->name);
            goto out;
        }
    } else {
        double *tmp = zalloc(t->size, sizeof *tmp);
        if (!tmp) {
            klc_seterr("%s: out of memory", name);
            goto out;
        }
        if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
            free(tmp);
            klc_seterr("%s: cannot read dataset '%s' (for '%s')", name, p, t->name);
            goto out;
        }
        for (int64_t i = 0; i < t->size; i++) {
            if (isfinite(tmp[i]) && fabs(tmp[i]) > FLT_MAX) {
                klc_seterr("%s: dataset '%s' (for '%s'): cannot convert float64 to float32: value "
                           "%.17g at index %lld is out of range", name, p, t->name, tmp[i],
                           (long long)i);
                free(tmp);
                goto out;
            }
            dst[i] = (float)tmp[i];
        }
        free(tmp);
    }
    rc = 0;
out:
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(ds);
    return rc;
}

int klc_h5_load_image(klc_model *m, const char *name, const unsigned char *buf, size_t size)
{
    const klc_model_def *def = m->def;
    if (check_paths(m, name))
        return -1;
    h5_quiet();
    if (size < sizeof hdf5_magic || memcmp(buf, hdf5_magic, sizeof hdf5_magic) != 0)
        return klc_seterr("%s: not an HDF5 file (no HDF5 signature at its start)", name);
    hid_t f = h5_open_image(buf, size);
    if (f < 0)
        return klc_seterr("%s: not a valid HDF5 file", name);
    walk w;
    memset(&w, 0, sizeof w);
    w.def = def;
    w.name = name;
    w.seen = zalloc(def->n_tensors, 1);
    int64_t total = 0;
    for (int i = 0; i < def->n_tensors; i++)
        total += def->tensors[i].size;
    float *stage = zalloc(total, sizeof *stage);
    int rc = -1;
    if (!w.seen || !stage) {
        klc_seterr("%s: out of memory", name);
        goto out;
    }
    if (H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, walk_link, &w) < 0) {
        if (!w.failed)
            klc_seterr("%s: not a valid HDF5 file (its groups cannot be walked)", name);
        goto out;
    }
    for (int i = 0; i < def->n_tensors; i++)
        if (!w.seen[i]) {
            klc_seterr("%s has no dataset '%s' (model '%s' needs it for '%s')", name,
                       def->tensors[i].keras_path, def->name, def->tensors[i].name);
            goto out;
        }
    if (w.extra[0]) {
        klc_seterr("%s has dataset '%s' that model '%s' does not have", name, w.extra, def->name);
        goto out;
    }
    int64_t off = 0;
    for (int i = 0; i < def->n_tensors; i++) {
        if (read_weight(f, name, def, &def->tensors[i], stage + off))
            goto out;
        off += def->tensors[i].size;
    }
    off = 0;
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        memcpy(weight_data(m, t), stage + off, (size_t)t->size * sizeof(float));
        off += t->size;
    }
    rc = 0;
out:
    free(w.seen);
    free(stage);
    H5Fclose(f);
    return rc;
}

/* Create the groups of `path` ("a/b/vars") that do not exist yet. */
static int make_groups(hid_t f, const char *path, hid_t gcpl)
{
    char buf[1024];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 0; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        htri_t e = H5Lexists(f, buf, H5P_DEFAULT);
        if (e < 0)
            return -1;
        if (!e) {
            hid_t g = H5Gcreate2(f, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            if (g < 0)
                return -1;
            H5Gclose(g);
        }
        buf[i] = c;
    }
    return 0;
}

/* A variable-length UTF-8 string attribute, as h5py writes a Python str. */
static int set_name_attr(hid_t f, const char *group, const char *value)
{
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0)
        return -1;
    hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR);
    int rc = -1;
    if (type >= 0 && space >= 0 && H5Tset_size(type, H5T_VARIABLE) >= 0 &&
        H5Tset_cset(type, H5T_CSET_UTF8) >= 0) {
        hid_t a = H5Acreate2(g, "name", type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) {
            rc = H5Awrite(a, type, &value) < 0 ? -1 : 0;
            H5Aclose(a);
        }
    }
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Gclose(g);
    return rc;
}

/* "layers/dense/vars/0" -> "layers/dense" (the model layer's group) into buf. */
static void layer_group(char *buf, size_t size, const char *keras_path)
{
    const char *s = strchr(keras_path, '/');
    s = s ? strchr(s + 1, '/') : NULL;
    size_t n = s ? (size_t)(s - keras_path) : strlen(keras_path);
    snprintf(buf, size, "%.*s", (int)n, keras_path);
}

/* gcpl, dcpl: creation properties without timestamps, so that the same
 * weights always give the same bytes (h5py's default too). */
static int write_model(hid_t f, klc_model *m, hid_t gcpl, hid_t dcpl)
{
    const klc_model_def *def = m->def;
    /* the model's own (empty) vars group with its name, as Keras writes it */
    if (make_groups(f, "vars", gcpl) || set_name_attr(f, "vars", def->keras_name ? def->keras_name : "sequential"))
        return -1;
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        char group[1024], vars[1100];
        layer_group(group, sizeof group, t->keras_path);
        snprintf(vars, sizeof vars, "%s/vars", group);
        if (H5Lexists(f, "layers", H5P_DEFAULT) <= 0 || H5Lexists(f, group, H5P_DEFAULT) <= 0) {
            if (make_groups(f, vars, gcpl) || set_name_attr(f, vars, t->layer))
                return -1;
        }
        const char *slash = strrchr(t->keras_path, '/');
        char owner[1024];
        snprintf(owner, sizeof owner, "%.*s", (int)(slash - t->keras_path), t->keras_path);
        if (make_groups(f, owner, gcpl))
            return -1;
        hsize_t dims[KLC_MAX_RANK];
        for (int d = 0; d < t->rank; d++)
            dims[d] = (hsize_t)t->shape[d];
        hid_t space = t->rank ? H5Screate_simple(t->rank, dims, NULL) : H5Screate(H5S_SCALAR);
        if (space < 0)
            return -1;
        hid_t ds = H5Dcreate2(f, t->keras_path, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl,
                              H5P_DEFAULT);
        H5Sclose(space);
        if (ds < 0)
            return -1;
        herr_t w = H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                            weight_data(m, t));
        H5Dclose(ds);
        if (w < 0)
            return -1;
    }
    return 0;
}

int klc_h5_save(klc_model *m, const char *path)
{
    if (check_paths(m, path))
        return -1;
    for (int i = 0; i < m->def->n_tensors; i++)
        if (strlen(m->def->tensors[i].keras_path) >= 1000)
            return klc_seterr("%s: Keras path of '%s' too long", path, m->def->tensors[i].name);
    h5_quiet();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        return klc_seterr("%s: HDF5 cannot make a file in memory", path);
    }
    hid_t f = H5Fcreate("klc-image.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0)
        return klc_seterr("%s: HDF5 cannot make a file in memory", path);
    unsigned char *image = NULL;
    ssize_t n = -1;
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (gcpl >= 0 && dcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0 &&
        H5Pset_obj_track_times(dcpl, 0) >= 0 && write_model(f, m, gcpl, dcpl) == 0 &&
        H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0)
        n = H5Fget_file_image(f, NULL, 0);
    if (gcpl >= 0)
        H5Pclose(gcpl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (n > 0 && (image = malloc((size_t)n)) != NULL && H5Fget_file_image(f, image, (size_t)n) != n)
        n = -1;
    H5Fclose(f);
    if (n <= 0 || !image) {
        free(image);
        return klc_seterr("%s: HDF5 failed to build the file", path);
    }
    klc_atomic_file af;
    if (klc_atomic_open(&af, path)) {
        free(image);
        return -1;
    }
    size_t wrote = fwrite(image, 1, (size_t)n, af.fp);
    free(image);
    if (wrote != (size_t)n) {
        klc_atomic_abort(&af);
        return klc_seterr("%s: write failed", path);
    }
    return klc_atomic_commit(&af);
}

#endif /* KLC_HAVE_HDF5 */

#if defined(KLC_HAVE_ZIP) && defined(KLC_HAVE_HDF5)

/* Archives whose model.weights.h5 says it is bigger than this are refused. */
#define KLC_KERAS_MAX_WEIGHTS ((zip_uint64_t)1 << 32)

int klc_keras_member(const char *name, const unsigned char *buf, size_t size, const char *member,
                     unsigned char **out, size_t *out_size)
{
    *out = NULL;
    *out_size = 0;
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *src = zip_source_buffer_create(buf, size, 0, &zerr);
    if (!src) {
        zip_error_fini(&zerr);
        return klc_seterr("%s: out of memory", name);
    }
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &zerr);
    if (!za) {
        klc_seterr("%s: not a .keras archive (a zip file): %s", name, zip_error_strerror(&zerr));
        zip_source_free(src);
        zip_error_fini(&zerr);
        return -1;
    }
    zip_error_fini(&zerr);
    int rc = -1;
    unsigned char *data = NULL;
    zip_file_t *zf = NULL;
    zip_int64_t idx = zip_name_locate(za, member, 0);
    zip_stat_t st;
    if (idx < 0) {
        klc_seterr("%s: the archive has no %s (a .keras file holds config.json, "
                   "metadata.json and model.weights.h5)", name, member);
        goto out;
    }
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE)) {
        klc_seterr("%s: %s: unreadable archive entry: %s", name, member, zip_strerror(za));
        goto out;
    }
    if (st.size > KLC_KERAS_MAX_WEIGHTS || st.size > SIZE_MAX - 1) {
        klc_seterr("%s: %s is %llu bytes, more than klc reads (%llu)", name, member,
                   (unsigned long long)st.size, (unsigned long long)KLC_KERAS_MAX_WEIGHTS);
        goto out;
    }
    data = malloc((size_t)st.size + 1); /* NUL-terminated, for the JSON members */
    zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!data || !zf) {
        klc_seterr("%s: %s: %s", name, member, !data ? "out of memory" : zip_strerror(za));
        goto out;
    }
    zip_uint64_t got = 0;
    while (got < st.size) {
        zip_int64_t r = zip_fread(zf, data + got, st.size - got);
        if (r <= 0)
            break;
        got += (zip_uint64_t)r;
    }
    if (got != st.size) {
        klc_seterr("%s: %s: archive entry is corrupt or truncated (%s)", name, member,
                   zip_file_strerror(zf));
        goto out;
    }
    data[got] = '\0';
    *out = data;
    *out_size = (size_t)got;
    data = NULL;
    rc = 0;
out:
    if (zf)
        zip_fclose(zf);
    free(data);
    zip_discard(za);
    return rc;
}

int klc_keras_load_image(klc_model *m, const char *name, const unsigned char *buf, size_t size)
{
    unsigned char *h5;
    size_t n;
    if (klc_keras_member(name, buf, size, "model.weights.h5", &h5, &n))
        return -1;
    char inner[4200];
    snprintf(inner, sizeof inner, "%s: model.weights.h5", name);
    int rc = klc_h5_load_image(m, inner, h5, n);
    free(h5);
    return rc;
}

#else

int klc_keras_member(const char *name, const unsigned char *buf, size_t size, const char *member,
                     unsigned char **out, size_t *out_size)
{
    (void)buf, (void)size, (void)member;
    *out = NULL;
    *out_size = 0;
    return klc_seterr("%s: .keras archives need klc built with libzip (libzip-dev) and HDF5 "
                      "(libhdf5-dev); this klc was built without %s", name,
#ifdef KLC_HAVE_HDF5
                      "libzip"
#else
                      "them"
#endif
    );
}

int klc_keras_load_image(klc_model *m, const char *name, const unsigned char *buf, size_t size)
{
    (void)m, (void)buf, (void)size;
    return klc_seterr("%s: .keras archives need klc built with libzip (libzip-dev) and HDF5 "
                      "(libhdf5-dev); this klc runtime was built without %s", name,
#ifdef KLC_HAVE_HDF5
                      "libzip"
#else
                      "them"
#endif
    );
}

#endif
