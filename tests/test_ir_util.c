/*
 * test_ir_util.c — the IR's shared walkers (compiler/ir/ir.h): scalar_visit
 * and scalar_remap on small hand-built scalar trees (reads, gathers,
 * selects), and the whole-function utilities (compiler/ir/ir_util.h):
 * ir_count_uses, ir_dce, ir_replace_uses, ir_storage_of, ir_prune_args on a
 * small hand-built IrFunc.  Trees are compared through their --dump-ir text
 * (scalar_dump; reads of operand k print as $k).
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
#include "ir/ir.h"
#include "ir/ir_util.h"

static const SrcLoc NOWHERE = {0};

static int setup(void **state)
{
    *state = arena_new();
    return 0;
}

static int teardown(void **state)
{
    arena_free(*state);
    return 0;
}

/* The dump of s, on the arena. */
static const char *dump(Arena *a, const Scalar *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    scalar_dump(f, s, NULL);
    fclose(f);
    char *r = arena_strdup(a, text);
    free(text);
    return r;
}

/* A subscript c0*v0 + c1*v1 + off. */
static Sub affine(int64_t c0, int64_t c1, int64_t off)
{
    Sub s = sub_const(off);
    s.coef[0] = c0;
    s.coef[1] = c1;
    return s;
}

/* select($0[v0] < 0, $1[v0, $2[v1]], -v1): a select over a plain read, a
 * gather and a variable. */
static Scalar *sample(Arena *a)
{
    Sub s0[1] = {sub_var(0)};
    Scalar *cond = s_bin(a, S_LT, s_read(a, 0, 1, s0, DT_F32), s_const(a, 0));
    Sub s2[1] = {sub_var(1)};
    Sub s1[2] = {sub_var(0), sub_const(0)};
    s1[1].ind = s_read(a, 2, 1, s2, DT_I32);
    Scalar *gather = s_read(a, 1, 2, s1, DT_F32);
    return s_select(a, cond, gather, s_un(a, S_NEG, s_var(a, 1)));
}

/* ---- scalar_visit ---- */

typedef struct Trace {
    Arena *a;
    const char *text; /* "op:depth[i]" per node, i when in a gather index */
} Trace;

static void trace(const Scalar *s, int depth, bool in_index, void *ctx)
{
    Trace *t = ctx;
    const char *node = s->op == S_READ ? arena_printf(t->a, "$%d", s->arg) : sop_name(s->op);
    t->text = arena_printf(t->a, "%s%s%s:%d%s", t->text, *t->text ? " " : "", node, depth, in_index ? "i" : "");
}

static void test_visit_order(void **state)
{
    Arena *a = *state;
    Trace t = {a, ""};
    scalar_visit(sample(a), trace, &t);
    assert_string_equal(t.text, "select:0 lt:1 $0:2 const:2 $1:1 $2:2i neg:1 var:2");
}

static void test_visit_nested_gather(void **state)
{
    Arena *a = *state;
    /* $0[$1[$2[v0] + 1]]: everything under the first index stays in_index */
    Sub s2[1] = {sub_var(0)};
    Sub s1[1] = {sub_const(0)};
    s1[0].ind = s_bin(a, S_ADD, s_read(a, 2, 1, s2, DT_I32), s_const(a, 1));
    Sub s0[1] = {sub_const(0)};
    s0[0].ind = s_read(a, 1, 1, s1, DT_I32);
    Trace t = {a, ""};
    scalar_visit(s_read(a, 0, 1, s0, DT_F32), trace, &t);
    assert_string_equal(t.text, "$0:0 $1:1i add:2i $2:3i const:3i");
}

static void test_visit_null(void **state)
{
    Arena *a = *state;
    Trace t = {a, ""};
    scalar_visit(NULL, trace, &t);
    assert_string_equal(t.text, "");
}

/* ---- scalar_remap ---- */

static void test_remap_copy(void **state)
{
    Arena *a = *state;
    Scalar *s = sample(a);
    const char *before = dump(a, s);
    assert_string_equal(before, "select(lt($0[v0], 0.0), $1[v0, $2[v1]], neg(v1))");
    Scalar *c = scalar_remap(a, s, NULL);
    assert_string_equal(dump(a, c), before);
    /* a deep copy: no node is shared, gather indices included */
    assert_ptr_not_equal(c, s);
    assert_ptr_not_equal(c->a, s->a);
    assert_ptr_not_equal(c->b->sub[1].ind, s->b->sub[1].ind);
    assert_string_equal(dump(a, s_copy(a, s)), before);
    assert_null(scalar_remap(a, NULL, NULL));
}

