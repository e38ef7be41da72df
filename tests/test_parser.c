/*
 * test_parser.c — the Bison grammar (grammar/klc.y) through parse_file and
 * ast_dump: the tree of each construct, operator precedence and
 * associativity, trailing commas, locations, and error recovery (several
 * independent syntax errors in one file are each reported once).
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
#include "front/ast.h"
#include "base/diag.h"
#include "front/parse.h"
#include "base/source.h"

typedef struct Parsed {
    char *tree;      /* ast_dump without the " @line:col" of each node */
    char *located;   /* ast_dump as it is */
    char *diag;      /* the diagnostics */
    int errors;
} Parsed;

static Parsed parse(const char *src)
{
    Parsed p = {0};
    Arena *a = arena_new();
    size_t n;
    FILE *dout = open_memstream(&p.diag, &n);
    Diag *d = diag_new(a, dout);
    Node *prog = parse_file(a, d, source_from_memory(a, "t.kl", src, strlen(src)), &p.errors);
    diag_finish(d);
    fclose(dout);
    FILE *tout = open_memstream(&p.located, &n);
    ast_dump(tout, prog);
    fclose(tout);
    arena_free(a);
    /* strip the locations: the last " @" of each line and what follows */
    p.tree = malloc(strlen(p.located) + 1);
    char *o = p.tree;
    for (const char *s = p.located; *s;) {
        const char *nl = strchr(s, '\n');
        const char *end = nl ? nl : s + strlen(s);
        const char *cut = end;
        for (const char *q = s; q + 1 < end; q++)
            if (q[0] == ' ' && q[1] == '@')
                cut = q;
        memcpy(o, s, (size_t)(cut - s));
        o += cut - s;
        if (nl)
            *o++ = '\n';
        s = nl ? nl + 1 : end;
    }
    *o = '\0';
    return p;
}

static void parsed_free(Parsed *p)
{
    free(p->tree);
    free(p->located);
    free(p->diag);
}

/* The tree of `src` must be `want` (lines of the dump below "Program"), with no error. */
static void expect_tree(const char *src, const char *want)
{
    Parsed p = parse(src);
    if (p.errors)
        fail_msg("%s: unexpected errors:\n%s", src, p.diag);
    const char *body = strchr(p.tree, '\n');
    body = body ? body + 1 : "";
    if (strcmp(body, want) != 0)
        fail_msg("%s\n--- got:\n%s--- want:\n%s", src, body, want);
    parsed_free(&p);
}

/* `src` must give exactly `n` errors, the first containing `first`. */
static void expect_errors(const char *src, int n, const char *first)
{
    Parsed p = parse(src);
    int printed = 0;
    for (const char *s = p.diag; (s = strstr(s, ": error: ")) != NULL; s++)
        printed++;
    if (p.errors != n || printed != n)
        fail_msg("%s: %d errors (%d printed), want %d:\n%s", src, p.errors, printed, n, p.diag);
    if (first && !strstr(p.diag, first))
        fail_msg("%s: the errors lack \"%s\":\n%s", src, first, p.diag);
    parsed_free(&p);
}

static void test_precedence(void **state)
{
    (void)state;
    /* power binds tighter than unary minus (Python: -x ** 2 is -(x ** 2)) and is right-associative */
    expect_tree("y = -x ** 2;", "  Assign\n    Name y\n    Unary -\n      Binary **\n        Name x\n        Int 2\n");
    expect_tree("y = 2 ** 3 ** 2;",
                "  Assign\n    Name y\n    Binary **\n      Int 2\n      Binary **\n        Int 3\n        Int 2\n");
    expect_tree("y = 2 ** -1;", "  Assign\n    Name y\n    Binary **\n      Int 2\n      Unary -\n        Int 1\n");
    /* @ is multiplicative: tighter than +, left-associative with * */
    expect_tree("y = a + b @ c;",
                "  Assign\n    Name y\n    Binary +\n      Name a\n      Binary @\n        Name b\n        Name c\n");
    expect_tree("y = a @ b * c;",
                "  Assign\n    Name y\n    Binary *\n      Binary @\n        Name a\n        Name b\n      Name c\n");
    /* // and % with * and /, left to right */
    expect_tree("y = a // b * c % d;", "  Assign\n    Name y\n    Binary %\n      Binary *\n        Binary //\n"
                                       "          Name a\n          Name b\n        Name c\n      Name d\n");
    expect_tree("y = a - b - c;",
                "  Assign\n    Name y\n    Binary -\n      Binary -\n        Name a\n        Name b\n      Name c\n");
    /* comparisons below arithmetic, && below comparisons, || below && */
    expect_tree("y = a + 1 < b || c && !d;",
                "  Assign\n    Name y\n    Binary ||\n      Binary <\n        Binary +\n          Name a\n"
                "          Int 1\n        Name b\n      Binary &&\n        Name c\n        Unary !\n          Name d\n");
    /* the conditional is lowest and right-associative */
    expect_tree("y = a ? b : c ? d : e;", "  Assign\n    Name y\n    Ternary\n      Name a\n      Name b\n"
                                          "      Ternary\n        Name c\n        Name d\n        Name e\n");
    expect_tree("y = a || b ? c + 1 : d;", "  Assign\n    Name y\n    Ternary\n      Binary ||\n        Name a\n"
                                           "        Name b\n      Binary +\n        Name c\n        Int 1\n"
                                           "      Name d\n");
    /* postfix binds tightest */
    expect_tree("y = -f(x)[0].shape;", "  Assign\n    Name y\n    Unary -\n      Attr shape\n        Index\n"
                                       "          Call\n            Name f\n            Name x\n          Int 0\n");
    /* parentheses */
    expect_tree("y = (a + b) * c;",
                "  Assign\n    Name y\n    Binary *\n      Binary +\n        Name a\n        Name b\n      Name c\n");
    /* comparisons do not chain (Python's a < b < c is not klc's) */
    expect_errors("y = a < b < c;", 1, "syntax error: unexpected '<'");
    expect_errors("y = a == b != c;", 1, "syntax error");
}

