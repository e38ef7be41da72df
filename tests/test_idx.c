/*
 * test_idx.c — IDX files (runtime/idx.c) and klc_data_load's choice of
 * loader by file name (runtime/data.c).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "klc/runtime.h"

#include "test_util.h"

static int parse_exact(klc_tensor *t, const unsigned char *bytes, size_t n)
{
    unsigned char *copy = exact_copy(bytes, n);
    int rc = klc_idx_parse(t, "x-ubyte", copy, n);
    free(copy);
    return rc;
}

static void refuse(const unsigned char *bytes, size_t n, const char *needle)
{
    klc_tensor t;
    if (parse_exact(&t, bytes, n) == 0) {
        klc_tensor_free(&t);
        fail_msg("accepted an IDX file that should be refused (%s)", needle);
    }
    expect_error("x-ubyte: ");
    expect_error(needle);
    assert_null(t.data);
}

/* ----------------------------------------------------------------------------
 * IDX
 * ------------------------------------------------------------------------- */

static void test_types(void **state)
{
    (void)state;
    klc_tensor t;

    /* MNIST images: u8 [2, 2, 3] */
    unsigned char u8[4 + 12 + 12] = { 0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3 };
    for (int i = 0; i < 12; i++)
        u8[16 + i] = (unsigned char)(i * 20);
    assert_int_equal(parse_exact(&t, u8, sizeof u8), 0);
    assert_int_equal(t.dtype, KLC_U8);
    assert_int_equal(t.rank, 3);
    assert_int_equal(t.shape[0], 2);
    assert_int_equal(t.shape[2], 3);
    assert_int_equal(((uint8_t *)t.data)[11], 220);
    klc_tensor_free(&t);

    /* i8 -> int32, sign kept */
    const unsigned char i8[] = { 0, 0, 0x09, 1, 0, 0, 0, 3, 0x7F, 0x80, 0xFB };
    assert_int_equal(parse_exact(&t, i8, sizeof i8), 0);
    assert_int_equal(t.dtype, KLC_I32);
    assert_int_equal(((int32_t *)t.data)[0], 127);
    assert_int_equal(((int32_t *)t.data)[1], -128);
    assert_int_equal(((int32_t *)t.data)[2], -5);
    klc_tensor_free(&t);

    /* i16 big-endian -> int32 */
    const unsigned char i16[] = { 0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFE, 0xD4, 0x01, 0x2C };
    assert_int_equal(parse_exact(&t, i16, sizeof i16), 0);
    assert_int_equal(t.dtype, KLC_I32);
    assert_int_equal(((int32_t *)t.data)[0], -300);
    assert_int_equal(((int32_t *)t.data)[1], 300);
    klc_tensor_free(&t);

    /* i32 big-endian */
    const unsigned char i32[] = { 0, 0, 0x0C, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0xEE, 0x90, 0, 1, 0, 0 };
    assert_int_equal(parse_exact(&t, i32, sizeof i32), 0);
    assert_int_equal(((int32_t *)t.data)[0], -70000);
    assert_int_equal(((int32_t *)t.data)[1], 65536);
    klc_tensor_free(&t);

    /* f32: 1.5 = 0x3FC00000, -2 = 0xC0000000 */
    const unsigned char f32[] = { 0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0xC0, 0, 0, 0xC0, 0, 0, 0 };
    assert_int_equal(parse_exact(&t, f32, sizeof f32), 0);
    assert_int_equal(t.dtype, KLC_F32);
    assert_true(((float *)t.data)[0] == 1.5f);
    assert_true(((float *)t.data)[1] == -2.0f);
    klc_tensor_free(&t);

    /* f64: 0.1 = 0x3FB999999999999A, a scalar (0 dimensions) */
    const unsigned char f64[] = { 0, 0, 0x0E, 0, 0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A };
    assert_int_equal(parse_exact(&t, f64, sizeof f64), 0);
    assert_int_equal(t.dtype, KLC_F64);
    assert_int_equal(t.rank, 0);
    assert_true(((double *)t.data)[0] == 0.1);
    klc_tensor_free(&t);

    /* An empty label file. */
    const unsigned char empty[] = { 0, 0, 0x08, 1, 0, 0, 0, 0 };
    assert_int_equal(parse_exact(&t, empty, sizeof empty), 0);
    assert_int_equal(klc_tensor_count(&t), 0);
    klc_tensor_free(&t);
}

