/*
 * test_npy.c — klc_tensor (runtime/tensor.c) and .npy files (runtime/npy.c):
 * allocation, checked dtype conversion, NumPy's byte layout, every refusal
 * of a malformed header or body, and a bit-flip/truncation fuzz.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "klc/runtime.h"

#include "test_util.h"

/* ----------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

/* A .npy file: magic, version, header length, the dict padded with spaces
 * and '\n' to a multiple of 64 bytes, then `data`.  Returns its size. */
static size_t make_npy(unsigned char *out, int major, const char *dict, const void *data,
                       size_t nbytes)
{
    size_t prefix = major == 1 ? 10 : 12, n = strlen(dict);
    size_t total = (prefix + n + 1 + 63) / 64 * 64, hlen = total - prefix;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    out[8] = (unsigned char)(hlen & 0xFF);
    out[9] = (unsigned char)(hlen >> 8);
    if (major > 1)
        out[10] = out[11] = 0;
    memcpy(out + prefix, dict, n);
    memset(out + prefix + n, ' ', hlen - n - 1);
    out[total - 1] = '\n';
    memcpy(out + total, data, nbytes);
    return total + nbytes;
}

/* klc_npy_parse on an exact-size heap copy (ASan sees any read past it). */
static int parse_exact(klc_tensor *t, const unsigned char *bytes, size_t n)
{
    unsigned char *copy = exact_copy(bytes, n);
    int rc = klc_npy_parse(t, "x.npy", copy, n);
    free(copy);
    return rc;
}

/* The dict must be refused with a message naming the file and `needle`. */
static void refuse_dict(const char *dict, size_t nbytes, const char *needle)
{
    unsigned char buf[1024] = { 0 };
    static const unsigned char zeros[64];
    size_t n = make_npy(buf, 1, dict, zeros, nbytes);
    klc_tensor t;
    if (parse_exact(&t, buf, n) == 0) {
        klc_tensor_free(&t);
        fail_msg("header accepted: %s", dict);
    }
    expect_error("x.npy: ");
    expect_error(needle);
    assert_null(t.data);
}

/* ----------------------------------------------------------------------------
 * klc_tensor
 * ------------------------------------------------------------------------- */

static void test_dtypes(void **state)
{
    (void)state;
    assert_int_equal(klc_dtype_size(KLC_F32), 4);
    assert_int_equal(klc_dtype_size(KLC_F64), 8);
    assert_int_equal(klc_dtype_size(KLC_I32), 4);
    assert_int_equal(klc_dtype_size(KLC_I64), 8);
    assert_int_equal(klc_dtype_size(KLC_U8), 1);
    assert_int_equal(klc_dtype_size((klc_dtype)99), 0);
    assert_string_equal(klc_dtype_name(KLC_F32), "float32");
    assert_string_equal(klc_dtype_name(KLC_F64), "float64");
    assert_string_equal(klc_dtype_name(KLC_I32), "int32");
    assert_string_equal(klc_dtype_name(KLC_I64), "int64");
    assert_string_equal(klc_dtype_name(KLC_U8), "uint8");
}

static void test_alloc_wrap(void **state)
{
    (void)state;
    klc_tensor t;
    int64_t shape[3] = { 2, 3, 4 };
    assert_int_equal(klc_tensor_alloc(&t, KLC_F64, 3, shape), 0);
    assert_int_equal(klc_tensor_count(&t), 24);
    assert_int_equal(t.owns, 1);
    for (int i = 0; i < 24; i++)
        assert_true(((double *)t.data)[i] == 0.0);
    klc_tensor_free(&t);
    assert_null(t.data);

    assert_int_equal(klc_tensor_alloc(&t, KLC_U8, 0, NULL), 0); /* a scalar */
    assert_int_equal(klc_tensor_count(&t), 1);
    klc_tensor_free(&t);

    int64_t empty[2] = { 0, 5 };
    assert_int_equal(klc_tensor_alloc(&t, KLC_I32, 2, empty), 0);
    assert_int_equal(klc_tensor_count(&t), 0);
    assert_non_null(t.data);
    klc_tensor_free(&t);

    int64_t bad[2] = { -1, 5 };
    assert_int_equal(klc_tensor_alloc(&t, KLC_I32, 2, bad), -1);
    int64_t huge[2] = { INT64_MAX / 2, 3 };
    assert_int_equal(klc_tensor_alloc(&t, KLC_I32, 2, huge), -1);
    assert_int_equal(klc_tensor_alloc(&t, KLC_I32, KLC_MAX_RANK + 1, shape), -1);
    expect_error("rank 9");

    float mine[6] = { 1, 2, 3, 4, 5, 6 };
    int64_t s2[2] = { 2, 3 };
    klc_tensor w = klc_tensor_wrap(KLC_F32, 2, s2, mine);
    assert_int_equal(w.owns, 0);
    assert_ptr_equal(w.data, mine);
    assert_int_equal(klc_tensor_count(&w), 6);
    klc_tensor_free(&w); /* must not free the caller's array (ASan would say so) */
    assert_true(mine[5] == 6);
}

