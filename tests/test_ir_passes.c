/*
 * test_ir_passes.c — the passes on small IR programs built by hand: the
 * scalar table's evaluator (ir/scalar_ops.def), simplify (folding, copy
 * propagation), fuse, the memory plan, codegen's GEMM classifier, and the
 * IR verifier (ir/verify.h), which must reject each broken program and
 * accept the sound ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "back/codegen.h"
#include "back/plan.h"
#include "ir/ir.h"
#include "ir/verify.h"
#include "opt/fuse.h"
#include "opt/simplify.h"

static const SrcLoc NOWHERE = {0};

/* ---- building programs ---- */

static Shape shape2(int64_t r, int64_t c)
{
    Dim d[2] = {dim_const(r), dim_const(c)};
    return shape_make(2, d);
}

static Shape shape1(int64_t n)
{
    Dim d[1] = {dim_const(n)};
    return shape_make(1, d);
}

/* A real buffer of this shape (zero-filled: it needs no operands). */
static IrValue *buffer(IrFunc *f, Shape s)
{
    return ir_new(f, IR_ZERO, &s, DT_F32, NOWHERE);
}

/* The function's output: keeps v alive through dead code removal. */
static IrValue *output(IrFunc *f, IrValue *v)
{
    IrValue *o = ir_new(f, IR_OUTPUT, NULL, v->type, NOWHERE);
    ir_add_arg(f, o, v);
    f->output = v;
    return o;
}

/* out[v] = body over x's shape, reading x as operand 0. */
static IrValue *ew1(IrFunc *f, IrValue *x, Scalar *body)
{
    return ir_ew(f, &x->shape, DT_F32, body, 1, &x, NOWHERE);
}

static Scalar *all(IrFunc *f, int arg, const IrValue *x)
{
    return s_read_all(f->arena, arg, &x->shape, DT_F32);
}

/* C[i, j] = sum_k A[sub_a] * B[sub_b] over i < m, j < n, k < kk. */
static IrValue *contraction(IrFunc *f, IrValue *A, IrValue *B, int64_t m, int64_t n, int64_t kk, const Sub *sub_a,
                            const Sub *sub_b)
{
    Arena *a = f->arena;
    Comp *c = comp_new(a, 2, 1);
    c->ext[0] = dim_const(m);
    c->ext[1] = dim_const(n);
    c->ext[2] = dim_const(kk);
    c->red = RED_SUM;
    c->body = s_bin(a, S_MUL, s_read(a, 0, A->shape.rank, sub_a, DT_F32), s_read(a, 1, B->shape.rank, sub_b, DT_F32));
    Shape s = shape2(m, n);
    IrValue *v = ir_map(f, &s, DT_F32, c, NOWHERE);
    ir_add_arg(f, v, A);
    ir_add_arg(f, v, B);
    return v;
}

static bool verifies(const IrFunc *f)
{
    return ir_verify(f, NULL);
}

/* ir_verify must reject f, saying something containing `what`. */
static void expect_rejected(const IrFunc *f, const char *what)
{
    FILE *err = tmpfile();
    assert_non_null(err);
    bool ok = ir_verify(f, err);
    char text[2048] = {0};
    rewind(err);
    size_t n = fread(text, 1, sizeof text - 1, err);
    text[n] = '\0';
    fclose(err);
    if (ok)
        fail_msg("the verifier accepted a program that is broken (%s)", what);
    if (!strstr(text, what))
        fail_msg("the verifier's report does not say \"%s\":\n%s", what, text);
    if (!strstr(text, "  %"))
        fail_msg("the verifier's report does not show the instruction:\n%s", text);
}

static int count_op(const Scalar *s, SOp op)
{
    if (!s)
        return 0;
    return (s->op == op) + count_op(s->a, op) + count_op(s->b, op) + count_op(s->c, op);
}

/* ---- the scalar table ---- */

