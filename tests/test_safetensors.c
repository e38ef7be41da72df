/*
 * test_safetensors.c — safetensors files (runtime/safetensors.c) and the
 * whole-file read / atomic write they rely on (runtime/fileio.c): Python's
 * byte layout in both directions, round trips, every refusal of a malformed
 * file, and a bit-flip/truncation fuzz.
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
#include "safetensors.h"

/* ----------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

/* A safetensors file: 8-byte length, `header` as is, `data_len` bytes 0..n. */
static size_t make_st(unsigned char *out, const char *header, size_t data_len)
{
    size_t h = strlen(header);
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(out + 8, header, h);
    for (size_t i = 0; i < data_len; i++)
        out[8 + h + i] = (unsigned char)i;
    return 8 + h + data_len;
}

/* klc_st_parse on an exact-size heap copy; on success every tensor's bytes
 * are read, so ASan reports a pointer outside the copy.  *copy_out keeps the
 * copy alive for the caller when non-NULL. */
static int parse_exact(klc_st_file *f, const unsigned char *bytes, size_t n,
                       unsigned char **copy_out)
{
    unsigned char *copy = exact_copy(bytes, n);
    int rc = klc_st_parse(f, "m.safetensors", copy, n);
    if (rc == 0) {
        unsigned sum = 0;
        for (int i = 0; i < f->n_tensors; i++)
            for (size_t b = 0; b < f->tensors[i].nbytes; b++)
                sum += ((const unsigned char *)f->tensors[i].data)[b];
        (void)sum;
    } else {
        expect_error("m.safetensors: ");
        assert_int_equal(f->n_tensors, 0);
        assert_null(f->tensors);
    }
    if (copy_out)
        *copy_out = copy;
    else
        free(copy);
    return rc;
}

static void refuse(const char *header, size_t data_len, const char *needle)
{
    unsigned char buf[4096];
    klc_st_file f;
    size_t n = make_st(buf, header, data_len);
    if (parse_exact(&f, buf, n, NULL) == 0) {
        klc_st_free(&f);
        fail_msg("accepted header %s", header);
    }
    expect_error(needle);
}

static void accept(const char *header, size_t data_len, int n_tensors)
{
    unsigned char buf[4096];
    klc_st_file f;
    size_t n = make_st(buf, header, data_len);
    if (parse_exact(&f, buf, n, NULL) != 0)
        fail_msg("refused header %s: %s", header, klc_last_error());
    assert_int_equal(f.n_tensors, n_tensors);
    klc_st_free(&f);
}

/* ----------------------------------------------------------------------------
 * Files as Python writes them
 * ------------------------------------------------------------------------- */

/* safetensors.torch.save_file({"w": torch.tensor([1.5, -2.0])}, path) writes
 * exactly these bytes: the header padded with spaces to 88 bytes. */
static const char py_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
    "\"data_offsets\":[0,8]}}   ";

static size_t python_file(unsigned char *out)
{
    static const float w[2] = { 1.5f, -2.0f };
    assert_int_equal(strlen(py_header), 88);
    memcpy(out, "\x58\0\0\0\0\0\0\0", 8);
    memcpy(out + 8, py_header, 88);
    memcpy(out + 96, w, sizeof w);
    return 96 + sizeof w;
}

