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
    snprintf(last_error, sizeof last_error, "%s: %s", prefix, old);
    return -1;
}

void klc_clearerr(void)
{
    last_error[0] = '\0';
}