static void test_sop_eval(void **state)
{
    (void)state;
    Arena *a = arena_new();
    double r;
    /* Python's floored modulo, and its zero divisor */
    assert_true(sop_eval(s_bin(a, S_MOD, s_const(a, -7), s_const(a, 3)), &r));
    assert_true(r == 2);
    assert_true(sop_eval(s_bin(a, S_MOD, s_const(a, 1), s_const(a, 0)), &r));
    assert_true(isnan(r));
    assert_true(sop_eval(s_select(a, s_bin(a, S_LT, s_const(a, 1), s_const(a, 2)), s_const(a, 10), s_const(a, 20)), &r));
    assert_true(r == 10);
    assert_true(sop_eval(s_un(a, S_RSQRT, s_const(a, 4)), &r));
    assert_true(r == 0.5);
    assert_true(sop_eval(s_un(a, S_SIGN, s_const(a, -3)), &r));
    assert_true(r == -1);
    /* reads, variables and extents have no compile-time value */
    Sub sub = sub_var(0);
    assert_false(sop_eval(s_bin(a, S_ADD, s_const(a, 1), s_read(a, 0, 1, &sub, DT_F32)), &r));
    assert_false(sop_eval(s_un(a, S_NEG, s_var(a, 0)), &r));
    /* every operation has its arity: leaves 0, select 3 */
    assert_int_equal(sop_arity(S_READ), 0);
    assert_int_equal(sop_arity(S_EXP), 1);
    assert_int_equal(sop_arity(S_POW), 2);
    assert_int_equal(sop_arity(S_SELECT), 3);
    assert_string_equal(sop_name(S_MAX2), "max");
    arena_free(a);
}

/* ---- simplify ---- */

static void test_simplify_folds(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrFunc *f = ir_func_new(a, "t", false);
    IrValue *x = buffer(f, shape1(4));
    /* y = x * (2 + 3) * exp(0): the constants become one */
    Scalar *k = s_bin(a, S_MUL, s_bin(a, S_ADD, s_const(a, 2), s_const(a, 3)), s_un(a, S_EXP, s_const(a, 0)));
    IrValue *y = ew1(f, x, s_bin(a, S_MUL, all(f, 0, x), k));
    output(f, y);
    ir_simplify(f);
    const Scalar *b = y->comp->body;
    assert_int_equal(b->op, S_MUL);
    assert_int_equal(b->a->op, S_READ);
    assert_int_equal(b->b->op, S_CONST);
    assert_true(b->b->cval == 5);
    assert_true(verifies(f));
    arena_free(a);
}

static void test_simplify_removes_times_one(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrFunc *f = ir_func_new(a, "t", false);
    IrValue *x = buffer(f, shape1(4));
    /* y = x * 1 is a copy of x: the output reads x itself */
    IrValue *y = ew1(f, x, s_bin(a, S_MUL, all(f, 0, x), s_const(a, 1)));
    IrValue *z = ew1(f, y, s_un(a, S_EXP, all(f, 0, y)));
    output(f, z);
    ir_simplify(f);
    assert_ptr_equal(z->args[0], x);
    for (int i = 0; i < f->insts.len; i++)
        assert_ptr_not_equal(f->insts.items[i], y);
    /* x * 0 stays: it is NaN where x is */
    Scalar *r = scalar_fold(a, s_bin(a, S_MUL, all(f, 0, x), s_const(a, 0)));
    assert_int_equal(r->op, S_MUL);
    assert_true(verifies(f));
    arena_free(a);
}

/* ---- fuse ---- */

static void test_fuse_merges_single_use(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrFunc *f = ir_func_new(a, "t", false);
    IrValue *x = buffer(f, shape2(3, 4));
    IrValue *p = ew1(f, x, s_un(a, S_RELU, all(f, 0, x)));
    IrValue *c = ew1(f, p, s_bin(a, S_MUL, all(f, 0, p), s_const(a, 2)));
    output(f, c);
    int before = f->insts.len;
    ir_fuse(f);
    assert_int_equal(f->insts.len, before - 1);
    for (int i = 0; i < f->insts.len; i++)
        assert_ptr_not_equal(f->insts.items[i], p);
    /* c = relu(x) * 2, reading x */
    assert_int_equal(c->nargs, 1);
    assert_ptr_equal(c->args[0], x);
    assert_int_equal(c->comp->body->op, S_MUL);
    assert_int_equal(c->comp->body->a->op, S_RELU);
    assert_int_equal(c->comp->body->a->a->op, S_READ);
    assert_true(verifies(f));
    arena_free(a);
}

static void test_fuse_keeps_read_twice(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrFunc *f = ir_func_new(a, "t", false);
    IrValue *x = buffer(f, shape2(3, 4));
    IrValue *p = ew1(f, x, s_un(a, S_EXP, all(f, 0, x)));
    /* p read twice by one map: inlining would compute exp twice */
    IrValue *c = ew1(f, p, s_bin(a, S_MUL, all(f, 0, p), all(f, 0, p)));
    output(f, c);
    int before = f->insts.len;
    ir_fuse(f);
    assert_int_equal(f->insts.len, before);
    assert_ptr_equal(c->args[0], p);
    assert_int_equal(count_op(c->comp->body, S_EXP), 0);
    assert_true(verifies(f));
    arena_free(a);
}

