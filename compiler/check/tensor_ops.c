/*
 * tensor_ops.c — elementwise operations with broadcasting (and their
 * compile-time folding), matrix products.
 */
#include "check/tensor_ops.h"

#include <math.h>
#include <string.h>

#include "check/comp_ctx.h"

static bool is_number(const Value *v)
{
    return v->kind == V_FLOAT || v->kind == V_BOOL || (v->kind == V_INT && dim_is_const(v->i));
}

static double number(const Value *v)
{
    return v->kind == V_FLOAT ? v->f : v->kind == V_BOOL ? (double)v->b : (double)v->i.c;
}

/* Evaluate a scalar tree made only of constants (compile-time folding). */
static bool fold(const Scalar *s, double *out)
{
    return sop_eval(s, out);
}

/* The extent of out axis j when broadcasting shapes (NumPy: right-aligned, 1 stretches). */
static bool broadcast(Elab *e, SrcLoc loc, int n, Value **ops, Shape *out, const char *what)
{
    int rank = 0;
    for (int i = 0; i < n; i++)
        if (ops[i]->kind == V_TENSOR && ops[i]->t->shape.rank > rank)
            rank = ops[i]->t->shape.rank;
    memset(out, 0, sizeof *out);
    out->rank = rank;
    for (int j = 0; j < rank; j++)
        out->d[j] = dim_const(1);
    for (int i = 0; i < n; i++) {
        if (ops[i]->kind != V_TENSOR)
            continue;
        const Shape *s = &ops[i]->t->shape;
        for (int j = 0; j < s->rank; j++) {
            Dim *o = &out->d[rank - s->rank + j];
            Dim d = s->d[j];
            if (dim_eq(d, dim_const(1)) || dim_eq(d, *o))
                continue;
            if (dim_eq(*o, dim_const(1))) {
                *o = d;
                continue;
            }
            /* find the first operand that set *o, for the message */
            const Value *other = NULL;
            for (int k = 0; k < i; k++)
                if (ops[k]->kind == V_TENSOR) {
                    const Shape *t = &ops[k]->t->shape;
                    int pos = rank - s->rank + j - (rank - t->rank);
                    if (pos >= 0 && pos < t->rank && dim_eq(t->d[pos], *o)) {
                        other = ops[k];
                        break;
                    }
                }
            int axis = j - s->rank; /* negative axis, as NumPy reports it */
            const char *sa = other ? shape_str(e->arena, &other->t->shape) : "?";
            diag_error(e->diag, loc, "shapes %s and %s do not broadcast for %s: dimensions %s and %s differ (axis %d)",
                       sa, shape_str(e->arena, s), what, dim_str(e->arena, *o), dim_str(e->arena, d), axis);
            for (int k = 0; k < n; k++)
                if (ops[k]->kind == V_TENSOR && ops[k]->decl) {
                    diag_context_suffix(e->diag, ops[k]->decl);
                    break;
                }
            return false;
        }
    }
    return true;
}

/* Read of tensor operand `arg` (shape s) inside a map over `out` (rank r). */
static Scalar *broadcast_read(Arena *a, int arg, const Shape *s, const Shape *out, DType type)
{
    Sub subs[KLC_MAXRANK];
    int r = out->rank;
    for (int j = 0; j < s->rank; j++) {
        int oj = r - s->rank + j;
        if (dim_eq(s->d[j], dim_const(1)) && !dim_eq(out->d[oj], dim_const(1)))
            subs[j] = sub_const(0);
        else
            subs[j] = sub_var(oj);
    }
    return s_read(a, arg, s->rank, subs, type);
}

static int arg_slot(IrFunc *f, IrValue *map, IrValue *t)
{
    for (int i = 0; i < map->nargs; i++)
        if (map->args[i] == t)
            return i;
    ir_add_arg(f, map, t);
    return map->nargs - 1;
}

