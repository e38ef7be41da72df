/* diag.c — located errors with source excerpts, carets and context notes. */
#include "base/diag.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"

#define MAX_CONTEXT 64 /* context notes kept: deeper nesting is counted, not recorded */

typedef struct Context {
    SrcLoc loc;
    const char *message;
} Context;

typedef struct Seen {
    const SourceFile *file;
    int32_t start, end;
    const char *message;
    uint64_t hash;
} Seen;

struct Diag {
    Arena *arena;
    FILE *out;
    bool color;
    bool no_warnings;       /* klc -w */
    int max_errors;
    int errors, warnings, suppressed;
    bool last_dropped;      /* notes of a dropped diagnostic are dropped too */
    Context ctx[MAX_CONTEXT];
    int n_ctx;
    Seen **seen;            /* hash set of the diagnostics reported (open addressing) */
    size_t seen_cap, n_seen;
    bool pending;           /* the last error's context notes are still to print */
    const char *suffix;     /* appended to the innermost context note */
};

static void flush_pending(Diag *d);

Diag *diag_new(Arena *a, FILE *out)
{
    Diag *d = arena_alloc(a, sizeof *d);
    d->arena = a;
    d->out = out;
    d->max_errors = 50;
    return d;
}

void diag_set_warnings(Diag *d, bool on)
{
    d->no_warnings = !on;
}

void diag_set_color(Diag *d, bool on)
{
    d->color = on;
}

void diag_set_limit(Diag *d, int max_errors)
{
    d->max_errors = max_errors;
}

int diag_error_count(const Diag *d)
{
    return d->errors;
}

bool diag_quiet(const Diag *d)
{
    return d->max_errors && d->errors >= d->max_errors;
}

void diag_push_context(Diag *d, SrcLoc loc, const char *message)
{
    flush_pending(d);
    if (d->n_ctx < MAX_CONTEXT) {
        d->ctx[d->n_ctx].loc = loc;
        d->ctx[d->n_ctx].message = message;
    }
    d->n_ctx++;
}

void diag_pop_context(Diag *d)
{
    flush_pending(d);
    KLC_ASSERT(d->n_ctx > 0);
    d->n_ctx--;
}

/* The innermost context location in a user file, for errors in the prelude. */
static SrcLoc user_site(const Diag *d, SrcLoc loc)
{
    if (!loc.file || !loc.file->is_prelude)
        return loc;
    int n = d->n_ctx < MAX_CONTEXT ? d->n_ctx : MAX_CONTEXT;
    for (int i = n - 1; i >= 0; i--)
        if (d->ctx[i].loc.file && !d->ctx[i].loc.file->is_prelude)
            return d->ctx[i].loc;
    return (SrcLoc){0};
}

/* Was this diagnostic reported before?  Records it if not.  A hash set, so
 * that a file with a hundred thousand mistakes is still checked in linear time. */
static bool seen_before(Diag *d, SrcLoc loc, const char *msg)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = msg; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h ^= (uint64_t)(uintptr_t)loc.file * 31 + (uint64_t)loc.start * 1000003 + (uint64_t)loc.end;
    if (2 * (d->n_seen + 1) > d->seen_cap) {
        size_t cap = d->seen_cap ? 2 * d->seen_cap : 64;
        Seen **t = arena_alloc(d->arena, sizeof *t * cap);
        for (size_t i = 0; i < d->seen_cap; i++)
            if (d->seen[i]) {
                size_t j = d->seen[i]->hash & (cap - 1);
                while (t[j])
                    j = (j + 1) & (cap - 1);
                t[j] = d->seen[i];
            }
        d->seen = t;
        d->seen_cap = cap;
    }
    size_t j = h & (d->seen_cap - 1);
    for (; d->seen[j]; j = (j + 1) & (d->seen_cap - 1)) {
        const Seen *s = d->seen[j];
        if (s->hash == h && s->file == loc.file && s->start == loc.start && s->end == loc.end &&
            strcmp(s->message, msg) == 0)
            return true;
    }
    Seen *s = arena_alloc(d->arena, sizeof *s);
    *s = (Seen){loc.file, loc.start, loc.end, msg, h};
    d->seen[j] = s;
    d->n_seen++;
    return false;
}

/* Print one source line with any control bytes made visible as '?', keeping tabs. */
static void put_line(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc((c < 0x20 && c != '\t') || c == 0x7f ? '?' : c, out);
    }
    fputc('\n', out);
}

