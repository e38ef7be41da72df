/*
 * test_diag.c — the diagnostics renderer (compiler/diag.c, source.c):
 * file:line:col headers, source excerpts with caret ranges, tabs and UTF-8
 * columns, long lines, control bytes, identical errors dropped, notes,
 * context notes with their suffix, errors in the prelude moved to the user's
 * site, and the error limit.
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
#include "base/source.h"

typedef struct Fixture {
    Arena *arena;
    FILE *out;
    char *text;
    size_t len;
    Diag *d;
    SourceFile *f;
} Fixture;

static Fixture *open_fixture(const char *src)
{
    Fixture *x = calloc(1, sizeof *x);
    x->arena = arena_new();
    x->out = open_memstream(&x->text, &x->len);
    x->d = diag_new(x->arena, x->out);
    x->f = source_from_memory(x->arena, "m.kl", src, strlen(src));
    return x;
}

/* Finish and return everything printed (the fixture is freed by close_fixture). */
static const char *output(Fixture *x)
{
    diag_finish(x->d);
    fflush(x->out);
    return x->text;
}

static void close_fixture(Fixture *x)
{
    fclose(x->out);
    free(x->text);
    arena_free(x->arena);
    free(x);
}

static SrcLoc at(Fixture *x, const char *needle, int len)
{
    const char *p = strstr(x->f->text, needle);
    assert_non_null(p);
    int32_t s = (int32_t)(p - x->f->text);
    return (SrcLoc){x->f, s, s + len};
}

static void expect_output(Fixture *x, const char *want)
{
    const char *got = output(x);
    if (strcmp(got, want) != 0)
        fail_msg("--- got:\n%s--- want:\n%s", got, want);
}

static void test_caret_range(void **state)
{
    (void)state;
    Fixture *x = open_fixture("layer L() {\n    call(x) {\n        return x @ kernel;\n    }\n}\n");
    diag_error(x->d, at(x, "x @ kernel", 10), "cannot multiply %s by %s", "[N, 784]", "[64, 784]");
    expect_output(x, "m.kl:3:16: error: cannot multiply [N, 784] by [64, 784]\n"
                     "        return x @ kernel;\n"
                     "               ^~~~~~~~~~\n");
    assert_int_equal(diag_error_count(x->d), 1);
    close_fixture(x);

    /* an empty range shows one caret; a range past the end of its line stops there */
    x = open_fixture("x = 1\ny = 2;\n");
    diag_error(x->d, (SrcLoc){x->f, 5, 5}, "expected ';'");
    diag_error(x->d, (SrcLoc){x->f, 4, 12}, "spans lines");
    expect_output(x, "m.kl:1:6: error: expected ';'\nx = 1\n     ^\n"
                     "m.kl:1:5: error: spans lines\nx = 1\n    ^\n");
    close_fixture(x);

    /* no location at all: "klc: error:" */
    x = open_fixture("");
    diag_error(x->d, (SrcLoc){0}, "no input");
    diag_plain_error(x->d, "cannot read %s", "a.kl");
    expect_output(x, "klc: error: no input\nklc: error: cannot read a.kl\n");
    assert_int_equal(diag_error_count(x->d), 2);
    close_fixture(x);
}

static void test_tabs_and_utf8(void **state)
{
    (void)state;
    /* tabs stay tabs under the caret, so it lines up whatever the tab width */
    Fixture *x = open_fixture("\tx =\tfoo(1);\n");
    diag_error(x->d, at(x, "foo", 3), "unknown name 'foo'");
    expect_output(x, "m.kl:1:6: error: unknown name 'foo'\n\tx =\tfoo(1);\n\t   \t^~~\n");
    close_fixture(x);

    /* columns count characters: a UTF-8 sequence is one column and one space */
    x = open_fixture("s = \"\xc3\xa9t\xc3\xa9\" + bad;\n");
    diag_error(x->d, at(x, "bad", 3), "unknown name 'bad'");
    expect_output(x, "m.kl:1:13: error: unknown name 'bad'\n"
                     "s = \"\xc3\xa9t\xc3\xa9\" + bad;\n"
                     "            ^~~\n");
    close_fixture(x);

    /* a range over UTF-8 text gets one '~' per character */
    x = open_fixture("x = \"\xe2\x82\xac\xe2\x82\xac\";\n");
    diag_error(x->d, at(x, "\"", 8), "a string");
    expect_output(x, "m.kl:1:5: error: a string\nx = \"\xe2\x82\xac\xe2\x82\xac\";\n    ^~~~\n");
    close_fixture(x);

    /* control bytes are shown as '?'; a CR before the newline is not part of the line */
    x = open_fixture("x = \x01y;\r\nz = 1;\r\n");
    diag_error(x->d, at(x, "y", 1), "stray");
    diag_error(x->d, at(x, "z", 1), "second line");
    expect_output(x, "m.kl:1:6: error: stray\nx = ?y;\n     ^\nm.kl:2:1: error: second line\nz = 1;\n^\n");
    close_fixture(x);
}

