/* io_test_util.c — see io_test_util.h. */
#define _POSIX_C_SOURCE 200809L

#include "io_test_util.h"

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

#include "klc/runtime.h"

void scratch(char *path, size_t size, const char *name)
{
    const char *env = getenv("KLC_TEST_TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", env && *env ? env : "/tmp/klc_test_io");
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            fail_msg("cannot create %s: %s", dir, strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    snprintf(path, size, "%s/%s", dir, name);
}

void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

void expect_error(const char *needle)
{
    const char *msg = klc_last_error();
    if (!strstr(msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}
