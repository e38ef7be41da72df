/* fuse.c — inlining of single-use elementwise maps; see fuse.h. */
#include "opt/fuse.h"

#include <math.h>

#include "ir/ir_util.h"

/* The reads of operand `arg` in a body: how many, how many of them inside a
 * gather index, and the first one outside any. */
typedef struct ReadsOf {
    int arg;
    int n, in_index;
    const Scalar *first;
} ReadsOf;

static void count_read(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth;
    ReadsOf *r = ctx;
    if (s->op != S_READ || s->arg != r->arg)
        return;
    r->n++;
    if (in_index)
        r->in_index++;
    else if (!r->first)
        r->first = s;
}

/* A contraction BLAS will compute: its operands must stay in memory. */
static bool gemm_like(const IrValue *c)
{
    const Comp *k = c->comp;
    return (k->red == RED_SUM || k->red == RED_MEAN) && k->body->op == S_MUL && k->body->a->op == S_READ &&
           k->body->b->op == S_READ;
}

/* P's body, rewritten to live inside consumer c: P's variable u becomes c's
 * variable var_of[u], P's operands become (possibly new) operands of c. */
static Scalar *transplant(IrFunc *f, IrValue *c, const IrValue *p, const int *var_of)
{
    int *argmap = arena_alloc(f->arena, sizeof(int) * (size_t)(p->nargs + 1));
    for (int k = 0; k < p->nargs; k++) {
        int found = -1;
        for (int j = 0; j < c->nargs; j++)
            if (c->args[j] == p->args[k])
                found = j;
        if (found < 0) {
            ir_add_arg(f, c, p->args[k]);
            found = c->nargs - 1;
        }
        argmap[k] = found;
    }
    ScalarMap m = {.var = var_of, .arg = argmap};
    return scalar_remap(f->arena, p->comp->body, &m);
}

/* Substitution of a transplanted body for the one read of operand `arg`. */
typedef struct Inline {
    int arg;
    Scalar *body;
} Inline;

static Scalar *inline_read(Arena *a, const Scalar *s, void *ctx)
{
    (void)a;
    const Inline *in = ctx;
    return s->op == S_READ && s->arg == in->arg ? in->body : NULL;
}

/* Costs of recomputing a body: 1 for each constant, variable, plain read
 * or node of the few arithmetic operations below, 100 for anything else
 * (a gather among them). */
static void add_cost(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth, (void)in_index;
    int *cost = ctx;
    switch (s->op) {
    case S_CONST: case S_VAR: case S_DIM:
    case S_NEG: case S_ADD: case S_SUB: case S_MUL: case S_DIV: case S_TOFLOAT:
        *cost += 1;
        return;
    case S_READ:
        for (int j = 0; j < s->rank; j++)
            if (s->sub[j].ind) {
                *cost += 100;
                return;
            }
        *cost += 1;
        return;
    default:
        *cost += 100;
        return;
    }
}

/* A body cheap enough to recompute wherever it is read: a few arithmetic
 * nodes over plain reads and constants. */
static bool cheap(const Scalar *s)
{
    int cost = 0;
    scalar_visit(s, add_cost, &cost);
    return cost <= 4;
}

static void max_depth(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)s;
    int *max = ctx;
    if (!in_index && depth > *max)
        *max = depth;
}

/* A body of at most 40 levels of operands (gather indices aside). */
static bool depth_ok(const Scalar *s)
{
    int max = 0;
    scalar_visit(s, max_depth, &max);
    return max <= 40;
}

