/* test_json.c — the strict JSON reader behind safetensors headers (runtime/json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "json.h"
#include "klc/runtime.h"

#include "test_util.h"

/* Parse s[0..n) from an exact-size heap copy, so ASan sees any read past it. */
static int parse_n(klc_json *v, const char *s, size_t n)
{
    char *copy = exact_copy(s, n);
    int rc = klc_json_parse(v, copy, n);
    free(copy);
    return rc;
}

static int parse(klc_json *v, const char *s)
{
    return parse_n(v, s, strlen(s));
}

/* s must be refused with a message mentioning `what`. */
static void refuse(const char *s, const char *what)
{
    klc_json v;
    if (parse(&v, s) == 0) {
        klc_json_free(&v);
        fail_msg("accepted invalid JSON: %s", s);
    }
    const char *msg = klc_last_error();
    if (!strstr(msg, "byte ") || !strstr(msg, what))
        fail_msg("JSON %s: message \"%s\" lacks \"%s\"", s, msg, what);
    assert_int_equal(v.kind, KLC_JSON_NULL);
    assert_null(v.items);
}

static void test_tree(void **state)
{
    (void)state;
    klc_json v;
    const char *text = " {\"a\": [1, -2, 3.5, true, false, null], \"b\": {\"c\": \"d\"}, \"a\": 7}\n";
    assert_int_equal(parse(&v, text), 0);
    assert_int_equal(v.kind, KLC_JSON_OBJECT);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.keys[0].str, "a");
    assert_int_equal(v.keys[0].offset, 2);

    const klc_json *a = klc_json_get(&v, "a"); /* the first of the two "a" */
    assert_non_null(a);
    assert_int_equal(a->kind, KLC_JSON_ARRAY);
    assert_int_equal(a->n, 6);
    assert_true(a->items[0].is_int);
    assert_int_equal(a->items[0].integer, 1);
    assert_int_equal(a->items[1].integer, -2);
    assert_false(a->items[2].is_int);
    assert_true(a->items[2].number == 3.5);
    assert_int_equal(a->items[3].kind, KLC_JSON_TRUE);
    assert_int_equal(a->items[4].kind, KLC_JSON_FALSE);
    assert_int_equal(a->items[5].kind, KLC_JSON_NULL);
    assert_int_equal(v.items[2].integer, 7); /* duplicates are kept, in order */

    const klc_json *b = klc_json_get(&v, "b");
    assert_int_equal(b->kind, KLC_JSON_OBJECT);
    assert_string_equal(klc_json_get(b, "c")->str, "d");
    assert_null(klc_json_get(b, "x"));
    assert_null(klc_json_get(a, "c")); /* not an object */
    klc_json_free(&v);

    assert_int_equal(parse(&v, "[]"), 0);
    assert_int_equal(v.kind, KLC_JSON_ARRAY);
    assert_int_equal(v.n, 0);
    klc_json_free(&v);
    assert_int_equal(parse(&v, "{ }"), 0);
    assert_int_equal(v.kind, KLC_JSON_OBJECT);
    klc_json_free(&v);
}

