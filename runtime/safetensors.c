/*
 * safetensors.c — reading and writing safetensors files.
 *
 *   u64 LE  H        header length
 *   H bytes          JSON object: {"__metadata__": {str: str},
 *                                  name: {"dtype", "shape", "data_offsets"}, ...}
 *   the rest         the data buffer; data_offsets are relative to its start
 *
 * The reader is as strict as Python's safetensors: every entry complete and
 * consistent, and the tensors' byte ranges tile the data buffer exactly (no
 * overlap, no hole, no trailing bytes).
 */
#include "safetensors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "json.h"
#include "klc/runtime.h"

static const struct {
    const char *name;
    klc_dtype dt;
} st_dtypes[] = { { "F32", KLC_F32 }, { "F64", KLC_F64 }, { "I32", KLC_I32 },
                  { "I64", KLC_I64 }, { "U8", KLC_U8 } };

#define N_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

static const char *st_dtype_name(klc_dtype dt)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (st_dtypes[i].dt == dt)
            return st_dtypes[i].name;
    return NULL;
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name that occurs twice among names[0..n), or NULL; *oom on no memory. */
static const char *first_duplicate(const char *const *names, size_t n, int *oom)
{
    *oom = 0;
    if (n < 2)
        return NULL;
    const char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) {
        *oom = 1;
        return NULL;
    }
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_name);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            dup = sorted[i];
    free(sorted);
    return dup;
}

/* ----------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------- */

static int tensor_error(const char *file, const char *tensor, const char *fmt, ...)
    KLC_PRINTF(3, 4);

static int tensor_error(const char *file, const char *tensor, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return klc_seterr("%s: tensor \"%.200s\": %s", file, tensor, msg);
}

/* The value of a non-negative JSON integer, or -1. */
static int64_t json_index(const klc_json *v)
{
    return v->kind == KLC_JSON_NUMBER && v->is_int && v->integer >= 0 ? v->integer : -1;
}

/* The member `key` of the tensor entry `obj`; NULL (with a message) when it
 * is missing or repeated. */
static const klc_json *field(const char *file, const char *tensor, const klc_json *obj,
                             const char *key)
{
    const klc_json *found = NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->n; i++) {
        if (obj->keys[i].len != n || memcmp(obj->keys[i].str, key, n) != 0)
            continue;
        if (found) {
            tensor_error(file, tensor, "duplicate field \"%s\"", key);
            return NULL;
        }
        found = &obj->items[i];
    }
    if (!found)
        tensor_error(file, tensor, "missing field \"%s\"", key);
    return found;
}

/* One tensor entry {"dtype": .., "shape": [..], "data_offsets": [b, e]};
 * t->name is already set.  data[0..data_size) is the data buffer. */
static int read_tensor(klc_st_tensor *t, const char *file, const klc_json *e,
                       const unsigned char *data, size_t data_size)
{
    const char *name = t->name;
    if (e->kind != KLC_JSON_OBJECT)
        return tensor_error(file, name, "entry must be an object, not %s",
                            klc_json_kind_name(e->kind));
    const klc_json *dtype = field(file, name, e, "dtype");
    const klc_json *shape = dtype ? field(file, name, e, "shape") : NULL;
    const klc_json *offsets = shape ? field(file, name, e, "data_offsets") : NULL;
    if (!offsets)
        return -1;

    if (dtype->kind != KLC_JSON_STRING)
        return tensor_error(file, name, "\"dtype\" must be a string, not %s",
                            klc_json_kind_name(dtype->kind));
    size_t d = 0;
    while (d < N_DTYPES && strcmp(dtype->str, st_dtypes[d].name) != 0)
        d++;
    if (d == N_DTYPES)
        return tensor_error(file, name, "unsupported dtype \"%.32s\" (supported: F32, F64, I32, "
                            "I64, U8)", dtype->str);
    t->dtype = st_dtypes[d].dt;

    if (shape->kind != KLC_JSON_ARRAY)
        return tensor_error(file, name, "\"shape\" must be an array, not %s",
                            klc_json_kind_name(shape->kind));
    if (shape->n > KLC_MAX_RANK)
        return tensor_error(file, name, "rank %zu is more than the runtime supports (%d)",
                            shape->n, KLC_MAX_RANK);
    t->rank = (int)shape->n;
    for (int i = 0; i < t->rank; i++) {
        t->shape[i] = json_index(&shape->items[i]);
        if (t->shape[i] < 0)
            return tensor_error(file, name, "\"shape\" must hold non-negative integers");
    }

    if (offsets->kind != KLC_JSON_ARRAY || offsets->n != 2 || json_index(&offsets->items[0]) < 0
        || json_index(&offsets->items[1]) < 0)
        return tensor_error(file, name, "\"data_offsets\" must be [begin, end], two "
                            "non-negative integers");
    int64_t begin = offsets->items[0].integer, end = offsets->items[1].integer;

    char shape_s[192];
    klc_shape_str(shape_s, sizeof shape_s, t->rank, t->shape);
    if (klc_shape_size(t->rank, t->shape, klc_dtype_size(t->dtype), NULL, &t->nbytes) != 0)
        return tensor_error(file, name, "shape %s is too large", shape_s);
    if (end < begin)
        return tensor_error(file, name, "data_offsets [%lld, %lld] end before they begin",
                            (long long)begin, (long long)end);
    if ((uint64_t)end > data_size)
        return tensor_error(file, name, "data_offsets [%lld, %lld] point outside the data "
                            "buffer (%zu bytes)", (long long)begin, (long long)end, data_size);
    if ((uint64_t)(end - begin) != t->nbytes)
        return tensor_error(file, name, "data_offsets [%lld, %lld] hold %lld bytes, but %s %s "
                            "needs %zu", (long long)begin, (long long)end,
                            (long long)(end - begin), dtype->str, shape_s, t->nbytes);
    t->data = data + begin;
    return 0;
}

