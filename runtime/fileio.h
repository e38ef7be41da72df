/*
 * fileio.h — whole-file reads, atomic writes, and the in-memory parsers of
 * the data file formats (internal).
 *
 * The runtime assumes a little-endian host (x86-64, AArch64): .npy and
 * safetensors data are little-endian and are copied as they are.
 */
#ifndef KLC_FILEIO_H
#define KLC_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct klc_tensor;

/* Why a file of this st_mode is no data or source file: directories, pipes
 * and devices (a FIFO would block, /dev/zero never ends) are refused before
 * reading, by the runtime and by klc alike; NULL if regular. */
const char *klc_not_regular(mode_t mode);

/* Read a whole file into a malloc'd buffer (NUL-terminated for convenience). */
int klc_read_file(const char *path, unsigned char **data, size_t *size);

/* Atomic write: klc_atomic_open gives a stream on "<path>.tmp-<pid>-<n>";
 * klc_atomic_commit flushes, fsyncs and renames it over `path` (or removes it
 * and fails if any write failed); klc_atomic_abort removes it. */
typedef struct klc_atomic_file {
    FILE *fp;
    char path[4096];
    char tmp[4200];
} klc_atomic_file;

int klc_atomic_open(klc_atomic_file *af, const char *path);
int klc_atomic_commit(klc_atomic_file *af);
void klc_atomic_abort(klc_atomic_file *af);

/* Elements and bytes of a C-order array of `rank` dimensions `shape` with
 * `elem_size`-byte elements.  Returns -1 (no message) if a dimension is
 * negative, the rank is outside 0..KLC_MAX_RANK, or a size overflows. */
int klc_shape_size(int rank, const int64_t *shape, size_t elem_size, int64_t *count,
                   size_t *nbytes);

/* "[2, 3]" into buf (for messages); returns buf. */
const char *klc_shape_str(char *buf, size_t size, int rank, const int64_t *shape);

/*
 * Parsers of file contents already in memory; `name` is the file name used
 * in messages.  They never read outside buf[0..size).  On success `t` owns
 * its data; on failure `t` is zeroed and klc_last_error() names `name`.
 */
int klc_npy_parse(struct klc_tensor *t, const char *name, const unsigned char *buf, size_t size);
int klc_csv_parse(struct klc_tensor *t, const char *name, const char *text, size_t size);
int klc_idx_parse(struct klc_tensor *t, const char *name, const unsigned char *buf, size_t size);

/* A loader: read the whole file at `path` and parse it with `parse` (named
 * `path` in messages).  `t` is zeroed first and on failure. */
typedef int (*klc_parse_fn)(struct klc_tensor *t, const char *name, const unsigned char *buf,
                            size_t size);
int klc_load_with(struct klc_tensor *t, const char *path, klc_parse_fn parse);

#endif /* KLC_FILEIO_H */
