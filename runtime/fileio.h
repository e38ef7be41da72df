/*
 * fileio.h — whole-file reads and atomic writes (internal).
 */
#ifndef KLC_FILEIO_H
#define KLC_FILEIO_H

#include <stddef.h>
#include <stdio.h>

/* Read a whole file into a malloc'd buffer (NUL-terminated for convenience). */
int klc_read_file(const char *path, unsigned char **data, size_t *size);

/* Atomic write: klc_atomic_open gives a stream on "<path>.tmp-<pid>-<n>";
 * klc_atomic_commit flushes, fsyncs and renames it over `path` (or removes it
 * and fails if any write failed); klc_atomic_abort removes it. */
typedef struct klc_atomic_file {
    FILE *fp;
    char path[4096];
    char tmp[4200];
} klc_atomic_file;

int klc_atomic_open(klc_atomic_file *af, const char *path);
int klc_atomic_commit(klc_atomic_file *af);
void klc_atomic_abort(klc_atomic_file *af);

#endif /* KLC_FILEIO_H */