/* "__metadata__": an object of strings. */
static int read_metadata(klc_st_file *f, const char *file, const klc_json *m)
{
    if (m->kind != KLC_JSON_OBJECT)
        return klc_seterr("%s: \"__metadata__\" must be an object of strings, not %s", file,
                          klc_json_kind_name(m->kind));
    f->meta = calloc(m->n ? m->n : 1, sizeof *f->meta);
    if (!f->meta)
        return klc_seterr("%s: out of memory", file);
    for (size_t i = 0; i < m->n; i++) {
        const klc_json *k = &m->keys[i], *v = &m->items[i];
        if (v->kind != KLC_JSON_STRING)
            return klc_seterr("%s: \"__metadata__\" value of \"%.200s\" must be a string, not %s",
                              file, k->str, klc_json_kind_name(v->kind));
        if (strlen(k->str) != k->len || strlen(v->str) != v->len)
            return klc_seterr("%s: \"__metadata__\" entry \"%.200s\" contains a NUL character",
                              file, k->str);
        klc_st_meta *e = &f->meta[f->n_meta];
        e->key = dup_string(k->str);
        e->value = dup_string(v->str);
        f->n_meta++;
        if (!e->key || !e->value)
            return klc_seterr("%s: out of memory", file);
    }
    const char **keys = malloc((m->n ? m->n : 1) * sizeof *keys);
    if (!keys)
        return klc_seterr("%s: out of memory", file);
    for (int i = 0; i < f->n_meta; i++)
        keys[i] = f->meta[i].key;
    int oom;
    const char *dup = first_duplicate(keys, (size_t)f->n_meta, &oom);
    free(keys);
    if (oom)
        return klc_seterr("%s: out of memory", file);
    if (dup)
        return klc_seterr("%s: \"__metadata__\" has the key \"%.200s\" twice", file, dup);
    return 0;
}

/* Order tensors by where their data begins; zero-byte tensors first. */
static int cmp_data(const void *a, const void *b)
{
    const klc_st_tensor *x = a, *y = b;
    const unsigned char *px = x->data, *py = y->data;
    if (px != py)
        return px < py ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

/* Names unique, and the data ranges tile data[0..data_size) exactly. */
static int check_layout(klc_st_file *f, const char *file, const unsigned char *data,
                        size_t data_size)
{
    size_t n = (size_t)f->n_tensors;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names)
        return klc_seterr("%s: out of memory", file);
    for (size_t i = 0; i < n; i++)
        names[i] = f->tensors[i].name;
    int oom;
    const char *dup = first_duplicate(names, n, &oom);
    int rc = oom ? klc_seterr("%s: out of memory", file)
             : dup ? klc_seterr("%s: the tensor name \"%.200s\" appears twice", file, dup)
                   : 0;
    free(names);
    if (rc != 0)
        return rc;

    qsort(f->tensors, n, sizeof *f->tensors, cmp_data);
    size_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        const klc_st_tensor *t = &f->tensors[i];
        size_t begin = (size_t)((const unsigned char *)t->data - data);
        if (begin < expect)
            return tensor_error(file, t->name, "data_offsets [%zu, %zu] overlap those of tensor "
                                "\"%.200s\" (which end at %zu)", begin, begin + t->nbytes,
                                f->tensors[i - 1].name, expect);
        if (begin > expect)
            return klc_seterr("%s: bytes %zu to %zu of the data buffer belong to no tensor (a "
                              "hole before tensor \"%.200s\")", file, expect, begin, t->name);
        expect = begin + t->nbytes;
    }
    if (expect != data_size)
        return klc_seterr("%s: the last %zu bytes of the data buffer (%zu bytes) belong to no "
                          "tensor", file, data_size - expect, data_size);
    return 0;
}

