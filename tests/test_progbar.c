/*
 * test_progbar.c — Keras' progress bar (runtime/progbar.c).
 *
 * Every expected string is written out in full: the ANSI escapes, the
 * '\b'/'\r' of a dynamic redraw, the '\n' of a plain one and the padding
 * spaces.  Times are passed in, so the outputs are exact.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../runtime/progbar.h"

#define BOLD "\x1b[1m"
#define OFF "\x1b[0m"
#define GREEN "\x1b[32m"
#define WHITE "\x1b[37m"
#define BAR2 "━━"
#define BAR5 "━━━━━"
#define BAR10 "━━━━━━━━━━"
#define BAR15 BAR10 BAR5
#define BAR20 BAR10 BAR10

/* ------------------------------------------------------------------------- */
/* Helpers */

typedef struct Capture {
    FILE *f;
    char *buf;
    size_t len;
} Capture;

static FILE *capture_open(Capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
    return c->f;
}

static char *capture_close(Capture *c)
{
    fclose(c->f);
    return c->buf;
}

/* An expected output assembled from pieces, for the runs of '\b'. */
typedef struct Expect {
    char text[4096];
} Expect;

static void add(Expect *e, const char *s)
{
    strncat(e->text, s, sizeof e->text - strlen(e->text) - 1);
}

static void add_backspaces(Expect *e, int n)
{
    for (int i = 0; i < n; i++)
        add(e, "\b");
}

static klc_logs make_logs(int n, const char *const *names, const double *values)
{
    klc_logs logs;
    memset(&logs, 0, sizeof logs);
    logs.n = n;
    for (int i = 0; i < n; i++) {
        snprintf(logs.names[i], KLC_MAX_NAME, "%s", names[i]);
        logs.values[i] = values[i];
    }
    return logs;
}

static klc_logs loss_logs(double v)
{
    static const char *const names[] = {"loss"};
    return make_logs(1, names, &v);
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

/* ------------------------------------------------------------------------- */
/* Numbers */

static void test_format_log_value(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.0, "0.0000e+00"},
        {1e-3, "1.0000e-03"}, /* |v| > 1e-3 is strict */
        {0.0011, "0.0011"},
        {0.1994, "0.1994"},
        {0.96625, "0.9663"}, /* the nearest double is above the half */
        {-0.0005, "-5.0000e-04"},
        {-2.5, "-2.5000"},
        {1234.56789, "1234.5679"},
        {1e-12, "1.0000e-12"},
        {INFINITY, "inf"},
        {-INFINITY, "-inf"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        klc_format_log_value(buf, sizeof buf, cases[i].v);
        assert_string_equal(buf, cases[i].want);
    }
    /* Python prints "nan" whatever the sign bit (glibc would say "-nan"). */
    klc_format_log_value(buf, sizeof buf, NAN);
    assert_string_equal(buf, "nan");
    klc_format_log_value(buf, sizeof buf, -NAN);
    assert_string_equal(buf, "nan");
}

static void test_epoch_line(void **state)
{
    (void)state;
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar_epoch(f, 2, 5); /* initial_epoch=2, epochs=5 */
    klc_progbar_epoch(f, 0, 1); /* one epoch: no line, as Keras */
    klc_progbar_epoch(f, 0, 3);
    char *out = capture_close(&c);
    assert_string_equal(out, "Epoch 3/5\nEpoch 1/3\n");
    free(out);
}

/* ------------------------------------------------------------------------- */
/* verbose 1 */

/*
 * 32 steps on a terminal.  Step 1 ends at 0.5 s; step 2 comes 0.02 s after
 * the first draw and is not drawn; step 16 at 2.0 s: (2.0 − 0.5) / 15 =
 * 100 ms/step, ETA 16 · 0.1 = 1.6 s → "1s"; the final update at 3.5 s shows
 * the elapsed 3.5 → "4s" (half to even) and 3.0 / 31 = 97 ms/step.
 * Widths: 56, then 55 (padded with one space), then 58.
 */
