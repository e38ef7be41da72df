/*
 * lr_fn.c — a LearningRateScheduler def as C (lr_fn.h).
 *
 * The C is double arithmetic throughout (ints are exact in a double up to
 * 2^53), so a division by zero gives an infinity or a NaN, which the runtime
 * refuses as a learning rate, instead of trapping.  Each subexpression also
 * carries the type Python would give it — int, float or bool — so that the
 * result is known to be a float, as Keras requires ("The output of the
 * `schedule` function should be a float").
 */
#include "check/lr_fn.h"

#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/diag.h"

typedef enum { T_BOOL, T_INT, T_FLOAT } LrType;

typedef struct {
    const char *c;            /* C text, parenthesised: a double, or for T_BOOL an int condition */
    LrType t;
} LrExpr;

typedef struct {
    Elab *e;
    const char *epoch_name, *lr_name; /* the def's parameters (lr_name may be NULL) */
    bool ok;
} LrCtx;

static const char *const math_fns[] = {"exp", "log", "sqrt", "cos", "sin", "tanh", "pow", "abs", "min", "max",
                                       "floor", "ceil", "float", "int"};
#define N_MATH_FNS ((int)(sizeof math_fns / sizeof math_fns[0]))

static LrExpr fail(LrCtx *x, const Node *n, const char *why)
{
    if (x->ok)
        diag_error(x->e->diag, n->loc, "%s; a LearningRateScheduler schedule is computed as the program runs from "
                   "its epoch and learning-rate parameters, numbers, top-level constants, arithmetic, comparisons, "
                   "and, or, ?: and exp, log, sqrt, cos, sin, tanh, pow, abs, min, max, floor, ceil, float, int",
                   why);
    x->ok = false;
    return (LrExpr){"0", T_FLOAT};
}

/* A double literal C reads back exactly, always with a '.' or an exponent. */
static const char *real_literal(Arena *a, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    if (!strpbrk(buf, ".eEn"))
        strcat(buf, ".0");
    return arena_strdup(a, buf);
}

static const char *int_literal(Arena *a, int64_t v)
{
    return real_literal(a, (double)v);
}

static LrExpr translate(LrCtx *x, const Node *n);

/* As a double / as a C condition. */
static const char *num(Arena *a, LrExpr v)
{
    return v.t == T_BOOL ? arena_printf(a, "(%s ? 1.0 : 0.0)", v.c) : v.c;
}

static const char *cond(Arena *a, LrExpr v)
{
    return v.t == T_BOOL ? v.c : arena_printf(a, "(%s != 0.0)", v.c);
}

static LrExpr name_value(LrCtx *x, const Node *n)
{
    Arena *a = x->e->arena;
    if (!strcmp(n->name, x->epoch_name))
        return (LrExpr){"((double)epoch)", T_INT};
    if (x->lr_name && !strcmp(n->name, x->lr_name))
        return (LrExpr){"lr", T_FLOAT};
    Value *v = scope_lookup(x->e->sema->globals, n->name);
    if (v && v->kind == V_INT && v->i.k == 0)
        return (LrExpr){int_literal(a, v->i.c), T_INT};
    if (v && v->kind == V_FLOAT)
        return (LrExpr){real_literal(a, v->f), T_FLOAT};
    if (v && v->kind == V_BOOL)
        return (LrExpr){v->b ? "1" : "0", T_BOOL};
    return fail(x, n, arena_printf(a, "'%s' is %s", n->name,
                                   v ? arena_printf(a, "%s, not a number", v_describe(a, v)) : "not a parameter or a "
                                                                                               "top-level number"));
}

static LrExpr binary(LrCtx *x, const Node *n)
{
    Arena *a = x->e->arena;
    LrExpr l = translate(x, n->a), r = translate(x, n->b);
    LrType t = l.t != T_FLOAT && r.t != T_FLOAT ? T_INT : T_FLOAT;
    if (n->op == OP_AND || n->op == OP_OR) {
        if (l.t != T_BOOL || r.t != T_BOOL)
            return fail(x, n, "'and' and 'or' take conditions here (write c ? a : b to choose a value)");
        return (LrExpr){arena_printf(a, "(%s %s %s)", l.c, n->op == OP_AND ? "&&" : "||", r.c), T_BOOL};
    }
    l.c = num(a, l);
    r.c = num(a, r);
    const char *op = NULL;
    switch (n->op) {
    case OP_ADD: op = "+"; break;
    case OP_SUB: op = "-"; break;
    case OP_MUL: op = "*"; break;
    case OP_DIV: /* Python's true division */
        return (LrExpr){arena_printf(a, "(%s / %s)", l.c, r.c), T_FLOAT};
    case OP_FLOORDIV:
        return (LrExpr){arena_printf(a, "floor(%s / %s)", l.c, r.c), t};
    case OP_MOD: /* the sign of the divisor, as Python's */
        return (LrExpr){arena_printf(a, "(%s - floor(%s / %s) * %s)", l.c, l.c, r.c, r.c), t};
    case OP_POW:
        return (LrExpr){arena_printf(a, "pow(%s, %s)", l.c, r.c), T_FLOAT};
    case OP_EQ: op = "=="; break;
    case OP_NE: op = "!="; break;
    case OP_LT: op = "<"; break;
    case OP_LE: op = "<="; break;
    case OP_GT: op = ">"; break;
    case OP_GE: op = ">="; break;
    default: return fail(x, n, "this operator is not arithmetic on numbers");
    }
    if (n->op >= OP_EQ)
        return (LrExpr){arena_printf(a, "(%s %s %s)", l.c, op, r.c), T_BOOL};
    return (LrExpr){arena_printf(a, "(%s %s %s)", l.c, op, r.c), t};
}