static int is_metadata_key(const klc_json *key)
{
    return key->len == 12 && memcmp(key->str, "__metadata__", 12) == 0;
}

static int read_header(klc_st_file *f, const char *file, const klc_json *root,
                       const unsigned char *data, size_t data_size)
{
    size_t n = 0;
    for (size_t i = 0; i < root->n; i++)
        n += !is_metadata_key(&root->keys[i]);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors)
        return klc_seterr("%s: out of memory", file);

    int seen_metadata = 0;
    for (size_t i = 0; i < root->n; i++) {
        const klc_json *key = &root->keys[i], *val = &root->items[i];
        if (is_metadata_key(key)) {
            if (seen_metadata++)
                return klc_seterr("%s: \"__metadata__\" appears twice", file);
            if (read_metadata(f, file, val) != 0)
                return -1;
            continue;
        }
        if (strlen(key->str) != key->len)
            return klc_seterr("%s: a tensor name contains a NUL character", file);
        klc_st_tensor *t = &f->tensors[f->n_tensors];
        t->name = dup_string(key->str);
        if (!t->name)
            return klc_seterr("%s: out of memory", file);
        f->n_tensors++;
        if (read_tensor(t, file, val, data, data_size) != 0)
            return -1;
    }
    return check_layout(f, file, data, data_size);
}

int klc_st_parse(klc_st_file *f, const char *name, const unsigned char *buf, size_t size)
{
    memset(f, 0, sizeof *f);
    if (size < 8)
        return klc_seterr("%s: file is %zu bytes, too short for a safetensors file (it starts "
                          "with an 8-byte header length)", name, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > size - 8)
        return klc_seterr("%s: header length %llu points outside the file (%zu bytes)", name,
                          (unsigned long long)hlen, size);
    if (hlen > KLC_ST_MAX_HEADER)
        return klc_seterr("%s: header length %llu is over the %u-byte limit", name,
                          (unsigned long long)hlen, KLC_ST_MAX_HEADER);

    klc_json root;
    if (klc_json_parse(&root, (const char *)buf + 8, (size_t)hlen) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", klc_last_error());
        return klc_seterr("%s: header is not valid JSON (%s)", name, msg);
    }
    int rc;
    if (root.kind != KLC_JSON_OBJECT)
        rc = klc_seterr("%s: header is %s, not a JSON object", name,
                        klc_json_kind_name(root.kind));
    else
        rc = read_header(f, name, &root, buf + 8 + hlen, size - 8 - (size_t)hlen);
    klc_json_free(&root);
    if (rc != 0)
        klc_st_free(f);
    return rc;
}

int klc_st_read(klc_st_file *f, const char *path)
{
    unsigned char *buf;
    size_t size;
    memset(f, 0, sizeof *f);
    if (klc_read_file(path, &buf, &size) != 0)
        return -1;
    if (klc_st_parse(f, path, buf, size) != 0) {
        free(buf);
        return -1;
    }
    f->buffer = buf;
    f->size = size;
    return 0;
}