static void run_32_steps(FILE *f, int dynamic)
{
    klc_progbar pb;
    klc_progbar_init(&pb, f, 32, 1, dynamic, 0.0);
    klc_logs logs = loss_logs(0.5);
    klc_progbar_update(&pb, 1, &logs, 0, 0.5);
    logs = loss_logs(0.25);
    klc_progbar_update(&pb, 2, &logs, 0, 0.52);
    logs = loss_logs(0.125);
    klc_progbar_update(&pb, 16, &logs, 0, 2.0);
    logs = loss_logs(0.0001);
    klc_progbar_update(&pb, 32, &logs, 1, 3.5);
}

#define LINE_1 BOLD " 1/32" OFF " " WHITE BAR20 OFF " " BOLD "15s" OFF " 500ms/step - loss: 0.5000"
#define LINE_16                                                                                   \
    BOLD "16/32" OFF " " GREEN BAR10 OFF WHITE BAR10 OFF " " BOLD "1s" OFF                        \
         " 100ms/step - loss: 0.1250"
#define LINE_32                                                                                   \
    BOLD "32/32" OFF " " GREEN BAR20 OFF WHITE OFF " " BOLD "4s" OFF " 97ms/step - loss: 1.0000e-04"

static void test_dynamic_redraws(void **state)
{
    (void)state;
    Capture c;
    run_32_steps(capture_open(&c), 1);
    char *out = capture_close(&c);

    Expect e = {""};
    add(&e, "\r" LINE_1);
    add_backspaces(&e, 56);
    add(&e, "\r" LINE_16 " ");
    add_backspaces(&e, 55);
    add(&e, "\r" LINE_32 "\n");
    assert_string_equal(out, e.text);
    free(out);
}

/* Not a terminal: each redraw starts a new line instead; padding as well. */
static void test_plain_redraws(void **state)
{
    (void)state;
    Capture c;
    run_32_steps(capture_open(&c), 0);
    char *out = capture_close(&c);
    assert_string_equal(out, "\n" LINE_1 "\n" LINE_16 " \n" LINE_32 "\n");
    free(out);
}

/* At most one redraw per 0.05 s, measured from the last redraw (not the
 * last update); the final update always draws. */
static void test_throttle(void **state)
{
    (void)state;
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 10, 1, 1, 0.0);
    klc_progbar_update(&pb, 1, NULL, 0, 0.0);    /* first: drawn */
    klc_progbar_update(&pb, 2, NULL, 0, 0.03);   /* 0.03 after: skipped */
    klc_progbar_update(&pb, 3, NULL, 0, 0.05);   /* 0.05 after the draw: drawn */
    klc_progbar_update(&pb, 4, NULL, 0, 0.09);   /* skipped */
    klc_progbar_update(&pb, 5, NULL, 0, 0.0999); /* skipped */
    klc_progbar_update(&pb, 6, NULL, 0, 0.1);    /* drawn */
    klc_progbar_update(&pb, 7, NULL, 0, 0.1001); /* skipped */
    klc_progbar_update(&pb, 10, NULL, 1, 0.11);  /* final: drawn */
    char *out = capture_close(&c);

    assert_int_equal(count_char(out, '\r'), 4);
    assert_non_null(strstr(out, BOLD " 1/10" OFF));
    assert_non_null(strstr(out, BOLD " 3/10" OFF));
    assert_non_null(strstr(out, BOLD " 6/10" OFF));
    assert_non_null(strstr(out, BOLD "10/10" OFF));
    assert_null(strstr(out, " 2/10"));
    assert_null(strstr(out, " 4/10"));
    assert_null(strstr(out, " 5/10"));
    assert_null(strstr(out, " 7/10"));
    /* the skipped steps still count for the per-step time: (0.11 − 0) / 9 */
    assert_non_null(strstr(out, BOLD "0s" OFF " 12ms/step\n"));
    assert_int_equal(count_char(out, '\n'), 1);
    free(out);
}

/* klc_progbar_wants_logs says when an update reads its logs: at verbose 1
 * exactly the updates that redraw, at verbose 2 all, at verbose 0 none.  A
 * caller with the same keys every step that passes NULL to the others shows
 * exactly what it shows passing every step's logs. */