static void test_long_lines(void **state)
{
    (void)state;
    /* lines longer than 400 bytes are not shown, only the header */
    char src[1200];
    memset(src, 'a', 1000);
    strcpy(src + 1000, " = b;\nshort = c;\n");
    Fixture *x = open_fixture(src);
    diag_error(x->d, at(x, "b;", 1), "unknown name 'b'");
    diag_error(x->d, at(x, "c;", 1), "unknown name 'c'");
    expect_output(x, "m.kl:1:1004: error: unknown name 'b'\n"
                     "m.kl:2:9: error: unknown name 'c'\nshort = c;\n        ^\n");
    close_fixture(x);

    /* the last line without a newline, and the very end of the file */
    x = open_fixture("x = (1");
    diag_error(x->d, (SrcLoc){x->f, 6, 6}, "unexpected end of file");
    expect_output(x, "m.kl:1:7: error: unexpected end of file\nx = (1\n      ^\n");
    close_fixture(x);
}

static void test_dedup_and_limit(void **state)
{
    (void)state;
    /* the same error at the same place is reported once (layers are checked once per specialisation);
     * the same text elsewhere, or other text at the same place, is not the same error */
    Fixture *x = open_fixture("y = a + a;\n");
    SrcLoc a1 = {x->f, 4, 5}, a2 = {x->f, 8, 9};
    diag_error(x->d, a1, "unknown name 'a'");
    diag_note(x->d, a1, "a note");
    diag_error(x->d, a1, "unknown name 'a'");
    diag_note(x->d, a1, "the note of a dropped error is dropped too");
    diag_error(x->d, a2, "unknown name 'a'");
    diag_error(x->d, a1, "another message");
    const char *out = output(x);
    assert_int_equal(diag_error_count(x->d), 3);
    assert_non_null(strstr(out, "m.kl:1:5: note: a note\n"));
    assert_null(strstr(out, "dropped too"));
    assert_non_null(strstr(out, "m.kl:1:9: error: unknown name 'a'"));
    assert_non_null(strstr(out, "m.kl:1:5: error: another message"));
    close_fixture(x);

    /* past the limit errors are counted, not printed, and the count is summed up at the end */
    x = open_fixture("a b c d e f\n");
    diag_set_limit(x->d, 2);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(diag_quiet(x->d), i >= 2);
        diag_error(x->d, (SrcLoc){x->f, 2 * i, 2 * i + 1}, "error %d", i);
    }
    out = output(x);
    assert_int_equal(diag_error_count(x->d), 6);
    assert_non_null(strstr(out, "error: error 1\n"));
    assert_null(strstr(out, "error: error 2"));
    assert_non_null(strstr(out, "klc: too many errors; 4 more not shown\n"));
    close_fixture(x);

    /* many identical errors stay cheap and are all recognised */
    x = open_fixture("abcdefghij\n");
    for (int i = 0; i < 20000; i++)
        diag_error(x->d, (SrcLoc){x->f, i % 10, i % 10 + 1}, "e%d", i % 100);
    assert_int_equal(diag_error_count(x->d), 100);
    close_fixture(x);

    /* warnings do not count as errors */
    x = open_fixture("x = 1;\n");
    diag_warning(x->d, (SrcLoc){x->f, 0, 1}, "a warning");
    assert_int_equal(diag_error_count(x->d), 0);
    expect_output(x, "m.kl:1:1: warning: a warning\nx = 1;\n^\n");
    close_fixture(x);
}

