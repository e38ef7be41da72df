/*
 * idx.c — IDX files, the format of the MNIST distribution.
 *
 *   0x00 0x00 type ndim   then ndim big-endian u32 dimensions, then the
 *   big-endian values in C order, and nothing after them.
 *
 *   type 0x08 u8  -> uint8      0x0C i32 -> int32
 *        0x09 i8  -> int32      0x0D f32 -> float32
 *        0x0B i16 -> int32      0x0E f64 -> float64
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "klc/runtime.h"

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int klc_idx_parse(klc_tensor *t, const char *name, const unsigned char *buf, size_t size)
{
    memset(t, 0, sizeof *t);
    if (size >= 2 && buf[0] == 0x1F && buf[1] == 0x8B)
        return klc_seterr("%s: the file is gzip-compressed; decompress it first (gunzip)", name);
    if (size < 4)
        return klc_seterr("%s: file is %zu bytes, too short for an IDX header", name, size);
    if (buf[0] != 0 || buf[1] != 0)
        return klc_seterr("%s: not an IDX file (it starts with %02x %02x, not 00 00)", name,
                          buf[0], buf[1]);

    size_t in_size; /* bytes per value in the file */
    klc_dtype dt;
    switch (buf[2]) {
    case 0x08: in_size = 1, dt = KLC_U8; break;
    case 0x09: in_size = 1, dt = KLC_I32; break;
    case 0x0B: in_size = 2, dt = KLC_I32; break;
    case 0x0C: in_size = 4, dt = KLC_I32; break;
    case 0x0D: in_size = 4, dt = KLC_F32; break;
    case 0x0E: in_size = 8, dt = KLC_F64; break;
    default:
        return klc_seterr("%s: unknown IDX value type 0x%02X (known: 08 u8, 09 i8, 0B i16, "
                          "0C i32, 0D f32, 0E f64)", name, buf[2]);
    }
    int rank = buf[3];
    if (rank > KLC_MAX_RANK)
        return klc_seterr("%s: IDX file has %d dimensions, more than the runtime supports (%d)",
                          name, rank, KLC_MAX_RANK);
    size_t head = 4 + 4 * (size_t)rank;
    if (size < head)
        return klc_seterr("%s: file is %zu bytes, too short for the %d dimensions of its IDX "
                          "header", name, size, rank);
    int64_t shape[KLC_MAX_RANK];
    for (int i = 0; i < rank; i++)
        shape[i] = (int64_t)be(buf + 4 + 4 * (size_t)i, 4);

    char shape_s[192];
    klc_shape_str(shape_s, sizeof shape_s, rank, shape);
    int64_t count;
    size_t nbytes;
    if (klc_shape_size(rank, shape, in_size, &count, &nbytes) != 0)
        return klc_seterr("%s: IDX dimensions %s are too large", name, shape_s);
    if (size - head != nbytes)
        return klc_seterr("%s: IDX dimensions %s of %zu-byte values need %zu bytes of data, the "
                          "file has %zu", name, shape_s, in_size, nbytes, size - head);

    if (klc_tensor_alloc(t, dt, rank, shape) != 0)
        return klc_seterr_prefix(name);
    const unsigned char *p = buf + head;
    for (int64_t i = 0; i < count; i++, p += in_size) {
        uint64_t bits = be(p, in_size);
        switch (buf[2]) {
        case 0x08: ((uint8_t *)t->data)[i] = (uint8_t)bits; break;
        case 0x09: ((int32_t *)t->data)[i] = (int8_t)bits; break;
        case 0x0B: ((int32_t *)t->data)[i] = (int16_t)bits; break;
        case 0x0C: ((int32_t *)t->data)[i] = (int32_t)bits; break;
        case 0x0D: {
            uint32_t u = (uint32_t)bits;
            memcpy((float *)t->data + i, &u, 4);
            break;
        }
        default: memcpy((double *)t->data + i, &bits, 8); break;
        }
    }
    return 0;
}

int klc_idx_load(klc_tensor *t, const char *path)
{
    return klc_load_with(t, path, klc_idx_parse);
}