static void show_excerpt(Diag *d, SrcLoc loc)
{
    int line, col;
    source_line_col(loc.file, loc.start, &line, &col);
    size_t len;
    const char *text = source_line_text(loc.file, line, &len);
    if (len > 400) /* very long lines: show the neighbourhood only */
        return;
    put_line(d->out, text, len);
    int32_t ls = loc.file->line_starts[line - 1];
    int32_t end = loc.end > loc.start ? loc.end : loc.start + 1;
    if ((size_t)(end - ls) > len)
        end = ls + (int32_t)len;
    if (end <= loc.start)
        end = loc.start + 1;
    if (d->color)
        fputs("\033[1;32m", d->out);
    for (int32_t i = ls; i < loc.start; i++) {
        unsigned char c = (unsigned char)text[i - ls];
        if ((c & 0xC0) == 0x80)
            continue;
        fputc(c == '\t' ? '\t' : ' ', d->out);
    }
    fputc('^', d->out);
    for (int32_t i = loc.start + 1; i < end; i++)
        if (((unsigned char)loc.file->text[i] & 0xC0) != 0x80)
            fputc('~', d->out);
    if (d->color)
        fputs("\033[0m", d->out);
    fputc('\n', d->out);
}

static void header(Diag *d, SrcLoc loc, const char *kind, const char *color)
{
    if (d->color)
        fputs("\033[1m", d->out);
    if (loc.file) {
        int line, col;
        source_line_col(loc.file, loc.start, &line, &col);
        fprintf(d->out, "%s:%d:%d: ", loc.file->path, line, col);
    } else {
        fputs("klc: ", d->out);
    }
    if (d->color)
        fprintf(d->out, "%s%s:\033[0m\033[1m ", color, kind);
    else
        fprintf(d->out, "%s: ", kind);
}

static void vreport(Diag *d, bool is_error, SrcLoc loc, const char *fmt, va_list ap)
{
    if (!is_error && d->no_warnings) {
        d->last_dropped = true;
        return;
    }
    char *msg;
    {
        va_list ap2;
        va_copy(ap2, ap);
        int n = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        msg = arena_alloc(d->arena, (size_t)n + 1);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
    }
    flush_pending(d);
    loc = user_site(d, loc);
    if (seen_before(d, loc, msg)) {
        d->last_dropped = true;
        return;
    }

    if (is_error)
        d->errors++;
    else
        d->warnings++;
    if (is_error && d->max_errors && d->errors > d->max_errors) {
        d->suppressed++;
        d->last_dropped = true;
        return;
    }
    d->last_dropped = false;
    header(d, loc, is_error ? "error" : "warning", is_error ? "\033[31m" : "\033[35m");
    fputs(msg, d->out);
    if (d->color)
        fputs("\033[0m", d->out);
    fputc('\n', d->out);
    if (loc.file)
        show_excerpt(d, loc);
    d->pending = true;
    d->suffix = NULL;
}

/* The context notes of the last error, innermost first. */
static void flush_pending(Diag *d)
{
    if (!d->pending)
        return;
    d->pending = false;
    int n = d->n_ctx < MAX_CONTEXT ? d->n_ctx : MAX_CONTEXT;
    bool first = true;
    for (int i = n - 1; i >= 0; i--) {
        if (d->ctx[i].loc.file && d->ctx[i].loc.file->is_prelude)
            continue;
        header(d, d->ctx[i].loc, "note", "\033[36m");
        fputs(d->ctx[i].message, d->out);
        if (first && d->suffix)
            fprintf(d->out, " (%s)", d->suffix);
        first = false;
        if (d->color)
            fputs("\033[0m", d->out);
        fputc('\n', d->out);
    }
}

void diag_context_suffix(Diag *d, const char *text)
{
    if (d->pending)
        d->suffix = arena_strdup(d->arena, text);
}

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(d, true, loc, fmt, ap);
    va_end(ap);
}

void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(d, false, loc, fmt, ap);
    va_end(ap);
}

void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...)
{
    if (d->last_dropped)
        return;
    loc = user_site(d, loc);
    header(d, loc, "note", "\033[36m");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    if (d->color)
        fputs("\033[0m", d->out);
    fputc('\n', d->out);
}

void diag_plain_error(Diag *d, const char *fmt, ...)
{
    flush_pending(d);
    d->errors++;
    header(d, (SrcLoc){0}, "error", "\033[31m");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    if (d->color)
        fputs("\033[0m", d->out);
    fputc('\n', d->out);
}

void diag_finish(Diag *d)
{
    flush_pending(d);
    if (d->suppressed)
        fprintf(d->out, "klc: too many errors; %d more not shown\n", d->suppressed);
}
