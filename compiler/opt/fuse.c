/* fuse.c — inlining of single-use elementwise maps; see fuse.h. */
#include "opt/fuse.h"

#include <string.h>

#include "opt/simplify.h"

static void mark_reads(const Scalar *s, bool *used)
{
    if (!s)
        return;
    if (s->op == S_READ) {
        if (s->arg >= 0 && s->arg < 4096)
            used[s->arg] = true;
        for (int j = 0; j < s->rank; j++)
            mark_reads(s->sub[j].ind, used);
    }
    mark_reads(s->a, used);
    mark_reads(s->b, used);
    mark_reads(s->c, used);
}

static void renumber(Scalar *s, const int *map)
{
    if (!s)
        return;
    if (s->op == S_READ) {
        s->arg = map[s->arg];
        for (int j = 0; j < s->rank; j++)
            renumber(s->sub[j].ind, map);
    }
    renumber(s->a, map);
    renumber(s->b, map);
    renumber(s->c, map);
}

void ir_prune_args(IrFunc *f)
{
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        if (v->op != IR_MAP || v->nargs == 0 || v->nargs > 4000)
            continue;
        bool used[4096] = {0};
        mark_reads(v->comp->body, used);
        if (v->comp->scatter)
            for (int j = 0; j < v->shape.rank; j++)
                mark_reads(v->comp->out_sub[j].ind, used);
        int map[4096], o = 0;
        for (int k = 0; k < v->nargs; k++) {
            map[k] = o;
            if (used[k])
                v->args[o++] = v->args[k];
        }
        if (o == v->nargs)
            continue;
        v->nargs = o;
        renumber(v->comp->body, map);
        if (v->comp->scatter)
            for (int j = 0; j < v->shape.rank; j++)
                renumber(v->comp->out_sub[j].ind, map);
    }
}

static int count_reads(const Scalar *s, int arg, bool in_index, int *in_ind)
{
    if (!s)
        return 0;
    int n = 0;
    if (s->op == S_READ) {
        if (s->arg == arg) {
            if (in_index)
                (*in_ind)++;
            n++;
        }
        for (int j = 0; j < s->rank; j++)
            n += count_reads(s->sub[j].ind, arg, true, in_ind);
    }
    return n + count_reads(s->a, arg, in_index, in_ind) + count_reads(s->b, arg, in_index, in_ind) +
           count_reads(s->c, arg, in_index, in_ind);
}

static Scalar *find_read(Scalar *s, int arg)
{
    if (!s)
        return NULL;
    if (s->op == S_READ && s->arg == arg)
        return s;
    Scalar *r = find_read(s->a, arg);
    if (!r)
        r = find_read(s->b, arg);
    if (!r)
        r = find_read(s->c, arg);
    return r;
}

/* A contraction BLAS will compute: its operands must stay in memory. */
static bool gemm_like(const IrValue *c)
{
    const Comp *k = c->comp;
    return (k->red == RED_SUM || k->red == RED_MEAN) && k->body->op == S_MUL && k->body->a->op == S_READ &&
           k->body->b->op == S_READ;
}

/* Rename, in a copy of P's body, P's variable u to var_of[u] and P's
 * operand k to argmap[k]. */
static void rename_into(Scalar *s, const int *var_of, const int *argmap)
{
    if (!s)
        return;
    if (s->op == S_VAR)
        s->var = var_of[s->var];
    if (s->op == S_READ) {
        s->arg = argmap[s->arg];
        for (int j = 0; j < s->rank; j++) {
            int64_t coef[KLC_MAXVARS] = {0};
            for (int u = 0; u < KLC_MAXVARS; u++)
                if (s->sub[j].coef[u])
                    coef[var_of[u]] += s->sub[j].coef[u];
            memcpy(s->sub[j].coef, coef, sizeof coef);
            rename_into(s->sub[j].ind, var_of, argmap);
        }
    }
    rename_into(s->a, var_of, argmap);
    rename_into(s->b, var_of, argmap);
    rename_into(s->c, var_of, argmap);
}

/* P's body, rewritten to live inside consumer c: P's variable u becomes c's
 * variable var_of[u], P's operands become (possibly new) operands of c. */
static Scalar *transplant(IrFunc *f, IrValue *c, const IrValue *p, const int *var_of)
{
    Scalar *b = s_copy(f->arena, p->comp->body);
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
    rename_into(b, var_of, argmap);
    return b;
}

/* A body cheap enough to recompute wherever it is read: a few arithmetic
 * nodes over reads and constants. */
static int cheap_cost(const Scalar *s)
{
    if (!s)
        return 0;
    switch (s->op) {
    case S_CONST: case S_VAR: case S_DIM: return 1;
    case S_READ:
        for (int j = 0; j < s->rank; j++)
            if (s->sub[j].ind)
                return 100;
        return 1;
    case S_NEG: case S_ADD: case S_SUB: case S_MUL: case S_DIV: case S_TOFLOAT:
        return 1 + cheap_cost(s->a) + cheap_cost(s->b);
    default:
        return 100;
    }
}

static bool depth_ok(const Scalar *s, int d)
{
    if (!s)
        return true;
    if (d > 40)
        return false;
    return depth_ok(s->a, d + 1) && depth_ok(s->b, d + 1) && depth_ok(s->c, d + 1);
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
                    p == f->output || p == f->loss)
                    continue;
                int in_ind = 0;
                if (count_reads(cc->body, k, false, &in_ind) != 1 || in_ind)
                    continue;
                Scalar *r = find_read(cc->body, k);
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
                if (!ok || !depth_ok(p->comp->body, 0) || (!covers && cheap_cost(p->comp->body) > 4))
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
                Scalar *body = transplant(f, c, p, var_of);
                *r = *body; /* replace the read node in place */
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
