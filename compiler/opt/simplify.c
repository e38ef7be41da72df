/* simplify.c — scalar folding, copy propagation, softmax CSE and dead code removal. */
#include "opt/simplify.h"

#include "ir/ir_util.h"

#include <math.h>
#include <string.h>

static bool is_const(const Scalar *s, double c)
{
    return s && s->op == S_CONST && s->cval == c;
}

/* Fold constants and neutral elements bottom-up. */
Scalar *scalar_fold(Arena *a, Scalar *s)
{
    if (!s)
        return NULL;
    if (s->op == S_READ) {
        for (int j = 0; j < s->rank; j++)
            s->sub[j].ind = scalar_fold(a, s->sub[j].ind);
        return s;
    }
    s->a = scalar_fold(a, s->a);
    s->b = scalar_fold(a, s->b);
    s->c = scalar_fold(a, s->c);
    switch (s->op) {
    case S_ADD:
        if (is_const(s->a, 0) && s->b->type == s->type)
            return s->b;
        if (is_const(s->b, 0) && s->a->type == s->type)
            return s->a;
        break;
    case S_SUB:
        if (is_const(s->b, 0) && s->a->type == s->type)
            return s->a;
        if (is_const(s->a, 0))
            return scalar_fold(a, s_un(a, S_NEG, s->b));
        break;
    case S_MUL:
        if (is_const(s->a, 1) && s->b->type == s->type)
            return s->b;
        if (is_const(s->b, 1) && s->a->type == s->type)
            return s->a;
        /* x * 0 is not folded: it would turn NaN and Inf into 0 */
        break;
    case S_DIV:
        if (is_const(s->b, 1) && s->a->type == s->type)
            return s->a;
        break;
    case S_NEG:
        if (s->a->op == S_NEG)
            return s->a->a;
        if (s->a->op == S_CONST) {
            Scalar *k = s_const(a, -s->a->cval);
            k->type = s->a->type;
            return k;
        }
        break;
    case S_SELECT:
        if (s->a->op == S_CONST)
            return s->a->cval != 0 ? s->b : s->c;
        break;
    default:
        break;
    }
    /* all operands constant: evaluate in double */
    const Scalar *ops[3] = {s->a, s->b, s->c};
    bool consts = sop_arity(s->op) > 0;
    for (int i = 0; i < sop_arity(s->op); i++)
        consts = consts && ops[i]->op == S_CONST;
    double r;
    if (consts && sop_eval(s, &r)) {
        if (s->type == DT_I32 && r != floor(r))
            return s;
        Scalar *k = s_const(a, r);
        k->type = s->type;
        return k;
    }
    return s;
}

/* The position of the first instruction after `pos` that accumulates into
 * the storage `root`, or -1. */
static int first_write(const IrFunc *f, int pos, const IrValue *root)
{
    for (int i = pos + 1; i < f->insts.len; i++) {
        const IrValue *w = f->insts.items[i];
        if (w->into && ir_storage_of(w) == root)
            return i;
    }
    return -1;
}

/*
 * Replacing the copy v (at position pos) by its operand x makes the two one
 * storage.  That is wrong when one of them is accumulated into while the
 * other is still read from then on: a gradient whose first contribution is
 * another gradient, copied, then gets the other contributions added into
 * the gradient it was copied from, which a later instruction still reads
 * (or the accumulating instruction itself: C += A·B with C and A the same).
 */
static bool can_share(const IrFunc *f, int pos, const IrValue *v, const IrValue *x)
{
    const IrValue *rv = ir_storage_of(v), *rx = ir_storage_of(x);
    int wv = first_write(f, pos, rv), wx = first_write(f, pos, rx);
    if (wv < 0 && wx < 0)
        return true;
    for (int i = pos + 1; i < f->insts.len; i++) {
        const IrValue *u = f->insts.items[i];
        for (int k = 0; k < u->nargs; k++) {
            const IrValue *r = ir_storage_of(u->args[k]);
            if ((r == rx && wv >= 0 && i >= wv) || (r == rv && wx >= 0 && i >= wx))
                return false;
        }
    }
    return true;
}

/* A map that copies args[0] unchanged. */
static bool is_copy(const IrValue *v)
{
    if (v->op != IR_MAP || v->into || v->comp->scatter || v->nargs != 1)
        return false;
    /* a copy in a loop may be replaced by its operand if that is of the same
     * loop (the same slice at every step) and not a carry (a copy may be a
     * carry's new state, which must be a later value of the loop); a copy
     * after a loop reads the loop's values whole, like any other */
    if (v->loop && (v->loop != v->args[0]->loop || v->args[0]->op == IR_CARRY))
        return false;
    const Comp *c = v->comp;
    if (c->n_red != 0 || c->red != RED_NONE)
        return false;
    const Scalar *b = c->body;
    const IrValue *x = v->args[0];
    if (b->op != S_READ || b->arg != 0 || x->type != v->type || !shape_eq(&x->shape, &v->shape))
        return false;
    for (int j = 0; j < b->rank; j++) {
        int var;
        if (!sub_is_var(&b->sub[j], &var) || var != j)
            return false;
    }
    return true;
}

void ir_simplify(IrFunc *f)
{
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        if (v->op == IR_MAP)
            v->comp->body = scalar_fold(f->arena, v->comp->body);
    }
    ir_prune_args(f);
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        if (is_copy(v) && can_share(f, i, v, v->args[0])) {
            IrValue *x = v->args[0];
            if (!x->name && v->name)
                x->name = v->name;
            ir_replace_uses(f, v, x);
        }
        /* softmax of the same tensor along the same axis, computed twice */
        if (v->op == IR_SOFTMAX)
            for (int j = 0; j < i; j++) {
                IrValue *w = f->insts.items[j];
                if (w->op == IR_SOFTMAX && w->args[0] == v->args[0] && w->axis == v->axis) {
                    ir_replace_uses(f, v, w);
                    break;
                }
            }
    }
    /* ADD_LOSS markers are folded into the loss already */
    int o = 0;
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        if (v->op != IR_ADD_LOSS)
            f->insts.items[o++] = v;
    }
    f->insts.len = o;
    ir_dce(f);
    ir_count_uses(f);
}
