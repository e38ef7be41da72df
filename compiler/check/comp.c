/*
 * comp.c — index expressions: comprehensions and explicit reductions.
 *
 *     y[n, i, j, f] = sum[a, b, c](x[n, i*s + a, j*s + b, c] * kernel[a, b, c, f]);
 *
 * The right-hand side is evaluated in "scalar mode": index variables are
 * affine values (V_INDEX), subscripted tensors are reads, and the result is
 * a scalar body.  Each reduction (sum/mean/max/min[...]) becomes a map of
 * its own over the enclosing variables it uses, read back by its parent.
 *
 * Extents: an index variable takes its extent from the declared shape
 * (`y[i] : [8] = ...`), its binder (`sum[a: 3](...)`), or else from a plain
 * use as a subscript (`x[i]` gives i the extent of that axis of x); plain
 * uses that disagree are an error.  Every subscript is then proved in
 * bounds over the whole box of its variables (with the batch symbolic), so
 * the generated loops can never read outside a tensor.
 */
#include <string.h>

#include "check/comp.h"

#include "check/comp_ctx.h"
#include "check/eval.h"

typedef struct ReadRec {
    const Node *base;             /* the subscripted tensor expression */
    const Node *subs[KLC_MAXRANK];/* subscript expressions */
    Shape shape;
    Sub sub[KLC_MAXRANK];
} ReadRec;

typedef struct CompStmt {
    int nvars;
    const char *names[KLC_MAXVARS];
    SrcLoc locs[KLC_MAXVARS];
    Dim ext[KLC_MAXVARS];
    bool known[KLC_MAXVARS];      /* declared or from a binder */
    bool has_cand[KLC_MAXVARS];   /* a plain use gave a candidate extent */
    bool lhs[KLC_MAXVARS];        /* an index of the left side (else a reduction's) */
    Dim cand[KLC_MAXVARS];
    const char *cand_text[KLC_MAXVARS];
    bool failed;                  /* an error was reported */
    PtrVec reads;                 /* ReadRec* */
    PtrVec done;                  /* CompCtx*, children before parents */
} CompStmt;

static int new_var(Elab *e, CompStmt *st, const char *name, SrcLoc loc)
{
    if (st->nvars >= KLC_MAXVARS) {
        diag_error(e->diag, loc, "too many index variables in one statement (at most %d)", KLC_MAXVARS);
        st->failed = true;
        return -1;
    }
    int v = st->nvars++;
    st->names[v] = name;
    st->locs[v] = loc;
    st->ext[v] = dim_const(0);
    return v;
}

static Value *index_value(Elab *e, int var, SrcLoc loc)
{
    Value *v = v_new(e->arena, V_INDEX, loc);
    v->sub = sub_var(var);
    return v;
}

/* ---- reads ---- */

static void note_plain_use(Elab *e, CompStmt *st, int var, Dim extent, const Node *base, int axis)
{
    if (st->has_cand[var]) {
        if (!dim_eq(st->cand[var], extent) && !st->known[var]) {
            diag_error(e->diag, base->loc,
                       "index '%s' ranges over %s in %s but over %s here (axis %d of %s); "
                       "declare its range to use it with both",
                       st->names[var], dim_str(e->arena, st->cand[var]), st->cand_text[var],
                       dim_str(e->arena, extent), axis, node_text(e->arena, base, 30));
            st->failed = true;
        }
        return;
    }
    st->has_cand[var] = true;
    st->cand[var] = extent;
    st->cand_text[var] = node_text(e->arena, base, 30);
}

