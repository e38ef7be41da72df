/*
 * eval.c — the compile-time evaluator: operators, names, lists, attributes,
 * calls, statements (eval.h).
 */
#include "check/eval.h"

#include <math.h>
#include <string.h>

#include "check/tensor_ops.h"

#define MAX_EXPR_DEPTH 200 /* nesting of one expression (the parser allows deeper) */
#define MAX_EVAL_STEPS 500000L /* evaluations per program: defs that call each other twice
                                 * expand exponentially; real programs take thousands */
#define MAX_LIST_LEN (1 << 20)  /* elements of a compile-time list, bytes of a string */

/* ---- scalar builders for the operators ---- */

Scalar *b_add(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_ADD, o[0], o[1]); }
Scalar *b_sub(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_SUB, o[0], o[1]); }
Scalar *b_mul(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_MUL, o[0], o[1]); }
static Scalar *b_mod(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_MOD, o[0], o[1]); }
Scalar *b_pow(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_POW, o[0], o[1]); }
static Scalar *b_eq(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_EQ, o[0], o[1]); }
static Scalar *b_ne(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_NE, o[0], o[1]); }
static Scalar *b_lt(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_LT, o[0], o[1]); }
static Scalar *b_le(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_LE, o[0], o[1]); }
static Scalar *b_gt(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_GT, o[0], o[1]); }
static Scalar *b_ge(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_GE, o[0], o[1]); }
Scalar *b_neg(Arena *a, Scalar **o, const double *p) { (void)p; return s_un(a, S_NEG, o[0]); }
Scalar *b_not(Arena *a, Scalar **o, const double *p) { (void)p; return s_un(a, S_NOT, o[0]); }
static Scalar *b_select(Arena *a, Scalar **o, const double *p) { (void)p; return s_select(a, o[0], o[1], o[2]); }

/* Python's true division: the result is real even for integers. */
Scalar *b_div(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    Scalar *x = o[0]->type == DT_F32 ? o[0] : s_un(a, S_TOFLOAT, o[0]);
    Scalar *y = o[1]->type == DT_F32 ? o[1] : s_un(a, S_TOFLOAT, o[1]);
    return s_bin(a, S_DIV, x, y);
}

/* Python's floor division: an int when both operands are (i // 2 can subscript). */
static Scalar *b_floordiv(Arena *a, Scalar **o, const double *p)
{
    Scalar *r = s_un(a, S_FLOOR, b_div(a, o, p));
    if (o[0]->type == DT_I32 && o[1]->type == DT_I32)
        r->type = DT_I32;
    return r;
}

static Scalar *b_and(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_AND, s_truth(a, o[0]), s_truth(a, o[1]));
}

static Scalar *b_or(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_OR, s_truth(a, o[0]), s_truth(a, o[1]));
}


/* ------------------------------------------------------------------------
 * Operators
 * --------------------------------------------------------------------- */

static bool is_runtime(const Value *v)
{
    return v->kind == V_TENSOR || v->kind == V_WEIGHT || v->kind == V_SCALAR || v->kind == V_INDEX;
}

