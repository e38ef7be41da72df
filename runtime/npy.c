/*
 * npy.c — NumPy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 *   "\x93NUMPY" major minor  header-length (u16 LE in 1.0, u32 LE in 2.0/3.0)
 *   header: a Python dict literal, padded with spaces, ending in '\n':
 *           {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *   data:   the array's bytes in C order
 *
 * The header is parsed as the strict subset of Python literals NumPy writes:
 * exactly the keys 'descr', 'fortran_order' and 'shape', a dtype string, True
 * or False, and a tuple of non-negative integers.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "klc/runtime.h"

static const char npy_magic[6] = { '\x93', 'N', 'U', 'M', 'P', 'Y' };

/* The .npy type string of each dtype; all little-endian. */
static const char *npy_descr(klc_dtype dt)
{
    switch (dt) {
    case KLC_F32: return "<f4";
    case KLC_F64: return "<f8";
    case KLC_I32: return "<i4";
    case KLC_I64: return "<i8";
    case KLC_U8: return "|u1";
    }
    return NULL;
}

/* ----------------------------------------------------------------------------
 * Header dict
 * ------------------------------------------------------------------------- */

typedef struct hparser {
    const char *name; /* file name, for messages */
    const char *s;
    size_t len, pos;
} hparser;

static int hfail(hparser *h, const char *what)
{
    return klc_seterr("%s: invalid .npy header at character %zu: %s", h->name, h->pos + 1, what);
}

static void hskip(hparser *h)
{
    while (h->pos < h->len && (h->s[h->pos] == ' ' || h->s[h->pos] == '\t'))
        h->pos++;
}

static int hpeek(hparser *h, char c)
{
    return h->pos < h->len && h->s[h->pos] == c;
}

/* 'text' or "text" without escapes; *str and *n point into the header. */
static int hstring(hparser *h, const char **str, size_t *n)
{
    if (!hpeek(h, '\'') && !hpeek(h, '"'))
        return hfail(h, "expected a quoted string");
    char q = h->s[h->pos++];
    size_t start = h->pos;
    while (h->pos < h->len && h->s[h->pos] != q) {
        if (h->s[h->pos] == '\\' || h->s[h->pos] == '\n')
            return hfail(h, "unsupported character in string");
        h->pos++;
    }
    if (h->pos >= h->len)
        return hfail(h, "unterminated string");
    *str = h->s + start;
    *n = h->pos - start;
    h->pos++;
    return 0;
}

static int hword(hparser *h, const char *word)
{
    size_t n = strlen(word);
    if (h->len - h->pos >= n && memcmp(h->s + h->pos, word, n) == 0) {
        h->pos += n;
        return 1;
    }
    return 0;
}

/* shape -> '(' ')' | '(' int ',' ')' | '(' int { ',' int } [','] ')' */
static int hshape(hparser *h, int *rank, int64_t *shape)
{
    if (!hpeek(h, '('))
        return hfail(h, "'shape' must be a tuple");
    h->pos++;
    hskip(h);
    *rank = 0;
    int commas = 0;
    while (!hpeek(h, ')')) {
        if (h->pos >= h->len || h->s[h->pos] < '0' || h->s[h->pos] > '9')
            return hfail(h, "'shape' must be a tuple of non-negative integers");
        int64_t v = 0;
        while (h->pos < h->len && h->s[h->pos] >= '0' && h->s[h->pos] <= '9') {
            int d = h->s[h->pos++] - '0';
            if (v > (INT64_MAX - d) / 10)
                return hfail(h, "dimension too large");
            v = v * 10 + d;
        }
        if (*rank == KLC_MAX_RANK)
            return hfail(h, "more dimensions than the runtime supports (8)");
        shape[(*rank)++] = v;
        hskip(h);
        if (hpeek(h, ',')) {
            h->pos++;
            commas++;
            hskip(h);
        } else if (!hpeek(h, ')')) {
            return hfail(h, "expected ',' or ')' in 'shape'");
        }
    }
    if (*rank == 1 && commas == 0)
        return hfail(h, "'shape' must be a tuple, like (3,)");
    h->pos++;
    return 0;
}