Value *comp_read(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *base = eval(e, s, n->a);
    if (base->kind == V_WEIGHT)
        base = as_tensor(e, base, n->a);
    if (base->kind == V_ERR)
        return base;
    if (!e->comp) {
        diag_error(e->diag, n->loc,
                   "tensors are subscripted only in index expressions; write y[i, j] = %s", node_text(a, n, 40));
        return v_err(a);
    }
    IrValue *t = base->t;
    if (n->list.len != t->shape.rank) {
        diag_error(e->diag, n->loc, "%s has rank %d (shape %s) but is given %d subscript%s",
                   node_text(a, n->a, 30), t->shape.rank, shape_str(a, &t->shape), n->list.len,
                   n->list.len == 1 ? "" : "s");
        return v_err(a);
    }
    ReadRec *rec = arena_alloc(a, sizeof *rec);
    rec->base = n->a;
    rec->shape = t->shape;
    for (int j = 0; j < n->list.len; j++) {
        const Node *sn = n->list.items[j];
        rec->subs[j] = sn;
        Value *sv = eval(e, s, sn);
        if (sv->kind == V_ERR)
            return sv;
        Sub sub;
        memset(&sub, 0, sizeof sub);
        if (sv->kind == V_INDEX) {
            sub = sv->sub;
        } else if (sv->kind == V_INT && dim_is_const(sv->i)) {
            sub.off = sv->i.c;
        } else if (sv->kind == V_SCALAR && sv->sc->type == DT_I32) {
            sub.ind = sv->sc; /* a gather: the subscript is data */
        } else if (sv->kind == V_TENSOR && sv->t->type == DT_I32 && sv->t->shape.rank == 0) {
            sub.ind = s_read(a, comp_add_arg(e, e->comp, sv->t, NULL), 0, NULL, DT_I32);
        } else if (sv->kind == V_SCALAR) {
            DType ty = sv->sc->type;
            diag_error(e->diag, sn->loc, "a subscript must be an integer, but %s is a %s value "
                       "(integer data comes from Input(..., dtype = \"int32\") or cast(..., \"int32\"))",
                       node_text(a, sn, 40), ty == DT_BOOL ? "bool" : "float");
            return v_err(a);
        } else {
            diag_error(e->diag, sn->loc, "a subscript must be an integer index expression, not %s",
                       v_describe(a, sv));
            return v_err(a);
        }
        rec->sub[j] = sub;
        int var;
        if (sub_is_var(&sub, &var))
            note_plain_use(e, e->comp->st, var, t->shape.d[j], n->a, j);
    }
    vec_push(a, &e->comp->st->reads, rec);
    Value *r = v_new(a, V_SCALAR, n->loc);
    r->sc = s_read(a, comp_add_arg(e, e->comp, t, NULL), t->shape.rank, rec->sub, t->type);
    return r;
}

/* ---- closing a level: which enclosing variables its body uses ---- */

/* Marks used[v] for every variable a node mentions (scalar_visit). */
static void used_vars(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth, (void)in_index;
    bool *used = ctx;
    if (s->op == S_VAR)
        used[s->var] = true;
    if (s->op == S_READ)
        for (int j = 0; j < s->rank; j++)
            for (int v = 0; v < KLC_MAXVARS; v++)
                if (s->sub[j].coef[v])
                    used[v] = true;
}

static void close_level(Elab *e, CompCtx *c)
{
    bool used[KLC_MAXVARS] = {0};
    scalar_visit(c->body, used_vars, used);
    for (int i = 0; i < c->args.len; i++) {
        CompArg *ar = c->args.items[i];
        if (ar->child)
            for (int k = 0; k < ar->child->n_out; k++)
                used[ar->child->out[k]] = true;
    }
    c->n_out = 0;
    if (c->top) {
        for (int k = 0; k < c->n_binders; k++)
            c->out[c->n_out++] = c->binders[k];
    } else {
        for (int v = 0; v < KLC_MAXVARS; v++) {
            bool mine = false;
            for (int k = 0; k < c->n_binders; k++)
                mine = mine || c->binders[k] == v;
            if (used[v] && !mine)
                c->out[c->n_out++] = v;
        }
    }
    vec_push(e->arena, &c->st->done, c);
}

/* ---- extents and bounds ---- */

static bool resolve_extents(Elab *e, CompStmt *st)
{
    bool ok = !st->failed;
    for (int v = 0; v < st->nvars; v++) {
        if (st->known[v])
            continue;
        if (st->has_cand[v]) {
            st->ext[v] = st->cand[v];
            st->known[v] = true;
            continue;
        }
        if (st->lhs[v])
            diag_error(e->diag, st->locs[v],
                       "cannot infer the range of index '%s': it is never used alone as a subscript; "
                       "declare the shape: y[...] : [shape] = ...",
                       st->names[v]);
        else
            diag_error(e->diag, st->locs[v],
                       "cannot infer the range of index '%s': it is never used alone as a subscript; "
                       "give it explicitly: sum[%s: 3](...)",
                       st->names[v], st->names[v]);
        ok = false;
    }
    return ok;
}