static void test_strings(void **state)
{
    (void)state;
    klc_json v;
    assert_int_equal(parse(&v, "\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\""), 0);
    assert_string_equal(v.str, "q\" b\\ s/ \b\f\n\r\t");
    klc_json_free(&v);

    assert_int_equal(parse(&v, "\"caf\\u00e9 \\u20AC \\ud83d\\ude00\""), 0);
    assert_string_equal(v.str, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
    klc_json_free(&v);

    assert_int_equal(parse(&v, "\"raw \xC3\xA9\""), 0); /* UTF-8 passes through */
    assert_string_equal(v.str, "raw \xC3\xA9");
    klc_json_free(&v);

    assert_int_equal(parse(&v, "\"a\\u0000b\""), 0);
    assert_int_equal(v.len, 3);
    assert_int_equal(strlen(v.str), 1);
    klc_json_free(&v);
}

static void test_numbers(void **state)
{
    (void)state;
    klc_json v;
    assert_int_equal(parse(&v, "9223372036854775807"), 0);
    assert_true(v.is_int);
    assert_true(v.integer == INT64_MAX);
    assert_int_equal(parse(&v, "-9223372036854775808"), 0);
    assert_true(v.is_int);
    assert_true(v.integer == INT64_MIN);
    assert_int_equal(parse(&v, "9223372036854775808"), 0);
    assert_false(v.is_int);
    assert_true(v.number == 9223372036854775808.0);
    assert_int_equal(parse(&v, "123456789012345678901234567890"), 0);
    assert_false(v.is_int);
    assert_int_equal(parse(&v, "-0"), 0);
    assert_true(v.is_int);
    assert_int_equal(v.integer, 0);
    assert_int_equal(parse(&v, "1e3"), 0);
    assert_false(v.is_int);
    assert_true(v.number == 1000.0);
    assert_int_equal(parse(&v, "-2.5E-1"), 0);
    assert_true(v.number == -0.25);
}

static void test_refused(void **state)
{
    (void)state;
    refuse("", "unexpected end");
    refuse("   ", "unexpected end");
    refuse("{", "expected a string key");
    refuse("[1,]", "unexpected character");
    refuse("[1 2]", "expected ',' or ']'");
    refuse("{\"a\" 1}", "expected ':'");
    refuse("{\"a\":1,}", "expected a string key");
    refuse("{\"a\":1", "expected ',' or '}'");
    refuse("{a:1}", "expected a string key");
    refuse("01", "leading zero");
    refuse("-", "invalid number");
    refuse("1.", "after '.'");
    refuse("1e", "exponent");
    refuse("+1", "unexpected character");
    refuse(".5", "unexpected character");
    refuse("tru", "invalid literal");
    refuse("nul", "invalid literal");
    refuse("[1] x", "after the JSON value");
    refuse("\"abc", "unterminated string");
    refuse("\"abc\\", "unterminated string");
    refuse("\"abc\\\"", "unterminated string");
    refuse("\"\\x\"", "invalid escape");
    refuse("\"\\u12\"", "\\u escape");
    refuse("\"\\u12", "unterminated string");
    refuse("\"\\ud800\"", "unpaired high surrogate");
    refuse("\"\\ud800\\u0041\"", "unpaired high surrogate");
    refuse("\"\\udc00\"", "unpaired low surrogate");
    refuse("\"a\x01\"", "control character");
    refuse("\"a\nb\"", "control character");
    refuse("\"\xFF\"", "UTF-8");
    refuse("\"\xC0\xAF\"", "UTF-8");       /* overlong '/' */
    refuse("\"\xED\xA0\x80\"", "UTF-8");   /* encoded surrogate */
    refuse("\"\xE2\x82\"", "UTF-8");       /* truncated sequence */
    refuse("\xEF\xBB\xBF{}", "unexpected character"); /* byte-order mark */
    refuse("'a'", "unexpected character");
}

static void test_depth(void **state)
{
    (void)state;
    char deep[2 * KLC_JSON_MAX_DEPTH + 3];
    klc_json v;
    for (int depth = KLC_JSON_MAX_DEPTH; depth <= KLC_JSON_MAX_DEPTH + 1; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        int rc = parse_n(&v, deep, 2 * (size_t)depth);
        if (depth == KLC_JSON_MAX_DEPTH) {
            assert_int_equal(rc, 0);
            klc_json_free(&v);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(klc_last_error(), "nesting too deep"));
        }
    }
    /* Far deeper than the limit: refused without deep recursion. */
    static char very[100000];
    memset(very, '[', sizeof very);
    assert_int_equal(parse_n(&v, very, sizeof very), -1);
}

/* Every proper prefix of a document is refused, without reading past it. */
static void test_truncations(void **state)
{
    (void)state;
    const char *doc = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"s\":\"\\u00e9\\ud83d\\ude00\\n\",\"n\":[-1.5e3,true,false,null]}";
    size_t n = strlen(doc);
    klc_json v;
    assert_int_equal(parse_n(&v, doc, n), 0);
    klc_json_free(&v);
    for (size_t len = 0; len < n; len++) {
        if (parse_n(&v, doc, len) == 0) {
            klc_json_free(&v);
            fail_msg("prefix of length %zu accepted", len);
        }
        assert_true(strlen(klc_last_error()) > 0);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(klc_utf8_valid("", 0));
    assert_true(klc_utf8_valid("abc", 3));
    assert_true(klc_utf8_valid("\xF4\x8F\xBF\xBF", 4));  /* U+10FFFF */
    assert_false(klc_utf8_valid("\xF4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(klc_utf8_valid("\xE0\x80\x80", 3));     /* overlong */
    assert_false(klc_utf8_valid("\x80", 1));
    assert_false(klc_utf8_valid("\xC3", 1));
    assert_string_equal(klc_json_kind_name(KLC_JSON_OBJECT), "an object");
    assert_string_equal(klc_json_kind_name(KLC_JSON_TRUE), "a boolean");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers),     cmocka_unit_test(test_refused),
        cmocka_unit_test(test_depth),       cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
