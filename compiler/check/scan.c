/* scan.c — the scan statement, lifted into one loop over the steps; see scan.h. */
#include "check/scan.h"

#include <string.h>

#include "check/eval.h"

/* One clause of the scan, evaluated. */
typedef struct Clause {
    const Node *node;         /* N_SEQ or N_CARRY */
    IrValue *src;             /* the sequence, or the initial state */
    int axis;                 /* N_SEQ: the scanned axis */
    bool reverse;             /* N_SEQ */
    IrValue *ph;              /* the step's value the body sees (a placeholder until lifted) */
    IrValue *next;            /* N_CARRY: the body's new state */
} Clause;

static Shape without_axis(const Shape *s, int axis)
{
    Shape r = {0};
    for (int j = 0; j < s->rank; j++)
        if (j != axis)
            r.d[r.rank++] = s->d[j];
    return r;
}

/* [T] + s */
static Shape with_steps(const Shape *s, int64_t trips)
{
    Shape r = {0};
    r.rank = s->rank + 1;
    r.d[0] = dim_const(trips);
    for (int j = 0; j < s->rank; j++)
        r.d[j + 1] = s->d[j];
    return r;
}

/* In a body already renumbered (variable k is now k + 1): reads of values of
 * the loop get the step, variable 0, as their leading subscript. */
static void add_step_sub(Scalar *s, const IrValue *v, const bool *variant)
{
    if (!s)
        return;
    if (s->op == S_READ) {
        for (int j = 0; j < s->rank; j++)
            add_step_sub(s->sub[j].ind, v, variant);
        if (variant[v->args[s->arg]->id]) {
            for (int j = s->rank; j > 0; j--)
                s->sub[j] = s->sub[j - 1];
            s->sub[0] = sub_var(0);
            s->rank++;
        }
        return;
    }
    add_step_sub(s->a, v, variant);
    add_step_sub(s->b, v, variant);
    add_step_sub(s->c, v, variant);
}

/* Lift map v (one step's) to all steps: a new leading output variable, the step. */
static void lift_map(Arena *a, IrValue *v, int64_t trips, const bool *variant)
{
    const Comp *c = v->comp;
    int nv = c->n_out + c->n_red;
    Comp *nc = comp_new(a, c->n_out + 1, c->n_red);
    nc->ext[0] = dim_const(trips);
    int vm[KLC_MAXVARS] = {0};
    for (int k = 0; k < nv; k++) {
        nc->ext[k + 1] = c->ext[k];
        nc->var_name[k + 1] = c->var_name[k];
        vm[k] = k + 1;
    }
    nc->red = c->red;
    ScalarMap m = {.var = vm};
    nc->body = scalar_remap(a, c->body, &m);
    add_step_sub(nc->body, v, variant);
    v->comp = nc;
}

/* A copy of one step's value x inside the loop: [T, S...] reading x at [t, ...]
 * when x is of the loop, broadcast over the steps otherwise. */
static IrValue *step_copy(IrFunc *f, IrValue *x, SrcLoc loc)
{
    Comp *c = comp_over(f->arena, &x->shape, x->shape.rank);
    c->body = s_read_all(f->arena, 0, &x->shape, x->type);
    IrValue *v = ir_map(f, &x->shape, x->type, c, loc);
    ir_add_arg(f, v, x);
    return v;
}

static bool can_lift(Elab *e, const IrValue *v)
{
    if (v->loop) {
        diag_error(e->diag, v->loc, "a scan (or a recurrent layer) inside a scan body that depends on the outer "
                   "scan's step is not supported yet");
        return false;
    }
    switch (v->op) {
    case IR_MAP: case IR_RESHAPE: case IR_STOP_GRAD: case IR_CARRY: case IR_ZERO:
        break;
    default:
        diag_error(e->diag, v->loc, "%s is not supported inside a scan body yet", irop_name(v->op));
        return false;
    }
    if (v->shape.rank + 1 > KLC_MAXRANK) {
        diag_error(e->diag, v->loc, "inside a scan, a tensor has at most %d axes (the step adds one)",
                   KLC_MAXRANK - 1);
        return false;
    }
    if (v->op == IR_MAP && v->comp->n_out + v->comp->n_red + 1 > KLC_MAXVARS) {
        diag_error(e->diag, v->loc, "inside a scan, an index expression has at most %d index variables "
                   "(the step adds one)", KLC_MAXVARS - 1);
        return false;
    }
    return true;
}