static void test_python_layout(void **state)
{
    (void)state;
    unsigned char bytes[128];
    size_t n = python_file(bytes);
    char path[2048], ours[2048];
    scratch(path, sizeof path, "python.safetensors");
    write_bytes(path, bytes, n);

    klc_st_file f;
    assert_int_equal(klc_st_read(&f, path), 0);
    assert_int_equal(f.n_tensors, 1);
    assert_int_equal(f.size, n);
    const klc_st_tensor *w = klc_st_find(&f, "w");
    assert_non_null(w);
    assert_int_equal(w->dtype, KLC_F32);
    assert_int_equal(w->rank, 1);
    assert_int_equal(w->shape[0], 2);
    assert_int_equal(w->nbytes, 8);
    float v[2];
    memcpy(v, w->data, sizeof v);
    assert_true(v[0] == 1.5f && v[1] == -2.0f);
    assert_int_equal(f.n_meta, 1);
    assert_string_equal(klc_st_meta_get(&f, "format"), "pt");
    assert_null(klc_st_meta_get(&f, "model"));
    assert_null(klc_st_find(&f, "x"));

    /* Our writer produces the very same bytes. */
    scratch(ours, sizeof ours, "ours.safetensors");
    klc_st_meta meta = { "format", "pt" };
    assert_int_equal(klc_st_write(ours, w, 1, &meta, 1), 0);
    unsigned char *raw;
    size_t size;
    assert_int_equal(klc_read_file(ours, &raw, &size), 0);
    assert_int_equal(size, n);
    assert_memory_equal(raw, bytes, n);
    free(raw);
    klc_st_free(&f);
    expect_no_temp_files();
}

/* ----------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    (void)state;
    float kernel[6] = { 1, 2, 3, 4, 5, 6 };
    double bias[3] = { 0.5, -0.25, 1e-300 };
    int32_t ids[2] = { -7, 7 };
    int64_t iters = 1234567890123LL;
    uint8_t mask[5] = { 0, 1, 255, 3, 4 };
    klc_st_tensor in[6] = {
        { "dense_1.kernel", KLC_F32, 2, { 2, 3 }, kernel, sizeof kernel },
        { "dense.bias", KLC_F64, 1, { 3 }, bias, sizeof bias },
        { "optimizer.iterations", KLC_I64, 0, { 0 }, &iters, sizeof iters },
        { "z.mask", KLC_U8, 1, { 5 }, mask, sizeof mask },
        { "emb \"q\"\n\xC3\xA9", KLC_I32, 1, { 2 }, ids, sizeof ids },
        { "empty", KLC_F32, 2, { 0, 3 }, NULL, 0 },
    };
    klc_st_meta meta[2] = { { "model", "seed" }, { "signature", "dense.bias:[3];\"x\"" } };
    char path[2048];
    scratch(path, sizeof path, "round.safetensors");
    assert_int_equal(klc_st_write(path, in, 6, meta, 2), 0);

    klc_st_file f;
    assert_int_equal(klc_st_read(&f, path), 0);
    assert_int_equal(f.n_tensors, 6);
    for (int i = 0; i < 6; i++) {
        const klc_st_tensor *t = klc_st_find(&f, in[i].name);
        if (!t)
            fail_msg("tensor %s lost", in[i].name);
        assert_int_equal(t->dtype, in[i].dtype);
        assert_int_equal(t->rank, in[i].rank);
        for (int d = 0; d < t->rank; d++)
            assert_int_equal(t->shape[d], in[i].shape[d]);
        assert_int_equal(t->nbytes, in[i].nbytes);
        if (t->nbytes)
            assert_memory_equal(t->data, in[i].data, t->nbytes);
    }
    assert_string_equal(klc_st_meta_get(&f, "signature"), "dense.bias:[3];\"x\"");

    /* File order = name order (strcmp), data laid out the same way. */
    static const char *sorted[6] = { "dense.bias", "dense_1.kernel", "emb \"q\"\n\xC3\xA9",
                                     "empty", "optimizer.iterations", "z.mask" };
    for (int i = 0; i < 6; i++)
        assert_string_equal(f.tensors[i].name, sorted[i]);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | f.buffer[i];
    assert_int_equal(hlen % 8, 0);
    assert_ptr_equal(f.tensors[0].data, f.buffer + 8 + hlen);
    assert_int_equal(f.size, 8 + hlen + sizeof kernel + sizeof bias + sizeof ids + sizeof iters
                                 + sizeof mask);
    const char *h = (const char *)f.buffer + 8;
    const char *want = "{\"__metadata__\":{\"model\":\"seed\",\"signature\":"
                       "\"dense.bias:[3];\\\"x\\\"\"},\"dense.bias\":{\"dtype\":\"F64\","
                       "\"shape\":[3],\"data_offsets\":[0,24]},\"dense_1.kernel\":{\"dtype\":"
                       "\"F32\",\"shape\":[2,3],\"data_offsets\":[24,48]},\"emb \\\"q\\\"\\n\xC3\xA9\":";
    assert_memory_equal(h, want, strlen(want));
    assert_non_null(strstr(h, "\"optimizer.iterations\":{\"dtype\":\"I64\",\"shape\":[],"
                              "\"data_offsets\":[56,64]}"));
    size_t last = (size_t)hlen - 1;
    while (h[last] == ' ')
        last--;
    assert_int_equal(h[last], '}');
    assert_true(hlen - 1 - last < 8); /* the padding is shorter than 8 spaces */
    klc_st_free(&f);

    /* No tensors, no metadata: "{}" padded to 8. */
    assert_int_equal(klc_st_write(path, NULL, 0, NULL, 0), 0);
    unsigned char *raw;
    size_t size;
    assert_int_equal(klc_read_file(path, &raw, &size), 0);
    assert_int_equal(size, 16);
    assert_memory_equal(raw, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(raw);
    assert_int_equal(klc_st_read(&f, path), 0);
    assert_int_equal(f.n_tensors, 0);
    klc_st_free(&f);
    expect_no_temp_files();
}

