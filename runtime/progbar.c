/*
 * progbar.c — Keras' progress bar (keras/src/utils/progbar.py, Keras 3.15).
 *
 * One line per update, built piece by piece straight into the FILE while its
 * printed width is counted (code points, ANSI escapes excluded), because that
 * width drives the next redraw: a dynamic redraw first erases the previous
 * line with that many '\b' and a '\r'; in both modes a line shorter than the
 * previous one is right-padded with spaces to the previous width.
 *
 *   verbose 1, running:  " 5/32 ━━━━━━━━━━━━━━━━━━━━ 2s 3ms/step - loss: 0.1994", with "5/32"
 *                        and the ETA "2s" bold, the done part of the bar green, the rest white
 *   verbose 1, final:    the same with the elapsed time instead of the ETA, then '\n'
 *   verbose 2, final:    "32/32 - 1s - 3ms/step - loss: 0.1994\n" (plain)
 */
#define _POSIX_C_SOURCE 200809L

#include "progbar.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 20
#define REDRAW_INTERVAL 0.05 /* seconds between two redraws, except the final one */

/* Sentinel for "never happened" in last_draw and first_step_done: any
 * `now - NEVER` is +inf, so the first update always draws. */
#define NEVER (-HUGE_VAL)

/* ------------------------------------------------------------------------- */
/* Numbers */

/* Python's "%.4f" / "%.4e" of a float; Python prints NaN as "nan" whatever
 * its sign bit, where glibc would print "-nan". */
static void format_value(char *buf, size_t size, double v, int use_abs)
{
    if (isnan(v))
        snprintf(buf, size, "nan");
    else if ((use_abs ? fabs(v) : v) > 1e-3)
        snprintf(buf, size, "%.4f", v);
    else
        snprintf(buf, size, "%.4e", v);
}

void klc_format_log_value(char *buf, size_t size, double v)
{
    format_value(buf, size, v, 1);
}

/* " 3ms/step": seconds when >= 1 s or exactly 0, else ms, else us. */
static void format_per_step(char *buf, size_t size, double per_step)
{
    if (per_step >= 1 || per_step == 0)
        snprintf(buf, size, " %.0fs/step", per_step);
    else if (per_step >= 1e-3)
        snprintf(buf, size, " %.0fms/step", per_step * 1000.0);
    else
        snprintf(buf, size, " %.0fus/step", per_step * 1000000.0);
}

/* ETA as Keras: "%ds" up to 60 s, "m:ss" above, "h:mm:ss" above 3600 s.
 * Python's "%d" of a float truncates; floor is the same for eta >= 0. */
static void format_eta(char *buf, size_t size, double eta)
{
    if (!(fabs(eta) < 1e15)) /* NaN or absurd: keep the integer casts defined */
        eta = isnan(eta) ? 0 : copysign(1e15, eta);
    if (eta > 3600) {
        long long s = (long long)floor(eta);
        snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, s % 3600 / 60, s % 60);
    } else if (eta > 60) {
        long long s = (long long)floor(eta);
        snprintf(buf, size, "%lld:%02lld", s / 60, s % 60);
    } else {
        snprintf(buf, size, "%llds", (long long)eta);
    }
}

/* Digits of target, Keras' int(log10(target)) + 1 (target >= 1). */
static int digits_of(int64_t target)
{
    int d = 1;
    while (target >= 10) {
        target /= 10;
        d++;
    }
    return d;
}

/* ------------------------------------------------------------------------- */
/* A line being printed, with its visible width */

typedef struct Line {
    FILE *out;
    int width; /* code points printed so far, escapes excluded */
} Line;

static void put_text(Line *ln, const char *s)
{
    fputs(s, ln->out);
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) /* not a UTF-8 continuation byte */
            ln->width++;
}

/* An ANSI escape: printed, but takes no room on screen. */
static void put_escape(Line *ln, const char *s)
{
    fputs(s, ln->out);
}

static void put_repeat(Line *ln, const char *s, int n)
{
    for (int i = 0; i < n; i++)
        put_text(ln, s);
}

/* ------------------------------------------------------------------------- */

void klc_progbar_epoch(FILE *out, int epoch_index, int epochs)
{
    if (epochs <= 1)
        return;
    fprintf(out, "Epoch %d/%d\n", epoch_index + 1, epochs);
    fflush(out);
}

void klc_progbar_init(klc_progbar *pb, FILE *out, int64_t target, int verbose, int dynamic,
                      double now)
{
    memset(pb, 0, sizeof *pb);
    pb->out = out;
    pb->target = target;
    pb->verbose = verbose;
    pb->dynamic = dynamic;
    pb->start = now;
    pb->first_step_done = NEVER;
    pb->last_draw = NEVER;
}

/* Keras' _estimate_step_duration: the first step (graph tracing, warm-up)
 * is left out once a later step is known. */
static double step_duration(klc_progbar *pb, int64_t current, double now)
{
    if (current == 0)
        return 0;
    double per_step;
    if (pb->first_step_done != NEVER && current > 1)
        per_step = (now - pb->first_step_done) / (double)(current - 1);
    else
        per_step = (now - pb->start) / (double)current;
    if (current == 1)
        pb->first_step_done = now;
    return per_step;
}