static void bind_error(Elab *e, Scope *s, const Node *st)
{
    for (int i = 0; i < st->list.len; i++)
        if (st->list.items[i]->kind == N_NAME)
            scope_bind(e->arena, s, st->list.items[i]->name, v_err(e->arena));
}

void scan_statement(Elab *e, Scope *s, const Node *st)
{
    Arena *a = e->arena;
    IrFunc *f = e->fn;
    if (!e->in_call || !f) {
        diag_error(e->diag, st->loc, "scan is only allowed in call()");
        return;
    }
    for (int i = 0; i < st->list.len; i++) {
        const Node *t = st->list.items[i];
        if (t->kind != N_NAME) {
            diag_error(e->diag, t->loc, "cannot assign to %s; a scan assigns to names", node_text(a, t, 40));
            return;
        }
    }
    int errors0 = diag_error_count(e->diag);

    /* 1. the clauses */
    int nc = st->list2.len;
    Clause *cl = arena_alloc(a, sizeof(Clause) * (size_t)(nc + 1));
    int64_t trips = -1;
    const Node *first_seq = NULL;
    int n_carry = 0;
    bool ok = true;
    for (int i = 0; i < nc; i++) {
        const Node *c = st->list2.items[i];
        cl[i].node = c;
        for (int j = 0; j < i; j++)
            if (!strcmp(cl[j].node->name, c->name)) {
                diag_error(e->diag, c->loc, "'%s' is named twice in this scan", c->name);
                ok = false;
            }
        Value *v = as_tensor(e, eval(e, s, c->a), c->a);
        if (v->kind == V_ERR) {
            ok = false;
            continue;
        }
        if (v->kind != V_TENSOR) {
            diag_error(e->diag, c->a->loc, "%s of a scan must be a tensor, not %s",
                       c->kind == N_SEQ ? "a sequence" : "the initial state", v_describe(a, v));
            ok = false;
            continue;
        }
        cl[i].src = v->t;
        if (c->kind == N_CARRY) {
            n_carry++;
            continue;
        }
        int rank = v->t->shape.rank;
        int64_t axis = 1;
        if (c->b && !want_int(e, eval(e, s, c->b), c->b, "the axis of a scan", &axis)) {
            ok = false;
            continue;
        }
        if (axis < 0)
            axis += rank;
        const Node *an = c->b ? c->b : c;
        if (axis < 0 || axis >= rank) {
            diag_error(e->diag, an->loc, "axis %lld is out of range for a sequence of shape %s", (long long)axis,
                       shape_str(a, &v->t->shape));
            ok = false;
            continue;
        }
        if (axis == 0) {
            diag_error(e->diag, an->loc, "a scan cannot run along the batch axis (axis 0)");
            ok = false;
            continue;
        }
        Dim d = v->t->shape.d[axis];
        if (!dim_is_const(d) || d.c < 1) {
            diag_error(e->diag, an->loc, "the scanned axis of %s must have a fixed, positive size",
                       shape_str(a, &v->t->shape));
            ok = false;
            continue;
        }
        bool rev = false;
        if (c->c && !want_bool(e, eval(e, s, c->c), c->c, "'reverse' of a scan", &rev)) {
            ok = false;
            continue;
        }
        if (!first_seq) {
            first_seq = c;
            trips = d.c;
        } else if (trips != d.c) {
            diag_error(e->diag, c->a->loc, "this sequence has %lld steps along axis %lld, but '%s' has %lld",
                       (long long)d.c, (long long)axis, first_seq->name, (long long)trips);
            ok = false;
            continue;
        }
        cl[i].axis = (int)axis;
        cl[i].reverse = rev;
    }
    if (ok && !first_seq) {
        diag_error(e->diag, st->loc, "a scan needs a sequence to run over: 'name in tensor along axis'");
        ok = false;
    }
    int n_yield = st->b ? st->b->list.len : 0;
    if (ok && st->list.len != n_yield + n_carry) {
        diag_error(e->diag, st->loc, "this scan gives %d value%s (%d per-step output%s, then %d final state%s) "
                   "but assigns %d name%s", n_yield + n_carry, n_yield + n_carry == 1 ? "" : "s", n_yield,
                   n_yield == 1 ? "" : "s", n_carry, n_carry == 1 ? "" : "s", st->list.len,
                   st->list.len == 1 ? "" : "s");
        ok = false;
    }
    if (!ok) {
        bind_error(e, s, st);
        return;
    }
    int seq_axis = 1;
    for (int i = 0; i < nc; i++)
        if (cl[i].node == first_seq)
            seq_axis = cl[i].axis;

    /* 2. the step's values, then the body on them */
    int first = f->insts.len;
    Scope *bs = scope_new(a, s);
    for (int i = 0; i < nc; i++) {
        const Node *c = cl[i].node;
        if (c->kind == N_SEQ) {
            Shape sh = without_axis(&cl[i].src->shape, cl[i].axis);
            cl[i].ph = ir_new(f, IR_ZERO, &sh, cl[i].src->type, c->loc);
        } else {
            cl[i].ph = ir_new(f, IR_CARRY, &cl[i].src->shape, cl[i].src->type, c->loc);
            ir_add_arg(f, cl[i].ph, cl[i].src);
        }
        cl[i].ph->name = c->name;
        scope_bind(a, bs, c->name, v_tensor(a, cl[i].ph, c->loc));
    }
    bool returned = e->returned;
    exec_block(e, bs, st->a);
    if (e->returned && !returned) {
        diag_error(e->diag, st->a->loc, "a scan body cannot return; the scan's results are its yields and "
                   "final states");
        e->returned = false;
        e->result = NULL;
    }
    Value **yv = arena_alloc(a, sizeof(Value *) * (size_t)(n_yield + 1));
    for (int i = 0; i < n_yield; i++) {
        const Node *yn = st->b->list.items[i];
        yv[i] = as_tensor(e, eval(e, bs, yn), yn);
        if (yv[i]->kind != V_ERR && yv[i]->kind != V_TENSOR) {
            diag_error(e->diag, yn->loc, "a scan yields tensors, not %s", v_describe(a, yv[i]));
            yv[i] = v_err(a);
        }
        if (yv[i]->kind == V_TENSOR && yv[i]->t->shape.rank < seq_axis) {
            diag_error(e->diag, yn->loc, "a per-step output of shape %s cannot be stacked along axis %d",
                       shape_str(a, &yv[i]->t->shape), seq_axis);
            yv[i] = v_err(a);
        }
    }
    for (int i = 0; i < nc; i++) {
        const Node *c = cl[i].node;
        if (c->kind != N_CARRY)
            continue;
        Value *v = as_tensor(e, scope_lookup_local(bs, c->name), c);
        if (v->kind == V_ERR)
            continue;
        const IrValue *init = cl[i].src;
        if (v->kind != V_TENSOR || v->t->type != init->type || !shape_eq(&v->t->shape, &init->shape)) {
            diag_error(e->diag, c->loc, "the carried state '%s' must keep the initial state's shape %s; the body "
                       "makes it %s", c->name, shape_str(a, &init->shape),
                       v->kind == V_TENSOR ? shape_str(a, &v->t->shape) : v_describe(a, v));
            continue;
        }
        cl[i].next = v->t;
    }
    /* (an error of the body may be one already reported, in the other
     * specialisation: so failed values are looked at too) */
    bool failed = diag_error_count(e->diag) > errors0;
    for (int i = 0; i < n_yield; i++)
        failed = failed || yv[i]->kind != V_TENSOR;
    for (int i = 0; i < nc; i++)
        failed = failed || (cl[i].node->kind == N_CARRY && !cl[i].next);
    if (failed) {
        f->insts.len = first; /* the step's values are not a loop yet: drop them */
        bind_error(e, s, st);
        return;
    }

    /* 3. which instructions depend on a step; a carry's new state must be of the loop */
    bool *variant = arena_alloc(a, sizeof(bool) * (size_t)(f->next_id + 64 + nc));
    for (int i = 0; i < nc; i++)
        variant[cl[i].ph->id] = true;
    for (int i = first; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        for (int k = 0; k < v->nargs; k++)
            variant[v->id] = variant[v->id] || variant[v->args[k]->id];
    }
    for (int i = 0; i < nc; i++)
        if (cl[i].node->kind == N_CARRY && (!variant[cl[i].next->id] || cl[i].next == cl[i].ph)) {
            IrValue *cp = step_copy(f, cl[i].next, cl[i].node->loc);
            cl[i].next = cp;
            variant[cp->id] = true;
        }
    for (int i = first; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        if (variant[v->id] && !can_lift(e, v)) {
            f->insts.len = first;
            bind_error(e, s, st);
            return;
        }
    }

    /* 4. lift: the step's instructions become the loop, the others go before it */
    IrLoop *loop = arena_alloc(a, sizeof *loop);
    loop->id = ++f->n_loops;
    loop->trips = trips;
    int n = f->insts.len - first, o = first;
    void **region = arena_alloc(a, sizeof(void *) * (size_t)(n + 1));
    memcpy(region, f->insts.items + first, sizeof(void *) * (size_t)n);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            IrValue *v = region[i];
            if (variant[v->id] == (pass == 1))
                f->insts.items[o++] = v;
        }
    for (int i = first; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        if (!variant[v->id])
            continue;
        if (v->op == IR_MAP)
            lift_map(a, v, trips, variant); /* (a copy of a value of no step broadcasts it) */
        v->shape = with_steps(&v->shape, trips);
        v->loop = loop;
    }
    /* the sequences' slices: x[..., t, ...] (x[..., T - 1 - t, ...] reversed) */
    for (int i = 0; i < nc; i++) {
        IrValue *ph = cl[i].ph;
        if (cl[i].node->kind == N_CARRY) {
            ir_add_arg(f, ph, cl[i].next);
            continue;
        }
        const IrValue *x = cl[i].src;
        Comp *c = comp_over(a, &ph->shape, ph->shape.rank);
        Sub subs[KLC_MAXRANK];
        for (int j = 0; j < x->shape.rank; j++) {
            if (j < cl[i].axis)
                subs[j] = sub_var(j + 1);
            else if (j > cl[i].axis)
                subs[j] = sub_var(j);
            else if (cl[i].reverse) {
                subs[j] = sub_const(trips - 1);
                subs[j].coef[0] = -1;
            } else {
                subs[j] = sub_var(0);
            }
        }
        c->body = s_read(a, 0, x->shape.rank, subs, x->type);
        ph->op = IR_MAP;
        ph->comp = c;
        ir_add_arg(f, ph, cl[i].src);
    }

    /* 5. the results: per-step outputs stacked along the sequence's axis, final states */
    int ti = 0;
    for (int i = 0; i < n_yield; i++, ti++) {
        IrValue *y = yv[i]->t;
        const Node *yn = st->b->list.items[i];
        Shape step = variant[y->id] ? without_axis(&y->shape, 0) : y->shape;
        Shape out = {0};
        out.rank = step.rank + 1;
        Sub subs[KLC_MAXRANK];
        int r = 0;
        if (variant[y->id])
            subs[r++] = sub_var(seq_axis);
        for (int j = 0, k = 0; j < out.rank; j++) {
            if (j == seq_axis) {
                out.d[j] = dim_const(trips);
                continue;
            }
            out.d[j] = step.d[k++];
            subs[r++] = sub_var(j);
        }
        Comp *c = comp_over(a, &out, out.rank);
        c->body = s_read(a, 0, r, subs, y->type);
        IrValue *m = ir_map(f, &out, y->type, c, yn->loc);
        ir_add_arg(f, m, y);
        m->name = st->list.items[ti]->name;
        scope_bind(a, s, m->name, v_tensor(a, m, yn->loc));
    }
    for (int i = 0; i < nc; i++) {
        if (cl[i].node->kind != N_CARRY)
            continue;
        IrValue *nx = cl[i].next;
        Shape step = without_axis(&nx->shape, 0);
        Sub subs[KLC_MAXRANK];
        subs[0] = sub_const(trips - 1);
        for (int j = 0; j < step.rank; j++)
            subs[j + 1] = sub_var(j);
        Comp *c = comp_over(a, &step, step.rank);
        c->body = s_read(a, 0, step.rank + 1, subs, nx->type);
        IrValue *m = ir_map(f, &step, nx->type, c, cl[i].node->loc);
        ir_add_arg(f, m, nx);
        m->name = st->list.items[ti]->name;
        scope_bind(a, s, m->name, v_tensor(a, m, cl[i].node->loc));
        ti++;
    }
}