/* Integer arithmetic on compile-time ints (dimensions may involve N). */
static Value *int_binary(Elab *e, const Node *n, Value *x, Value *y)
{
    Arena *a = e->arena;
    Dim r;
    bool ok = true;
    bool cx = dim_is_const(x->i), cy = dim_is_const(y->i);
    switch (n->op) {
    case OP_ADD: ok = dim_add(x->i, y->i, &r); break;
    case OP_SUB: ok = dim_sub(x->i, y->i, &r); break;
    case OP_MUL:
        ok = dim_mul(x->i, y->i, &r);
        if (!ok && !cx && !cy) {
            diag_error(e->diag, n->loc, "cannot multiply %s by %s: the batch size cannot be squared",
                       dim_str(a, x->i), dim_str(a, y->i));
            return v_err(a);
        }
        break;
    case OP_MOD:
        if (!cx || !cy) {
            diag_error(e->diag, n->loc, "'%%' needs fixed ints; %s depends on the batch size",
                       dim_str(a, cx ? y->i : x->i));
            return v_err(a);
        }
        if (y->i.c == 0) {
            diag_error(e->diag, n->loc, "integer modulo by zero");
            return v_err(a);
        }
        /* Python's modulo takes the divisor's sign; x % -1 is 0 (C's INT64_MIN % -1 overflows) */
        r = dim_const(y->i.c == -1 ? 0 : x->i.c % y->i.c);
        if (r.c != 0 && (r.c < 0) != (y->i.c < 0))
            r.c += y->i.c;
        break;
    case OP_POW:
        if (!cx || !cy) {
            diag_error(e->diag, n->loc, "'**' needs fixed ints");
            return v_err(a);
        }
        if (y->i.c < 0)
            return v_float(a, pow((double)x->i.c, (double)y->i.c), n->loc);
        { /* by squaring: O(log exponent) steps, each overflow-checked */
            Dim base = x->i;
            int64_t k = y->i.c;
            r = dim_const(1);
            while (k > 0 && ok) {
                if (k & 1)
                    ok = dim_mul(r, base, &r);
                k >>= 1;
                if (k > 0 && ok)
                    ok = dim_mul(base, base, &base);
            }
        }
        break;
    default:
        KLC_UNREACHABLE();
    }
    if (!ok) {
        diag_error(e->diag, n->loc, "integer overflow in %s", node_text(a, n, 60));
        return v_err(a);
    }
    return v_dim(a, r, n->loc);
}

static Value *compare(Elab *e, const Node *n, Value *x, Value *y)
{
    Arena *a = e->arena;
    if (x->kind == V_STR && y->kind == V_STR) {
        int c = strcmp(x->s, y->s);
        if (n->op == OP_EQ)
            return v_bool(a, c == 0, n->loc);
        if (n->op == OP_NE)
            return v_bool(a, c != 0, n->loc);
    }
    if ((n->op == OP_EQ || n->op == OP_NE) && (x->kind == V_STR || y->kind == V_STR || x->kind == V_NONE ||
                                                 y->kind == V_NONE)) {
        bool eq = x->kind == y->kind && (x->kind == V_NONE || (x->kind == V_STR && !strcmp(x->s, y->s)));
        return v_bool(a, n->op == OP_EQ ? eq : !eq, n->loc);
    }
    if (x->kind == V_INT && y->kind == V_INT && !(dim_is_const(x->i) && dim_is_const(y->i))) {
        if (n->op == OP_EQ || n->op == OP_NE) {
            bool eq = dim_eq(x->i, y->i);
            return v_bool(a, n->op == OP_EQ ? eq : !eq, n->loc);
        }
        diag_error(e->diag, n->loc, "cannot order %s and %s: the batch size is not known at compile time",
                   dim_str(a, x->i), dim_str(a, y->i));
        return v_err(a);
    }
    return NULL; /* numbers and tensors: elementwise */
}

