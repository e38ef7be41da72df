/* cbuf.c — text buffer for the code generators. */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync */
#include "base/cbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"

void cb_init(CBuf *b)
{
    memset(b, 0, sizeof *b);
}

void cb_free(CBuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static void reserve(CBuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        klc_internal_fault(__FILE__, __LINE__, "out of memory");
    b->data = d;
    b->cap = cap;
}

static void vappend(CBuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cb_printf(CBuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(b, fmt, ap);
    va_end(ap);
}

void cb_line(CBuf *b, const char *fmt, ...)
{
    reserve(b, (size_t)b->indent);
    memset(b->data + b->len, ' ', (size_t)b->indent);
    b->len += (size_t)b->indent;
    va_list ap;
    va_start(ap, fmt);
    vappend(b, fmt, ap);
    va_end(ap);
    cb_printf(b, "\n");
}

int cb_write_file(const CBuf *b, const char *path)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return -1;
    snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        int e = errno;
        free(tmp);
        errno = e;
        return -1;
    }
    size_t wrote = b->len ? fwrite(b->data, 1, b->len, fp) : 0;
    int bad = wrote != b->len || fflush(fp) != 0 || fsync(fileno(fp)) != 0;
    int e = errno;
    if (fclose(fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad || rename(tmp, path) != 0) {
        if (!bad)
            e = errno;
        remove(tmp);
        free(tmp);
        errno = e;
        return -1;
    }
    free(tmp);
    return 0;
}

int cb_write_pair(const CBuf *h, const char *h_path, const CBuf *c, const char *c_path)
{
    if (cb_write_file(h, h_path) != 0) {
        fprintf(stderr, "klc: cannot write %s: %s\n", h_path, strerror(errno));
        return -1;
    }
    if (cb_write_file(c, c_path) != 0) {
        fprintf(stderr, "klc: cannot write %s: %s\n", c_path, strerror(errno));
        remove(h_path);
        return -1;
    }
    return 0;
}

const char *cb_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}