static const char *fn_name(const Node *callee)
{
    if (callee->kind == N_NAME)
        return callee->name;
    if (callee->kind == N_ATTR) { /* math.exp, ops.exp, keras.ops.exp, np.exp */
        for (const Node *b = callee->a; b; b = b->kind == N_ATTR ? b->a : NULL)
            if (b->kind != N_ATTR && b->kind != N_NAME)
                return NULL;
        return callee->name;
    }
    return NULL;
}

static LrExpr call(LrCtx *x, const Node *n)
{
    Arena *a = x->e->arena;
    const char *name = fn_name(n->a);
    int found = -1;
    for (int i = 0; name && i < N_MATH_FNS; i++)
        if (!strcmp(name, math_fns[i]))
            found = i;
    if (found < 0)
        return fail(x, n, name ? arena_printf(a, "'%s' cannot be called here", name) : "this cannot be called here");
    int want = !strcmp(name, "pow") || !strcmp(name, "min") || !strcmp(name, "max") ? 2 : 1;
    if (n->list.len != want || n->list.items[0]->kind == N_KWARG ||
        (want == 2 && n->list.items[1]->kind == N_KWARG))
        return fail(x, n, arena_printf(a, "%s() takes %d positional argument%s", name, want, want == 1 ? "" : "s"));
    LrExpr u = translate(x, n->list.items[0]);
    LrExpr v = want == 2 ? translate(x, n->list.items[1]) : u;
    LrType t = u.t != T_FLOAT && v.t != T_FLOAT ? T_INT : T_FLOAT;
    u.c = num(a, u);
    v.c = num(a, v);
    if (!strcmp(name, "float"))
        return (LrExpr){u.c, T_FLOAT};
    if (!strcmp(name, "int"))
        return (LrExpr){arena_printf(a, "trunc(%s)", u.c), T_INT};
    if (!strcmp(name, "abs"))
        return (LrExpr){arena_printf(a, "fabs(%s)", u.c), t};
    if (!strcmp(name, "min") || !strcmp(name, "max"))
        return (LrExpr){arena_printf(a, "(%s %s %s ? %s : %s)", u.c, name[1] == 'i' ? "<=" : ">=", v.c, u.c, v.c),
                        t};
    if (!strcmp(name, "pow"))
        return (LrExpr){arena_printf(a, "pow(%s, %s)", u.c, v.c), T_FLOAT};
    if (!strcmp(name, "floor") || !strcmp(name, "ceil")) /* math.floor gives an int */
        return (LrExpr){arena_printf(a, "%s(%s)", name, u.c), T_INT};
    return (LrExpr){arena_printf(a, "%s(%s)", name, u.c), T_FLOAT};
}

static LrExpr translate(LrCtx *x, const Node *n)
{
    Arena *a = x->e->arena;
    switch (n->kind) {
    case N_INT: return (LrExpr){int_literal(a, n->ival), T_INT};
    case N_FLOAT: return (LrExpr){real_literal(a, n->fval), T_FLOAT};
    case N_BOOL: return (LrExpr){n->bval ? "1" : "0", T_BOOL};
    case N_NAME: return name_value(x, n);
    case N_UNARY: {
        LrExpr u = translate(x, n->a);
        if (n->op == '!')
            return (LrExpr){arena_printf(a, "(!%s)", cond(a, u)), T_BOOL};
        return (LrExpr){arena_printf(a, "(%s%s)", n->op == '-' ? "-" : "+", num(a, u)), u.t == T_BOOL ? T_INT : u.t};
    }
    case N_BINARY: return binary(x, n);
    case N_TERNARY: {
        LrExpr c = translate(x, n->a), p = translate(x, n->b), q = translate(x, n->c);
        if (p.t == T_BOOL && q.t == T_BOOL)
            return (LrExpr){arena_printf(a, "(%s ? %s : %s)", cond(a, c), p.c, q.c), T_BOOL};
        LrType t = p.t == T_FLOAT || q.t == T_FLOAT ? T_FLOAT : T_INT;
        return (LrExpr){arena_printf(a, "(%s ? %s : %s)", cond(a, c), num(a, p), num(a, q)), t};
    }
    case N_CALL: return call(x, n);
    default: return fail(x, n, "this is not a number");
    }
}

const char *lr_fn_translate(Elab *e, const Value *fn, const Node *at)
{
    Arena *a = e->arena;
    if (fn->kind != V_FN || !fn->def || fn->def->kind != N_DEF) {
        diag_error(e->diag, at->loc, "LearningRateScheduler takes a def of the epoch and the learning rate "
                   "(def schedule(epoch, lr) = epoch < 10 ? lr : lr * 0.9;), not %s", v_describe(a, fn));
        return NULL;
    }
    const Node *def = fn->def;
    if (def->list.len < 1 || def->list.len > 2) {
        diag_error(e->diag, at->loc, "the schedule '%s' must take the epoch and, optionally, the learning rate "
                   "(it takes %d parameters)", def->name, def->list.len);
        return NULL;
    }
    LrCtx x = {e, def->list.items[0]->name, def->list.len == 2 ? def->list.items[1]->name : NULL, true};
    LrExpr r = translate(&x, def->a);
    if (!x.ok)
        return NULL;
    if (r.t != T_FLOAT) {
        diag_error(e->diag, def->a->loc, "the schedule '%s' must give a float (Keras: \"The output of the "
                   "`schedule` function should be a float\"); write it with a float, like 0.01 or float(...)",
                   def->name);
        return NULL;
    }
    return r.c;
}
