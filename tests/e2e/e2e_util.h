/*
 * e2e_util.h — helpers shared by the end-to-end tests of compiled models:
 * scratch paths, running programs, .npy files, float comparison, a small
 * deterministic generator for test data.
 */
#ifndef KLC_E2E_UTIL_H
#define KLC_E2E_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <klc/runtime.h>

/* "$KLC_TEST_TMPDIR/name" (the directory is created as by mkdir -p).  The
 * result is a static buffer, one of 8 used in turn. */
const char *e2e_path(const char *name);

/* Run `cmd` with /bin/sh, its stdout and stderr into `out` (truncated,
 * NUL-terminated).  Returns the exit status, or -1 if it did not exit. */
int e2e_run(const char *cmd, char *out, size_t size);

/* Read a whole file into a malloc'ed NUL-terminated string (NULL on failure). */
char *e2e_read_file(const char *path);

/* Write float32 [rows, cols] (cols 0: [rows]) or int32 [rows] as .npy. */
void e2e_save_f32(const char *path, const float *data, int64_t rows, int64_t cols);
void e2e_save_i32(const char *path, const int32_t *data, int64_t rows);

/* |got - want| <= abs + rel * |want| */
bool e2e_close(double got, double want, double rel, double abs);

/* splitmix64: uniform in [0, 1), normal(0, 1), integers below n. */
typedef struct e2e_rng {
    uint64_t s;
} e2e_rng;
double e2e_uniform(e2e_rng *r);
double e2e_normal(e2e_rng *r);
int e2e_below(e2e_rng *r, int n);

#endif /* KLC_E2E_UTIL_H */
