/*
 * source.h — source files and locations.
 *
 * A SourceFile keeps the whole text of a .kl file (or of the prelude) and a
 * table of line starts, so a location can be a pair of byte offsets and still
 * be shown as file:line:col with its source line.
 */
#ifndef KLC_SOURCE_H
#define KLC_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Arena Arena;

typedef struct SourceFile {
    const char *path;      /* as given on the command line, or "<prelude>" */
    const char *text;      /* NUL-terminated copy; may contain NUL bytes before len */
    size_t len;
    int32_t *line_starts;  /* byte offset of each line */
    int n_lines;
    bool is_prelude;       /* locations in it are reported at the user's site */
} SourceFile;

/* A half-open byte range [start, end) in a file; file NULL = no location. */
typedef struct SrcLoc {
    const SourceFile *file;
    int32_t start, end;
} SrcLoc;

SourceFile *source_from_memory(Arena *a, const char *path, const char *text, size_t len);
/* Largest .kl source read (docs/reliability.md). */
#define SOURCE_MAX_BYTES ((uint64_t)16 << 20)
/* NULL if the file cannot be read, with *why the reason ("is a directory",
 * "is a named pipe (FIFO), not a regular file", strerror's text, ...). */
SourceFile *source_read(Arena *a, const char *path, const char **why);

/* 1-based line and column (columns count characters, a UTF-8 sequence as one). */
void source_line_col(const SourceFile *f, int32_t offset, int *line, int *col);
/* The line alone: logarithmic time, where the column costs the line's length. */
int source_line(const SourceFile *f, int32_t offset);
/* The text of a 1-based line, without its newline. */
const char *source_line_text(const SourceFile *f, int line, size_t *len);

#endif /* KLC_SOURCE_H */