static void test_convert(void **state)
{
    (void)state;
    klc_tensor out;
    int64_t s8[1] = { 8 };

    float f[8] = { 0, 1, -2, 3, 4, 5, 6, 7 };
    klc_tensor src = klc_tensor_wrap(KLC_F32, 1, s8, f);
    assert_int_equal(klc_tensor_convert(&out, &src, KLC_I32), 0);
    assert_int_equal(out.dtype, KLC_I32);
    assert_int_equal(((int32_t *)out.data)[2], -2);
    assert_int_equal(((int32_t *)out.data)[7], 7);
    klc_tensor_free(&out);

    f[7] = 2.5f;
    assert_int_equal(klc_tensor_convert(&out, &src, KLC_I64), -1);
    expect_error("value 2.5 at index 7 is not an integer");
    f[7] = NAN;
    assert_int_equal(klc_tensor_convert(&out, &src, KLC_I32), -1);
    expect_error("at index 7 is not an integer");
    assert_int_equal(klc_tensor_convert(&out, &src, KLC_F64), 0); /* NaN stays a float */
    assert_true(isnan(((double *)out.data)[7]));
    klc_tensor_free(&out);
    f[7] = 7;
    assert_int_equal(klc_tensor_convert(&out, &src, KLC_U8), -1); /* -2 */
    expect_error("value -2 at index 2 is out of range");

    int64_t big[8] = { 0, 1, 2, 3000000000LL, 4, 5, 6, (1 << 24) + 1 };
    klc_tensor isrc = klc_tensor_wrap(KLC_I64, 1, s8, big);
    assert_int_equal(klc_tensor_convert(&out, &isrc, KLC_I32), -1);
    expect_error("value 3000000000 at index 3 is out of range");
    assert_int_equal(klc_tensor_convert(&out, &isrc, KLC_F32), -1);
    expect_error("value 16777217 at index 7 has no exact float32 representation");
    assert_int_equal(klc_tensor_convert(&out, &isrc, KLC_F64), 0);
    assert_true(((double *)out.data)[7] == 16777217.0);
    klc_tensor_free(&out);
    big[3] = INT64_MAX;
    assert_int_equal(klc_tensor_convert(&out, &isrc, KLC_F64), -1);
    expect_error("9223372036854775807");

    uint8_t u[8] = { 0, 255, 2, 3, 4, 5, 6, 7 };
    klc_tensor usrc = klc_tensor_wrap(KLC_U8, 1, s8, u);
    assert_int_equal(klc_tensor_convert(&out, &usrc, KLC_F32), 0);
    assert_true(((float *)out.data)[1] == 255.0f);
    klc_tensor_free(&out);
    assert_int_equal(klc_tensor_convert(&out, &usrc, KLC_I32), 0);
    assert_int_equal(((int32_t *)out.data)[1], 255);
    /* int32 -> uint8 range check, in place: the old data is replaced and freed. */
    ((int32_t *)out.data)[4] = 256;
    assert_int_equal(klc_tensor_convert(&out, &out, KLC_U8), -1);
    expect_error("value 256 at index 4 is out of range");
    assert_int_equal(out.dtype, KLC_I32); /* untouched on failure */
    ((int32_t *)out.data)[4] = 4;
    assert_int_equal(klc_tensor_convert(&out, &out, KLC_U8), 0);
    assert_int_equal(out.dtype, KLC_U8);
    assert_int_equal(((uint8_t *)out.data)[1], 255);
    klc_tensor_free(&out);

    double d[8] = { 1e300, 0, 0, 0, 0, 0, 0, 9.2e18 };
    klc_tensor dsrc = klc_tensor_wrap(KLC_F64, 1, s8, d);
    assert_int_equal(klc_tensor_convert(&out, &dsrc, KLC_F32), -1);
    expect_error("value 1.0000000000000001e+300 at index 0 is out of range");
    d[0] = 0.1;
    assert_int_equal(klc_tensor_convert(&out, &dsrc, KLC_F32), 0); /* rounding is fine */
    assert_true(((float *)out.data)[0] == 0.1f);
    klc_tensor_free(&out);
    assert_int_equal(klc_tensor_convert(&out, &dsrc, KLC_I64), -1);
    expect_error("value 0.10000000000000001 at index 0 is not an integer");
    d[0] = 0;
    assert_int_equal(klc_tensor_convert(&out, &dsrc, KLC_I64), 0);
    assert_true(((int64_t *)out.data)[7] == 9200000000000000000LL);
    klc_tensor_free(&out);
    d[7] = 9223372036854775808.0;
    assert_int_equal(klc_tensor_convert(&out, &dsrc, KLC_I64), -1);
    expect_error("out of range");

    klc_tensor nodata = klc_tensor_wrap(KLC_F64, 1, s8, NULL);
    assert_int_equal(klc_tensor_convert(&out, &nodata, KLC_F32), -1);
    expect_error("cannot convert a float64 tensor without data");

    /* Same dtype: a copy. */
    assert_int_equal(klc_tensor_convert(&out, &dsrc, KLC_F64), 0);
    assert_ptr_not_equal(out.data, d);
    assert_true(((double *)out.data)[7] == d[7]);
    klc_tensor_free(&out);
}