/* ---- the memory plan ---- */

/* x[63 - i]: a read of x that is not at the output's own point */
static Scalar *reversed(IrFunc *f, int arg)
{
    Sub sb = sub_var(0);
    sb.coef[0] = -1;
    sb.off = 63;
    return s_read(f->arena, arg, 1, &sb, DT_F32);
}

static void test_plan_packs_by_liveness(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrFunc *f = ir_func_new(a, "t", false);
    /* x -> y -> z -> w with reversed reads (not in place): x dies when y is
     * computed, so z may take its place */
    IrValue *x = buffer(f, shape1(64));
    IrValue *y = ew1(f, x, s_un(a, S_EXP, reversed(f, 0)));
    IrValue *z = ew1(f, y, s_un(a, S_LOG, reversed(f, 0)));
    IrValue *w = ew1(f, z, s_un(a, S_SIN, reversed(f, 0)));
    output(f, w);
    WeightLayout wl = {0};
    Plan *p = plan_function(a, f, &wl, true);
    assert_true(plan_verify(p, f, NULL));
    const Storage *sx = &p->st[x->id], *sy = &p->st[y->id], *sz = &p->st[z->id];
    assert_int_equal(sx->kind, ST_WORK);
    assert_int_equal(sz->kind, ST_WORK);
    /* alive together: apart */
    assert_true(plan_disjoint(p, x, y));
    assert_true(plan_disjoint(p, y, z));
    assert_true(plan_disjoint(p, z, w));
    assert_true(sx->off_c != sy->off_c || sx->off_k != sy->off_k);
    /* x is dead when z is written: z reuses its memory */
    assert_int_equal(sz->off_c, sx->off_c);
    assert_int_equal(sz->off_k, sx->off_k);
    assert_false(plan_disjoint(p, x, z));
    /* two 64-element buffers suffice */
    assert_int_equal(p->work_c, 128);
    assert_int_equal(p->work_k, 0);
    /* a plan that puts y over x, both alive, is refused */
    p->st[y->id].off_c = sx->off_c;
    assert_false(plan_verify(p, f, NULL));
    arena_free(a);
}

/* Elementwise maps reading their operand at their own point, where it
 * dies, overwrite it: exp(x), log(.), sin(.) in one 64-element buffer.  An
 * operand still needed later (x read again by the last map) keeps its own. */
static void test_plan_in_place(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrFunc *f = ir_func_new(a, "t", false);
    IrValue *x = buffer(f, shape1(64));
    IrValue *y = ew1(f, x, s_un(a, S_EXP, all(f, 0, x)));
    IrValue *z = ew1(f, y, s_un(a, S_LOG, all(f, 0, y)));
    IrValue *w = ew1(f, z, s_un(a, S_SIN, all(f, 0, z)));
    output(f, w);
    WeightLayout wl = {0};
    Plan *p = plan_function(a, f, &wl, true);
    assert_true(plan_verify(p, f, NULL));
    assert_int_equal(p->st[y->id].off_c, p->st[x->id].off_c);
    assert_int_equal(p->st[w->id].off_c, p->st[x->id].off_c);
    assert_int_equal(p->work_c, 64);
    arena_free(a);

    a = arena_new();
    f = ir_func_new(a, "t2", false);
    x = buffer(f, shape1(64));
    y = ew1(f, x, s_un(a, S_EXP, all(f, 0, x)));
    IrValue *args[2] = {y, x};
    w = ir_ew(f, &x->shape, DT_F32, s_bin(a, S_ADD, all(f, 0, y), all(f, 1, x)), 2, args, NOWHERE);
    output(f, w);
    p = plan_function(a, f, &wl, true);
    assert_true(plan_verify(p, f, NULL));
    assert_true(plan_disjoint(p, x, y)); /* x is read again by w */
    arena_free(a);
}

/* ---- the GEMM classifier ---- */

static bool gemm(IrFunc *f, IrValue *v, Gemm *gm)
{
    WeightLayout wl = {0};
    Plan *p = plan_function(f->arena, f, &wl, true);
    Codegen g;
    cg_init(&g, f->arena, NULL, NULL, &wl, f, p, false);
    return cg_classify_gemm(&g, v, gm);
}