static void test_wants_logs(void **state)
{
    (void)state;
    static const double times[] = {0.0, 0.03, 0.05, 0.09, 0.0999, 0.1, 0.1001, 0.11};
    static const int drawn[] = {1, 0, 1, 0, 0, 1, 0, 1};
    static const char *const names[] = {"accuracy", "loss"};
    char *outs[2];
    for (int skip = 0; skip < 2; skip++) {
        Capture c;
        klc_progbar pb;
        klc_progbar_init(&pb, capture_open(&c), 8, 1, 1, 0.0);
        for (int i = 0; i < 8; i++) {
            int final = i == 7;
            assert_int_equal(klc_progbar_wants_logs(&pb, final, times[i]), drawn[i]);
            double values[2] = {0.125 * i, 1.0 / (i + 1)};
            klc_logs logs = make_logs(2, names, values);
            int pass = !skip || klc_progbar_wants_logs(&pb, final, times[i]);
            klc_progbar_update(&pb, i + 1, pass ? &logs : NULL, final, times[i]);
        }
        outs[skip] = capture_close(&c);
    }
    assert_string_equal(outs[0], outs[1]);
    assert_non_null(strstr(outs[0], " - accuracy: 0.8750 - loss: 0.1250\n"));
    free(outs[0]);
    free(outs[1]);

    klc_progbar pb;
    klc_progbar_init(&pb, stdout, 8, 2, 0, 0.0);
    assert_true(klc_progbar_wants_logs(&pb, 0, 0.0));
    klc_progbar_update(&pb, 1, NULL, 0, 0.0);
    assert_true(klc_progbar_wants_logs(&pb, 0, 0.01));
    klc_progbar_init(&pb, stdout, 8, 0, 0, 0.0);
    assert_false(klc_progbar_wants_logs(&pb, 0, 0.0));
    assert_false(klc_progbar_wants_logs(&pb, 1, 1.0));
}

/* The first draw of a target-2 bar at step 1, `now` seconds after init:
 * per-step time = now, ETA = now. */
static char *half_bar_at(double now)
{
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 2, 1, 1, 0.0);
    klc_progbar_update(&pb, 1, NULL, 0, now);
    return capture_close(&c);
}

#define HALF_BAR "\r" BOLD "1/2" OFF " " GREEN BAR10 OFF WHITE BAR10 OFF " "

static void check_eta(double now, const char *want)
{
    char *out = half_bar_at(now);
    assert_string_equal(out, want);
    free(out);
}

/* "%ds" up to 60 s, "m:ss" above, "h:mm:ss" above 3600 s; truncated. */
static void test_eta_formats(void **state)
{
    (void)state;
    check_eta(59.999, HALF_BAR BOLD "59s" OFF " 60s/step");
    check_eta(60.0, HALF_BAR BOLD "60s" OFF " 60s/step");
    check_eta(60.5, HALF_BAR BOLD "1:00" OFF " 60s/step"); /* 60.5 → 60, half to even */
    check_eta(61.5, HALF_BAR BOLD "1:01" OFF " 62s/step");
    check_eta(3600.0, HALF_BAR BOLD "60:00" OFF " 3600s/step");
    check_eta(3600.5, HALF_BAR BOLD "1:00:00" OFF " 3600s/step");
    check_eta(3725.75, HALF_BAR BOLD "1:02:05" OFF " 3726s/step");
    check_eta(36000.0, HALF_BAR BOLD "10:00:00" OFF " 36000s/step");
}

/* " Nus/step" under 1 ms, " 0s/step" for exactly 0; digits of 1000 = 4. */
static void test_per_step_units(void **state)
{
    (void)state;
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 1000, 1, 1, 0.0);
    klc_progbar_update(&pb, 1, NULL, 0, 0.0005);
    char *out = capture_close(&c);
    assert_string_equal(out, "\r" BOLD "   1/1000" OFF " " WHITE BAR20 OFF " " BOLD "0s" OFF
                             " 500us/step");
    free(out);

    f = capture_open(&c);
    klc_progbar_init(&pb, f, 4, 1, 1, 3.0);
    klc_progbar_update(&pb, 1, NULL, 0, 3.0);
    out = capture_close(&c);
    assert_string_equal(out, "\r" BOLD "1/4" OFF " " GREEN BAR5 OFF WHITE BAR15 OFF " " BOLD
                             "0s" OFF " 0s/step");
    free(out);
}