void klc_st_free(klc_st_file *f)
{
    for (int i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    free(f->buffer);
    memset(f, 0, sizeof *f);
}

const klc_st_tensor *klc_st_find(const klc_st_file *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *klc_st_meta_get(const klc_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

/* ----------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------- */

/* A growing string; `failed` is set when memory runs out. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n && cap <= SIZE_MAX / 2)
            cap *= 2;
        char *bigger = cap - b->len >= n ? realloc(b->s, cap) : NULL;
        if (!bigger) {
            b->failed = 1;
            return;
        }
        b->s = bigger;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_int(sbuf *b, long long v)
{
    char num[32];
    sb_add(b, num, (size_t)snprintf(num, sizeof num, "%lld", v));
}

/* A JSON string literal, escaped as serde_json does. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        switch (c) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\b': sb_str(b, "\\b"); break;
        case '\f': sb_str(b, "\\f"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                sb_str(b, esc);
            } else {
                sb_add(b, s, 1);
            }
        }
    }
    sb_add(b, "\"", 1);
}

static int check_string(const char *path, const char *what, const char *s)
{
    if (!s)
        return klc_seterr("%s: %s is NULL", path, what);
    if (!klc_utf8_valid(s, strlen(s)))
        return klc_seterr("%s: %s \"%.200s\" is not valid UTF-8", path, what, s);
    return 0;
}

/* Everything klc_st_write is given, checked before anything is written. */
static int check_write_args(const char *path, const klc_st_tensor *tensors, int n_tensors,
                            const klc_st_meta *meta, int n_meta)
{
    for (int i = 0; i < n_meta; i++)
        if (check_string(path, "metadata key", meta[i].key) != 0
            || check_string(path, "metadata value", meta[i].value) != 0)
            return -1;
    for (int i = 0; i < n_tensors; i++) {
        const klc_st_tensor *t = &tensors[i];
        size_t nbytes;
        if (check_string(path, "tensor name", t->name) != 0)
            return -1;
        if (strcmp(t->name, "__metadata__") == 0)
            return klc_seterr("%s: \"__metadata__\" cannot name a tensor", path);
        if (!st_dtype_name(t->dtype))
            return tensor_error(path, t->name, "unknown dtype %d", (int)t->dtype);
        if (klc_shape_size(t->rank, t->shape, klc_dtype_size(t->dtype), NULL, &nbytes) != 0)
            return tensor_error(path, t->name, "invalid shape (rank %d)", t->rank);
        if (nbytes != t->nbytes)
            return tensor_error(path, t->name, "nbytes is %zu, but its dtype and shape make %zu",
                                t->nbytes, nbytes);
        if (nbytes > 0 && !t->data)
            return tensor_error(path, t->name, "no data");
    }
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const klc_st_tensor *x = *(const klc_st_tensor *const *)a;
    const klc_st_tensor *y = *(const klc_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* The JSON header for tensors in `order`, padded with spaces to a multiple
 * of 8 bytes.  Tensor data follows in the same order. */
static void build_header(sbuf *b, const klc_st_tensor *const *order, int n_tensors,
                         const klc_st_meta *meta, int n_meta)
{
    sb_str(b, "{");
    if (n_meta > 0) {
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                sb_str(b, ",");
            sb_json_string(b, meta[i].key);
            sb_str(b, ":");
            sb_json_string(b, meta[i].value);
        }
        sb_str(b, "}");
    }
    size_t offset = 0;
    for (int i = 0; i < n_tensors; i++) {
        const klc_st_tensor *t = order[i];
        if (i || n_meta > 0)
            sb_str(b, ",");
        sb_json_string(b, t->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, st_dtype_name(t->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t->rank; d++) {
            if (d)
                sb_str(b, ",");
            sb_int(b, (long long)t->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_int(b, (long long)offset);
        sb_str(b, ",");
        offset += t->nbytes;
        sb_int(b, (long long)offset);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (b->len % 8 != 0)
        sb_str(b, " ");
}

int klc_st_write(const char *path, const klc_st_tensor *tensors, int n_tensors,
                 const klc_st_meta *meta, int n_meta)
{
    if (n_tensors < 0 || n_meta < 0)
        return klc_seterr("%s: negative tensor or metadata count", path);
    if (check_write_args(path, tensors, n_tensors, meta, n_meta) != 0)
        return -1;

    size_t n = (size_t)n_tensors;
    const klc_st_tensor **order = malloc((n ? n : 1) * sizeof *order);
    const char **names = malloc((n + (size_t)n_meta + 1) * sizeof *names);
    if (!order || !names) {
        free(order);
        free(names);
        return klc_seterr("%s: out of memory", path);
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = &tensors[i];
        names[i] = tensors[i].name;
    }
    int oom, rc = 0;
    const char *dup = first_duplicate(names, n, &oom);
    if (!oom && !dup) {
        for (int i = 0; i < n_meta; i++)
            names[i] = meta[i].key;
        dup = first_duplicate(names, (size_t)n_meta, &oom);
        if (dup)
            rc = klc_seterr("%s: metadata key \"%.200s\" given twice", path, dup);
    } else if (dup) {
        rc = klc_seterr("%s: tensor name \"%.200s\" given twice", path, dup);
    }
    free(names);
    if (oom)
        rc = klc_seterr("%s: out of memory", path);
    if (rc != 0) {
        free(order);
        return rc;
    }
    qsort(order, n, sizeof *order, cmp_tensor_name);

    sbuf header = { NULL, 0, 0, 0 };
    build_header(&header, order, n_tensors, meta, n_meta);
    if (header.failed) {
        free(header.s);
        free(order);
        return klc_seterr("%s: out of memory", path);
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)header.len >> (8 * i));

    klc_atomic_file af;
    rc = klc_atomic_open(&af, path);
    if (rc == 0) {
        fwrite(len8, 1, 8, af.fp);
        fwrite(header.s, 1, header.len, af.fp);
        for (size_t i = 0; i < n; i++)
            if (order[i]->nbytes > 0)
                fwrite(order[i]->data, 1, order[i]->nbytes, af.fp);
        rc = klc_atomic_commit(&af);
    }
    free(header.s);
    free(order);
    return rc;
}
