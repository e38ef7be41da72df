/*
 * test_util.h — helpers shared by the cmocka tests: scratch directories
 * (test_mkdir_p, scratch), writing raw bytes, exact-size copies for the
 * parsers, and checking klc_last_error() and leftover temporary files.
 * Linked as the klc_test_util library (tests/CMakeLists.txt).
 */
#ifndef KLC_TEST_UTIL_H
#define KLC_TEST_UTIL_H

#include <stddef.h>

/* Create `dir` and its missing parents, as mkdir -p does.  Returns 0, or -1
 * with errno set (no test failure: usable outside cmocka's test functions). */
int test_mkdir_p(const char *dir);
/* path = "$KLC_TEST_TMPDIR/name"; the directory is created as by mkdir -p. */
void scratch(char *path, size_t size, const char *name);
/* Write exactly these bytes to path (a test failure otherwise). */
void write_bytes(const char *path, const void *data, size_t n);
/* A malloc'ed copy of exactly n bytes (so ASan sees any read past them),
 * after klc_clearerr(); the caller frees it. */
void *exact_copy(const void *bytes, size_t n);
/* klc_last_error() must contain `needle`. */
void expect_error(const char *needle);
/* No "*.tmp-*" file is left in the scratch directory. */
void expect_no_temp_files(void);

#endif /* KLC_TEST_UTIL_H */
