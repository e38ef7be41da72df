/* source.c — source buffers, line tables and offset-to-line/column mapping. */
#include "base/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"

SourceFile *source_from_memory(Arena *a, const char *path, const char *text, size_t len)
{
    SourceFile *f = arena_alloc(a, sizeof *f);
    f->path = arena_strdup(a, path);
    char *copy = arena_alloc(a, len + 2);
    memcpy(copy, text, len);
    f->text = copy;
    f->len = len;
    int n = 1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            n++;
    f->line_starts = arena_alloc(a, sizeof(int32_t) * (size_t)(n + 1));
    f->n_lines = 0;
    f->line_starts[f->n_lines++] = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            f->line_starts[f->n_lines++] = (int32_t)(i + 1);
    return f;
}

SourceFile *source_read(Arena *a, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 65536, len = 0;
    errno = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        errno = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            /* .kl files are small; refuse absurd sizes rather than exhaust memory */
            if (cap >= ((size_t)1 << 30)) {
                free(buf);
                fclose(fp);
                errno = EFBIG;
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(fp);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(fp) ? (errno ? errno : EIO) : 0; /* EISDIR for a directory */
    fclose(fp);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    SourceFile *f = source_from_memory(a, path, buf, len);
    free(buf);
    return f;
}

int source_line(const SourceFile *f, int32_t offset)
{
    int lo = 0, hi = f->n_lines - 1;
    while (lo < hi) { /* last line start <= offset */
        int mid = (lo + hi + 1) / 2;
        if (f->line_starts[mid] <= offset)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo + 1;
}

void source_line_col(const SourceFile *f, int32_t offset, int *line, int *col)
{
    if (offset < 0)
        offset = 0;
    if ((size_t)offset > f->len)
        offset = (int32_t)f->len;
    int lo = source_line(f, offset) - 1;
    int c = 1;
    for (int32_t i = f->line_starts[lo]; i < offset; i++)
        if (((unsigned char)f->text[i] & 0xC0) != 0x80) /* skip UTF-8 continuation bytes */
            c++;
    *line = lo + 1;
    *col = c;
}

const char *source_line_text(const SourceFile *f, int line, size_t *len)
{
    if (line < 1 || line > f->n_lines) {
        *len = 0;
        return "";
    }
    int32_t s = f->line_starts[line - 1];
    size_t e = (size_t)s;
    while (e < f->len && f->text[e] != '\n')
        e++;
    if (e > (size_t)s && f->text[e - 1] == '\r')
        e--;
    *len = e - (size_t)s;
    return f->text + s;
}