static bool check_bounds(Elab *e, CompStmt *st)
{
    Arena *a = e->arena;
    bool ok = true;
    for (int r = 0; r < st->reads.len; r++) {
        ReadRec *rec = st->reads.items[r];
        for (int j = 0; j < rec->shape.rank; j++) {
            const Sub *s = &rec->sub[j];
            Dim lo = dim_const(s->off), hi = dim_const(s->off);
            bool fine = true;
            for (int v = 0; v < KLC_MAXVARS && fine; v++) {
                if (!s->coef[v])
                    continue;
                if (v >= st->nvars || !st->known[v]) {
                    fine = false;
                    break;
                }
                Dim span; /* coef * (ext - 1) */
                fine = dim_sub(st->ext[v], dim_const(1), &span) && dim_mul(span, dim_const(s->coef[v]), &span);
                if (s->coef[v] > 0)
                    fine = fine && dim_add(hi, span, &hi);
                else
                    fine = fine && dim_add(lo, span, &lo);
            }
            Dim last;
            if (fine && !dim_sub(rec->shape.d[j], dim_const(1), &last))
                fine = false;
            if (!fine) {
                /* a proof that cannot be completed refuses the program: the
                 * reach overflows 64-bit integers (every range is known here:
                 * resolve_extents succeeded) */
                const char *base = node_text(a, rec->base, 30);
                diag_error(e->diag, rec->subs[j]->loc,
                           "subscript '%s' of %s cannot be proved inside axis %d of %s: its reach overflows "
                           "64-bit integers",
                           node_text(a, rec->subs[j], 40), base, j, base);
                ok = false;
                continue;
            }
            if (s->ind) {
                /* gathers are checked at run time; their affine part must not push them out */
                continue;
            }
            if (!dim_le_always(dim_const(0), lo)) {
                const char *base = node_text(a, rec->base, 30);
                diag_error(e->diag, rec->subs[j]->loc,
                           "subscript '%s' of %s can be negative (down to %s); axis %d of %s has size %s",
                           node_text(a, rec->subs[j], 40), base, dim_str(a, lo), j, base,
                           dim_str(a, rec->shape.d[j]));
                ok = false;
            } else if (!dim_le_always(hi, last)) {
                const char *base = node_text(a, rec->base, 30);
                diag_error(e->diag, rec->subs[j]->loc,
                           "subscript '%s' of %s reaches %s, but axis %d of %s has size %s (last index %s)",
                           node_text(a, rec->subs[j], 40), base, dim_str(a, hi), j, base,
                           dim_str(a, rec->shape.d[j]), dim_str(a, last));
                ok = false;
            }
        }
    }
    return ok;
}

/* ---- materialising levels as maps ---- */

/* A level's body in its map: statement variable v becomes map[v], and the
 * reads of a child level, placeholders until now, read the child's out
 * variables. */
typedef struct ChildReads {
    const CompCtx *c;
    const int *map;
} ChildReads;

static Scalar *fill_child_read(Arena *a, const Scalar *s, void *ctx)
{
    const ChildReads *cr = ctx;
    if (s->op != S_READ || s->arg >= cr->c->args.len)
        return NULL;
    const CompArg *ar = cr->c->args.items[s->arg];
    if (!ar->child)
        return NULL;
    Sub subs[KLC_MAXRANK];
    for (int k = 0; k < ar->child->n_out; k++)
        subs[k] = sub_var(cr->map[ar->child->out[k]]);
    return s_read(a, s->arg, ar->child->n_out, subs, s->type);
}