static void test_remap_vars(void **state)
{
    Arena *a = *state;
    /* $0[v0 + 2*v1 + 3] * v1, with v0 and v1 both becoming v2: coefficients add up */
    Sub s[1] = {affine(1, 2, 3)};
    Scalar *t = s_bin(a, S_MUL, s_read(a, 0, 1, s, DT_F32), s_var(a, 1));
    int var[KLC_MAXVARS] = {2, 2};
    ScalarMap m = {.var = var};
    assert_string_equal(dump(a, scalar_remap(a, t, &m)), "mul($0[3*v2 + 3], v2)");
    assert_string_equal(dump(a, t), "mul($0[v0 + 2*v1 + 3], v1)");
}

static void test_remap_args(void **state)
{
    Arena *a = *state;
    Scalar *s = sample(a);
    /* operand k becomes arg[k] + 1, in gather indices too; v0 <-> v1 */
    int arg[3] = {4, 0, 2};
    int var[KLC_MAXVARS] = {1, 0};
    ScalarMap m = {.var = var, .arg = arg, .arg_shift = 1};
    assert_string_equal(dump(a, scalar_remap(a, s, &m)), "select(lt($5[v1], 0.0), $1[v1, $3[v0]], neg(v0))");
    /* a shift alone: the adjoint's -1 becomes operand 0 */
    Sub y[1] = {sub_var(0)};
    ScalarMap shift = {.arg_shift = 1};
    assert_string_equal(dump(a, scalar_remap(a, s_read(a, -1, 1, y, DT_F32), &shift)), "$0[v0]");
}

/* Reads of operand 1 become 7 * (a read of operand 9 at v3). */
static Scalar *subst_arg1(Arena *a, const Scalar *s, void *ctx)
{
    int *calls = ctx;
    ++*calls;
    if (s->op != S_READ || s->arg != 1)
        return NULL;
    Sub sub[1] = {sub_var(3)};
    return s_bin(a, S_MUL, s_const(a, 7), s_read(a, 9, 1, sub, DT_F32));
}

static void test_remap_subst(void **state)
{
    Arena *a = *state;
    Scalar *s = sample(a);
    int calls = 0;
    int var[KLC_MAXVARS] = {5, 6};
    ScalarMap m = {.var = var, .arg_shift = 10, .subst = subst_arg1, .ctx = &calls};
    /* the replacement is taken as it is: not renamed, its gather (and the
     * replaced read's) not visited */
    assert_string_equal(dump(a, scalar_remap(a, s, &m)), "select(lt($10[v5], 0.0), mul(7.0, $9[v3]), neg(v6))");
    assert_int_equal(calls, 7); /* every node but the index under the replaced read */
}

static void test_sub_remap(void **state)
{
    Arena *a = *state;
    Sub s2[1] = {sub_var(0)};
    Sub s = affine(2, -1, 4);
    s.off_n = 1;
    s.ind = s_read(a, 0, 1, s2, DT_I32);
    int var[KLC_MAXVARS] = {1, 3};
    ScalarMap m = {.var = var, .arg_shift = 2};
    Sub r = sub_remap(a, &s, &m);
    assert_int_equal(r.coef[0], 0);
    assert_int_equal(r.coef[1], 2);
    assert_int_equal(r.coef[3], -1);
    assert_int_equal(r.off, 4);
    assert_int_equal(r.off_n, 1);
    assert_ptr_not_equal(r.ind, s.ind);
    assert_string_equal(dump(a, r.ind), "$2[v1]");
    assert_string_equal(dump(a, s.ind), "$0[v0]");
}

/* ---- whole functions ---- */

static const Shape VEC4 = {1, {{4, 0}}};

/* out[v0] = body over VEC4, reading args in order. */
static IrValue *ew(IrFunc *f, Scalar *body, int nargs, IrValue *const *args)
{
    return ir_ew(f, &VEC4, DT_F32, body, nargs, args, NOWHERE);
}

static IrValue *sink(IrFunc *f, IrOp op, IrValue *x)
{
    IrValue *v = ir_new(f, op, NULL, DT_F32, NOWHERE);
    ir_add_arg(f, v, x);
    return v;
}

static Scalar *rd(Arena *a, int arg)
{
    return s_read_all(a, arg, &VEC4, DT_F32);
}