static void test_gemm_classifier(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrFunc *f = ir_func_new(a, "t", false);
    /* C[i, j] = sum_k A[i, k] B[k, j] */
    IrValue *A = buffer(f, shape2(3, 5)), *B = buffer(f, shape2(5, 4)), *At = buffer(f, shape2(5, 3));
    Sub ik[2] = {sub_var(0), sub_var(2)}, kj[2] = {sub_var(2), sub_var(1)}, ki[2] = {sub_var(2), sub_var(0)};
    IrValue *plain = contraction(f, A, B, 3, 4, 5, ik, kj);
    /* C[i, j] = sum_k At[k, i] B[k, j]: A transposed */
    IrValue *trans = contraction(f, At, B, 3, 4, 5, ki, kj);
    /* C[i, j] = sum_k X[2i + k] W[k, j]: a strided window, not a product of matrices */
    IrValue *X = buffer(f, shape1(9));
    Sub win = sub_var(0);
    win.coef[0] = 2;
    win.coef[2] = 1;
    Comp *c = comp_new(a, 2, 1);
    c->ext[0] = dim_const(3);
    c->ext[1] = dim_const(4);
    c->ext[2] = dim_const(5);
    c->red = RED_SUM;
    c->body = s_bin(a, S_MUL, s_read(a, 0, 1, &win, DT_F32), s_read(a, 1, 2, kj, DT_F32));
    Shape s34 = shape2(3, 4);
    IrValue *strided = ir_map(f, &s34, DT_F32, c, NOWHERE);
    ir_add_arg(f, strided, X);
    ir_add_arg(f, strided, B);
    output(f, plain);
    IrValue *o2 = ir_new(f, IR_OUTPUT, NULL, DT_F32, NOWHERE);
    ir_add_arg(f, o2, trans);
    IrValue *o3 = ir_new(f, IR_OUTPUT, NULL, DT_F32, NOWHERE);
    ir_add_arg(f, o3, strided);
    assert_true(verifies(f));

    Gemm gm;
    assert_true(gemm(f, plain, &gm));
    assert_false(gm.ta);
    assert_false(gm.tb);
    assert_true(dim_eq(gm.M, dim_const(3)) && dim_eq(gm.N, dim_const(4)) && dim_eq(gm.K, dim_const(5)));
    assert_true(gemm(f, trans, &gm));
    assert_true(gm.ta);
    assert_false(gm.tb);
    assert_ptr_equal(gm.ra, trans->comp->body->a);
    assert_false(gemm(f, strided, &gm));
    arena_free(a);
}

/* ---- the verifier ---- */

/* A sound program: x; y = exp(x); out(y). */
static IrFunc *sound(Arena *a, IrValue **x, IrValue **y)
{
    IrFunc *f = ir_func_new(a, "t", false);
    *x = buffer(f, shape2(3, 4));
    *y = ew1(f, *x, s_un(a, S_EXP, all(f, 0, *x)));
    output(f, *y);
    return f;
}

static void test_verify_accepts(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrValue *x, *y;
    IrFunc *f = sound(a, &x, &y);
    assert_true(verifies(f));
    /* a window guarded by a select may reach past its operand: padding */
    Sub sh = sub_var(0);
    sh.off = -1;
    Sub subs[2] = {sh, sub_var(1)};
    Scalar *inside = s_bin(a, S_GE, s_var(a, 0), s_const(a, 1));
    IrValue *z = ew1(f, x, s_select(a, inside, s_read(a, 0, 2, subs, DT_F32), s_const(a, 0)));
    output(f, z);
    assert_true(verifies(f));
    /* and an accumulation chain: z2 = z + x, into z's storage */
    IrValue *acc = ew1(f, x, all(f, 0, x));
    acc->into = z;
    IrValue *o = ir_new(f, IR_OUTPUT, NULL, DT_F32, NOWHERE);
    ir_add_arg(f, o, acc);
    f->output = acc;
    assert_true(verifies(f));
    arena_free(a);
}

static void test_verify_use_before_def(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrValue *x, *y;
    IrFunc *f = sound(a, &x, &y);
    /* swap x and y: y reads x before x is defined */
    f->insts.items[0] = y;
    f->insts.items[1] = x;
    expect_rejected(f, "used before it is defined");
    arena_free(a);
}