Value *elementwise(Elab *e, SrcLoc loc, int n, Value **ops, const Node **nodes, ScalarBuilder build,
                   const double *params, const char *what)
{
    Arena *a = e->arena;
    bool any_tensor = false, any_scalar = false;
    int batch_int = -1; /* an operand that is an int depending on the batch size (N): run-time only */
    for (int i = 0; i < n; i++) {
        if (ops[i]->kind == V_ERR)
            return ops[i];
        if (ops[i]->kind == V_WEIGHT)
            ops[i] = as_tensor(e, ops[i], nodes[i]);
        if (ops[i]->kind == V_ERR)
            return ops[i];
        switch (ops[i]->kind) {
        case V_TENSOR: any_tensor = true; break;
        case V_SCALAR: case V_INDEX: any_scalar = true; break;
        default:
            if (ops[i]->kind == V_INT && batch_int < 0) {
                batch_int = i;
            } else if (!is_number(ops[i])) {
                diag_error(e->diag, nodes[i]->loc, "%s needs numbers or tensors, not %s", what,
                           v_describe(a, ops[i]));
                return v_err(a);
            }
        }
    }
    /* x / N: the batch size is a number when the tensor code runs, not before */
    if (batch_int >= 0 && !is_number(ops[batch_int]) && !any_tensor && !(e->comp && any_scalar)) {
        diag_error(e->diag, nodes[batch_int]->loc, "%s needs numbers or tensors, not %s", what,
                   v_describe(a, ops[batch_int]));
        return v_err(a);
    }
    Scalar *sc[4];
    if (e->comp && (any_scalar || any_tensor)) {
        /* inside an index expression: the result is a scalar body */
        for (int i = 0; i < n; i++) {
            sc[i] = comp_scalar(e, ops[i], nodes[i]);
            if (!sc[i])
                return v_err(a);
        }
        Value *r = v_new(a, V_SCALAR, loc);
        r->sc = build(a, sc, params);
        return r;
    }
    if (!any_tensor) { /* compile time */
        for (int i = 0; i < n; i++)
            sc[i] = s_const(a, number(ops[i]));
        Scalar *s = build(a, sc, params);
        double x;
        if (!fold(s, &x)) {
            diag_error(e->diag, loc, "%s cannot be computed at compile time", what);
            return v_err(a);
        }
        if (s->type == DT_BOOL)
            return v_bool(a, x != 0, loc);
        return v_float(a, x, loc);
    }
    if (!e->fn) {
        diag_error(e->diag, loc, "tensors exist only in call()");
        return v_err(a);
    }
    Shape out;
    if (!broadcast(e, loc, n, ops, &out, what))
        return v_err(a);
    Comp *c = comp_over(a, &out, out.rank);
    IrValue *m = ir_map(e->fn, &out, DT_F32, c, loc);
    for (int i = 0; i < n; i++) {
        if (ops[i]->kind == V_TENSOR) {
            IrValue *t = ops[i]->t;
            sc[i] = broadcast_read(a, arg_slot(e->fn, m, t), &t->shape, &out, t->type);
        } else if (ops[i]->kind == V_INT && !dim_is_const(ops[i]->i)) {
            sc[i] = s_dim(a, ops[i]->i);
        } else {
            sc[i] = s_const(a, number(ops[i]));
        }
    }
    c->body = build(a, sc, params);
    m->type = c->body->type;
    return v_tensor(a, m, loc);
}


/* ------------------------------------------------------------------------
 * Matrix product (NumPy's matmul)
 * --------------------------------------------------------------------- */

