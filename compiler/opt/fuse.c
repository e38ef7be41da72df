/* fuse.c — inlining of single-use elementwise maps; see fuse.h. */
#include "opt/fuse.h"

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
