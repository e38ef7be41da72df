/*
 * cbuf.h — a growable text buffer for code generation, with indentation.
 */
#ifndef KLC_CBUF_H
#define KLC_CBUF_H

#include <stddef.h>

typedef struct CBuf {
    char *data;
    size_t len, cap;
    int indent;        /* spaces at the start of each cb_line */
} CBuf;

void cb_init(CBuf *b);
void cb_free(CBuf *b);
/* Append formatted text. */
void cb_printf(CBuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append one indented line (a newline is added). */
void cb_line(CBuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Write the buffer to `path` through a temporary file renamed into place;
 * returns 0, or -1 with errno set. */
int cb_write_file(const CBuf *b, const char *path);
/* Write a generated header, then its C file (each with cb_write_file); if
 * the C file fails, remove the header again.  Returns 0, or -1 after
 * printing "klc: cannot write PATH: reason" to stderr. */
int cb_write_pair(const CBuf *h, const char *h_path, const CBuf *c, const char *c_path);
/* The part of `path` after its last '/': how the C file #includes its header. */
const char *cb_base_name(const char *path);

#endif /* KLC_CBUF_H */