static IrValue *materialise(Elab *e, CompStmt *st, CompCtx *c)
{
    Arena *a = e->arena;
    int map[KLC_MAXVARS];
    for (int v = 0; v < KLC_MAXVARS; v++)
        map[v] = 0;
    Shape out;
    memset(&out, 0, sizeof out);
    if (c->n_out > KLC_MAXRANK) {
        diag_error(e->diag, c->loc, "this reduction would produce a tensor of rank %d (at most %d)", c->n_out,
                   KLC_MAXRANK);
        return NULL;
    }
    int n_red = c->top ? 0 : c->n_binders;
    Comp *comp = comp_new(a, c->n_out, n_red);
    for (int k = 0; k < c->n_out; k++) {
        map[c->out[k]] = k;
        comp->ext[k] = st->ext[c->out[k]];
        comp->var_name[k] = st->names[c->out[k]];
        out.d[out.rank++] = st->ext[c->out[k]];
    }
    for (int k = 0; k < n_red; k++) {
        map[c->binders[k]] = c->n_out + k;
        comp->ext[c->n_out + k] = st->ext[c->binders[k]];
        comp->var_name[c->n_out + k] = st->names[c->binders[k]];
    }
    comp->red = c->top ? RED_NONE : c->red;
    ChildReads cr = {c, map};
    ScalarMap rn = {.var = map, .subst = fill_child_read, .ctx = &cr};
    Scalar *body = scalar_remap(a, c->body, &rn);
    comp->body = body;
    IrValue *m = ir_map(e->fn, &out, body->type, comp, c->loc);
    if (comp->red == RED_MEAN || comp->red == RED_SUM)
        m->type = body->type == DT_I32 && comp->red == RED_SUM ? DT_I32 : DT_F32;
    for (int i = 0; i < c->args.len; i++) {
        CompArg *ar = c->args.items[i];
        IrValue *t = ar->t ? ar->t : ar->child->result;
        if (!t)
            return NULL;
        ir_add_arg(e->fn, m, t);
    }
    c->result = m;
    return m;
}

static Value *finish(Elab *e, CompStmt *st, CompCtx *top)
{
    Arena *a = e->arena;
    if (!resolve_extents(e, st) || !check_bounds(e, st) || st->failed)
        return v_err(a);
    if (!e->fn) {
        diag_error(e->diag, top->loc, "index expressions compute tensors and are only allowed in call()");
        return v_err(a);
    }
    /* A statement whose whole right-hand side is one reduction over exactly
     * its own variables is that reduction's map. */
    if (top->body->op == S_READ && top->args.len == 1) {
        CompArg *ar = top->args.items[0];
        if (ar->child && ar->child->n_out == top->n_out) {
            bool same = true;
            for (int k = 0; k < top->n_out; k++)
                same = same && ar->child->out[k] == top->out[k];
            if (same) {
                for (int i = 0; i < st->done.len; i++) {
                    CompCtx *c = st->done.items[i];
                    if (c != top && !materialise(e, st, c))
                        return v_err(a);
                }
                return v_tensor(a, ar->child->result, top->loc);
            }
        }
    }
    for (int i = 0; i < st->done.len; i++)
        if (!materialise(e, st, st->done.items[i]))
            return v_err(a);
    return v_tensor(a, top->result, top->loc);
}

/* ---- reductions ---- */

RedOp red_of(const char *name)
{
    if (!strcmp(name, "sum"))
        return RED_SUM;
    if (!strcmp(name, "mean"))
        return RED_MEAN;
    if (!strcmp(name, "max"))
        return RED_MAX;
    return RED_MIN;
}

/* Evaluate a reduction's binders and body as a new level under `parent`. */
static CompCtx *open_reduction(Elab *e, Scope *s, const Node *n, CompStmt *st, CompCtx *parent, Scope **inner)
{
    Arena *a = e->arena;
    CompCtx *c = arena_alloc(a, sizeof *c);
    c->st = st;
    c->parent = parent;
    c->red = red_of(n->name);
    c->loc = n->loc;
    Scope *sc = scope_new(a, s);
    for (int i = 0; i < n->list.len; i++) {
        const Node *b = n->list.items[i];
        for (int j = 0; j < i; j++)
            if (!strcmp(n->list.items[j]->name, b->name)) {
                diag_error(e->diag, b->loc, "index '%s' bound twice", b->name);
                st->failed = true;
            }
        int v = new_var(e, st, b->name, b->loc);
        if (v < 0)
            return NULL;
        if (b->a) {
            Value *ext = eval(e, s, b->a);
            Dim d;
            if (want_dim(e, ext, b->a, "an index range", &d)) {
                if (!dim_positive(d)) {
                    diag_error(e->diag, b->a->loc, "index range %s is not positive", dim_str(a, d));
                    st->failed = true;
                } else {
                    st->ext[v] = d;
                    st->known[v] = true;
                }
            } else {
                st->failed = true;
            }
        }
        c->binders[c->n_binders++] = v;
        scope_bind(a, sc, b->name, index_value(e, v, b->loc));
    }
    *inner = sc;
    return c;
}