static Value *eval_binary(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    /* && and || short-circuit at compile time */
    if (n->op == OP_AND || n->op == OP_OR) {
        Value *x = eval(e, s, n->a);
        if (x->kind == V_ERR)
            return x;
        Value *y;
        if (x->kind == V_BOOL) {
            if (n->op == OP_AND && !x->b)
                return v_bool(a, false, n->loc);
            if (n->op == OP_OR && x->b)
                return v_bool(a, true, n->loc);
            y = eval(e, s, n->b);
            if (y->kind == V_ERR || y->kind == V_BOOL)
                return y;
            if (!is_runtime(y)) {
                diag_error(e->diag, n->b->loc, "'%s' needs bools, not %s", ast_binop_text(n->op), v_describe(a, y));
                return v_err(a);
            }
        } else {
            y = eval(e, s, n->b);
            if (y->kind == V_ERR)
                return y;
            if (!is_runtime(x)) {
                diag_error(e->diag, n->a->loc, "'%s' needs bools, not %s", ast_binop_text(n->op), v_describe(a, x));
                return v_err(a);
            }
        }
        Value *ops[2] = {x, y};
        const Node *nodes[2] = {n->a, n->b};
        return elementwise(e, n->loc, 2, ops, nodes, n->op == OP_AND ? b_and : b_or, NULL,
                           n->op == OP_AND ? "'&&'" : "'||'");
    }
    Value *x = eval(e, s, n->a);
    Value *y = eval(e, s, n->b);
    if (x->kind == V_ERR || y->kind == V_ERR)
        return v_err(a);
    if (n->op == OP_MATMUL)
        return matmul(e, n->loc, x, y, n->a, n->b);

    /* index arithmetic inside index expressions stays affine when it can */
    if (e->comp && (x->kind == V_INDEX || y->kind == V_INDEX) &&
        (n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL)) {
        bool xi = x->kind == V_INDEX || (x->kind == V_INT && dim_is_const(x->i));
        bool yi = y->kind == V_INDEX || (y->kind == V_INT && dim_is_const(y->i));
        if (xi && yi && !(n->op == OP_MUL && x->kind == V_INDEX && y->kind == V_INDEX)) {
            Sub sx = x->kind == V_INDEX ? x->sub : sub_const(x->i.c);
            Sub sy = y->kind == V_INDEX ? y->sub : sub_const(y->i.c);
            Sub r;
            memset(&r, 0, sizeof r);
            bool ok = true;
            if (n->op == OP_MUL) {
                const Sub *idx = x->kind == V_INDEX ? &sx : &sy;
                int64_t k = x->kind == V_INDEX ? sy.off : sx.off;
                for (int v = 0; v < KLC_MAXVARS; v++)
                    ok = ok && !__builtin_mul_overflow(idx->coef[v], k, &r.coef[v]);
                ok = ok && !__builtin_mul_overflow(idx->off, k, &r.off);
            } else if (n->op == OP_SUB) {
                for (int v = 0; v < KLC_MAXVARS; v++)
                    ok = ok && !__builtin_sub_overflow(sx.coef[v], sy.coef[v], &r.coef[v]);
                ok = ok && !__builtin_sub_overflow(sx.off, sy.off, &r.off);
            } else {
                for (int v = 0; v < KLC_MAXVARS; v++)
                    ok = ok && !__builtin_add_overflow(sx.coef[v], sy.coef[v], &r.coef[v]);
                ok = ok && !__builtin_add_overflow(sx.off, sy.off, &r.off);
            }
            if (!ok) {
                diag_error(e->diag, n->loc, "index arithmetic overflows");
                return v_err(a);
            }
            Value *v = v_new(a, V_INDEX, n->loc);
            v->sub = r;
            return v;
        }
    }

    if (x->kind == V_INT && y->kind == V_INT &&
        (n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL || n->op == OP_MOD || n->op == OP_POW))
        return int_binary(e, n, x, y);
    if (x->kind == V_INT && y->kind == V_INT && n->op == OP_FLOORDIV) {
        if (dim_is_const(y->i) && y->i.c == 0) {
            diag_error(e->diag, n->loc, "integer division by zero");
            return v_err(a);
        }
        if (dim_is_const(x->i) && dim_is_const(y->i)) {
            if (x->i.c == INT64_MIN && y->i.c == -1) {
                diag_error(e->diag, n->loc, "integer overflow in %s", node_text(a, n, 60));
                return v_err(a);
            }
            int64_t q = x->i.c / y->i.c;
            if ((x->i.c % y->i.c != 0) && ((x->i.c < 0) != (y->i.c < 0)))
                q--;
            return v_int(a, q, n->loc);
        }
        Dim r;
        if (dim_div_exact(x->i, y->i, &r))
            return v_dim(a, r, n->loc);
        if (dim_is_const(y->i) && y->i.c == -1) { /* always exact: only overflow fails */
            diag_error(e->diag, n->loc, "integer overflow in %s", node_text(a, n, 60));
            return v_err(a);
        }
        diag_error(e->diag, n->loc, "cannot divide %s by %s: the batch size is not known at compile time",
                   dim_str(a, x->i), dim_str(a, y->i));
        return v_err(a);
    }
    if (n->op == OP_DIV && x->kind == V_INT && y->kind == V_INT && !(dim_is_const(x->i) && dim_is_const(y->i))) {
        diag_error(e->diag, n->loc, "cannot divide %s by %s: the batch size is not known at compile time",
                   dim_str(a, x->i), dim_str(a, y->i));
        return v_err(a);
    }
    if ((x->kind == V_STR && y->kind == V_STR) || (x->kind == V_LIST && y->kind == V_LIST)) {
        size_t len = x->kind == V_STR ? strlen(x->s) + strlen(y->s) : (size_t)x->n + (size_t)y->n;
        if (n->op == OP_ADD && len > MAX_LIST_LEN) {
            diag_error(e->diag, n->loc, "this %s would have %zu %s; at most %d are supported",
                       x->kind == V_STR ? "string" : "list", len, x->kind == V_STR ? "characters" : "elements",
                       MAX_LIST_LEN);
            return v_err(a);
        }
    }
    if (x->kind == V_STR && y->kind == V_STR && n->op == OP_ADD)
        return v_str(a, arena_printf(a, "%s%s", x->s, y->s), n->loc);
    if (x->kind == V_LIST && y->kind == V_LIST && n->op == OP_ADD) {
        Value *l = v_new(a, V_LIST, n->loc);
        l->n = x->n + y->n;
        l->items = arena_alloc(a, sizeof(Value *) * (size_t)(l->n ? l->n : 1));
        for (int i = 0; i < x->n; i++)
            l->items[i] = x->items[i];
        for (int i = 0; i < y->n; i++)
            l->items[x->n + i] = y->items[i];
        return l;
    }
    if (n->op >= OP_EQ && n->op <= OP_GE) {
        Value *c = compare(e, n, x, y);
        if (c)
            return c;
    }
    ScalarBuilder build = NULL;
    switch (n->op) {
    case OP_ADD: build = b_add; break;
    case OP_SUB: build = b_sub; break;
    case OP_MUL: build = b_mul; break;
    case OP_DIV: build = b_div; break;
    case OP_FLOORDIV: build = b_floordiv; break;
    case OP_MOD: build = b_mod; break;
    case OP_POW: build = b_pow; break;
    case OP_EQ: build = b_eq; break;
    case OP_NE: build = b_ne; break;
    case OP_LT: build = b_lt; break;
    case OP_LE: build = b_le; break;
    case OP_GT: build = b_gt; break;
    case OP_GE: build = b_ge; break;
    default: KLC_UNREACHABLE();
    }
    Value *ops[2] = {x, y};
    const Node *nodes[2] = {n->a, n->b};
    const char *what = arena_printf(a, "'%s'", ast_binop_text(n->op));
    return elementwise(e, n->loc, 2, ops, nodes, build, NULL, what);
}