void ir_fuse(IrFunc *f)
{
    bool changed = true;
    while (changed) {
        changed = false;
        ir_count_uses(f);
        for (int ci = 0; ci < f->insts.len; ci++) {
            IrValue *c = f->insts.items[ci];
            if (c->op != IR_MAP || gemm_like(c))
                continue;
            const Comp *cc = c->comp;
            int nv = cc->n_out + cc->n_red;
            for (int k = 0; k < c->nargs; k++) {
                IrValue *p = c->args[k];
                if (p->op != IR_MAP || p->into || p->comp->scatter || p->comp->red != RED_NONE || p->n_uses != 1 ||
                    p == f->output || p == f->loss || p->loop != c->loop)
                    continue;
                ReadsOf reads = {.arg = k};
                scalar_visit(cc->body, count_read, &reads);
                if (reads.n != 1 || reads.in_index)
                    continue;
                const Scalar *r = reads.first;
                /* the read must visit each element of p once: distinct plain
                 * variables covering c's whole domain */
                if (!r || r->rank != p->comp->n_out)
                    continue;
                int var_of[KLC_MAXVARS] = {0};
                bool seen[KLC_MAXVARS] = {0};
                bool ok = true;
                for (int j = 0; j < r->rank && ok; j++) {
                    int var;
                    ok = sub_is_var(&r->sub[j], &var) && !seen[var];
                    if (ok) {
                        seen[var] = true;
                        var_of[j] = var;
                    }
                }
                bool covers = ok;
                for (int u = 0; u < nv && covers; u++)
                    covers = seen[u];
                if (!ok || !depth_ok(p->comp->body) || (!covers && !cheap(p->comp->body)))
                    continue;
                /* nothing between p and c may write the storage p reads */
                int pi = -1;
                for (int i = 0; i < ci; i++)
                    if (f->insts.items[i] == p)
                        pi = i;
                for (int i = pi + 1; i < ci && ok; i++) {
                    IrValue *w = f->insts.items[i];
                    if (!w->into)
                        continue;
                    for (int a = 0; a < p->nargs && ok; a++)
                        ok = ir_storage_of(w) != ir_storage_of(p->args[a]);
                }
                if (pi < 0 || !ok)
                    continue;
                Inline in = {k, transplant(f, c, p, var_of)};
                ScalarMap m = {.subst = inline_read, .ctx = &in};
                c->comp->body = scalar_remap(f->arena, cc->body, &m);
                p->n_uses = 0;
                changed = true;
            }
        }
        if (changed) {
            ir_prune_args(f);
            ir_dce(f);
        }
    }
    ir_count_uses(f);
}

/* ------------------------------------------------------------------------
 * Window gradients written, not accumulated
 * --------------------------------------------------------------------- */

/* A factor that is finite wherever it is evaluated: a constant, a
 * comparison made a real (0 or 1), or a choice between such factors.  So
 * 0 * factor is exactly 0, and a gradient that is 0 away from the window's
 * extremum stays 0 when the factor moves into the routing. */
static bool finite_factor(const Scalar *s)
{
    switch (s->op) {
    case S_CONST:
        return isfinite(s->cval);
    case S_TOFLOAT:
        switch (s->a->op) {
        case S_EQ: case S_NE: case S_LT: case S_LE: case S_GT: case S_GE: case S_AND: case S_OR: case S_NOT:
            return true;
        default:
            return false;
        }
    case S_SELECT:
        return finite_factor(s->b) && finite_factor(s->c);
    default:
        return false;
    }
}

/* The reads of a factor must be at plain variables or constants (an
 * elementwise map's operands, broadcast or not). */
static void plain_subs(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth, (void)in_index;
    bool *ok = ctx;
    if (s->op != S_READ)
        return;
    for (int j = 0; j < s->rank; j++) {
        int var;
        if (!sub_is_var(&s->sub[j], &var) && !sub_is_const(&s->sub[j]))
            *ok = false;
    }
}

/* The factor moved into g, the window gradient: its reads of u's operands
 * become reads of g's (appended where new), its subscript v_j (an axis of
 * the common shape) becomes g's output subscript j. */
typedef struct Compose {
    IrFunc *f;
    IrValue *g;
    const IrValue *u;
} Compose;

