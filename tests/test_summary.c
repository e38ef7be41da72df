/*
 * test_summary.c — Keras' model.summary() table (runtime/summary.c).
 *
 * Golden files in tests/data/console/: summary_reference_88.txt is the
 * example of keras-semantics.md §6.5, cut out byte for byte; the others were
 * rendered by the real `rich` (13.3.1) driven the way Keras' print_summary
 * drives it (see tests/data/console/README).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../runtime/summary.h"

/* ------------------------------------------------------------------------- */
/* Helpers */

/* Everything written to a memory stream by `print(out)`, NUL-terminated;
 * the caller frees it. */
typedef struct Capture {
    FILE *f;
    char *buf;
    size_t len;
} Capture;

static void capture_open(Capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

static char *capture_close(Capture *c)
{
    fclose(c->f);
    return c->buf;
}

static char *read_golden(const char *name)
{
    const char *root = getenv("KLC_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/console/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open golden file %s", path);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    fclose(f);
    return text;
}

/* Input → Dense(64) → BatchNormalization → Dropout → Dense(10), after
 * compile(Adam) + fit (keras-semantics.md §6.5). */
static const klc_summary_row reference_rows[] = {
    {"dense", "Dense", "(None, 64)", 50240},
    {"batch_normalization", "BatchNormalization", "(None, 64)", 256},
    {"dropout", "Dropout", "(None, 64)", 0},
    {"dense_1", "Dense", "(None, 10)", 650},
};
/* Adam: m and v for the 51,018 trainable floats, plus the learning rate
 * (a float) and the iteration counter (8 bytes): 102,038 values in
 * 102,037 · 4 + 8 = 408,156 bytes = 398.59 KB. */
static const klc_summary_totals reference_totals = {51018, 128, 102038, 102037 * 4 + 8};

static const klc_summary_row seed_rows[] = {
    {"my_custom_layer", "MyCustomLayer", "(None, 64)", 50176},
    {"activation", "Activation", "(None, 64)", 0},
    {"dense", "Dense", "(None, 10)", 650},
};
static const klc_summary_totals seed_totals = {50826, 0, -1, 0};

static void check_summary(const char *golden, const char *model, const klc_summary_row *rows,
                          int n_rows, const klc_summary_totals *totals, int width)
{
    Capture c;
    capture_open(&c);
    klc_summary_print(c.f, model, rows, n_rows, totals, width);
    char *got = capture_close(&c);
    char *want = read_golden(golden);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

/* ------------------------------------------------------------------------- */
/* Tables */

static void test_reference_table_88(void **state)
{
    (void)state;
    check_summary("summary_reference_88.txt", "sequential", reference_rows, 4, &reference_totals,
                  88);
}

static void test_reference_table_76(void **state)
{
    (void)state;
    check_summary("summary_reference_76.txt", "sequential", reference_rows, 4, &reference_totals,
                  76);
}

/* No optimizer line when the optimizer is not built; 0 prints "0.00 B". */
static void test_seed_table_88(void **state)
{
    (void)state;
    check_summary("summary_seed_88.txt", "seed", seed_rows, 3, &seed_totals, 88);
}

/* The header row wraps too, aligned to the bottom; long words end in "…". */
static void test_narrow_header_wraps_to_bottom(void **state)
{
    (void)state;
    check_summary("summary_reference_34.txt", "sequential", reference_rows, 4, &reference_totals,
                  34);
}

/* A right-aligned line loses its trailing blank ("Param " → " Param"). */
static void test_right_aligned_header_wraps(void **state)
{
    (void)state;
    check_summary("summary_seed_45.txt", "seed", seed_rows, 3, &seed_totals, 45);
}

/* Words longer than a cell are cut with "…" (rich's overflow "ellipsis"),
 * runs of blanks are kept inside a line, negative counts keep their sign. */
static void test_long_cells(void **state)
{
    (void)state;
    static const klc_summary_row rows[] = {
        {"averyveryveryverylonglayernamewithoutanyspaces_at_all", "Dense", "(None, 28, 28, 1)",
         1234567890},
        {"x", "Y", "a  b   c    d", -5},
        {"conv2d_transpose_12", "Conv2DTranspose", "(None, 128, 128, 3)", 0},
        {"e", "Embedding", "(None, 1000000000000000, 2)", 1000},
    };
    static const klc_summary_totals totals = {1234568885, 7, 2469137771LL, 9876551088LL};
    check_summary("summary_long_40.txt", "long", rows, 4, &totals, 40);
}

/* The lines outside the table wrap at the console width (table + 4). */
static void test_totals_wrap_in_narrow_console(void **state)
{
    (void)state;
    check_summary("summary_seed_20.txt", "seed", seed_rows, 3, &seed_totals, 20);
}

/* A model name longer than the console is folded (console.print's "fold"). */
static void test_long_title_folds(void **state)
{
    (void)state;
    static const klc_summary_row rows[] = {{"d", "Dense", "(None, 1)", 2}};
    static const klc_summary_totals totals = {2, 0, -1, 0};
    check_summary("summary_title_24.txt",
                  "a_really_long_model_name_that_goes_on_and_on_and_on_and_on_forever_and_ever_x",
                  rows, 1, &totals, 24);
}

/* No rows: the header, its heavy rule, then the bottom. */
static void test_empty_model(void **state)
{
    (void)state;
    static const klc_summary_totals totals = {0, 0, 1, 8};
    check_summary("summary_empty_60.txt", "empty", NULL, 0, &totals, 60);
}

/* ------------------------------------------------------------------------- */
/* Column widths */

static void check_widths(int width, int a, int b, int c)
{
    int seg[3] = {-1, -1, -1};
    klc_summary_column_widths(width, seg);
    if (seg[0] != a || seg[1] != b || seg[2] != c)
        fail_msg("width %d: got %d/%d/%d, want %d/%d/%d", width, seg[0], seg[1], seg[2], a, b,
                 c);
}

/*
 * By hand: content int(p·W) − previous for p = .45/.80/1.0, plus 2 of
 * padding each; the sum is W + 6 against W − 4 of room, so rich takes
 * round(10/3) = 3, round(7/2) = 4 (half to even), round(3/1) = 3.
 *   88: 39/31/18 → 41/33/20 → 38/29/17     76: 34/26/16 → 36/28/18 → 33/24/15
 *   40: 18/14/8  → 20/16/10 → 17/12/7      60: 27/21/12 → 29/23/14 → 26/19/11
 *  100: 45/35/20 → 47/37/22 → 44/33/19     30: 13/11/6  → 15/13/8  → 12/9/5
 *   16: 7/5/4    → 9/7/6    → 6/3/3
 */
static void test_column_widths(void **state)
{
    (void)state;
    check_widths(88, 38, 29, 17);
    check_widths(76, 33, 24, 15);
    check_widths(40, 17, 12, 7);
    check_widths(60, 26, 19, 11);
    check_widths(100, 44, 33, 19);
    check_widths(30, 12, 9, 5);
    check_widths(16, 6, 3, 3);
    check_widths(5, 6, 3, 3); /* below Keras' minimum: as 16 */
}

/* Each printed table line is as wide as asked (code points). */
static void test_table_lines_have_the_width(void **state)
{
    (void)state;
    for (int width = 16; width <= 120; width++) {
        Capture c;
        capture_open(&c);
        klc_summary_print(c.f, "m", reference_rows, 4, &reference_totals, width);
        char *out = capture_close(&c);
        char *p = strchr(out, '\n') + 1; /* after the Model line */
        for (int line = 1;; line++) {
            char *nl = strchr(p, '\n');
            assert_non_null(nl);
            int cps = 0;
            for (char *q = p; q < nl; q++)
                cps += ((unsigned char)*q & 0xC0) != 0x80;
            if (cps != width)
                fail_msg("width %d, line %d: %d code points", width, line, cps);
            if (strncmp(p, "\u2514", 3) == 0) /* └: the bottom rule */
                break;
            p = nl + 1;
        }
        free(out);
    }
}

/* ------------------------------------------------------------------------- */
/* Numbers and width rule */

static void test_format_thousands(void **state)
{
    (void)state;
    char buf[64];
    static const struct {
        int64_t v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {7, "7"},
        {999, "999"},
        {1000, "1,000"},
        {50826, "50,826"},
        {153184, "153,184"},
        {1234567, "1,234,567"},
        {-1234, "-1,234"},
        {-999, "-999"},
        {INT64_MAX, "9,223,372,036,854,775,807"},
        {INT64_MIN, "-9,223,372,036,854,775,808"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        klc_format_thousands(buf, sizeof buf, cases[i].v);
        assert_string_equal(buf, cases[i].want);
    }
    klc_format_thousands(buf, 4, 1234567); /* truncated, still terminated */
    assert_string_equal(buf, "1,2");
}

static void test_format_bytes(void **state)
{
    (void)state;
    char buf[64];
    static const struct {
        double bytes;
        const char *want;
    } cases[] = {
        {0, "0.00 B"},
        {512, "512.00 B"},
        {1023, "1023.00 B"},
        {1024, "1.00 KB"},
        {203304, "198.54 KB"},     /* 50,826 floats */
        {408156, "398.59 KB"},     /* Adam's 102,038 values */
        {612740, "598.38 KB"},     /* the reference total */
        {1048575, "1024.00 KB"},   /* 1023.999 KB rounds up but stays KB */
        {1048576, "1.00 MB"},
        {4.0 * 1234568885, "4.60 GB"},
        {1125899906842624.0, "1.00 PB"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        klc_format_bytes(buf, sizeof buf, cases[i].bytes);
        assert_string_equal(buf, cases[i].want);
    }
}

static int width_with_columns(const char *columns)
{
    if (columns)
        setenv("COLUMNS", columns, 1);
    else
        unsetenv("COLUMNS");
    FILE *f = tmpfile(); /* not a terminal */
    assert_non_null(f);
    int w = klc_summary_width(f);
    fclose(f);
    return w;
}

/* min(88, columns − 4): $COLUMNS when a positive number, else the terminal
 * (none here), else 80. */
static void test_summary_width(void **state)
{
    (void)state;
    assert_int_equal(width_with_columns("200"), 88);
    assert_int_equal(width_with_columns("92"), 88);
    assert_int_equal(width_with_columns("91"), 87);
    assert_int_equal(width_with_columns("50"), 46);
    assert_int_equal(width_with_columns(" 60 "), 56); /* Python's int() allows blanks */
    assert_int_equal(width_with_columns("abc"), 76);
    assert_int_equal(width_with_columns("60x"), 76);
    assert_int_equal(width_with_columns("0"), 76);
    assert_int_equal(width_with_columns("-5"), 76);
    assert_int_equal(width_with_columns(""), 76);
    assert_int_equal(width_with_columns(NULL), 76);
}

/* width 0 takes Keras' choice from the environment. */
static void test_width_zero_uses_the_rule(void **state)
{
    (void)state;
    setenv("COLUMNS", "80", 1);
    check_summary("summary_reference_76.txt", "sequential", reference_rows, 4, &reference_totals,
                  0);
    setenv("COLUMNS", "120", 1);
    check_summary("summary_reference_88.txt", "sequential", reference_rows, 4, &reference_totals,
                  0);
    unsetenv("COLUMNS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_table_88),
        cmocka_unit_test(test_reference_table_76),
        cmocka_unit_test(test_seed_table_88),
        cmocka_unit_test(test_narrow_header_wraps_to_bottom),
        cmocka_unit_test(test_right_aligned_header_wraps),
        cmocka_unit_test(test_long_cells),
        cmocka_unit_test(test_totals_wrap_in_narrow_console),
        cmocka_unit_test(test_long_title_folds),
        cmocka_unit_test(test_empty_model),
        cmocka_unit_test(test_column_widths),
        cmocka_unit_test(test_table_lines_have_the_width),
        cmocka_unit_test(test_format_thousands),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_summary_width),
        cmocka_unit_test(test_width_zero_uses_the_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