typedef struct npy_header {
    klc_dtype dtype;
    int rank;
    int64_t shape[KLC_MAX_RANK];
} npy_header;

/* Map a descr string to a dtype, refusing what the runtime cannot read. */
static int npy_dtype(hparser *h, const char *d, size_t n, klc_dtype *dt)
{
    static const struct {
        const char *descr;
        klc_dtype dt;
    } known[] = { { "<f4", KLC_F32 }, { "<f8", KLC_F64 }, { "<i4", KLC_I32 },
                  { "<i8", KLC_I64 }, { "|u1", KLC_U8 },  { "<u1", KLC_U8 } };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strlen(known[i].descr) == n && memcmp(known[i].descr, d, n) == 0) {
            *dt = known[i].dt;
            return 0;
        }
    }
    int shown = n > 32 ? 32 : (int)n;
    if (n > 0 && d[0] == '>')
        return klc_seterr("%s: big-endian dtype '%.*s' is not supported; save the array as "
                          "little-endian (arr.astype(arr.dtype.newbyteorder('<')))",
                          h->name, shown, d);
    return klc_seterr("%s: unsupported dtype '%.*s' (supported: '<f4' float32, '<f8' float64, "
                      "'<i4' int32, '<i8' int64, '|u1' uint8)", h->name, shown, d);
}

/* dict -> '{' { key ':' value ',' } [ key ':' value ] '}' whitespace */
static int parse_header(hparser *h, npy_header *hd)
{
    int have_descr = 0, have_order = 0, have_shape = 0;
    hskip(h);
    if (!hpeek(h, '{'))
        return hfail(h, "expected '{'");
    h->pos++;
    for (;;) {
        hskip(h);
        if (hpeek(h, '}'))
            break;
        const char *key;
        size_t klen;
        if (hstring(h, &key, &klen) != 0)
            return -1;
        hskip(h);
        if (!hpeek(h, ':'))
            return hfail(h, "expected ':' after a key");
        h->pos++;
        hskip(h);
        if (klen == 5 && memcmp(key, "descr", 5) == 0 && !have_descr) {
            const char *d;
            size_t dlen;
            if (hpeek(h, '['))
                return klc_seterr("%s: structured arrays (record dtypes) are not supported",
                                  h->name);
            if (hstring(h, &d, &dlen) != 0 || npy_dtype(h, d, dlen, &hd->dtype) != 0)
                return -1;
            have_descr = 1;
        } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0 && !have_order) {
            if (hword(h, "True"))
                return klc_seterr("%s: the array is in Fortran order; only C order is supported "
                                  "(save np.ascontiguousarray(arr))", h->name);
            if (!hword(h, "False"))
                return hfail(h, "'fortran_order' must be True or False");
            have_order = 1;
        } else if (klen == 5 && memcmp(key, "shape", 5) == 0 && !have_shape) {
            if (hshape(h, &hd->rank, hd->shape) != 0)
                return -1;
            have_shape = 1;
        } else {
            return klc_seterr("%s: invalid .npy header: unexpected or repeated key '%.*s'",
                              h->name, (int)(klen > 32 ? 32 : klen), key);
        }
        hskip(h);
        if (hpeek(h, ','))
            h->pos++;
        else if (!hpeek(h, '}'))
            return hfail(h, "expected ',' or '}'");
    }
    h->pos++;
    while (h->pos < h->len && (h->s[h->pos] == ' ' || h->s[h->pos] == '\n'))
        h->pos++;
    if (h->pos != h->len)
        return hfail(h, "unexpected text after the dict");
    if (!have_descr || !have_order || !have_shape)
        return klc_seterr("%s: invalid .npy header: missing key '%s'", h->name,
                          !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return 0;
}

/* ----------------------------------------------------------------------------
 * Load
 * ------------------------------------------------------------------------- */

