/*
 * test_scanner.c — the Flex scanner (grammar/klc.l): token kinds, values,
 * byte-offset locations, numbers, strings and their escapes, comments, and
 * lexical errors (each reported once, the offending text skipped).
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/diag.h"
#include "front/parse.h"
#include "base/source.h"
#include "klc_parser.h"
#include "klc_lexer.h"

typedef struct Tok {
    int kind;
    const char *value; /* for identifiers, literals and reductions */
    int start, end;
} Tok;

/* The scanned tokens of src, the errors reported and the diagnostics' text. */
typedef struct Scan {
    Arena *arena;
    Tok toks[256];
    int n;
    int errors;
    char *diag;
} Scan;

static Scan *scan_n(const char *src, size_t len)
{
    Scan *s = calloc(1, sizeof *s);
    s->arena = arena_new();
    size_t diag_len;
    FILE *out = open_memstream(&s->diag, &diag_len);
    Diag *d = diag_new(s->arena, out);
    ParseState ps;
    memset(&ps, 0, sizeof ps);
    ps.ast.arena = s->arena;
    ps.ast.file = source_from_memory(s->arena, "t.kl", src, len);
    ps.diag = d;
    yyscan_t scanner;
    assert_int_equal(klylex_init_extra(&ps, &scanner), 0);
    YY_BUFFER_STATE buf = kly_scan_bytes(src, (int)len, scanner);
    KLYSTYPE lval;
    KLYLTYPE lloc;
    int kind;
    while ((kind = klylex(&lval, &lloc, scanner)) != 0 && s->n < 256) {
        Tok *t = &s->toks[s->n++];
        t->kind = kind;
        t->value = kind == IDENT || kind == INT || kind == FLOAT || kind == STRING || kind == REDUCE ? lval.str : NULL;
        t->start = lloc.start;
        t->end = lloc.end;
    }
    kly_delete_buffer(buf, scanner);
    klylex_destroy(scanner);
    diag_finish(d);
    fclose(out);
    s->errors = ps.errors;
    return s;
}

static Scan *scan(const char *src)
{
    return scan_n(src, strlen(src));
}

static void scan_free(Scan *s)
{
    arena_free(s->arena);
    free(s->diag);
    free(s);
}

static void expect_kinds(const Scan *s, const int *kinds, int n)
{
    for (int i = 0; i < n && i < s->n; i++)
        if (s->toks[i].kind != kinds[i])
            fail_msg("token %d: kind %d, want %d", i, s->toks[i].kind, kinds[i]);
    assert_int_equal(s->n, n);
}

static void test_keywords(void **state)
{
    (void)state;
    Scan *s = scan("layer build call return if else import def true True false False None");
    const int want[] = {LAYER, BUILD, CALL, RETURN, IF, ELSE, IMPORT, DEF, TRUE, TRUE, FALSE, FALSE, NONE};
    expect_kinds(s, want, 13);
    assert_int_equal(s->errors, 0);
    scan_free(s);

    /* the reductions are keywords with their name as value; longer names are identifiers */
    s = scan("sum mean max min summary maximum layers _ x1 Dense");
    const int want2[] = {REDUCE, REDUCE, REDUCE, REDUCE, IDENT, IDENT, IDENT, IDENT, IDENT, IDENT};
    expect_kinds(s, want2, 10);
    const char *values[] = {"sum", "mean", "max", "min", "summary", "maximum", "layers", "_", "x1", "Dense"};
    for (int i = 0; i < 10; i++)
        assert_string_equal(s->toks[i].value, values[i]);
    scan_free(s);

    /* Python's spellings that are not klc's */
    s = scan("and or not NULL null");
    for (int i = 0; i < s->n; i++)
        assert_int_equal(s->toks[i].kind, IDENT);
    assert_int_equal(s->n, 5);
    scan_free(s);
}