static Value *eval_unary(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *x = eval(e, s, n->a);
    if (x->kind == V_ERR)
        return x;
    if (n->op == '+') {
        if (x->kind == V_INT || x->kind == V_FLOAT || is_runtime(x))
            return x;
    } else if (n->op == '-') {
        if (x->kind == V_INT) {
            Dim r;
            if (dim_sub(dim_const(0), x->i, &r))
                return v_dim(a, r, n->loc);
        }
        if (x->kind == V_FLOAT)
            return v_float(a, -x->f, n->loc);
        if (x->kind == V_INDEX) {
            Value *v = v_new(a, V_INDEX, n->loc);
            bool ok = true;
            for (int k = 0; k < KLC_MAXVARS; k++)
                ok = ok && !__builtin_sub_overflow((int64_t)0, x->sub.coef[k], &v->sub.coef[k]);
            ok = ok && !__builtin_sub_overflow((int64_t)0, x->sub.off, &v->sub.off);
            if (!ok) {
                diag_error(e->diag, n->loc, "index arithmetic overflows");
                return v_err(a);
            }
            return v;
        }
        if (is_runtime(x)) {
            Value *ops[1] = {x};
            const Node *nodes[1] = {n->a};
            return elementwise(e, n->loc, 1, ops, nodes, b_neg, NULL, "unary '-'");
        }
    } else if (n->op == '!') {
        if (x->kind == V_BOOL)
            return v_bool(a, !x->b, n->loc);
        if (is_runtime(x)) {
            Value *ops[1] = {x};
            const Node *nodes[1] = {n->a};
            return elementwise(e, n->loc, 1, ops, nodes, b_not, NULL, "'!'");
        }
    }
    diag_error(e->diag, n->loc, "unary '%c' cannot be applied to %s", n->op, v_describe(a, x));
    return v_err(a);
}

