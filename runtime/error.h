/*
 * error.h — the runtime's error reporting (internal).
 *
 * A failing runtime function records a message with klc_seterr() and
 * returns -1 (or NULL); callers read it with klc_last_error().  Messages name
 * the file or argument at fault: "data.npy: header length 4096 points
 * outside the file (312 bytes)".
 */
#ifndef KLC_ERROR_H
#define KLC_ERROR_H

#if defined(__GNUC__)
#define KLC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KLC_PRINTF(a, b)
#endif

/* Record a message (printf format) for klc_last_error(); returns -1. */
int klc_seterr(const char *fmt, ...) KLC_PRINTF(1, 2);
/* Prefix the current message: "<prefix>: <old message>"; returns -1. */
int klc_seterr_prefix(const char *prefix);
void klc_clearerr(void);

#endif /* KLC_ERROR_H */