static void test_verify_bad_read_arg(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrValue *x, *y;
    IrFunc *f = sound(a, &x, &y);
    y->comp->body->a->arg = 1; /* y has one operand */
    expect_rejected(f, "a read of operand $1, but the instruction has 1 operands");
    arena_free(a);
}

static void test_verify_rank_mismatch(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrValue *x, *y;
    IrFunc *f = sound(a, &x, &y);
    y->comp->body->a->rank = 1; /* x has rank 2 */
    expect_rejected(f, "with 1 subscripts, but its rank is 2");
    arena_free(a);
}

static void test_verify_bad_subscripts(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrValue *x, *y;
    IrFunc *f = sound(a, &x, &y);
    y->comp->body->a->sub[1] = sub_var(5); /* y's map has variables v0, v1 */
    expect_rejected(f, "uses v5, but the map has 2 variables");

    f = sound(a, &x, &y);
    y->comp->body->a->sub[1].off = 1; /* x[v0, v1 + 1] reaches column 4 of 4 */
    expect_rejected(f, "subscript 1 reaches 1..4, outside the extent 4");

    f = sound(a, &x, &y);
    y->comp->body->a->sub[0] = sub_const(-1); /* x[-1, v1] */
    expect_rejected(f, "subscript 0 reaches -1..-1");
    arena_free(a);
}

static void test_verify_bad_structure(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrValue *x, *y;
    /* an operation without its operand */
    IrFunc *f = sound(a, &x, &y);
    y->comp->body->a = NULL;
    expect_rejected(f, "exp has no operand 1");

    /* a binary operation with a third operand */
    f = sound(a, &x, &y);
    y->comp->body = s_bin(a, S_ADD, all(f, 0, x), all(f, 0, x));
    y->comp->body->c = s_const(a, 1);
    expect_rejected(f, "add has an extra operand 3");

    /* softmax of nothing */
    f = sound(a, &x, &y);
    ir_new(f, IR_SOFTMAX, &x->shape, DT_F32, NOWHERE);
    expect_rejected(f, "softmax takes 1 operands, not 0");

    /* a map whose extents are not its output's */
    f = sound(a, &x, &y);
    y->comp->ext[1] = dim_const(5);
    expect_rejected(f, "the extent of v1 is not the output's");

    /* a reshape that changes the element count */
    f = sound(a, &x, &y);
    Shape s5 = shape1(5);
    IrValue *r = ir_new(f, IR_RESHAPE, &s5, DT_F32, NOWHERE);
    ir_add_arg(f, r, y);
    expect_rejected(f, "a reshape must keep the number of elements");
    arena_free(a);
}

static void test_verify_into_chains(void **state)
{
    (void)state;
    Arena *a = arena_new();
    IrValue *x, *y;
    /* y accumulated into twice */
    IrFunc *f = sound(a, &x, &y);
    IrValue *d1 = ew1(f, x, all(f, 0, x));
    d1->into = y;
    IrValue *d2 = ew1(f, x, all(f, 0, x));
    d2->into = y;
    expect_rejected(f, "is accumulated into twice");

    /* y read after d1 updated its storage */
    f = sound(a, &x, &y);
    d1 = ew1(f, x, all(f, 0, x));
    d1->into = y;
    ew1(f, y, all(f, 0, y));
    expect_rejected(f, "is read after");

    /* into a value of another shape */
    f = sound(a, &x, &y);
    IrValue *v = buffer(f, shape1(12));
    Sub s0 = sub_var(0);
    IrValue *bad = ir_ew(f, &v->shape, DT_F32, s_read(a, 0, 1, &s0, DT_F32), 1, &v, NOWHERE);
    bad->into = y;
    expect_rejected(f, "differs from the accumulated value's");
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sop_eval),
        cmocka_unit_test(test_simplify_folds),
        cmocka_unit_test(test_simplify_removes_times_one),
        cmocka_unit_test(test_fuse_merges_single_use),
        cmocka_unit_test(test_fuse_keeps_read_twice),
        cmocka_unit_test(test_plan_packs_by_liveness),
        cmocka_unit_test(test_plan_in_place),
        cmocka_unit_test(test_gemm_classifier),
        cmocka_unit_test(test_verify_accepts),
        cmocka_unit_test(test_verify_use_before_def),
        cmocka_unit_test(test_verify_bad_read_arg),
        cmocka_unit_test(test_verify_rank_mismatch),
        cmocka_unit_test(test_verify_bad_subscripts),
        cmocka_unit_test(test_verify_bad_structure),
        cmocka_unit_test(test_verify_into_chains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