static Scalar *compose_read(Arena *a, const Scalar *s, void *ctx)
{
    Compose *cm = ctx;
    if (s->op != S_READ)
        return NULL;
    IrValue *arg = cm->u->args[s->arg];
    int found = -1;
    for (int k = 0; k < cm->g->nargs; k++)
        if (cm->g->args[k] == arg)
            found = k;
    if (found < 0) {
        ir_add_arg(cm->f, cm->g, arg);
        found = cm->g->nargs - 1;
    }
    Sub sub[KLC_MAXRANK];
    for (int j = 0; j < s->rank; j++) {
        int var;
        sub[j] = sub_is_var(&s->sub[j], &var) ? cm->g->comp->out_sub[var] : s->sub[j];
    }
    return s_read(a, found, s->rank, sub, s->type);
}

static int position(const IrFunc *f, const IrValue *v)
{
    for (int i = 0; i < f->insts.len; i++)
        if (f->insts.items[i] == v)
            return i;
    return -1;
}

/* u = g * factor (either order), elementwise over g's shape: the factor,
 * or NULL.  gi and ui are their positions in f. */
static const Scalar *mask_of(const IrFunc *f, const IrValue *g, int gi, const IrValue *u, int ui)
{
    const Comp *c = u->comp;
    if (u->op != IR_MAP || u->into || u->loop || c->scatter || c->red != RED_NONE || u->type != DT_F32 ||
        c->n_out != g->shape.rank || !shape_eq(&u->shape, &g->shape) || u == f->output || u == f->loss ||
        c->body->op != S_MUL)
        return NULL;
    const Scalar *sides[2] = {c->body->a, c->body->b};
    for (int side = 0; side < 2; side++) {
        const Scalar *r = sides[side], *factor = sides[1 - side];
        if (r->op != S_READ || u->args[r->arg] != g || r->rank != g->shape.rank)
            continue;
        bool identity = true;
        for (int j = 0; j < r->rank && identity; j++) {
            int var;
            identity = sub_is_var(&r->sub[j], &var) && var == j;
        }
        ReadsOf reads = {.arg = r->arg};
        scalar_visit(factor, count_read, &reads);
        bool plain = true;
        scalar_visit(factor, plain_subs, &plain);
        if (!identity || reads.n || !plain || !finite_factor(factor))
            continue;
        /* the factor's operands exist where g runs, and nothing between
         * g and u writes them */
        bool ok = true;
        for (int k = 0; k < u->nargs && ok; k++) {
            if (u->args[k] == g)
                continue;
            ok = position(f, u->args[k]) < gi;
            for (int i = gi + 1; i < ui && ok; i++) {
                const IrValue *w = f->insts.items[i];
                ok = !w->into || ir_storage_of(w) != ir_storage_of(u->args[k]);
            }
        }
        if (ok)
            return factor;
    }
    return NULL;
}

void ir_fuse_window_grads(IrFunc *f)
{
    ir_count_uses(f);
    bool changed = false;
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *g = f->insts.items[i];
        if (g->op != IR_ARGMAX_GRAD || g->loop || g->scale || !g->into || g->into->op != IR_ZERO ||
            g->into->n_uses != 1)
            continue;
        int64_t lo[KLC_MAXRANK], hi[KLC_MAXRANK];
        if (ir_window_reach(g, lo, hi) == WINDOW_OVERLAP)
            continue;
        /* each element gets at most one contribution: write it */
        g->into = NULL;
        changed = true;
        /* and its one reader multiplying it by a mask takes its place */
        if (g->n_uses != 1)
            continue;
        IrValue *u = NULL;
        int ui = i + 1;
        for (; ui < f->insts.len && !u; ui++) {
            IrValue *w = f->insts.items[ui];
            for (int k = 0; k < w->nargs && !u; k++)
                if (w->args[k] == g)
                    u = w;
        }
        const Scalar *factor = u ? mask_of(f, g, i, u, ui - 1) : NULL;
        if (!factor)
            continue;
        Compose cm = {f, g, u};
        ScalarMap m = {.subst = compose_read, .ctx = &cm};
        g->scale = scalar_remap(f->arena, factor, &m);
        g->name = u->name;
        g->grad_of = u->grad_of;
        ir_replace_uses(f, u, g);
        ir_count_uses(f);
    }
    if (changed)
        ir_dce(f);
    ir_count_uses(f);
}
