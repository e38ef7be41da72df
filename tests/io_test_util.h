/*
 * io_test_util.h — helpers shared by the file I/O tests (test_npy.c,
 * test_csv.c, test_idx.c, test_safetensors.c): scratch paths, writing raw
 * bytes, and checking klc_last_error().
 */
#ifndef KLC_IO_TEST_UTIL_H
#define KLC_IO_TEST_UTIL_H

#include <stddef.h>

/* path = "$KLC_TEST_TMPDIR/name"; the directory is created as by mkdir -p. */
void scratch(char *path, size_t size, const char *name);
/* Write exactly these bytes to path (a test failure otherwise). */
void write_bytes(const char *path, const void *data, size_t n);
/* klc_last_error() must contain `needle`. */
void expect_error(const char *needle);

#endif /* KLC_IO_TEST_UTIL_H */
