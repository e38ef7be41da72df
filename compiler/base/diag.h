/*
 * diag.h — diagnostics in the form compilers use.
 *
 *     model.kl:8:16: error: cannot multiply [N, 784] by [64, 784]: ...
 *             return x @ kernel;
 *                    ^~~~~~~~~~
 *     model.kl:15:5: note: in MyCustomLayer(units = 64), layer 2 of 'model'
 *
 * An error is followed by its own notes (diag_note right after it) and then
 * by the context notes that were active (diag_push_context), innermost first,
 * printed when the next diagnostic starts, a context ends, or diag_finish:
 * while a layer instantiation is being checked, every error names it.
 * Errors whose location lies in the prelude (klc's built-in layers) are
 * reported at the innermost context location in a user file instead.
 * An error identical to one already reported (same place, same text) is
 * dropped: the checker visits each layer body once per specialisation.
 */
#ifndef KLC_DIAG_H
#define KLC_DIAG_H

#include <stdbool.h>
#include <stdio.h>

#include "base/source.h"

typedef struct Diag Diag;

Diag *diag_new(Arena *a, FILE *out);
void diag_set_color(Diag *d, bool on);
/* Off: warnings (and their notes) are not printed or counted (klc -w). */
void diag_set_warnings(Diag *d, bool on);
/* Stop printing after this many errors (0 = no limit). */
void diag_set_limit(Diag *d, int max_errors);

#if defined(__GNUC__)
#define DIAG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DIAG_PRINTF(a, b)
#endif

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...) DIAG_PRINTF(3, 4);
void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...) DIAG_PRINTF(3, 4);
/* A note attached to the last error or warning (dropped if that one was). */
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...) DIAG_PRINTF(3, 4);
/* A message with no location: "klc: error: ..." */
void diag_plain_error(Diag *d, const char *fmt, ...) DIAG_PRINTF(2, 3);

void diag_push_context(Diag *d, SrcLoc loc, const char *message);
/* Append " (text)" to the innermost context note of the last error:
 * "in MyCustomLayer(units = 64), layer 2 of 'model' (kernel declared as [units, D])". */
void diag_context_suffix(Diag *d, const char *text);
void diag_pop_context(Diag *d);

int diag_error_count(const Diag *d);
/* True when the error limit is reached and further errors are only counted:
 * callers may skip work that only improves a message ("did you mean"). */
bool diag_quiet(const Diag *d);
/* Print "N errors generated." style summary if any were dropped by the limit. */
void diag_finish(Diag *d);

#endif /* KLC_DIAG_H */
