/*
 * test_csv.c — numeric CSV files (runtime/csv.c): layout tolerance, header
 * detection, and a located message for every kind of malformed file.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "klc/runtime.h"

#include "test_util.h"

/* klc_csv_parse of `text` from an exact-size heap copy (no NUL after it). */
static int parse(klc_tensor *t, const char *text)
{
    size_t n = strlen(text);
    char *copy = exact_copy(text, n);
    int rc = klc_csv_parse(t, "d.csv", copy, n);
    free(copy);
    return rc;
}

/* text parses to float32 [rows, cols] holding `want`. */
static void expect_table(const char *text, int64_t rows, int64_t cols, const float *want)
{
    klc_tensor t;
    if (parse(&t, text) != 0)
        fail_msg("refused \"%s\": %s", text, klc_last_error());
    assert_int_equal(t.dtype, KLC_F32);
    assert_int_equal(t.rank, 2);
    assert_int_equal(t.shape[0], rows);
    assert_int_equal(t.shape[1], cols);
    assert_int_equal(t.owns, 1);
    for (int64_t i = 0; i < rows * cols; i++)
        if (((float *)t.data)[i] != want[i])
            fail_msg("\"%s\": value %lld is %g, expected %g", text, (long long)i,
                     (double)((float *)t.data)[i], (double)want[i]);
    klc_tensor_free(&t);
}

static void refuse(const char *text, const char *needle)
{
    klc_tensor t;
    if (parse(&t, text) == 0) {
        klc_tensor_free(&t);
        fail_msg("accepted \"%s\"", text);
    }
    expect_error("d.csv: ");
    expect_error(needle);
    assert_null(t.data);
}

static void test_layouts(void **state)
{
    (void)state;
    static const float six[6] = { 1, 2, 3, 4, 5, 6 };
    expect_table("1,2,3\n4,5,6\n", 2, 3, six);
    expect_table("1,2,3\n4,5,6", 2, 3, six);               /* no final newline */
    expect_table("1,2,3\r\n4,5,6\r\n", 2, 3, six);         /* CRLF */
    expect_table(" 1 ,\t2,3 \n4, 5 ,6\t\n", 2, 3, six);   /* spaces around cells */
    expect_table("\n1,2,3\n\n  \n4,5,6\n\n", 2, 3, six);  /* blank lines */
    expect_table("\xEF\xBB\xBF" "1,2,3\n4,5,6\n", 2, 3, six); /* UTF-8 BOM */
    static const float col[3] = { 7, 8, 9 };
    expect_table("7\n8\n9\n", 3, 1, col);                  /* one column: [rows, 1] */
    static const float one[1] = { 42 };
    expect_table("42", 1, 1, one);
    static const float nums[6] = { -1.5f, 0.25f, 1e-3f, 2.5e3f, 0.1f, 5 };
    expect_table("-1.5,+.25,1e-3\n2.5E+3,0.1,5.\n", 2, 3, nums);
}

static void test_header(void **state)
{
    (void)state;
    static const float six[6] = { 1, 2, 3, 4, 5, 6 };
    expect_table("a,b,c\n1,2,3\n4,5,6\n", 2, 3, six);
    expect_table("\"x 1\", y ,z\r\n1,2,3\r\n4,5,6", 2, 3, six);
    expect_table(",b,c\n1,2,3\n4,5,6\n", 2, 3, six); /* pandas' unnamed index column */
    expect_table("x,1,2\n1,2,3\n4,5,6\n", 2, 3, six); /* one non-number makes a header */
    refuse("a,b,c\n", "no data rows (line 1 is a header");
    refuse("\n\nlabel\n", "no data rows (line 3 is a header");
    refuse("a,b\n1,2\nc,d\n", "line 3, column 1: \"c\" is not a number");
    refuse("a,b,c\n1,2\n", "line 2 has 2 columns, expected 3 (as line 1)");
}

static void test_refused(void **state)
{
    (void)state;
    refuse("", "d.csv: the file is empty");
    refuse("\xEF\xBB\xBF", "the file is empty");
    refuse("\n \r\n\t\n", "the file is empty (only blank lines)");
    refuse("1,2,3\n4,x5,6\n", "d.csv: line 2, column 2: \"x5\" is not a number");
    refuse("1,2,3\n4,5,abc  \n", "line 2, column 3: \"abc\" is not a number");
    refuse("1,2\n\n3,\n", "line 3, column 2: empty cell");
    refuse("1,2\n3,,4\n", "line 2 has 3 columns, expected 2 (as line 1)");
    refuse("1,2,3\n4,5,6\n7,8\n", "line 3 has 2 columns, expected 3 (as line 1)");
    refuse("1,2\n3,4,5,6\n", "line 2 has 4 columns, expected 2");
    refuse("1,2\n3,4,\n", "line 2 has 3 columns");
    refuse("1\n2 3\n", "line 2, column 1: \"2 3\" is not a number");
    refuse("1\nnan\n", "\"nan\" is not a number");
    refuse("1\ninf\n", "\"inf\" is not a number");
    refuse("1\n0x10\n", "\"0x10\" is not a number");
    refuse("1\n1e\n", "\"1e\" is not a number");
    refuse("1\n-\n", "\"-\" is not a number");
    refuse("1\n.\n", "\".\" is not a number");
    refuse("1\n\"2\"\n", "\"\"2\"\" is not a number");
    refuse("1\n2\r3\n", "line 2, column 1");
    refuse("1\n1e39\n", "line 2, column 1: 1e39 is outside the float32 range");
    refuse("1\n-1e999\n", "outside the float32 range");

    /* A number too long to be read is still reported, shortened. */
    char text[400] = "1\n";
    memset(text + 2, '9', 300);
    text[302] = '\0';
    refuse(text, "line 2, column 1: \"9999999999999999999999999999999999999999...\" is not a "
                 "number");
    /* An embedded NUL byte is just a non-numeric character. */
    klc_tensor t;
    assert_int_equal(klc_csv_parse(&t, "d.csv", "1,2\n3,\0", 7), -1);
    expect_error("line 2, column 2");
}

static void test_files(void **state)
{
    (void)state;
    char path[2048];
    klc_tensor t;
    scratch(path, sizeof path, "train.csv");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("feature_a,feature_b\r\n0.5,1\r\n-2,3e2\r\n", fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(klc_csv_load(&t, path), 0);
    assert_int_equal(t.shape[0], 2);
    assert_int_equal(t.shape[1], 2);
    assert_true(((float *)t.data)[3] == 300.0f);
    klc_tensor_free(&t);

    fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("1,2\n3,four\n", fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(klc_csv_load(&t, path), -1);
    expect_error(path);
    expect_error("line 2, column 2: \"four\" is not a number");

    scratch(path, sizeof path, "missing.csv");
    assert_int_equal(klc_csv_load(&t, path), -1);
    expect_error("missing.csv: cannot open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
