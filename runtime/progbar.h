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
    int64_t seen;
    klc_logs shown;           /* values on display, keys in first-seen order (Keras keeps
                                 a key once seen, and appends new keys, e.g. val_*, last) */
} klc_progbar;

/* "Epoch 3/5" line (only call when epochs > 1, as Keras). */
void klc_progbar_epoch(FILE *out, int epoch_index, int epochs);
void klc_progbar_init(klc_progbar *pb, FILE *out, int64_t target, int verbose, int dynamic,
                      double now);
/* Step `current` (1-based) is done; `logs` are the running values to show.
 * `final` marks the last update of the bar (forces a draw and ends the line). */
void klc_progbar_update(klc_progbar *pb, int64_t current, const klc_logs *logs, int final,
                        double now);

/* Keras' number format for logs: "%.4f" when |v| > 1e-3, else "%.4e". */
void klc_format_log_value(char *buf, size_t size, double v);
/* Monotonic seconds. */
double klc_now(void);
/* Whether `out` is a terminal (dynamic display). */
int klc_is_terminal(FILE *out);

#endif /* KLC_PROGBAR_H */