/* The first step (slow: tracing, warm-up) is left out of the estimate:
 * (8.25 − 8.0) / 2 = 125 ms, not 8.25 / 3. */
static void test_first_step_excluded(void **state)
{
    (void)state;
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 4, 1, 1, 0.0);
    klc_progbar_update(&pb, 1, NULL, 0, 8.0);
    klc_progbar_update(&pb, 3, NULL, 0, 8.25);
    char *out = capture_close(&c);

    Expect e = {""};
    add(&e, "\r" BOLD "1/4" OFF " " GREEN BAR5 OFF WHITE BAR15 OFF " " BOLD "24s" OFF " 8s/step");
    add_backspaces(&e, 36);
    add(&e, "\r" BOLD "3/4" OFF " " GREEN BAR15 OFF WHITE BAR5 OFF " " BOLD "0s" OFF
            " 125ms/step");
    assert_string_equal(out, e.text);
    free(out);
}

/* int(20 · 1/3) = 6 green, 14 white; a one-step bar's final line. */
static void test_bar_fill_and_single_step(void **state)
{
    (void)state;
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 3, 1, 0, 0.0);
    klc_progbar_update(&pb, 1, NULL, 0, 0.25);
    char *out = capture_close(&c);
    assert_string_equal(out, "\n" BOLD "1/3" OFF " " GREEN "━━━━━━" OFF WHITE "━━━━━━━━━━━━━━" OFF
                             " " BOLD "0s" OFF " 250ms/step");
    free(out);

    f = capture_open(&c);
    klc_progbar_init(&pb, f, 1, 1, 1, 0.0);
    klc_progbar_update(&pb, 1, NULL, 1, 0.3);
    out = capture_close(&c);
    assert_string_equal(out, "\r" BOLD "1/1" OFF " " GREEN BAR20 OFF WHITE OFF " " BOLD "0s" OFF
                             " 300ms/step\n");
    free(out);
}

/* Keys keep their first-seen order (val_* come last even when a training
 * key sorts after them); a key missing from a later update keeps showing
 * its last value; negative values keep "%.4f" in verbose 1. */
static void test_metric_order_and_values(void **state)
{
    (void)state;
    static const char *const first[] = {"accuracy", "loss", "zeta"};
    static const double first_v[] = {0.5, 0.25, 2.0};
    static const char *const last[] = {"accuracy", "loss", "val_loss", "zeta"};
    static const double last_v[] = {0.75, -0.125, 0.0, 3.0};
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 2, 1, 0, 0.0);
    klc_logs logs = make_logs(3, first, first_v);
    klc_progbar_update(&pb, 1, &logs, 0, 1.0);
    logs = make_logs(4, last, last_v);
    klc_progbar_update(&pb, 2, &logs, 1, 2.0);
    char *out = capture_close(&c);
    assert_string_equal(out,
                        "\n" BOLD "1/2" OFF " " GREEN BAR10 OFF WHITE BAR10 OFF " " BOLD "1s" OFF
                        " 1s/step - accuracy: 0.5000 - loss: 0.2500 - zeta: 2.0000"
                        "\n" BOLD "2/2" OFF " " GREEN BAR20 OFF WHITE OFF " " BOLD "2s" OFF
                        " 1s/step - accuracy: 0.7500 - loss: -0.1250 - zeta: 3.0000"
                        " - val_loss: 0.0000e+00\n");
    free(out);

    static const char *const two[] = {"loss", "x"};
    static const double two_v[] = {1.0, 2.0};
    f = capture_open(&c);
    klc_progbar_init(&pb, f, 2, 1, 0, 0.0);
    logs = make_logs(2, two, two_v);
    klc_progbar_update(&pb, 1, &logs, 0, 1.0);
    logs = loss_logs(0.5);
    klc_progbar_update(&pb, 2, &logs, 1, 2.0);
    out = capture_close(&c);
    assert_non_null(strstr(out, " 1s/step - loss: 0.5000 - x: 2.0000\n"));
    free(out);
}