/* ----------------------------------------------------------------------------
 * .npy
 * ------------------------------------------------------------------------- */

static const char *descr_of(klc_dtype dt)
{
    static const char *d[] = { "<f4", "<f8", "<i4", "<i8", "|u1" };
    return d[dt];
}

/* Save then load every dtype at ranks 0..3; check the bytes NumPy expects. */
static void test_save_load(void **state)
{
    (void)state;
    static const int64_t shapes[4][3] = { { 0 }, { 5 }, { 2, 3 }, { 2, 1, 3 } };
    static const char *shape_text[4] = { "()", "(5,)", "(2, 3)", "(2, 1, 3)" };
    char path[2048];
    scratch(path, sizeof path, "save.npy");
    for (int dt = KLC_F32; dt <= KLC_U8; dt++) {
        for (int rank = 0; rank < 4; rank++) {
            klc_tensor t, back;
            assert_int_equal(klc_tensor_alloc(&t, (klc_dtype)dt, rank, shapes[rank]), 0);
            int64_t n = klc_tensor_count(&t);
            size_t elem = klc_dtype_size(t.dtype);
            for (int64_t i = 0; i < n; i++)
                for (size_t b = 0; b < elem; b++)
                    ((unsigned char *)t.data)[(size_t)i * elem + b] = (unsigned char)(i * 7 + 1);
            assert_int_equal(klc_npy_save(&t, path), 0);

            unsigned char *raw;
            size_t size;
            assert_int_equal(klc_read_file(path, &raw, &size), 0);
            assert_memory_equal(raw, "\x93NUMPY\x01\x00", 8);
            size_t hlen = raw[8] | (size_t)raw[9] << 8;
            assert_int_equal((10 + hlen) % 64, 0);
            assert_int_equal(size, 10 + hlen + (size_t)n * elem);
            char dict[256];
            snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr_of((klc_dtype)dt), shape_text[rank]);
            assert_memory_equal(raw + 10, dict, strlen(dict));
            for (size_t i = 10 + strlen(dict); i < 10 + hlen - 1; i++)
                assert_int_equal(raw[i], ' ');
            assert_int_equal(raw[10 + hlen - 1], '\n');
            free(raw);

            assert_int_equal(klc_npy_load(&back, path), 0);
            assert_int_equal(back.dtype, dt);
            assert_int_equal(back.rank, rank);
            assert_int_equal(back.owns, 1);
            for (int i = 0; i < rank; i++)
                assert_int_equal(back.shape[i], shapes[rank][i]);
            assert_memory_equal(back.data, t.data, (size_t)n * elem);
            klc_tensor_free(&back);
            klc_tensor_free(&t);
        }
    }
}

/* Headers as NumPy writes them (v1.0 with its growth padding, v2.0, v3.0),
 * and the legal variations of the dict. */
