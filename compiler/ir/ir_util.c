/* ir_util.c — use counts, dead code, storage roots, operand pruning; see ir_util.h. */
#include "ir/ir_util.h"

void ir_count_uses(IrFunc *f)
{
    for (int i = 0; i < f->insts.len; i++)
        ((IrValue *)f->insts.items[i])->n_uses = 0;
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        for (int k = 0; k < v->nargs; k++)
            v->args[k]->n_uses++;
        if (v->into)
            v->into->n_uses++;
        if (v->fwd)
            v->fwd->n_uses++;
    }
}

static bool is_sink(const IrValue *v)
{
    return v->op == IR_OUTPUT || v->op == IR_LOSS || v->op == IR_ADD_METRIC || v->op == IR_ASSIGN ||
           v->op == IR_GRAD || v->op == IR_CARRY_GRAD;
}

void ir_dce(IrFunc *f)
{
    int n = f->insts.len;
    /* instructions are in order, so one backward sweep marks (aux) everything
     * needed; a loop's carry reads a later value (its new state), so the sweep
     * repeats until a carry marks nothing new */
    for (int i = n - 1; i >= 0; i--) {
        IrValue *v = f->insts.items[i];
        v->aux = NULL;
    }
    bool again = true;
    while (again) {
        again = false;
        for (int i = n - 1; i >= 0; i--) {
            IrValue *v = f->insts.items[i];
            if (is_sink(v))
                v->aux = (void *)1;
            if (!v->aux)
                continue;
            for (int k = 0; k < v->nargs; k++) {
                if (v->op == IR_CARRY && k == 1 && !v->args[k]->aux)
                    again = true;
                v->args[k]->aux = (void *)1;
            }
            if (v->into)
                v->into->aux = (void *)1;
            if (v->fwd)
                v->fwd->aux = (void *)1;
        }
    }
    int o = 0;
    for (int i = 0; i < n; i++) {
        IrValue *v = f->insts.items[i];
        if (v->aux || v == f->input || v == f->labels)
            f->insts.items[o++] = v;
    }
    f->insts.len = o;
    for (int i = 0; i < o; i++)
        ((IrValue *)f->insts.items[i])->aux = NULL;
}

void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to)
{
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        for (int k = 0; k < v->nargs; k++)
            if (v->args[k] == from)
                v->args[k] = to;
        if (v->into == from)
            v->into = to;
        if (v->fwd == from)
            v->fwd = to;
    }
    if (f->output == from)
        f->output = to;
    if (f->loss == from)
        f->loss = to;
    if (f->input == from)
        f->input = to;
}

const IrValue *ir_storage_of(const IrValue *v)
{
    for (;;) {
        if (v->into)
            v = v->into;
        else if (v->op == IR_RESHAPE || v->op == IR_STOP_GRAD)
            v = v->args[0];
        else
            return v;
    }
}

/* The operands read anywhere in a tree, gather indices included. */
typedef struct Used {
    int nargs;
    bool *used; /* [nargs] */
} Used;

static void mark_read(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth, (void)in_index;
    Used *u = ctx;
    if (s->op == S_READ && s->arg >= 0 && s->arg < u->nargs)
        u->used[s->arg] = true;
}

void ir_prune_args(IrFunc *f)
{
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        if (v->op != IR_MAP || v->nargs == 0)
            continue;
        Comp *c = v->comp;
        Used u = {v->nargs, arena_alloc(f->arena, sizeof(bool) * (size_t)v->nargs)};
        scalar_visit(c->body, mark_read, &u);
        if (c->scatter)
            for (int j = 0; j < v->shape.rank; j++)
                scalar_visit(c->out_sub[j].ind, mark_read, &u);
        int *arg = arena_alloc(f->arena, sizeof(int) * (size_t)v->nargs), o = 0;
        for (int k = 0; k < v->nargs; k++) {
            arg[k] = o;
            if (u.used[k])
                v->args[o++] = v->args[k];
        }
        if (o == v->nargs)
            continue;
        v->nargs = o;
        ScalarMap m = {.arg = arg};
        c->body = scalar_remap(f->arena, c->body, &m);
        if (c->scatter)
            for (int j = 0; j < v->shape.rank; j++)
                c->out_sub[j].ind = scalar_remap(f->arena, c->out_sub[j].ind, &m);
    }
}

/* Per axis j the subscript is off + Σ coef_k v_k over its own variables;
 * sorted by coefficient, the points are distinct when each coefficient is
 * at least the span of the ones below it (mixed radix), and they fill
 * [off, off + Π ext) when each is exactly that span. */
WindowReach ir_window_reach(const IrValue *v, int64_t lo[KLC_MAXRANK], int64_t hi[KLC_MAXRANK])
{
    const Comp *c = v->comp;
    if (!c || !c->scatter || v->shape.rank > KLC_MAXRANK)
        return WINDOW_OVERLAP;
    int nv = c->n_out + c->n_red;
    int axis_of[KLC_MAXVARS];
    for (int k = 0; k < nv; k++)
        axis_of[k] = -1;
    bool box = true;
    for (int j = 0; j < v->shape.rank; j++) {
        const Sub *s = &c->out_sub[j];
        Dim d = v->shape.d[j];
        if (s->ind || s->off_n != 0 || s->off < 0)
            return WINDOW_OVERLAP;
        int vars[KLC_MAXVARS], n = 0;
        for (int k = 0; k < nv; k++) {
            if (s->coef[k] == 0)
                continue;
            if (s->coef[k] < 0 || axis_of[k] >= 0)
                return WINDOW_OVERLAP;
            axis_of[k] = j;
            vars[n++] = k;
        }
        if (!dim_is_const(d)) {
            /* the batch axis: one variable over all of it */
            int var;
            if (n != 1 || !sub_is_var(s, &var) || !dim_eq(c->ext[var], d))
                return WINDOW_OVERLAP;
            lo[j] = 0;
            hi[j] = -1;
            continue;
        }
        for (int a = 1; a < n; a++) /* insertion sort by coefficient */
            for (int b = a; b > 0 && s->coef[vars[b]] < s->coef[vars[b - 1]]; b--) {
                int t = vars[b];
                vars[b] = vars[b - 1];
                vars[b - 1] = t;
            }
        int64_t span = 1, reach = s->off; /* span: the points below; reach: the largest subscript */
        bool dense = true;
        for (int a = 0; a < n; a++) {
            int k = vars[a];
            if (!dim_is_const(c->ext[k]) || c->ext[k].c < 1)
                return WINDOW_OVERLAP;
            int64_t coef = s->coef[k], ext = c->ext[k].c;
            if (coef < span)
                return WINDOW_OVERLAP;
            if (coef != span)
                dense = false;
            if (ext - 1 > (INT64_MAX - reach) / coef)
                return WINDOW_OVERLAP;
            reach += coef * (ext - 1);
            if (ext > INT64_MAX / coef)
                return WINDOW_OVERLAP;
            span = coef * ext;
        }
        if (reach >= d.c)
            return WINDOW_OVERLAP;
        if (!dense)
            box = false;
        lo[j] = s->off;
        hi[j] = s->off == 0 && span == d.c ? -1 : s->off + span;
    }
    for (int k = 0; k < nv; k++) /* a variable reaching no axis repeats every element */
        if (axis_of[k] < 0 && !dim_eq(c->ext[k], dim_const(1)))
            return WINDOW_OVERLAP;
    return box ? WINDOW_BOX : WINDOW_DISJOINT;
}