static Value *eval_ternary(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *c = eval(e, s, n->a);
    if (c->kind == V_ERR)
        return c;
    if (c->kind == V_BOOL) /* compile time: only the chosen branch is evaluated */
        return eval(e, s, c->b ? n->b : n->c);
    if (!is_runtime(c)) {
        diag_error(e->diag, n->a->loc, "the condition of '?:' must be a bool, not %s", v_describe(a, c));
        return v_err(a);
    }
    Value *x = eval(e, s, n->b), *y = eval(e, s, n->c);
    Value *ops[3] = {c, x, y};
    const Node *nodes[3] = {n->a, n->b, n->c};
    if (x->kind == V_ERR || y->kind == V_ERR)
        return v_err(a);
    return elementwise(e, n->loc, 3, ops, nodes, b_select, NULL, "'?:'");
}

/* ------------------------------------------------------------------------
 * Names, lists, attributes, calls
 * --------------------------------------------------------------------- */

/* Suggestions for an unknown name in an expression: builtins, then the scopes. */
typedef struct NamesCtx {
    const Elab *e;
    const Scope *s;
} NamesCtx;

static void names_in_scope(const void *ctx, Arena *a, PtrVec *out)
{
    const NamesCtx *nc = ctx;
    push_builtin_names(a, out, nc->e->sema->builtins, false);
    push_scope_names(a, out, nc->s);
}

static Value *eval_name(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    if (n->flags & NODE_REPORTED)
        return v_err(a);
    Value *v = scope_lookup(s, n->name);
    if (v) {
        if (v->kind == V_WEIGHT && e->in_call)
            return as_tensor(e, v, n);
        if (v->kind == V_BUILTIN) { /* a builtin used as a value */
            if (v->native->as_value)
                return v->native->as_value(e, v, n);
            Value *f = v_new(a, V_FN, n->loc);
            f->native = v->native;
            f->s = v->native->name;
            return f;
        }
        return v;
    }
    NamesCtx nc = {e, s};
    report_unknown_name(e->diag, a, n->loc, n->name, names_in_scope, &nc);
    return v_err(a);
}

static Value *eval_list(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *l = v_new(a, V_LIST, n->loc);
    l->n = n->list.len;
    l->items = arena_alloc(a, sizeof(Value *) * (size_t)(l->n ? l->n : 1));
    /* a list with a poisoned element still carries the others (a Sequential keeps checking) */
    for (int i = 0; i < n->list.len; i++)
        l->items[i] = eval(e, s, n->list.items[i]);
    return l;
}

static Value *eval_attr(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *base = eval(e, s, n->a);
    if (base->kind == V_ERR)
        return base;
    if (base->kind == V_MODEL) {
        const Value *method = scope_lookup_local(e->sema->model_methods, n->name);
        if (method) {
            Value *m = v_new(a, V_METHOD, n->loc);
            m->model = base->model;
            m->s = method->s;
            m->native = method->native;
            return m;
        }
        PtrVec methods = {0};
        push_scope_names(a, &methods, e->sema->model_methods);
        diag_error(e->diag, n->loc, "a model has no attribute '%s'%s (klc models have compile, fit and add)",
                   n->name, suggest(a, n->name, (const char *const *)methods.items, methods.len));
        return v_err(a);
    }
    /* a weight's shape is known in build(), before it becomes a tensor in call(): shape(kernel) */
    if (base->kind == V_WEIGHT && strcmp(n->name, "shape") == 0)
        return shape_list(e, &base->weight->shape, n->loc);
    if (base->kind == V_BUILD_INPUT && strcmp(n->name, "shape") == 0) /* build()'s input */
        return shape_list(e, &base->shape, n->loc);
    if (base->kind == V_BUILD_INPUT && strcmp(n->name, "ndim") == 0)
        return v_int(a, base->shape.rank, n->loc);
    if (base->kind == V_WEIGHT && strcmp(n->name, "ndim") == 0)
        return v_int(a, base->weight->shape.rank, n->loc);
    if (base->kind == V_WEIGHT && (base = as_tensor(e, base, n->a))->kind == V_ERR)
        return base;
    if (base->kind == V_TENSOR && strcmp(n->name, "shape") == 0)
        return shape_list(e, &base->t->shape, n->loc);
    if (base->kind == V_TENSOR && strcmp(n->name, "ndim") == 0)
        return v_int(a, base->t->shape.rank, n->loc);
    diag_error(e->diag, n->loc, "%s has no attribute '%s'", v_describe(a, base), n->name);
    return v_err(a);
}