static void test_numpy_headers(void **state)
{
    (void)state;
    unsigned char buf[1024];
    klc_tensor t;
    float f[6] = { 0, 1, 2, 3, 4, 5 };

    /* np.save(np.arange(6, dtype='<f4').reshape(2, 3)) in NumPy 1.2x: 20
     * spaces of room to grow the first axis before the alignment padding. */
    size_t n = make_npy(buf, 1,
                        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                        "                    ",
                        f, sizeof f);
    assert_int_equal(n, 128 + sizeof f);
    assert_int_equal(parse_exact(&t, buf, n), 0);
    assert_int_equal(t.rank, 2);
    assert_int_equal(t.shape[0], 2);
    assert_int_equal(t.shape[1], 3);
    assert_true(((float *)t.data)[5] == 5.0f);
    klc_tensor_free(&t);

    for (int major = 2; major <= 3; major++) {
        n = make_npy(buf, major, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                     "\x01\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", 24);
        assert_int_equal(parse_exact(&t, buf, n), 0);
        assert_int_equal(t.dtype, KLC_I64);
        assert_true(((int64_t *)t.data)[2] == -1);
        klc_tensor_free(&t);
    }

    /* Any key order, double quotes, no trailing comma, '<u1', a scalar. */
    n = make_npy(buf, 1, "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<u1\"}", "\x2a",
                 1);
    assert_int_equal(parse_exact(&t, buf, n), 0);
    assert_int_equal(t.dtype, KLC_U8);
    assert_int_equal(t.rank, 0);
    assert_int_equal(((uint8_t *)t.data)[0], 42);
    klc_tensor_free(&t);

    /* An empty array. */
    n = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4), }", "", 0);
    assert_int_equal(parse_exact(&t, buf, n), 0);
    assert_int_equal(klc_tensor_count(&t), 0);
    klc_tensor_free(&t);
}

static void test_refused_prefix(void **state)
{
    (void)state;
    unsigned char buf[1024];
    klc_tensor t;
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                        "\0\0\x80\x3f", 4);

    assert_int_equal(parse_exact(&t, buf, 0), -1);
    expect_error("x.npy: not a .npy file");
    assert_int_equal(parse_exact(&t, (const unsigned char *)"PK\x03\x04zipzipzip", 12), -1);
    expect_error("not a .npy file");
    assert_int_equal(parse_exact(&t, buf, 7), -1);
    expect_error("x.npy: truncated .npy file (7 bytes)");
    assert_int_equal(parse_exact(&t, buf, 9), -1);
    expect_error("truncated");

    buf[6] = 4;
    assert_int_equal(parse_exact(&t, buf, n), -1);
    expect_error("unsupported .npy format version 4.0");
    buf[6] = 1;
    buf[7] = 1;
    assert_int_equal(parse_exact(&t, buf, n), -1);
    expect_error("version 1.1");
    buf[7] = 0;

    unsigned char len0 = buf[8], len1 = buf[9];
    char msg[128];
    buf[8] = 0xFF;
    buf[9] = 0x7F;
    assert_int_equal(parse_exact(&t, buf, n), -1);
    snprintf(msg, sizeof msg, "x.npy: header length 32767 points outside the file (%zu bytes)", n);
    expect_error(msg);
    buf[8] = len0;
    buf[9] = len1;

    assert_int_equal(parse_exact(&t, buf, n - 1), -1);
    expect_error("float32 data of shape [1] needs 4 bytes, the file has 3 after the header "
                 "(truncated)");
    memcpy(buf + n, "junk", 4);
    assert_int_equal(parse_exact(&t, buf, n + 4), -1);
    expect_error("the file has 8 after the header (trailing bytes)");
    assert_int_equal(parse_exact(&t, buf, n), 0);
    klc_tensor_free(&t);
}