Value *matmul(Elab *e, SrcLoc loc, Value *x, Value *y, const Node *nx, const Node *ny)
{
    Arena *a = e->arena;
    x = as_tensor(e, x, nx);
    y = as_tensor(e, y, ny);
    if (x->kind == V_ERR || y->kind == V_ERR)
        return v_err(a);
    if (x->kind != V_TENSOR || y->kind != V_TENSOR) {
        const Node *bad = x->kind != V_TENSOR ? nx : ny;
        Value *bv = x->kind != V_TENSOR ? x : y;
        diag_error(e->diag, bad->loc, "'@' multiplies tensors, not %s", v_describe(a, bv));
        return v_err(a);
    }
    if (e->comp) {
        diag_error(e->diag, loc, "'@' is not available inside an index expression; write the sum: sum[k](a[i, k] * b[k, j])");
        return v_err(a);
    }
    const Shape *sa = &x->t->shape, *sb = &y->t->shape;
    if (sa->rank == 0 || sb->rank == 0) {
        diag_error(e->diag, loc, "'@' needs tensors of rank 1 or more, got %s and %s", shape_str(a, sa),
                   shape_str(a, sb));
        return v_err(a);
    }
    /* contracted extents: last of x, first (rank 1) or second to last of y */
    Dim ka = sa->d[sa->rank - 1];
    Dim kb = sb->rank == 1 ? sb->d[0] : sb->d[sb->rank - 2];
    if (!dim_eq(ka, kb)) {
        diag_error(e->diag, loc, "cannot multiply %s by %s: inner dimensions %s and %s differ", shape_str(a, sa),
                   shape_str(a, sb), dim_str(a, ka), dim_str(a, kb));
        if (y->decl)
            diag_context_suffix(e->diag, y->decl);
        else if (x->decl)
            diag_context_suffix(e->diag, x->decl);
        return v_err(a);
    }
    /* batch axes: x[:-2] and y[:-2] broadcast */
    int bx = sa->rank >= 2 ? sa->rank - 2 : 0;
    int by = sb->rank >= 2 ? sb->rank - 2 : 0;
    int nb = bx > by ? bx : by;
    Shape out;
    memset(&out, 0, sizeof out);
    for (int j = 0; j < nb; j++) {
        Dim dx = j - (nb - bx) >= 0 ? sa->d[j - (nb - bx)] : dim_const(1);
        Dim dy = j - (nb - by) >= 0 ? sb->d[j - (nb - by)] : dim_const(1);
        if (!dim_eq(dx, dy) && !dim_eq(dx, dim_const(1)) && !dim_eq(dy, dim_const(1))) {
            diag_error(e->diag, loc, "cannot multiply %s by %s: batch dimensions %s and %s differ",
                       shape_str(a, sa), shape_str(a, sb), dim_str(a, dx), dim_str(a, dy));
            return v_err(a);
        }
        out.d[out.rank++] = dim_eq(dx, dim_const(1)) ? dy : dx;
    }
    int m_var = -1, n_var = -1;
    if (sa->rank >= 2) {
        m_var = out.rank;
        out.d[out.rank++] = sa->d[sa->rank - 2];
    }
    if (sb->rank >= 2) {
        n_var = out.rank;
        out.d[out.rank++] = sb->d[sb->rank - 1];
    }
    if (out.rank + 1 > KLC_MAXVARS) {
        diag_error(e->diag, loc, "'@' on tensors of this rank is not supported");
        return v_err(a);
    }
    Comp *c = comp_new(a, out.rank, 1);
    for (int j = 0; j < out.rank; j++)
        c->ext[j] = out.d[j];
    int k_var = out.rank;
    c->ext[k_var] = ka;
    c->red = RED_SUM;
    IrValue *m = ir_map(e->fn, &out, DT_F32, c, loc);
    Sub subx[KLC_MAXRANK], suby[KLC_MAXRANK];
    for (int j = 0; j < bx; j++) {
        int oj = nb - bx + j;
        subx[j] = dim_eq(sa->d[j], dim_const(1)) && !dim_eq(out.d[oj], dim_const(1)) ? sub_const(0) : sub_var(oj);
    }
    for (int j = 0; j < by; j++) {
        int oj = nb - by + j;
        suby[j] = dim_eq(sb->d[j], dim_const(1)) && !dim_eq(out.d[oj], dim_const(1)) ? sub_const(0) : sub_var(oj);
    }
    if (sa->rank >= 2) {
        subx[bx] = sub_var(m_var);
        subx[bx + 1] = sub_var(k_var);
    } else {
        subx[0] = sub_var(k_var);
    }
    if (sb->rank >= 2) {
        suby[by] = sub_var(k_var);
        suby[by + 1] = sub_var(n_var);
    } else {
        suby[0] = sub_var(k_var);
    }
    Scalar *rx = s_read(a, arg_slot(e->fn, m, x->t), sa->rank, subx, x->t->type);
    Scalar *ry = s_read(a, arg_slot(e->fn, m, y->t), sb->rank, suby, y->t->type);
    c->body = s_bin(a, S_MUL, rx, ry);
    return v_tensor(a, m, loc);
}