static void test_literals_and_calls(void **state)
{
    (void)state;
    expect_tree("x = [1, 2.5, \"s\", true, False, None, [],];",
                "  Assign\n    Name x\n    List\n      Int 1\n      Float 2.5\n      Str \"s\"\n      Bool true\n"
                "      Bool false\n      None\n      List\n");
    /* positional then keyword arguments; a trailing comma */
    expect_tree("Dense(10, activation = relu,);",
                "  ExprStmt\n    Call\n      Name Dense\n      Int 10\n      Kwarg activation\n        Name relu\n");
    expect_tree("f();", "  ExprStmt\n    Call\n      Name f\n");
    expect_tree("m.compile(optimizer = adam(learning_rate = 0.001));",
                "  ExprStmt\n    Call\n      Attr compile\n        Name m\n      Kwarg optimizer\n        Call\n"
                "          Name adam\n          Kwarg learning_rate\n            Float 0.001\n");
    /* reductions: a call with arguments, or binders and a body */
    expect_tree("y = sum(x, axis = 1);",
                "  Assign\n    Name y\n    Call\n      Name sum\n      Name x\n      Kwarg axis\n        Int 1\n");
    expect_tree("y = max[a, b: 3](x[a, b]);", "  Assign\n    Name y\n    Reduce max\n      Index\n        Name x\n"
                                              "        Name a\n        Name b\n      Binder a\n      Binder b\n"
                                              "        Int 3\n");
    expect_errors("f(a = 1, 2);", 0, NULL); /* the grammar allows it; the checker refuses it */
    expect_errors("f(,);", 1, "syntax error: unexpected ','");
    expect_errors("x = [,];", 1, "syntax error: unexpected ','");
    expect_errors("x = a[];", 1, "syntax error: unexpected ']'");
}

static void test_statements(void **state)
{
    (void)state;
    expect_tree("y[n, i] : [N, 4] = x[n, i] * 2;",
                "  Assign\n    Index\n      Name y\n      Name n\n      Name i\n    List\n      Name N\n      Int 4\n"
                "    Binary *\n      Index\n        Name x\n        Name n\n        Name i\n      Int 2\n");
    expect_tree("if a { x = 1; } else if b { } else { return x; }",
                "  If\n    Name a\n    Block\n      Assign\n        Name x\n        Int 1\n    If\n      Name b\n"
                "      Block\n      Block\n        Return\n          Name x\n");
    expect_tree("import \"layers.kl\";", "  Import layers.kl\n");
    expect_tree("def swish(x) = x * sigmoid(x);",
                "  Def swish\n    Binary *\n      Name x\n      Call\n        Name sigmoid\n        Name x\n    Name x\n");
    expect_tree("def zero() = 0;", "  Def zero\n    Int 0\n");
    expect_errors("if a x = 1;", 1, "syntax error");
    expect_errors("x = 1", 1, "syntax error: unexpected end of file");
}