static void test_refused_dict(void **state)
{
    (void)state;
    refuse_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "Fortran order");
    refuse_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8,
                "big-endian dtype '>f4'");
    refuse_dict("{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", 8, "big-endian");
    refuse_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 4,
                "unsupported dtype '<f2'");
    refuse_dict("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", 2,
                "unsupported dtype '|b1'");
    refuse_dict("{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", 2,
                "unsupported dtype '|i1'");
    refuse_dict("{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }", 20,
                "unsupported dtype '<U5'");
    refuse_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4,
                "structured arrays");
    refuse_dict("{'descr': '<f4', 'shape': (2,), }", 8, "missing key 'fortran_order'");
    refuse_dict("{'fortran_order': False, 'shape': (2,), }", 8, "missing key 'descr'");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, }", 8, "missing key 'shape'");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", 8,
                "unexpected or repeated key 'x'");
    refuse_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8,
                "repeated key 'descr'");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8,
                "must be a tuple, like (3,)");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", 8,
                "'shape' must be a tuple");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", 8,
                "non-negative integers");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", 8,
                "expected ',' or ')'");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
                "more dimensions than the runtime supports");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                4, "dimension too large");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, "
                "'shape': (4611686018427387904, 4), }", 4, "shape [4611686018427387904, 4] is "
                "too large");
    refuse_dict("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 8,
                "must be True or False");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8,
                "unexpected text after the dict");
    refuse_dict("{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", 8,
                "expected ',' or '}'");
    refuse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", 8,
                "expected a quoted string");
    refuse_dict("{'descr: '<f4', 'fortran_order': False, 'shape': (2,), }", 8,
                "expected ':'");
    refuse_dict("'descr': '<f4'", 8, "expected '{'");
    refuse_dict("", 8, "expected '{'");
}

static void test_files(void **state)
{
    (void)state;
    char path[2048], missing[2048];
    klc_tensor t;
    scratch(missing, sizeof missing, "no-such-file.npy");
    assert_int_equal(klc_npy_load(&t, missing), -1);
    expect_error("no-such-file.npy: cannot open");
    assert_null(t.data);

    /* A malformed file on disk: the message names it. */
    scratch(path, sizeof path, "bad.npy");
    write_bytes(path, "\x93NUMPY\x01\x00\xff\xff{", 11);
    assert_int_equal(klc_npy_load(&t, path), -1);
    expect_error(path);
    expect_error("header length 65535 points outside the file (11 bytes)");

    /* Saving replaces the file whole and leaves no temporary file behind. */
    float v[2] = { 1.5f, -2.0f };
    int64_t s[1] = { 2 };
    klc_tensor w = klc_tensor_wrap(KLC_F32, 1, s, v);
    assert_int_equal(klc_npy_save(&w, path), 0);
    assert_int_equal(klc_npy_load(&t, path), 0);
    assert_true(((float *)t.data)[1] == -2.0f);
    klc_tensor_free(&t);
    expect_no_temp_files();

    scratch(path, sizeof path, "no-such-dir/out.npy");
    assert_int_equal(klc_npy_save(&w, path), -1);
    expect_error("no-such-dir/out.npy: cannot create");

    klc_tensor bad = klc_tensor_wrap((klc_dtype)42, 1, s, v);
    assert_int_equal(klc_npy_save(&bad, path), -1);
    expect_error("unknown dtype 42");
}

/* Flip every bit and cut at every length: each load succeeds or fails with a
 * message naming the file; ASan and LeakSanitizer watch the rest. */
static void test_fuzz(void **state)
{
    (void)state;
    unsigned char valid[256];
    int32_t data[6] = { 1, -2, 3, -4, 5, 600000 };
    size_t n = make_npy(valid, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
                        data, sizeof data);
    unsigned char buf[256];
    klc_tensor t;
    int ok = 0, refused = 0;
    for (size_t len = 0; len <= n; len++) {
        if (parse_exact(&t, valid, len) == 0) {
            ok++;
            klc_tensor_free(&t);
        } else {
            refused++;
            expect_error("x.npy: ");
        }
    }
    assert_int_equal(ok, 1); /* only the whole file */
    for (size_t pos = 0; pos < n; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, valid, n);
            buf[pos] ^= (unsigned char)(1u << bit);
            if (parse_exact(&t, buf, n) == 0) {
                ok++;
                klc_tensor_free(&t);
            } else {
                refused++;
                expect_error("x.npy: ");
            }
        }
    }
    /* The whole file and every flip of a data bit still load. */
    assert_true(ok >= 1 + (int)sizeof data * 8);
    assert_true(refused > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),          cmocka_unit_test(test_alloc_wrap),
        cmocka_unit_test(test_convert),         cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_numpy_headers),   cmocka_unit_test(test_refused_prefix),
        cmocka_unit_test(test_refused_dict),    cmocka_unit_test(test_files),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