static void test_write_refused(void **state)
{
    (void)state;
    char path[2048];
    scratch(path, sizeof path, "refused.safetensors");
    float v[2] = { 1, 2 };
    klc_st_tensor t[2] = { { "a", KLC_F32, 1, { 2 }, v, 8 }, { "a", KLC_F32, 1, { 2 }, v, 8 } };
    assert_int_equal(klc_st_write(path, t, 2, NULL, 0), -1);
    expect_error("tensor name \"a\" given twice");
    t[1].name = "b";
    t[1].nbytes = 4;
    assert_int_equal(klc_st_write(path, t, 2, NULL, 0), -1);
    expect_error("tensor \"b\": nbytes is 4, but its dtype and shape make 8");
    t[1].nbytes = 8;
    t[1].dtype = (klc_dtype)17;
    assert_int_equal(klc_st_write(path, t, 2, NULL, 0), -1);
    expect_error("tensor \"b\": unknown dtype 17");
    t[1].dtype = KLC_F32;
    t[1].name = "__metadata__";
    assert_int_equal(klc_st_write(path, t, 2, NULL, 0), -1);
    expect_error("\"__metadata__\" cannot name a tensor");
    t[1].name = "bad \xFF name";
    assert_int_equal(klc_st_write(path, t, 2, NULL, 0), -1);
    expect_error("tensor name \"bad \xFF name\" is not valid UTF-8");
    t[1].name = NULL;
    assert_int_equal(klc_st_write(path, t, 2, NULL, 0), -1);
    expect_error("tensor name is NULL");
    t[1].name = "b";
    t[1].data = NULL;
    assert_int_equal(klc_st_write(path, t, 2, NULL, 0), -1);
    expect_error("tensor \"b\": no data");
    t[1].data = v;
    klc_st_meta m[2] = { { "k", "1" }, { "k", "2" } };
    assert_int_equal(klc_st_write(path, t, 2, m, 2), -1);
    expect_error("metadata key \"k\" given twice");
    m[1].value = NULL;
    assert_int_equal(klc_st_write(path, t, 2, m, 2), -1);
    expect_error("metadata value is NULL");

    /* Nothing was written by any of these. */
    FILE *fp = fopen(path, "rb");
    assert_null(fp);

    scratch(path, sizeof path, "missing-dir/x.safetensors");
    assert_int_equal(klc_st_write(path, t, 2, NULL, 0), -1);
    expect_error("missing-dir/x.safetensors: cannot create");
    expect_no_temp_files();
}

/* ----------------------------------------------------------------------------
 * Malformed files
 * ------------------------------------------------------------------------- */

#define T_F32_2(b, e) "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" #b "," #e "]}"

