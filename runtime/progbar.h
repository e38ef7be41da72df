/*
 * progbar.h — Keras' progress bar and epoch lines (internal).
 *
 * Formats follow keras-semantics.md §6.4 (Keras 3.15+: running means shown
 * exactly).  verbose 1: a bar redrawn in place when `dynamic` (a terminal),
 * or one line per update otherwise; verbose 2: one line at the end; 0:
 * nothing.  Time comes from the caller (seconds, monotonic) so tests can
 * drive it deterministically.
 */
#ifndef KLC_PROGBAR_H
#define KLC_PROGBAR_H

#include <stdint.h>
#include <stdio.h>

#include "klc/runtime.h"

typedef struct klc_progbar {
    FILE *out;
    int64_t target;           /* steps; <= 0 means unknown */
    int verbose;
    int dynamic;              /* redraw in place with \b and \r */
    double start;             /* time of init */
    double first_step_done;   /* time after step 1 (per-step estimate excludes it) */
    double last_draw;
    int prev_width;           /* printed width of the previous dynamic line */
    klc_logs shown;           /* values on display, keys in first-seen order (Keras keeps
                                 a key once seen, and appends new keys, e.g. val_*, last) */
} klc_progbar;

/* "Epoch 3/5" line; nothing when epochs <= 1, as Keras. */
void klc_progbar_epoch(FILE *out, int epoch_index, int epochs);
void klc_progbar_init(klc_progbar *pb, FILE *out, int64_t target, int verbose, int dynamic,
                      double now);
/* Step `current` (1-based) is done; `logs` are the running values to show.
 * `final` marks the last update of the bar (forces a draw and ends the line). */
void klc_progbar_update(klc_progbar *pb, int64_t current, const klc_logs *logs, int final,
                        double now);
/* Whether an update at `now` uses its logs: at verbose 1 when it redraws
 * (the first update and the final one always do), at verbose 2 always (the
 * end line shows every key seen).  A caller whose updates all carry the same
 * keys may pass NULL logs to an update that does not use them: the next
 * redraw brings every value up to date and the key order was set by the
 * first update, so nothing shown changes. */
int klc_progbar_wants_logs(const klc_progbar *pb, int final, double now);

/* Keras' number format for logs: "%.4f" when |v| > 1e-3, else "%.4e". */
void klc_format_log_value(char *buf, size_t size, double v);
/* Monotonic seconds. */
double klc_now(void);
/* Whether `out` is a terminal (dynamic display). */
int klc_is_terminal(FILE *out);

#endif /* KLC_PROGBAR_H */