/* A[i] on a compile-time list (negative indices count from the end). */
static Value *eval_index(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *base = eval(e, s, n->a);
    if (base->kind == V_ERR)
        return base;
    if (base->kind == V_LIST) {
        if (n->list.len != 1) {
            diag_error(e->diag, n->loc, "a list takes one subscript");
            return v_err(a);
        }
        Value *iv = eval(e, s, n->list.items[0]);
        int64_t i;
        if (!want_int(e, iv, n->list.items[0], "a list subscript", &i))
            return v_err(a);
        int64_t j = i < 0 ? i + base->n : i;
        if (j < 0 || j >= base->n) {
            diag_error(e->diag, n->list.items[0]->loc, "list index %lld out of range for a list of %d", (long long)i,
                       base->n);
            return v_err(a);
        }
        return base->items[j];
    }
    if (base->kind == V_TENSOR || base->kind == V_WEIGHT)
        return e->sema->index_forms->read(e, s, n);
    diag_error(e->diag, n->loc, "%s cannot be subscripted", v_describe(a, base));
    return v_err(a);
}

static Args *eval_args(Elab *e, Scope *s, const Node *call)
{
    Arena *a = e->arena;
    Args *args = arena_alloc(a, sizeof *args);
    int n = call->list.len;
    args->pos = arena_alloc(a, sizeof(Value *) * (size_t)(n + 1));
    args->pos_node = arena_alloc(a, sizeof(Node *) * (size_t)(n + 1));
    args->kw = arena_alloc(a, sizeof(Value *) * (size_t)(n + 1));
    args->kw_node = arena_alloc(a, sizeof(Node *) * (size_t)(n + 1));
    args->kw_name = arena_alloc(a, sizeof(char *) * (size_t)(n + 1));
    args->loc = call->loc;
    args->call = call;
    for (int i = 0; i < n; i++) {
        const Node *arg = call->list.items[i];
        if (arg->kind == N_KWARG) {
            for (int k = 0; k < args->n_kw; k++)
                if (strcmp(args->kw_name[k], arg->name) == 0) {
                    diag_error(e->diag, arg->loc, "keyword argument '%s' given twice", arg->name);
                    break;
                }
            args->kw_name[args->n_kw] = arg->name;
            args->kw_node[args->n_kw] = arg;
            args->kw[args->n_kw++] = eval(e, s, arg->a);
        } else {
            if (args->n_kw > 0) {
                diag_error(e->diag, arg->loc, "positional argument after keyword arguments");
                continue;
            }
            args->pos_node[args->n_pos] = arg;
            args->pos[args->n_pos++] = eval(e, s, arg);
        }
    }
    return args;
}

static Value *eval_call(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    /* a builtin is called by its name (a Keras name called is a configuration, not a string) */
    Value *callee = n->a->kind == N_NAME ? scope_lookup(s, n->a->name) : NULL;
    if (!callee || callee->kind != V_BUILTIN)
        callee = eval(e, s, n->a);
    if (callee->kind == V_ERR) {
        eval_args(e, s, n); /* still check the arguments */
        return callee;
    }
    if (callee->native && callee->native->check_call && !callee->native->check_call(e, callee, n))
        return v_err(a);
    Args *args = eval_args(e, s, n);
    return call_value(e, callee, args, n);
}