static void test_refused_framing(void **state)
{
    (void)state;
    unsigned char buf[256];
    klc_st_file f;

    size_t n = python_file(buf);
    for (size_t len = 0; len < 8; len++) {
        assert_int_equal(parse_exact(&f, buf, len, NULL), -1);
        char msg[128];
        snprintf(msg, sizeof msg, "m.safetensors: file is %zu bytes, too short", len);
        expect_error(msg);
    }
    assert_int_equal(parse_exact(&f, buf, 50, NULL), -1);
    expect_error("m.safetensors: header length 88 points outside the file (50 bytes)");
    memcpy(buf, "\xe8\x03\0\0\0\0\0\0", 8);
    assert_int_equal(parse_exact(&f, buf, n, NULL), -1);
    expect_error("header length 1000 points outside the file (104 bytes)");
    memcpy(buf, "\0\0\0\0\0\0\0\x80", 8);
    assert_int_equal(parse_exact(&f, buf, n, NULL), -1);
    expect_error("header length 9223372036854775808 points outside the file");

    /* Past Python's 100 MB header limit, even when the file holds it. */
    size_t big = (size_t)KLC_ST_MAX_HEADER + 9;
    unsigned char *huge = calloc(1, big);
    assert_non_null(huge);
    uint64_t h = KLC_ST_MAX_HEADER + 1;
    for (int i = 0; i < 8; i++)
        huge[i] = (unsigned char)(h >> (8 * i));
    assert_int_equal(klc_st_parse(&f, "m.safetensors", huge, big), -1);
    expect_error("header length 100000001 is over the 100000000-byte limit");
    free(huge);

    refuse("", 0, "m.safetensors: header is not valid JSON (byte 0: unexpected end of input)");
    refuse("{\"w\":", 0, "header is not valid JSON (byte 5:");
    refuse("{} x", 0, "header is not valid JSON (byte 3: unexpected data after the JSON value)");
    refuse("[]      ", 0, "header is an array, not a JSON object");
    refuse("\"w\"", 0, "header is a string, not a JSON object");
}

static void test_refused_entries(void **state)
{
    (void)state;
    refuse("{\"w\":[1]}", 0, "m.safetensors: tensor \"w\": entry must be an object, not an array");
    refuse("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           "tensor \"w\": missing field \"dtype\"");
    refuse("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing field \"shape\"");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing field \"data_offsets\"");
    refuse("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           "duplicate field \"dtype\"");
    refuse("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
           "tensor \"w\": unsupported dtype \"BF16\" (supported: F32, F64, I32, I64, U8)");
    refuse("{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
           "unsupported dtype \"F16\"");
    refuse("{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           "unsupported dtype \"f32\"");
    refuse("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
           "\"dtype\" must be a string, not a number");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8,
           "\"shape\" must be an array, not a string");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
           "\"shape\" must hold non-negative integers");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
           "\"shape\" must hold non-negative integers");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
           "rank 9 is more than the runtime supports (8)");
    refuse("{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
           8, "shape [4294967296, 4294967296] is too large");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
           "\"data_offsets\" must be [begin, end], two non-negative integers");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", 8,
           "\"data_offsets\" must be [begin, end]");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8,
           "\"data_offsets\" must be [begin, end]");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8,
           "\"data_offsets\" must be [begin, end]");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{}}}", 8,
           "\"data_offsets\" must be [begin, end]");
    refuse("{\"w\":" T_F32_2(8, 0) "}", 8, "data_offsets [8, 0] end before they begin");
    refuse("{\"w\":" T_F32_2(0, 16) "}", 8,
           "data_offsets [0, 16] point outside the data buffer (8 bytes)");
    refuse("{\"w\":" T_F32_2(8, 16) "}", 8, "point outside the data buffer");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12,
           "tensor \"w\": data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12");
    refuse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]}}",
           8, "point outside the data buffer");
    refuse("{\"a\\u0000b\":" T_F32_2(0, 8) "}", 8, "a tensor name contains a NUL character");
}

