/*
 * safetensors.h — reading and writing safetensors files (internal).
 *
 * Format: an 8-byte little-endian header length H, H bytes of JSON, then the
 * raw tensor bytes.  The JSON object maps tensor names to
 * {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (offsets
 * relative to the byte buffer after the header) and may hold a
 * "__metadata__" object of string to string.  The reader validates
 * everything (header inside the file, offsets inside the buffer and
 * consistent with dtype and shape, no overlaps); the writer produces the
 * layout Python's safetensors package does (keys sorted, header padded with
 * spaces to a multiple of 8) and writes to a temporary file that is renamed
 * over the target, so a crash never leaves a half-written file.
 */
#ifndef KLC_SAFETENSORS_H
#define KLC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "klc/abi.h"

typedef struct klc_st_tensor {
    char *name;
    klc_dtype dtype;           /* F32, F64, I32, I64, U8 supported */
    int rank;
    int64_t shape[KLC_MAX_RANK];
    const void *data;          /* into klc_st_file.buffer (read) or caller memory (write);
                                  not necessarily aligned for its dtype: copy it out with memcpy */
    size_t nbytes;
} klc_st_tensor;

typedef struct klc_st_meta {
    char *key;
    char *value;
} klc_st_meta;

typedef struct klc_st_file {
    int n_tensors;
    klc_st_tensor *tensors;    /* in file order of their data offsets */
    int n_meta;
    klc_st_meta *meta;
    unsigned char *buffer;     /* the whole file */
    size_t size;
} klc_st_file;

/* Headers longer than this are refused, as Python's safetensors does. */
#define KLC_ST_MAX_HEADER 100000000u

/* Read and validate `path`.  On failure the message names the file. */
int klc_st_read(klc_st_file *f, const char *path);
/* Validate the file held in buf[0..size) (`name` is used in messages).  The
 * tensors' data point into buf, which must outlive f; f->buffer stays NULL,
 * so klc_st_free does not free buf. */
int klc_st_parse(klc_st_file *f, const char *name, const unsigned char *buf, size_t size);
void klc_st_free(klc_st_file *f);
const klc_st_tensor *klc_st_find(const klc_st_file *f, const char *name);
const char *klc_st_meta_get(const klc_st_file *f, const char *key);

/* Write tensors (names must be unique) and metadata atomically to `path`. */
int klc_st_write(const char *path, const klc_st_tensor *tensors, int n_tensors,
                 const klc_st_meta *meta, int n_meta);

#endif /* KLC_SAFETENSORS_H */