Value *comp_reduce(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    if (!e->comp) {
        /* A reduction standing alone: a statement with no output variables. */
        CompStmt *st = arena_alloc(a, sizeof *st);
        CompCtx *top = arena_alloc(a, sizeof *top);
        top->st = st;
        top->top = true;
        top->loc = n->loc;
        e->comp = top;
        Value *v = comp_reduce(e, s, n);
        e->comp = NULL;
        if (v->kind == V_ERR)
            return v;
        top->body = v->sc;
        close_level(e, top);
        return finish(e, st, top);
    }
    CompCtx *parent = e->comp;
    Scope *inner;
    CompCtx *c = open_reduction(e, s, n, parent->st, parent, &inner);
    if (!c)
        return v_err(a);
    e->comp = c;
    Value *body = eval(e, inner, n->a);
    e->comp = parent;
    if (body->kind == V_ERR)
        return body;
    c->body = comp_scalar((e->comp = c, e), body, n->a);
    e->comp = parent;
    if (!c->body)
        return v_err(a);
    if (c->body->type == DT_BOOL && c->red != RED_MAX && c->red != RED_MIN)
        c->body = s_un(a, S_TOFLOAT, c->body);
    close_level(e, c);
    Value *r = v_new(a, V_SCALAR, n->loc);
    /* placeholder read; its subscripts are filled in when materialised */
    r->sc = s_read(a, comp_add_arg(e, parent, NULL, c), 0, NULL,
                   c->body->type == DT_I32 && c->red != RED_MEAN ? DT_I32 : DT_F32);
    return r;
}

Value *comp_statement(Elab *e, Scope *s, const Node *assign)
{
    Arena *a = e->arena;
    const Node *t = assign->a;
    if (t->a->kind != N_NAME) {
        diag_error(e->diag, t->a->loc, "an index statement defines a name: y[i, j] = ...");
        return v_err(a);
    }
    CompStmt *st = arena_alloc(a, sizeof *st);
    CompCtx *top = arena_alloc(a, sizeof *top);
    top->st = st;
    top->top = true;
    top->loc = assign->loc;
    Scope *sc = scope_new(a, s);
    for (int j = 0; j < t->list.len; j++) {
        const Node *ix = t->list.items[j];
        if (ix->kind != N_NAME) {
            diag_error(e->diag, ix->loc, "the left side of an index statement takes index names, like y[n, i]");
            return v_err(a);
        }
        for (int k = 0; k < j; k++)
            if (!strcmp(t->list.items[k]->name, ix->name)) {
                diag_error(e->diag, ix->loc, "index '%s' appears twice on the left side", ix->name);
                return v_err(a);
            }
        if (j >= KLC_MAXRANK) {
            diag_error(e->diag, ix->loc, "at most %d index variables on the left side", KLC_MAXRANK);
            return v_err(a);
        }
        int v = new_var(e, st, ix->name, ix->loc);
        if (v < 0)
            return v_err(a);
        top->binders[top->n_binders++] = v;
        st->lhs[v] = true;
        scope_bind(a, sc, ix->name, index_value(e, v, ix->loc));
    }
    if (assign->b) {
        Value *shv = eval(e, s, assign->b);
        Shape sh;
        if (!want_shape(e, shv, assign->b, "the declared shape", &sh, true))
            return v_err(a);
        if (sh.rank != t->list.len) {
            diag_error(e->diag, assign->b->loc, "the declared shape %s has %d dimensions but %s has %d indices",
                       shape_str(a, &sh), sh.rank, t->a->name, t->list.len);
            return v_err(a);
        }
        for (int j = 0; j < sh.rank; j++) {
            if (!dim_positive(sh.d[j])) {
                diag_error(e->diag, assign->b->loc, "dimension %d of the declared shape is not positive", j);
                return v_err(a);
            }
            st->ext[top->binders[j]] = sh.d[j];
            st->known[top->binders[j]] = true;
        }
    }
    e->comp = top;
    Value *v = eval(e, sc, assign->c);
    if (v->kind == V_ERR) {
        e->comp = NULL;
        return v;
    }
    top->body = comp_scalar(e, v, assign->c);
    e->comp = NULL;
    if (!top->body)
        return v_err(a);
    close_level(e, top);
    Value *r = finish(e, st, top);
    if (r->kind == V_TENSOR && !r->t->name)
        r->t->name = t->a->name;
    return r;
}