static void test_refused_layout(void **state)
{
    (void)state;
    refuse("{\"a\":" T_F32_2(0, 8) ",\"b\":" T_F32_2(4, 12) "}", 12,
           "tensor \"b\": data_offsets [4, 12] overlap those of tensor \"a\" (which end at 8)");
    refuse("{\"a\":" T_F32_2(0, 8) ",\"b\":" T_F32_2(0, 8) "}", 8, "overlap");
    refuse("{\"a\":" T_F32_2(0, 8) ",\"b\":" T_F32_2(12, 20) "}", 20,
           "m.safetensors: bytes 8 to 12 of the data buffer belong to no tensor (a hole before "
           "tensor \"b\")");
    refuse("{\"b\":" T_F32_2(4, 12) "}", 12, "bytes 0 to 4 of the data buffer belong to no tensor");
    refuse("{\"a\":" T_F32_2(0, 8) "}", 12,
           "the last 4 bytes of the data buffer (12 bytes) belong to no tensor");
    refuse("{}", 1, "the last 1 bytes of the data buffer (1 bytes) belong to no tensor");
    refuse("{\"a\":" T_F32_2(0, 8) ",\"a\":" T_F32_2(8, 16) "}", 16,
           "the tensor name \"a\" appears twice");

    refuse("{\"__metadata__\":\"pt\"}", 0,
           "\"__metadata__\" must be an object of strings, not a string");
    refuse("{\"__metadata__\":[]}", 0, "\"__metadata__\" must be an object of strings, not an "
                                       "array");
    refuse("{\"__metadata__\":{\"format\":\"pt\",\"n\":3}}", 0,
           "\"__metadata__\" value of \"n\" must be a string, not a number");
    refuse("{\"__metadata__\":{\"k\":null}}", 0, "must be a string, not null");
    refuse("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
           "\"__metadata__\" has the key \"k\" twice");
    refuse("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice");
    refuse("{\"__metadata__\":{\"k\":\"a\\u0000\"}}", 0, "contains a NUL character");

    /* What is fine: any member order, zero-byte tensors anywhere in the
     * tiling, unknown extra fields, padding spaces, empty metadata. */
    accept("{\"b\":" T_F32_2(8, 16) ",\"__metadata__\":{},\"a\":" T_F32_2(0, 8) "}  ", 16, 2);
    accept("{\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},\"a\":" T_F32_2(0, 8)
           ",\"e\":{\"dtype\":\"I64\",\"shape\":[2,0],\"data_offsets\":[8,8]}}", 8, 3);
    accept("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":[1]}}", 1, 1);
    accept("{}", 0, 0);
    accept(" \t\n{ } ", 0, 0);

    /* A tensor in the file order of its data: f.tensors[0] is "a". */
    unsigned char buf[256];
    klc_st_file f;
    size_t n = make_st(buf, "{\"b\":" T_F32_2(8, 16) ",\"a\":" T_F32_2(0, 8) "}", 16);
    unsigned char *copy;
    assert_int_equal(parse_exact(&f, buf, n, &copy), 0);
    assert_string_equal(f.tensors[0].name, "a");
    assert_string_equal(f.tensors[1].name, "b");
    assert_null(f.buffer); /* parse does not own the bytes */
    klc_st_free(&f);
    free(copy);
}