static void test_layers(void **state)
{
    (void)state;
    expect_tree("layer L(units: int = 32, act: fn,) {\n"
                "  build(x: [N, ..., D] int) { w = add_weight(shape = [D, units]); }\n"
                "  call(x, training) { return x @ w; }\n"
                "}",
                "  Layer L\n    Param units : int\n      Int 32\n    Param act : fn\n    Build\n      Block\n"
                "        Assign\n          Name w\n          Call\n            Name add_weight\n"
                "            Kwarg shape\n              List\n                Name D\n                Name units\n"
                "      Pattern x : int\n        Name N\n        Ellipsis\n        Name D\n    CallDef\n      Block\n"
                "        Return\n          Binary @\n            Name x\n            Name w\n      Name x\n"
                "      Name training\n");
    /* the one-line call(x) = expr; is a block with a return */
    expect_tree("layer A(f: fn) { call(x) = f(x); }",
                "  Layer A\n    Param f : fn\n    CallDef\n      Block\n        Return\n          Call\n"
                "            Name f\n            Name x\n      Name x\n");
    expect_tree("layer E() { build(x) {} call(x) = x; }",
                "  Layer E\n    Build\n      Block\n      Pattern x\n    CallDef\n      Block\n        Return\n"
                "          Name x\n      Name x\n");
    expect_errors("layer L(units) { call(x) = x; }", 1, "syntax error");
    expect_errors("layer L() { x = 1; }", 1, "syntax error");
    expect_errors("layer L() { build(x: [N, 1.5]) {} call(x) = x; }", 1, "syntax error");
}

static void test_locations(void **state)
{
    (void)state;
    Parsed p = parse("x = 1;\nlayer L() {\n\tcall(x) = x + y;\n}\ns = \"\xc3\xa9\"; t = u;\n");
    assert_int_equal(p.errors, 0);
    /* nodes start where their text starts; columns count characters (a tab, an é: one each) */
    assert_non_null(strstr(p.located, "  Assign @1:1\n    Name x @1:1\n    Int 1 @1:5\n"));
    assert_non_null(strstr(p.located, "  Layer L @2:1\n"));
    assert_non_null(strstr(p.located, "    CallDef @3:2\n"));
    assert_non_null(strstr(p.located, "          Binary + @3:12\n            Name x @3:12\n            Name y @3:16\n"));
    assert_non_null(strstr(p.located, "    Name u @5:14\n"));
    parsed_free(&p);
}

static void test_error_recovery(void **state)
{
    (void)state;
    /* independent mistakes in separate statements: one error each, the rest parsed */
    const char *src = "x = 1 +;\n"
                      "y = (2;\n"
                      "z = 3 3;\n"
                      "ok = 4;\n"
                      "layer L() {\n"
                      "    call(x) {\n"
                      "        a = x x;\n"
                      "        b = ;\n"
                      "        return a;\n"
                      "    }\n"
                      "}\n"
                      "w = 5;\n";
    Parsed p = parse(src);
    int printed = 0;
    for (const char *s = p.diag; (s = strstr(s, ": error: ")) != NULL; s++)
        printed++;
    if (p.errors != 5 || printed != 5)
        fail_msg("%d errors (%d printed), want 5:\n%s", p.errors, printed, p.diag);
    assert_non_null(strstr(p.diag, "t.kl:1:8: error: syntax error: unexpected ';', expected an expression"));
    assert_non_null(strstr(p.diag, "t.kl:2:7: error: syntax error: unexpected ';'"));
    assert_non_null(strstr(p.diag, "t.kl:3:7: error: syntax error: unexpected integer '3'"));
    assert_non_null(strstr(p.diag, "t.kl:7:15: error: syntax error: unexpected identifier 'x'"));
    assert_non_null(strstr(p.diag, "t.kl:8:13: error: syntax error: unexpected ';'"));
    /* the statements after each mistake are in the tree */
    assert_non_null(strstr(p.tree, "Name ok"));
    assert_non_null(strstr(p.tree, "Layer L"));
    assert_non_null(strstr(p.tree, "Return"));
    assert_non_null(strstr(p.tree, "Name w"));
    parsed_free(&p);

    /* a missing ';' at the end of a line points after the line */
    expect_errors("x = 1\ny = 2;\n", 1, "t.kl:1:6: error: expected ';' at the end of the statement");
    /* an unclosed bracket at the end of the file names the bracket */
    expect_errors("x = f(1, [2,\n", 1, "t.kl:1:13: error: syntax error: unexpected end of file");
    Parsed e = parse("x = f(1, [2,\n");
    assert_non_null(strstr(e.diag, "t.kl:1:10: note: to match this '['"));
    parsed_free(&e);
    /* very deep nesting is an error, not a crash */
    char deep[20000];
    memset(deep, '(', 9000);
    strcpy(deep + 9000, "1");
    memset(deep + 9001, ')', 9000);
    strcpy(deep + 18001, ";");
    Parsed q = parse(deep);
    assert_true(q.errors >= 1);
    assert_non_null(strstr(q.diag, "nested too deeply"));
    parsed_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence), cmocka_unit_test(test_literals_and_calls),
        cmocka_unit_test(test_statements), cmocka_unit_test(test_layers),
        cmocka_unit_test(test_locations),  cmocka_unit_test(test_error_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