/*
 *   %0 input  %1 labels  %2 param
 *   %3 = %0 + %2         (the output)
 *   %4 = %0 * %0         (dead)
 *   %5 = exp(%3)         (dead, reads a live value)
 *   %6 output %3
 */
typedef struct Net {
    IrFunc *f;
    IrValue *x, *y, *w, *sum, *sq, *ex, *out;
} Net;

static Net net(Arena *a)
{
    Net n;
    n.f = ir_func_new(a, "t", false);
    n.x = n.f->input = ir_new(n.f, IR_INPUT, &VEC4, DT_F32, NOWHERE);
    n.y = n.f->labels = ir_new(n.f, IR_LABELS, &VEC4, DT_F32, NOWHERE);
    n.w = ir_new(n.f, IR_PARAM, &VEC4, DT_F32, NOWHERE);
    n.sum = ew(n.f, s_bin(a, S_ADD, rd(a, 0), rd(a, 1)), 2, (IrValue *[]){n.x, n.w});
    n.sq = ew(n.f, s_bin(a, S_MUL, rd(a, 0), rd(a, 0)), 1, (IrValue *[]){n.x});
    n.ex = ew(n.f, s_un(a, S_EXP, rd(a, 0)), 1, (IrValue *[]){n.sum});
    n.out = sink(n.f, IR_OUTPUT, n.sum);
    n.f->output = n.sum;
    return n;
}

static void test_count_uses(void **state)
{
    Net n = net(*state);
    n.x->n_uses = 99;
    ir_count_uses(n.f);
    assert_int_equal(n.x->n_uses, 2); /* an operand once per instruction using it */
    assert_int_equal(n.y->n_uses, 0);
    assert_int_equal(n.w->n_uses, 1);
    assert_int_equal(n.sum->n_uses, 2);
    assert_int_equal(n.sq->n_uses, 0);
    assert_int_equal(n.out->n_uses, 0);
    /* into and fwd are uses too */
    IrValue *acc = ew(n.f, rd(*state, 0), 1, (IrValue *[]){n.w});
    acc->into = n.sq;
    acc->fwd = n.ex;
    ir_count_uses(n.f);
    assert_int_equal(n.sq->n_uses, 1);
    assert_int_equal(n.ex->n_uses, 1);
    assert_int_equal(n.w->n_uses, 2);
}

static void test_dce(void **state)
{
    Net n = net(*state);
    ir_dce(n.f);
    /* input and labels stay though unused; the dead maps go; order is kept */
    IrValue *want[] = {n.x, n.y, n.w, n.sum, n.out};
    assert_int_equal(n.f->insts.len, 5);
    for (int i = 0; i < 5; i++) {
        assert_ptr_equal(n.f->insts.items[i], want[i]);
        assert_null(want[i]->aux);
    }
    /* a value something accumulates into, or recomputes, is live */
    Net m = net(*state);
    IrValue *g = ew(m.f, rd(*state, 0), 1, (IrValue *[]){m.w});
    g->into = m.sq;
    g->fwd = m.ex;
    sink(m.f, IR_GRAD, g);
    ir_dce(m.f);
    assert_int_equal(m.f->insts.len, 9);
}

static void test_replace_uses(void **state)
{
    Net n = net(*state);
    IrValue *acc = ew(n.f, rd(*state, 0), 1, (IrValue *[]){n.sum});
    acc->into = n.sum;
    acc->fwd = n.sum;
    n.f->loss = n.sum;
    ir_replace_uses(n.f, n.sum, n.sq);
    assert_ptr_equal(n.ex->args[0], n.sq);
    assert_ptr_equal(n.out->args[0], n.sq);
    assert_ptr_equal(acc->args[0], n.sq);
    assert_ptr_equal(acc->into, n.sq);
    assert_ptr_equal(acc->fwd, n.sq);
    assert_ptr_equal(n.f->output, n.sq);
    assert_ptr_equal(n.f->loss, n.sq);
    assert_int_equal(n.f->insts.len, 8); /* nothing removed */
    ir_count_uses(n.f);
    assert_int_equal(n.sum->n_uses, 0);
    /* other operands are untouched */
    assert_ptr_equal(n.sum->args[1], n.w);
}