/* Inline a user `def`: bind its parameters and evaluate its body. */
static Value *call_def(Elab *e, Value *fnv, Args *args, const Node *call)
{
    Arena *a = e->arena;
    const Node *def = fnv->def;
    int np = def->list.len;
    const char **names = arena_alloc(a, sizeof(char *) * (size_t)(np + 1));
    for (int i = 0; i < np; i++)
        names[i] = def->list.items[i]->name;
    Value **vals = arena_alloc(a, sizeof(Value *) * (size_t)(np + 1));
    const char *what = arena_printf(a, "'%s'", def->name);
    if (!bind_args(e, args, what, np, names, vals, NULL))
        return v_err(a);
    for (int i = 0; i < np; i++) {
        if (!vals[i]) {
            diag_error(e->diag, call->loc, "%s is missing argument '%s'", what, names[i]);
            return v_err(a);
        }
        if (vals[i]->kind == V_ERR)
            return v_err(a);
    }
    if (e->depth > 32) {
        diag_error(e->diag, call->loc, "'%s' calls itself too deeply (defs are inlined; recursion is not allowed)",
                   def->name);
        return v_err(a);
    }
    Scope *sc = scope_new(a, decl_scope(e->sema, def));
    for (int i = 0; i < np; i++)
        scope_bind(a, sc, names[i], vals[i]);
    e->depth++;
    Value *r = eval(e, sc, def->a);
    e->depth--;
    return r;
}

Value *call_value(Elab *e, Value *callee, Args *args, const Node *call)
{
    Arena *a = e->arena;
    if (callee->kind == V_FN && callee->def)
        return call_def(e, callee, args, call);
    if (callee->native) /* a builtin, a layer class, a model method */
        return callee->native->call(e, callee, args, call);
    switch (callee->kind) {
    case V_CONFIG:
        diag_error(e->diag, call->loc, "'%s(...)' is a configuration, not a function", callee->s);
        return v_err(a);
    case V_LAYER:
        if (e->in_call && e->layer)
            diag_error(e->diag, call->loc, "%s is not a sub-layer of '%s': create it in build() (like d = %s(...)) "
                       "and call it in call()", v_describe(a, callee), e->layer->name, callee->layer->cls->name);
        else
            diag_error(e->diag, call->loc,
                       "calling a layer on a tensor is not supported: layers are composed in Sequential([...]), "
                       "and a layer's call() calls the layers its build() created");
        return v_err(a);
    default:
        diag_error(e->diag, call->loc, "%s is not callable", v_describe(a, callee));
        return v_err(a);
    }
}

static Value *eval_node(Elab *e, Scope *s, const Node *n);

/* Poison (V_ERR) means an error was reported: one that was not would let a
 * wrong program pass as correct, so that is an internal fault. */
Value *eval(Elab *e, Scope *s, const Node *n)
{
    Value *v = eval_node(e, s, n);
    if (v->kind == V_ERR && diag_error_count(e->diag) == 0)
        klc_internal_fault(__FILE__, __LINE__, "an expression failed without a message (%s:%d)",
                           n->loc.file ? n->loc.file->path : "?", n->loc.start);
    return v;
}

static Value *eval_node(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    if (++e->sema->steps > MAX_EVAL_STEPS) {
        if (e->sema->steps == MAX_EVAL_STEPS + 1)
            diag_error(e->diag, n->loc, "checking this program takes too long (more than %ld evaluation steps); "
                       "do defs call each other many times over?", MAX_EVAL_STEPS);
        return v_err(a);
    }
    if (n->depth > MAX_EXPR_DEPTH) {
        diag_error(e->diag, n->loc, "expression nested too deeply (more than %d levels)", MAX_EXPR_DEPTH);
        return v_err(a);
    }
    switch (n->kind) {
    case N_INT: return v_int(a, n->ival, n->loc);
    case N_FLOAT: return v_float(a, n->fval, n->loc);
    case N_STR: return v_str(a, n->name, n->loc);
    case N_BOOL: return v_bool(a, n->bval, n->loc);
    case N_NONE: return v_new(a, V_NONE, n->loc);
    case N_NAME: return eval_name(e, s, n);
    case N_LIST: return eval_list(e, s, n);
    case N_UNARY: return eval_unary(e, s, n);
    case N_BINARY: return eval_binary(e, s, n);
    case N_TERNARY: return eval_ternary(e, s, n);
    case N_CALL: return eval_call(e, s, n);
    case N_INDEX: return eval_index(e, s, n);
    case N_ATTR: return eval_attr(e, s, n);
    case N_REDUCE: return e->sema->index_forms->reduce(e, s, n);
    case N_KWARG:
        diag_error(e->diag, n->loc, "keyword arguments are only allowed in calls");
        return v_err(a);
    default:
        diag_error(e->diag, n->loc, "this is not an expression");
        return v_err(a);
    }
}

