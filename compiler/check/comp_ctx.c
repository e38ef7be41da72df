/*
 * comp_ctx.c — the map an index expression is building, and values as its
 * scalar bodies.
 */
#include "check/comp_ctx.h"

int comp_add_arg(Elab *e, CompCtx *c, IrValue *t, CompCtx *child)
{
    for (int i = 0; i < c->args.len; i++) {
        CompArg *a = c->args.items[i];
        if ((t && a->t == t) || (child && a->child == child))
            return i;
    }
    CompArg *a = arena_alloc(e->arena, sizeof *a);
    a->t = t;
    a->child = child;
    vec_push(e->arena, &c->args, a);
    return c->args.len - 1;
}

static Scalar *affine_scalar(Arena *a, const Sub *s)
{
    Scalar *r = NULL;
    for (int v = 0; v < KLC_MAXVARS; v++) {
        if (!s->coef[v])
            continue;
        Scalar *t = s_var(a, v);
        if (s->coef[v] != 1) {
            Scalar *k = s_const(a, (double)s->coef[v]);
            k->type = DT_I32;
            t = s_bin(a, S_MUL, t, k);
        }
        r = r ? s_bin(a, S_ADD, r, t) : t;
    }
    if (s->ind)
        r = r ? s_bin(a, S_ADD, r, s->ind) : s->ind;
    if (s->off || !r) {
        Scalar *k = s_const(a, (double)s->off);
        k->type = DT_I32;
        r = r ? s_bin(a, S_ADD, r, k) : k;
    }
    return r;
}
Scalar *comp_scalar(Elab *e, Value *v, const Node *at)
{
    Arena *a = e->arena;
    switch (v->kind) {
    case V_ERR: return NULL;
    case V_SCALAR: return v->sc;
    case V_INDEX: return affine_scalar(a, &v->sub);
    case V_INT:
        if (dim_is_const(v->i)) {
            Scalar *k = s_const(a, (double)v->i.c);
            k->type = DT_I32;
            return k;
        }
        return s_dim(a, v->i);
    case V_FLOAT: return s_const(a, v->f);
    case V_BOOL: {
        Scalar *k = s_const(a, v->b ? 1 : 0);
        k->type = DT_BOOL;
        return k;
    }
    case V_WEIGHT:
        v = as_tensor(e, v, at);
        if (v->kind != V_TENSOR)
            return NULL;
        /* fall through */
    case V_TENSOR:
        if (v->t->shape.rank == 0 && e->comp)
            return s_read(a, comp_add_arg(e, e->comp, v->t, NULL), 0, NULL, v->t->type);
        diag_error(e->diag, at->loc, "tensor %s of shape %s needs subscripts inside an index expression",
                   node_text(a, at, 40), shape_str(a, &v->t->shape));
        return NULL;
    default:
        diag_error(e->diag, at->loc, "%s cannot be used inside an index expression", v_describe(a, v));
        return NULL;
    }
}