static void test_context_notes(void **state)
{
    (void)state;
    Fixture *x = open_fixture("layer L(units: int) {\n    call(x) = x @ kernel;\n}\n"
                              "model = Sequential([\n    Input(shape = [784]),\n    L(units = 64),\n]);\n");
    diag_push_context(x->d, at(x, "L(units = 64)", 13), "in L(units = 64), layer 2 of 'model'");
    diag_error(x->d, at(x, "x @ kernel", 10), "cannot multiply");
    diag_context_suffix(x->d, "kernel declared as [units, D]");
    diag_note(x->d, at(x, "units: int", 5), "declared here");
    diag_pop_context(x->d);
    diag_error(x->d, at(x, "Input", 5), "outside the context");
    expect_output(x, "m.kl:2:15: error: cannot multiply\n"
                     "    call(x) = x @ kernel;\n"
                     "              ^~~~~~~~~~\n"
                     "m.kl:1:9: note: declared here\n"
                     "m.kl:6:5: note: in L(units = 64), layer 2 of 'model' (kernel declared as [units, D])\n"
                     "m.kl:5:5: error: outside the context\n"
                     "    Input(shape = [784]),\n"
                     "    ^~~~~\n");
    close_fixture(x);

    /* nested contexts: innermost first, the suffix on the innermost only */
    x = open_fixture("outer inner err\n");
    diag_push_context(x->d, at(x, "outer", 5), "in outer");
    diag_push_context(x->d, at(x, "inner", 5), "in inner");
    diag_error(x->d, at(x, "err", 3), "boom");
    diag_context_suffix(x->d, "why");
    diag_pop_context(x->d);
    diag_pop_context(x->d);
    expect_output(x, "m.kl:1:13: error: boom\nouter inner err\n            ^~~\n"
                     "m.kl:1:7: note: in inner (why)\nm.kl:1:1: note: in outer\n");
    close_fixture(x);
}

static void test_prelude_errors(void **state)
{
    (void)state;
    /* an error inside the prelude (klc's own layers) is shown at the user's line that instantiated it;
     * prelude contexts are not shown */
    Fixture *x = open_fixture("m = Sequential([Input(shape = [3]), Dense(0)]);\n");
    SourceFile *pre = source_from_memory(x->arena, "<prelude>", "assert(units > 0);\n", 19);
    pre->is_prelude = true;
    diag_push_context(x->d, at(x, "Dense(0)", 8), "in Dense(0), layer 2 of 'm'");
    diag_push_context(x->d, (SrcLoc){pre, 0, 6}, "in the prelude");
    diag_error(x->d, (SrcLoc){pre, 7, 16}, "Dense: units must be a positive integer");
    diag_pop_context(x->d);
    diag_pop_context(x->d);
    expect_output(x, "m.kl:1:37: error: Dense: units must be a positive integer\n"
                     "m = Sequential([Input(shape = [3]), Dense(0)]);\n"
                     "                                    ^~~~~~~~\n"
                     "m.kl:1:37: note: in Dense(0), layer 2 of 'm'\n");
    close_fixture(x);
}

static void test_line_col(void **state)
{
    (void)state;
    Arena *a = arena_new();
    SourceFile *f = source_from_memory(a, "m.kl", "ab\n\xc3\xa9x\n\n", 8);
    int l, c;
    source_line_col(f, 0, &l, &c);
    assert_int_equal(l, 1);
    assert_int_equal(c, 1);
    source_line_col(f, 2, &l, &c); /* the newline belongs to its line */
    assert_int_equal(l, 1);
    assert_int_equal(c, 3);
    source_line_col(f, 5, &l, &c); /* after a 2-byte character */
    assert_int_equal(l, 2);
    assert_int_equal(c, 2);
    source_line_col(f, 7, &l, &c);
    assert_int_equal(l, 3);
    assert_int_equal(c, 1);
    source_line_col(f, 1000, &l, &c); /* clamped to the end */
    assert_int_equal(l, 4);
    assert_int_equal(c, 1);
    source_line_col(f, -5, &l, &c);
    assert_int_equal(l, 1);
    assert_int_equal(source_line(f, 4), 2);
    size_t len;
    const char *t = source_line_text(f, 2, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(t, "\xc3\xa9x", 3);
    source_line_text(f, 9, &len);
    assert_int_equal(len, 0);
    assert_int_equal(f->n_lines, 4);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caret_range),     cmocka_unit_test(test_tabs_and_utf8),
        cmocka_unit_test(test_long_lines),      cmocka_unit_test(test_dedup_and_limit),
        cmocka_unit_test(test_context_notes),   cmocka_unit_test(test_prelude_errors),
        cmocka_unit_test(test_line_col),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