/* ------------------------------------------------------------------------
 * Statements
 * --------------------------------------------------------------------- */

static bool is_call_to(const Node *n, const char *name)
{
    return n && n->kind == N_CALL && n->a->kind == N_NAME && strcmp(n->a->name, name) == 0;
}

static void exec_stmt(Elab *e, Scope *s, const Node *st)
{
    Arena *a = e->arena;
    switch (st->kind) {
    case N_ASSIGN: {
        const Node *t = st->a;
        if (t->kind == N_INDEX) {
            if (!e->in_call) {
                diag_error(e->diag, st->loc, "index expressions define tensors and are only allowed in call()");
                return;
            }
            Value *v = e->sema->index_forms->statement(e, s, st);
            if (t->a->kind == N_NAME)
                scope_bind(a, s, t->a->name, v);
            return;
        }
        if (t->kind != N_NAME) {
            diag_error(e->diag, t->loc, "cannot assign to %s; assign to a name", node_text(a, t, 40));
            return;
        }
        if (st->b) {
            diag_error(e->diag, st->b->loc, "a declared shape needs index variables: %s[i, j] : [...] = ...",
                       t->name);
            return;
        }
        const char *saved = e->assign_target, *saved_bind = e->bind_target;
        const Node *saved_call = e->bind_call;
        e->assign_target = is_call_to(st->c, "add_weight") ? t->name : NULL;
        e->bind_target = t->name;
        e->bind_call = st->c;
        Value *v = eval(e, s, st->c);
        e->assign_target = saved;
        e->bind_target = saved_bind;
        e->bind_call = saved_call;
        if (v->kind == V_TENSOR && !v->t->name && e->in_call)
            v->t->name = t->name;
        Value *old = scope_lookup(s, t->name);
        if (old && old->kind == V_WEIGHT && e->in_call) {
            diag_error(e->diag, t->loc, "'%s' is a weight; weights change only through assign(%s, value) "
                       "(for non-trainable state) or the optimizer", t->name, t->name);
            return;
        }
        scope_bind(a, s, t->name, v);
        return;
    }
    case N_IF: {
        Value *c = eval(e, s, st->a);
        bool b;
        if (!want_bool(e, c, st->a, "an 'if' condition", &b))
            return;
        if (b)
            exec_block(e, s, st->b);
        else if (st->c && st->c->kind == N_BLOCK)
            exec_block(e, s, st->c);
        else if (st->c)
            exec_stmt(e, s, st->c);
        return;
    }
    case N_RETURN: {
        if (!e->in_call) {
            diag_error(e->diag, st->loc, "'return' is only allowed in call()");
            return;
        }
        Value *v = eval(e, s, st->a);
        if (v->kind == V_WEIGHT)
            v = as_tensor(e, v, st->a);
        if (v->kind != V_ERR && v->kind != V_TENSOR) {
            diag_error(e->diag, st->a->loc, "call() must return a tensor, not %s", v_describe(a, v));
            v = v_err(a);
        }
        e->result = v;
        e->returned = true;
        return;
    }
    case N_EXPR: {
        const Node *x = st->a;
        Value *v = eval(e, s, x);
        if (v->kind == V_ERR || v->kind == V_NONE)
            return;
        diag_error(e->diag, x->loc, "the value of this expression is not used");
        return;
    }
    case N_BLOCK:
        exec_block(e, s, st);
        return;
    case N_SCAN:
        e->sema->scan(e, s, st);
        return;
    default:
        diag_error(e->diag, st->loc, "this is not a statement");
    }
}

/* Statements in order until a return.  A statement right after a `return`
 * of the same block can never run and is an error; after a return inside a
 * compile-time `if`, the rest is simply not part of this specialisation. */
void exec_block(Elab *e, Scope *s, const Node *block)
{
    for (int i = 0; i < block->list.len; i++) {
        const Node *st = block->list.items[i];
        if (!st)
            continue;
        if (i > 0 && block->list.items[i - 1] && block->list.items[i - 1]->kind == N_RETURN) {
            diag_error(e->diag, st->loc, "statement after 'return' is never executed");
            return;
        }
        if (e->returned)
            return;
        exec_stmt(e, s, st);
    }
}