/* Widths count characters, not bytes: "λ" is one column. */
static void test_width_counts_code_points(void **state)
{
    (void)state;
    static const char *const names[] = {"\u03bb"};
    static const double values[] = {1.0};
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 2, 1, 1, 0.0);
    klc_logs logs = make_logs(1, names, values);
    klc_progbar_update(&pb, 1, &logs, 0, 1.0);
    klc_progbar_update(&pb, 2, NULL, 1, 2.0);
    char *out = capture_close(&c);
    /* "1/2" 3 + " " 1 + bar 20 + " 1s" 3 + " 1s/step" 8 + " - λ: 1.0000" 12 = 47 */
    assert_int_equal(count_char(out, '\b'), 47);
    assert_non_null(strstr(out, " 1s/step - \u03bb: 1.0000\n"));
    free(out);
}

/* Unknown target: "%7d/Unknown" and the elapsed time, no bar. */
static void test_unknown_target(void **state)
{
    (void)state;
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 0, 1, 1, 0.0);
    klc_progbar_update(&pb, 5, NULL, 0, 1.0);
    klc_progbar_update(&pb, 6, NULL, 1, 2.0);
    char *out = capture_close(&c);
    Expect e = {""};
    add(&e, "\r      5/Unknown " BOLD "1s" OFF " 200ms/step");
    add_backspaces(&e, 29);
    add(&e, "\r      6/Unknown " BOLD "2s" OFF " 333ms/step\n");
    assert_string_equal(out, e.text);
    free(out);
}

/* ------------------------------------------------------------------------- */
/* verbose 2 and 0 */

/* One line at the end; values print "%.4f" only when v > 1e-3, so a
 * negative value prints "%.4e" here (Keras has no abs() in this branch). */
static void test_verbose_2(void **state)
{
    (void)state;
    static const char *const names[] = {"loss", "neg"};
    static const double values[] = {0.125, -0.5};
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 32, 2, 1, 0.0);
    klc_logs logs = loss_logs(0.5);
    klc_progbar_update(&pb, 1, &logs, 0, 0.5);
    klc_progbar_update(&pb, 16, &logs, 0, 2.0);
    logs = make_logs(2, names, values);
    klc_progbar_update(&pb, 32, &logs, 1, 3.5);
    char *out = capture_close(&c);
    assert_string_equal(out, "32/32 - 4s - 97ms/step - loss: 0.1250 - neg: -5.0000e-01\n");
    free(out);

    /* unknown target: nothing, as Keras */
    f = capture_open(&c);
    klc_progbar_init(&pb, f, 0, 2, 1, 0.0);
    klc_progbar_update(&pb, 3, NULL, 1, 1.0);
    out = capture_close(&c);
    assert_string_equal(out, "");
    free(out);
}

static void test_verbose_0(void **state)
{
    (void)state;
    Capture c;
    FILE *f = capture_open(&c);
    klc_progbar pb;
    klc_progbar_init(&pb, f, 3, 0, 1, 0.0);
    klc_logs logs = loss_logs(0.5);
    klc_progbar_update(&pb, 1, &logs, 0, 0.5);
    klc_progbar_update(&pb, 3, &logs, 1, 1.5);
    char *out = capture_close(&c);
    assert_string_equal(out, "");
    free(out);
}

/* ------------------------------------------------------------------------- */

static void test_clock_and_terminal(void **state)
{
    (void)state;
    double a = klc_now(), b = klc_now();
    assert_true(b >= a);
    assert_true(a > 0);
    Capture c;
    FILE *f = capture_open(&c);
    assert_int_equal(klc_is_terminal(f), 0);
    free(capture_close(&c));
    f = tmpfile();
    assert_non_null(f);
    assert_int_equal(klc_is_terminal(f), 0);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_log_value),
        cmocka_unit_test(test_epoch_line),
        cmocka_unit_test(test_dynamic_redraws),
        cmocka_unit_test(test_plain_redraws),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_wants_logs),
        cmocka_unit_test(test_eta_formats),
        cmocka_unit_test(test_per_step_units),
        cmocka_unit_test(test_first_step_excluded),
        cmocka_unit_test(test_bar_fill_and_single_step),
        cmocka_unit_test(test_metric_order_and_values),
        cmocka_unit_test(test_width_counts_code_points),
        cmocka_unit_test(test_unknown_target),
        cmocka_unit_test(test_verbose_2),
        cmocka_unit_test(test_verbose_0),
        cmocka_unit_test(test_clock_and_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