int klc_npy_parse(klc_tensor *t, const char *name, const unsigned char *buf, size_t size)
{
    memset(t, 0, sizeof *t);
    if (size < sizeof npy_magic || memcmp(buf, npy_magic, sizeof npy_magic) != 0)
        return klc_seterr("%s: not a .npy file (it does not start with \"\\x93NUMPY\")", name);
    if (size < 8)
        return klc_seterr("%s: truncated .npy file (%zu bytes)", name, size);
    int major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return klc_seterr("%s: unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are read)",
                          name, major, minor);
    size_t prefix = major == 1 ? 10 : 12;
    if (size < prefix)
        return klc_seterr("%s: truncated .npy file (%zu bytes)", name, size);
    size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    if (major > 1)
        hlen |= (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (hlen > size - prefix)
        return klc_seterr("%s: header length %zu points outside the file (%zu bytes)", name, hlen,
                          size);

    npy_header hd;
    memset(&hd, 0, sizeof hd);
    hparser h = { name, (const char *)buf + prefix, hlen, 0 };
    if (parse_header(&h, &hd) != 0)
        return -1;

    size_t elem = klc_dtype_size(hd.dtype), nbytes;
    char shape[192];
    klc_shape_str(shape, sizeof shape, hd.rank, hd.shape);
    if (klc_shape_size(hd.rank, hd.shape, elem, NULL, &nbytes) != 0)
        return klc_seterr("%s: shape %s is too large", name, shape);
    size_t have = size - prefix - hlen;
    if (have != nbytes)
        return klc_seterr("%s: %s data of shape %s needs %zu bytes, the file has %zu after the "
                          "header (%s)", name, klc_dtype_name(hd.dtype), shape, nbytes, have,
                          have < nbytes ? "truncated" : "trailing bytes");
    if (klc_tensor_alloc(t, hd.dtype, hd.rank, hd.shape) != 0)
        return klc_seterr_prefix(name);
    if (nbytes > 0)
        memcpy(t->data, buf + prefix + hlen, nbytes);
    return 0;
}

int klc_npy_load(klc_tensor *t, const char *path)
{
    return klc_load_with(t, path, klc_npy_parse);
}

/* ----------------------------------------------------------------------------
 * Save
 * ------------------------------------------------------------------------- */

int klc_npy_save(const klc_tensor *t, const char *path)
{
    const char *descr = npy_descr(t->dtype);
    size_t nbytes;
    if (!descr)
        return klc_seterr("%s: cannot save a tensor of unknown dtype %d", path, (int)t->dtype);
    if (klc_shape_size(t->rank, t->shape, klc_dtype_size(t->dtype), NULL, &nbytes) != 0)
        return klc_seterr("%s: cannot save a tensor with an invalid shape (rank %d)", path,
                          t->rank);
    if (nbytes > 0 && !t->data)
        return klc_seterr("%s: cannot save a tensor without data", path);

    /* The dict as NumPy writes it: keys sorted, Python tuple syntax. */
    char header[512];
    size_t n = (size_t)snprintf(header, sizeof header,
                                "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        n += (size_t)snprintf(header + n, sizeof header - n, "%s%lld", i ? ", " : "",
                              (long long)t->shape[i]);
    n += (size_t)snprintf(header + n, sizeof header - n, "%s), }", t->rank == 1 ? "," : "");
    /* Spaces and a final '\n' so the data starts at a multiple of 64 bytes. */
    size_t total = (10 + n + 1 + 63) / 64 * 64;
    memset(header + n, ' ', total - 10 - n - 1);
    header[total - 10 - 1] = '\n';
    size_t hlen = total - 10;

    unsigned char prefix[10];
    memcpy(prefix, npy_magic, sizeof npy_magic);
    prefix[6] = 1;
    prefix[7] = 0;
    prefix[8] = (unsigned char)(hlen & 0xFF);
    prefix[9] = (unsigned char)(hlen >> 8);

    klc_atomic_file af;
    if (klc_atomic_open(&af, path) != 0)
        return -1;
    fwrite(prefix, 1, sizeof prefix, af.fp);
    fwrite(header, 1, hlen, af.fp);
    if (nbytes > 0)
        fwrite(t->data, 1, nbytes, af.fp);
    return klc_atomic_commit(&af);
}
