/* test_util.c — see test_util.h. */
#define _POSIX_C_SOURCE 200809L

#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "klc/runtime.h"

int test_mkdir_p(const char *dir)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = c;
        if (!c)
            return 0;
    }
}

void scratch(char *path, size_t size, const char *name)
{
    const char *env = getenv("KLC_TEST_TMPDIR");
    const char *dir = env && *env ? env : "/tmp/klc_test";
    if (test_mkdir_p(dir) != 0)
        fail_msg("cannot create %s: %s", dir, strerror(errno));
    snprintf(path, size, "%s/%s", dir, name);
}

void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

void *exact_copy(const void *bytes, size_t n)
{
    void *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, bytes, n);
    klc_clearerr();
    return copy;
}

void expect_error(const char *needle)
{
    const char *msg = klc_last_error();
    if (!strstr(msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}

void expect_no_temp_files(void)
{
    char dir[2048];
    scratch(dir, sizeof dir, "");
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp-"))
            fail_msg("temporary file left: %s", e->d_name);
    closedir(d);
}