static void test_operators(void **state)
{
    (void)state;
    Scan *s = scan("** // == != <= >= && || ... ( ) [ ] { } - + * / % @ < > = ! ? : ; , .");
    const int want[] = {POW, FLOORDIV, EQ, NE, LE, GE, AND, OR, ELLIPSIS, '(', ')', '[', ']', '{', '}',
                        '-', '+', '*', '/', '%', '@', '<', '>', '=', '!', '?', ':', ';', ',', '.'};
    expect_kinds(s, want, (int)(sizeof want / sizeof want[0]));
    assert_int_equal(s->errors, 0);
    scan_free(s);

    /* longest match: *** is ** then *, //= is // then =, .... is ... then . */
    s = scan("*** //= .... a.b");
    const int want2[] = {POW, '*', FLOORDIV, '=', ELLIPSIS, '.', IDENT, '.', IDENT};
    expect_kinds(s, want2, 9);
    scan_free(s);
}

static void test_numbers(void **state)
{
    (void)state;
    Scan *s = scan("0 42 007 9223372036854775807 1.5 1. .5 1e3 1E-3 2.5e+10 3.e2");
    const int want[] = {INT, INT, INT, INT, FLOAT, FLOAT, FLOAT, FLOAT, FLOAT, FLOAT, FLOAT};
    expect_kinds(s, want, 11);
    const char *values[] = {"0", "42", "007", "9223372036854775807", "1.5", "1.", ".5", "1e3", "1E-3", "2.5e+10",
                            "3.e2"};
    for (int i = 0; i < 11; i++)
        assert_string_equal(s->toks[i].value, values[i]);
    assert_int_equal(s->errors, 0);
    scan_free(s);

    /* a minus sign is an operator, not part of the literal */
    s = scan("-1 - 2.0");
    const int want2[] = {'-', INT, '-', FLOAT};
    expect_kinds(s, want2, 4);
    scan_free(s);

    /* too large for int64: one error, the literal reads as 0 */
    s = scan("x = 9223372036854775808;");
    assert_int_equal(s->errors, 1);
    assert_non_null(strstr(s->diag, "t.kl:1:5: error: integer literal 9223372036854775808 is too large"));
    assert_int_equal(s->toks[2].kind, INT);
    assert_string_equal(s->toks[2].value, "0");
    scan_free(s);

    /* digits running into letters */
    s = scan("12abc 3e");
    assert_int_equal(s->errors, 2);
    assert_non_null(strstr(s->diag, "error: invalid number '12abc'"));
    assert_non_null(strstr(s->diag, "error: invalid number '3e'"));
    assert_int_equal(s->n, 2);
    assert_int_equal(s->toks[0].kind, INT);
    scan_free(s);

    /* an exponent sign without digits: the number ends before the 'e' */
    s = scan("1e+");
    assert_true(s->errors >= 1);
    scan_free(s);
}

static void test_strings(void **state)
{
    (void)state;
    Scan *s = scan("\"relu\" 'adam' \"\" \"a\\nb\\tc\\\\d\\\"e\\'f\" 'it\\'s' \"# not a comment\"");
    const char *values[] = {"relu", "adam", "", "a\nb\tc\\d\"e'f", "it's", "# not a comment"};
    assert_int_equal(s->n, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(s->toks[i].kind, STRING);
        assert_string_equal(s->toks[i].value, values[i]);
    }
    assert_int_equal(s->errors, 0);
    scan_free(s);

    s = scan("\"a\\qb\"");
    assert_int_equal(s->errors, 1);
    assert_non_null(strstr(s->diag, "error: unknown escape sequence '\\q' in string"));
    assert_string_equal(s->toks[0].value, "aqb");
    scan_free(s);

    s = scan("\"a\\0b\"");
    assert_int_equal(s->errors, 1);
    assert_non_null(strstr(s->diag, "strings cannot contain NUL characters"));
    assert_string_equal(s->toks[0].value, "ab");
    scan_free(s);

    /* unterminated, at the end of a line and at the end of the file */
    s = scan("x = \"abc\ny = 'de");
    assert_int_equal(s->errors, 2);
    assert_non_null(strstr(s->diag, "t.kl:1:5: error: missing terminating \" character"));
    assert_non_null(strstr(s->diag, "t.kl:2:5: error: missing terminating ' character"));
    const int want[] = {IDENT, '=', STRING, IDENT, '=', STRING};
    expect_kinds(s, want, 6);
    scan_free(s);

    /* a string does not span lines */
    s = scan("\"a\nb\"");
    assert_int_equal(s->errors, 2);
    scan_free(s);
}