static void test_storage_of(void **state)
{
    Net n = net(*state);
    IrValue *acc = ew(n.f, rd(*state, 0), 1, (IrValue *[]){n.w});
    acc->into = n.sq;
    IrValue *view = sink(n.f, IR_RESHAPE, acc);
    IrValue *stop = sink(n.f, IR_STOP_GRAD, view);
    assert_ptr_equal(ir_storage_of(stop), n.sq);
    assert_ptr_equal(ir_storage_of(n.sum), n.sum);
}

static void test_prune_args(void **state)
{
    Arena *a = *state;
    Net n = net(a);
    /* reads operands 0 and 2 of (sum, sq, x), operand 2 inside a gather */
    Sub g[1] = {sub_const(0)};
    g[0].ind = rd(a, 2);
    Scalar *body = s_bin(a, S_ADD, rd(a, 0), s_read(a, 0, 1, g, DT_F32));
    IrValue *v = ew(n.f, body, 3, (IrValue *[]){n.sum, n.sq, n.x});
    ir_prune_args(n.f);
    assert_int_equal(v->nargs, 2);
    assert_ptr_equal(v->args[0], n.sum);
    assert_ptr_equal(v->args[1], n.x);
    assert_string_equal(dump(a, v->comp->body), "add($0[v0], $0[$1[v0]])");
    /* maps reading all their operands are left as they were */
    assert_int_equal(n.sum->nargs, 2);
    assert_string_equal(dump(a, n.sum->comp->body), "add($0[v0], $1[v0])");
}


/* A window gradient over x [N, H, C] from a pool of `pool` with `stride`
 * over H (x index stride*i + a), as autodiff builds it: a scatter over
 * (n, i, c, a). */
static IrValue *window_grad(IrFunc *f, int64_t H, int64_t Ho, int64_t pool, int64_t stride)
{
    Shape xs = {.rank = 3, .d = {dim_batch(), dim_const(H), dim_const(2)}};
    IrValue *g = ir_new(f, IR_ARGMAX_GRAD, &xs, DT_F32, NOWHERE);
    Comp *c = comp_new(f->arena, 4, 0);
    c->ext[0] = dim_batch();
    c->ext[1] = dim_const(Ho);
    c->ext[2] = dim_const(2);
    c->ext[3] = dim_const(pool);
    c->scatter = true;
    c->out_sub[0] = sub_var(0);
    c->out_sub[1] = sub_const(0);
    c->out_sub[1].coef[1] = stride;
    c->out_sub[1].coef[3] = 1;
    c->out_sub[2] = sub_var(2);
    c->body = s_const(f->arena, 1);
    g->comp = c;
    return g;
}

/* ir_window_reach: non-overlapping windows that tile the axis (a box, the
 * whole axis or a prefix of it), windows with gaps (disjoint), windows that
 * overlap, and a reach past the axis. */
static void test_window_reach(void **state)
{
    IrFunc *f = ir_func_new(*state, "f", true);
    int64_t lo[KLC_MAXRANK], hi[KLC_MAXRANK];
    assert_int_equal(ir_window_reach(window_grad(f, 26, 13, 2, 2), lo, hi), WINDOW_BOX);
    assert_true(hi[0] < 0 && hi[1] < 0 && hi[2] < 0);
    assert_int_equal(ir_window_reach(window_grad(f, 11, 5, 2, 2), lo, hi), WINDOW_BOX);
    assert_int_equal(lo[1], 0);
    assert_int_equal(hi[1], 10);
    assert_true(hi[0] < 0 && hi[2] < 0);
    assert_int_equal(ir_window_reach(window_grad(f, 6, 2, 2, 3), lo, hi), WINDOW_DISJOINT);
    assert_int_equal(ir_window_reach(window_grad(f, 7, 3, 3, 2), lo, hi), WINDOW_OVERLAP);
    assert_int_equal(ir_window_reach(window_grad(f, 5, 3, 2, 2), lo, hi), WINDOW_OVERLAP); /* reaches 5 */
    IrValue *rep = window_grad(f, 4, 2, 2, 2); /* a variable no subscript uses repeats elements */
    rep->comp->out_sub[2] = sub_const(0);
    assert_int_equal(ir_window_reach(rep, lo, hi), WINDOW_OVERLAP);
    IrValue *neg = window_grad(f, 4, 2, 2, 2);
    neg->comp->out_sub[1].coef[3] = -1;
    assert_int_equal(ir_window_reach(neg, lo, hi), WINDOW_OVERLAP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_visit_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visit_nested_gather, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visit_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remap_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remap_vars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remap_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remap_subst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_remap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_uses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_uses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_of, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_reach, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
