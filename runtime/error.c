/* error.c — thread-local last-error message of the runtime. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "klc/runtime.h"

static _Thread_local char last_error[1024];

const char *klc_last_error(void)
{
    return last_error;
}

int klc_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

int klc_seterr_prefix(const char *prefix)
{
    char old[sizeof last_error];
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3)
        n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t room = sizeof last_error - n - 3;
    size_t m = strlen(old);
    if (m > room)
        m = room;
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
    return -1;
}

void klc_clearerr(void)
{
    last_error[0] = '\0';
}