static void test_comments_and_space(void **state)
{
    (void)state;
    Scan *s = scan("x # a comment ; ( [\n\t y\r\n# another\f\v\n z # no newline at the end");
    const int want[] = {IDENT, IDENT, IDENT};
    expect_kinds(s, want, 3);
    assert_int_equal(s->errors, 0);
    scan_free(s);

    s = scan("");
    assert_int_equal(s->n, 0);
    scan_free(s);
    s = scan("# only\n# comments");
    assert_int_equal(s->n, 0);
    scan_free(s);
}

static void test_locations(void **state)
{
    (void)state;
    /* byte offsets, half-open, counting every byte (tabs, newlines, UTF-8 in comments) */
    Scan *s = scan("  foo\n\tbar(1.5)\n# \xc3\xa9t\xc3\xa9\n**x");
    const int starts[] = {2, 7, 10, 11, 14, 24, 26};
    const int ends[] = {5, 10, 11, 14, 15, 26, 27};
    assert_int_equal(s->n, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(s->toks[i].start, starts[i]);
        assert_int_equal(s->toks[i].end, ends[i]);
    }
    scan_free(s);

    /* a string's location covers its quotes */
    s = scan("f(\"ab\\n\")");
    assert_int_equal(s->toks[2].kind, STRING);
    assert_int_equal(s->toks[2].start, 2);
    assert_int_equal(s->toks[2].end, 8);
    scan_free(s);
}

static void test_bad_characters(void **state)
{
    (void)state;
    Scan *s = scan("x = $;\ny = `a`;");
    assert_int_equal(s->errors, 3);
    assert_non_null(strstr(s->diag, "t.kl:1:5: error: stray '$' in program"));
    assert_non_null(strstr(s->diag, "t.kl:2:5: error: stray '`' in program"));
    assert_non_null(strstr(s->diag, "t.kl:2:7: error: stray '`' in program"));
    /* the stray characters are skipped: the rest scans as usual */
    const int want[] = {IDENT, '=', ';', IDENT, '=', IDENT, ';'};
    expect_kinds(s, want, 7);
    scan_free(s);

    /* control bytes by number; a run of non-ASCII bytes is one error */
    static const char mixed[] = "a\x01 b \xc3\xa9\xc3\xa9 c\x7f";
    s = scan_n(mixed, sizeof mixed - 1);
    assert_int_equal(s->errors, 3);
    assert_non_null(strstr(s->diag, "error: stray byte 0x01 in program"));
    assert_non_null(strstr(s->diag, "t.kl:1:6: error: stray non-ASCII bytes in program"));
    assert_non_null(strstr(s->diag, "error: stray byte 0x7f in program"));
    const int want2[] = {IDENT, IDENT, IDENT};
    expect_kinds(s, want2, 3);
    scan_free(s);

    /* a NUL byte in the middle of the text does not end it */
    s = scan_n("a\0b", 3);
    assert_int_equal(s->errors, 1);
    assert_non_null(strstr(s->diag, "stray byte 0x00 in program"));
    assert_int_equal(s->n, 2);
    assert_string_equal(s->toks[1].value, "b");
    scan_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords),           cmocka_unit_test(test_operators),
        cmocka_unit_test(test_numbers),            cmocka_unit_test(test_strings),
        cmocka_unit_test(test_comments_and_space), cmocka_unit_test(test_locations),
        cmocka_unit_test(test_bad_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