/* Merge `logs` into the values on display: a known key takes the new value
 * in place, a new key goes last.  Keys beyond KLC_MAX_LOGS are dropped. */
static void remember_logs(klc_logs *shown, const klc_logs *logs)
{
    if (!logs)
        return;
    for (int i = 0; i < logs->n; i++) {
        int k = 0;
        while (k < shown->n && strcmp(shown->names[k], logs->names[i]) != 0)
            k++;
        if (k == shown->n) {
            if (shown->n == KLC_MAX_LOGS)
                continue;
            snprintf(shown->names[k], KLC_MAX_NAME, "%s", logs->names[i]);
            shown->n++;
        }
        shown->values[k] = logs->values[i];
    }
}

/* "{cur:>D}/{T} {bar} {time}{per_step}{metrics}", without the leading
 * erase and the trailing padding. */
static void draw_bar_line(klc_progbar *pb, Line *ln, int64_t current, int final, double now,
                          double per_step)
{
    char buf[512];
    if (pb->target > 0) {
        snprintf(buf, sizeof buf, "%*lld/%lld", digits_of(pb->target), (long long)current,
                 (long long)pb->target);
        put_escape(ln, "\x1b[1m");
        put_text(ln, buf);
        put_escape(ln, "\x1b[0m");
        put_text(ln, " ");
        int done = (int)(BAR_WIDTH * ((double)current / (double)pb->target));
        if (done > 0) {
            put_escape(ln, "\x1b[32m");
            put_repeat(ln, "\u2501", done);
            put_escape(ln, "\x1b[0m");
        }
        put_escape(ln, "\x1b[37m");
        put_repeat(ln, "\u2501", done < BAR_WIDTH ? BAR_WIDTH - done : 0);
        put_escape(ln, "\x1b[0m");
    } else {
        snprintf(buf, sizeof buf, "%7lld/Unknown", (long long)current);
        put_text(ln, buf);
    }

    if (pb->target > 0 && !final)
        format_eta(buf, sizeof buf, per_step * (double)(pb->target - current));
    else
        snprintf(buf, sizeof buf, "%.0fs", now - pb->start);
    put_text(ln, " ");
    put_escape(ln, "\x1b[1m");
    put_text(ln, buf);
    put_escape(ln, "\x1b[0m");

    format_per_step(buf, sizeof buf, per_step);
    put_text(ln, buf);

    for (int i = 0; i < pb->shown.n; i++) {
        put_text(ln, " - ");
        put_text(ln, pb->shown.names[i]);
        put_text(ln, ": ");
        format_value(buf, sizeof buf, pb->shown.values[i], 1);
        put_text(ln, buf);
    }
}

/* verbose 2: "32/32 - 1s - 3ms/step - loss: 0.1994\n".  Keras tests v > 1e-3
 * here, without abs, so negative values print as "%.4e". */
static void draw_summary_line(klc_progbar *pb, int64_t current, double now, double per_step)
{
    char buf[512];
    fprintf(pb->out, "%*lld/%lld - %.0fs -", digits_of(pb->target), (long long)current,
            (long long)pb->target, now - pb->start);
    format_per_step(buf, sizeof buf, per_step);
    fputs(buf, pb->out);
    for (int i = 0; i < pb->shown.n; i++) {
        format_value(buf, sizeof buf, pb->shown.values[i], 0);
        fprintf(pb->out, " - %s: %s", pb->shown.names[i], buf);
    }
    fputc('\n', pb->out);
}

/* verbose 1 redraws at most every REDRAW_INTERVAL, measured from the last
 * redraw, and always at the final update. */
static int redraw_due(const klc_progbar *pb, int final, double now)
{
    return final || !(now - pb->last_draw < REDRAW_INTERVAL);
}

int klc_progbar_wants_logs(const klc_progbar *pb, int final, double now)
{
    return pb->verbose == 2 || (pb->verbose == 1 && redraw_due(pb, final, now));
}

void klc_progbar_update(klc_progbar *pb, int64_t current, const klc_logs *logs, int final,
                        double now)
{
    remember_logs(&pb->shown, logs);
    double per_step = step_duration(pb, current, now);

    if (pb->verbose == 1) {
        if (!redraw_due(pb, final, now))
            return;
        if (pb->dynamic) {
            for (int i = 0; i < pb->prev_width; i++)
                fputc('\b', pb->out);
            fputc('\r', pb->out);
        } else {
            fputc('\n', pb->out);
        }
        Line ln = {pb->out, 0};
        draw_bar_line(pb, &ln, current, final, now, per_step);
        for (int i = ln.width; i < pb->prev_width; i++)
            fputc(' ', pb->out);
        if (final)
            fputc('\n', pb->out);
        fflush(pb->out);
        pb->prev_width = ln.width;
    } else if (pb->verbose == 2 && final && pb->target > 0) {
        draw_summary_line(pb, current, now, per_step);
        fflush(pb->out);
    }
    pb->last_draw = now;
}

double klc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int klc_is_terminal(FILE *out)
{
    int fd = fileno(out);
    return fd >= 0 && isatty(fd);
}