static void test_read_file_errors(void **state)
{
    (void)state;
    char path[2048];
    klc_st_file f;
    scratch(path, sizeof path, "absent.safetensors");
    assert_int_equal(klc_st_read(&f, path), -1);
    expect_error("absent.safetensors: cannot open: No such file or directory");

    scratch(path, sizeof path, "truncated.safetensors");
    write_bytes(path, "\x58\0\0\0\0\0\0\0{", 9);
    assert_int_equal(klc_st_read(&f, path), -1);
    expect_error(path);
    expect_error("header length 88 points outside the file (9 bytes)");
    assert_null(f.buffer);

    unsigned char *data;
    size_t size;
    scratch(path, sizeof path, "");
    assert_int_equal(klc_read_file(path, &data, &size), -1);
    expect_error("cannot read: is a directory");
    assert_null(data);
    /* devices and named pipes are refused before reading (/dev/zero never ends, a FIFO blocks) */
    assert_int_equal(klc_read_file("/dev/zero", &data, &size), -1);
    expect_error("/dev/zero: cannot read: is a device, not a regular file");
    scratch(path, sizeof path, "fifo");
    remove(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(klc_read_file(path, &data, &size), -1);
    expect_error("is a named pipe (FIFO), not a regular file");
    remove(path);
}

/* ----------------------------------------------------------------------------
 * Atomic writes
 * ------------------------------------------------------------------------- */

static void test_atomic(void **state)
{
    (void)state;
    char path[2048];
    unsigned char *data;
    size_t size;
    scratch(path, sizeof path, "atomic.txt");
    write_bytes(path, "old", 3);

    klc_atomic_file a, b;
    assert_int_equal(klc_atomic_open(&a, path), 0);
    assert_int_equal(klc_atomic_open(&b, path), 0);
    assert_string_not_equal(a.tmp, b.tmp);
    fputs("new contents", a.fp);
    fflush(a.fp);
    /* Until the commit, readers see the old file. */
    assert_int_equal(klc_read_file(path, &data, &size), 0);
    assert_memory_equal(data, "old", 3);
    free(data);
    assert_int_equal(klc_atomic_commit(&a), 0);
    assert_int_equal(klc_read_file(path, &data, &size), 0);
    assert_int_equal(size, 12);
    assert_memory_equal(data, "new contents", 12);
    assert_int_equal(data[size], '\0'); /* NUL-terminated for convenience */
    free(data);

    /* An aborted write leaves the target alone and removes its temp file. */
    fputs("half-written", b.fp);
    char tmp[sizeof b.tmp];
    memcpy(tmp, b.tmp, sizeof tmp);
    klc_atomic_abort(&b);
    assert_null(fopen(tmp, "rb"));
    klc_atomic_abort(&b); /* twice is harmless */
    assert_int_equal(klc_read_file(path, &data, &size), 0);
    assert_int_equal(size, 12);
    free(data);
    assert_int_equal(klc_atomic_commit(&b), -1);
    expect_error("not open for writing");

    assert_int_equal(klc_atomic_open(&a, ""), -1);
    expect_error("empty name");
    expect_no_temp_files();
}

/* ----------------------------------------------------------------------------
 * Fuzz
 * ------------------------------------------------------------------------- */

static void test_fuzz(void **state)
{
    (void)state;
    float k[4] = { 1, -2, 3, -4 };
    uint8_t m[3] = { 9, 8, 7 };
    klc_st_tensor in[2] = { { "k", KLC_F32, 2, { 2, 2 }, k, sizeof k },
                            { "m", KLC_U8, 1, { 3 }, m, sizeof m } };
    klc_st_meta meta = { "format", "pt" };
    char path[2048];
    scratch(path, sizeof path, "fuzz.safetensors");
    assert_int_equal(klc_st_write(path, in, 2, &meta, 1), 0);
    unsigned char *valid;
    size_t n;
    assert_int_equal(klc_read_file(path, &valid, &n), 0);

    klc_st_file f;
    int ok = 0, refused = 0;
    for (size_t len = 0; len <= n; len++) {
        if (parse_exact(&f, valid, len, NULL) == 0) {
            ok++;
            klc_st_free(&f);
        } else {
            refused++;
        }
    }
    assert_int_equal(ok, 1); /* only the whole file */
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t pos = 0; pos < n; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, valid, n);
            buf[pos] ^= (unsigned char)(1u << bit);
            if (parse_exact(&f, buf, n, NULL) == 0) {
                ok++;
                klc_st_free(&f);
            } else {
                refused++;
            }
        }
    }
    /* Flipped data bits still load; most header flips are refused. */
    assert_true(ok >= 1 + (int)(sizeof k + sizeof m) * 8);
    assert_true(refused > ok);
    free(buf);
    free(valid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_layout),   cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_write_refused),   cmocka_unit_test(test_refused_framing),
        cmocka_unit_test(test_refused_entries), cmocka_unit_test(test_refused_layout),
        cmocka_unit_test(test_read_file_errors), cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