static void test_refused(void **state)
{
    (void)state;
    const unsigned char good[] = { 0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6 };
    unsigned char b[64];

    refuse(good, 0, "file is 0 bytes, too short for an IDX header");
    refuse(good, 3, "file is 3 bytes, too short for an IDX header");
    refuse(good, 9, "file is 9 bytes, too short for the 2 dimensions of its IDX header");
    refuse(good, sizeof good - 1, "IDX dimensions [2, 3] of 1-byte values need 6 bytes of data, "
                                  "the file has 5");
    memcpy(b, good, sizeof good);
    b[sizeof good] = 7;
    refuse(b, sizeof good + 1, "need 6 bytes of data, the file has 7");

    memcpy(b, good, sizeof good);
    b[0] = 0x01;
    refuse(b, sizeof good, "not an IDX file (it starts with 01 00, not 00 00)");
    memcpy(b, "\x1f\x8b\x08\x00", 4);
    refuse(b, sizeof good, "gzip-compressed");
    memcpy(b, good, sizeof good);
    b[2] = 0x0A;
    refuse(b, sizeof good, "unknown IDX value type 0x0A");
    b[2] = 0x0F;
    refuse(b, sizeof good, "unknown IDX value type 0x0F");
    b[2] = 0x08;
    b[3] = 9;
    refuse(b, sizeof good, "9 dimensions, more than the runtime supports (8)");

    /* 8 dimensions of 0xFFFFFFFF: the size overflows and is refused. */
    unsigned char huge[4 + 32] = { 0, 0, 0x0E, 8 };
    memset(huge + 4, 0xFF, 32);
    refuse(huge, sizeof huge, "are too large");
    /* A product that fits but is not in the file. */
    const unsigned char big[] = { 0, 0, 0x0D, 2, 0, 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF };
    refuse(big, sizeof big, "IDX dimensions [65535, 65535] of 4-byte values need 17179344900 "
                            "bytes of data, the file has 0");
}

/* Every truncation and bit flip either loads or fails with a message. */
static void test_fuzz(void **state)
{
    (void)state;
    const unsigned char good[] = { 0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8 };
    unsigned char b[sizeof good];
    klc_tensor t;
    int ok = 0;
    for (size_t len = 0; len <= sizeof good; len++) {
        if (parse_exact(&t, good, len) == 0) {
            ok++;
            klc_tensor_free(&t);
        } else {
            expect_error("x-ubyte: ");
        }
    }
    assert_int_equal(ok, 1);
    for (size_t pos = 0; pos < sizeof good; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(b, good, sizeof good);
            b[pos] ^= (unsigned char)(1u << bit);
            if (parse_exact(&t, b, sizeof b) == 0)
                klc_tensor_free(&t);
            else
                expect_error("x-ubyte: ");
        }
    }
}

/* ----------------------------------------------------------------------------
 * klc_data_load
 * ------------------------------------------------------------------------- */

static void test_dispatch(void **state)
{
    (void)state;
    char path[2048];
    klc_tensor t;
    const unsigned char labels[] = { 0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1 };
    static const char *idx_names[] = { "t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte",
                                       "labels.idx", "LABELS.IDX", "labels.ubyte" };
    for (size_t i = 0; i < sizeof idx_names / sizeof idx_names[0]; i++) {
        scratch(path, sizeof path, idx_names[i]);
        write_bytes(path, labels, sizeof labels);
        assert_int_equal(klc_data_load(&t, path), 0);
        assert_int_equal(t.dtype, KLC_U8);
        assert_int_equal(t.shape[0], 3);
        assert_int_equal(((uint8_t *)t.data)[0], 7);
        klc_tensor_free(&t);
    }

    /* The same bytes under a .npy name go to the .npy reader, which refuses them. */
    scratch(path, sizeof path, "labels.NPY");
    write_bytes(path, labels, sizeof labels);
    assert_int_equal(klc_data_load(&t, path), -1);
    expect_error("labels.NPY: not a .npy file");

    scratch(path, sizeof path, "x.csv");
    write_bytes(path, "1,2\n3,4\n", 8);
    assert_int_equal(klc_data_load(&t, path), 0);
    assert_int_equal(t.dtype, KLC_F32);
    assert_int_equal(t.shape[1], 2);
    klc_tensor_free(&t);

    float v[3] = { 1, 2, 3 };
    int64_t s[1] = { 3 };
    klc_tensor w = klc_tensor_wrap(KLC_F32, 1, s, v);
    scratch(path, sizeof path, "x.npy");
    assert_int_equal(klc_npy_save(&w, path), 0);
    assert_int_equal(klc_data_load(&t, path), 0);
    assert_true(((float *)t.data)[2] == 3.0f);
    klc_tensor_free(&t);

    assert_int_equal(klc_data_load(&t, "data/train.txt"), -1);
    expect_error("data/train.txt: unknown data file type (accepted: .npy, .csv, IDX files");
    assert_null(t.data);
    assert_int_equal(klc_data_load(&t, "train-images-idx3-ubyte.gz"), -1);
    expect_error("train-images-idx3-ubyte.gz: compressed files are not read");
    assert_int_equal(klc_data_load(&t, "arrays.npz"), -1);
    expect_error("arrays.npz: compressed");
    assert_int_equal(klc_data_load(&t, "npy"), -1);
    expect_error("npy: unknown data file type");

    scratch(path, sizeof path, "absent-idx3-ubyte");
    assert_int_equal(klc_data_load(&t, path), -1);
    expect_error("absent-idx3-ubyte: cannot open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
