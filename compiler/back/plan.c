/* plan.c — storage assignment and liveness-packed workspace offsets. */
#include "back/plan.h"

#include "back/conv.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/verify.h"

WeightLayout plan_weights(Arena *a, const Model *m)
{
    WeightLayout wl;
    wl.offset = arena_alloc(a, sizeof(int64_t) * (size_t)(m->weights.len + 1));
    wl.n_params = wl.n_state = 0;
    for (int i = 0; i < m->weights.len; i++) {
        const Weight *w = m->weights.items[i];
        int64_t size = pad16(w->size);
        if (w->trainable) {
            wl.offset[i] = wl.n_params;
            wl.n_params += size;
        } else {
            wl.offset[i] = wl.n_state;
            wl.n_state += size;
        }
    }
    return wl;
}

IrValue *plan_root(const Plan *p, IrValue *v)
{
    while (v->id < p->n_ids && p->st[v->id].kind == ST_ALIAS)
        v = p->st[v->id].alias;
    return v;
}

/* Elements of v's storage: (c, k) with c + k*cap, rounded up to 16. */
static void storage_size(const IrValue *v, int64_t *c, int64_t *k)
{
    Dim d;
    if (!shape_count(&v->shape, &d))
        KLC_UNREACHABLE();
    *c = pad16(d.c);
    *k = pad16(d.k);
}

/* In place.  An elementwise map (no reduction, no scatter, no
 * accumulation) that reads a buffer only at its own point — out[v] =
 * f(u[v], ...) with u's subscripts exactly the output variables in order, u
 * of v's shape and element type — reads each element of u once, before it
 * writes the same element of out.  So when u's last reference is v, out
 * may take u's storage (relu(x + b) overwriting x + b): the two lifetimes
 * meet at v without overlapping in what either needs. */
typedef struct IdentityRead {
    const IrValue *v;
    const Plan *p;
    const IrValue *root;   /* the buffer read */
    bool ok;
} IdentityRead;

static void identity_visit(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth;
    IdentityRead *r = ctx;
    if (s->op != S_READ || s->arg < 0 || s->arg >= r->v->nargs ||
        plan_root(r->p, r->v->args[s->arg]) != r->root)
        return;
    const IrValue *u = r->v->args[s->arg];
    if (in_index || s->rank != r->v->shape.rank || u->type != r->v->type || !shape_eq(&u->shape, &r->v->shape)) {
        r->ok = false;
        return;
    }
    for (int j = 0; j < s->rank; j++) {
        int var;
        if (!sub_is_var(&s->sub[j], &var) || var != j || s->sub[j].ind || s->sub[j].off_n)
            r->ok = false;
    }
}

/* May v write over the storage of root (v's operand, dying at v)? */
static bool in_place_ok(const Plan *p, const IrValue *v, const IrValue *root)
{
    if (v->op != IR_MAP || v->into || !v->comp || v->comp->n_red != 0 || v->comp->scatter ||
        v->comp->n_out != v->shape.rank || v->type != root->type)
        return false;
    Dim dv, dr;
    if (!shape_count(&v->shape, &dv) || !shape_count(&root->shape, &dr) || dv.c != dr.c || dv.k != dr.k)
        return false;
    bool reads = false;
    for (int k = 0; k < v->nargs; k++)
        reads |= plan_root(p, v->args[k]) == root;
    if (!reads)
        return false;
    IdentityRead r = {v, p, root, true};
    scalar_visit(v->comp->body, identity_visit, &r);
    return r.ok;
}

/* The loops of f as instruction ranges [lo[r], hi[r]]; returns their number.
 * A value referenced inside a loop is live for the whole loop (every step
 * reads and writes it), which widens its lifetime to cover the range. */
static int loop_ranges(Arena *a, const IrFunc *f, int **lo, int **hi)
{
    int n = f->insts.len, nr = 0;
    *lo = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
    *hi = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        const IrValue *v = f->insts.items[i];
        if (!v->loop)
            continue;
        if (i > 0 && ((const IrValue *)f->insts.items[i - 1])->loop == v->loop) {
            (*hi)[nr - 1] = i;
            continue;
        }
        (*lo)[nr] = (*hi)[nr] = i;
        nr++;
    }
    return nr;
}

static void widen(int nr, const int *lo, const int *hi, int *first, int *last)
{
    for (int r = 0; r < nr; r++)
        if (*first <= hi[r] && *last >= lo[r]) {
            if (lo[r] < *first)
                *first = lo[r];
            if (hi[r] > *last)
                *last = hi[r];
        }
}

typedef struct Slot {
    IrValue *root;
    int first, last;       /* instruction indices of the lifetime */
    int64_t c, k;          /* size */
    int64_t oc, ok;        /* offset */
    bool placed, is_int;
    int over;              /* the slot this one may overwrite in place, or -1 */
} Slot;

/* Do slots s and o need disjoint memory?  Not when their lifetimes are
 * apart, nor when s overwrites o in place at the instruction where o dies. */
static bool conflict(const Slot *slots, int si, int oi)
{
    const Slot *s = &slots[si], *o = &slots[oi];
    if (o->last < s->first || s->last < o->first)
        return false;
    return !(s->over == oi && o->last == s->first);
}

/* [off1, off1 + len1) and [off2, off2 + len2) never overlap, for all cap */
static bool ranges_disjoint(Dim off1, Dim len1, Dim off2, Dim len2)
{
    return dim_le_always((Dim){off1.c + len1.c, off1.k + len1.k}, off2) ||
           dim_le_always((Dim){off2.c + len2.c, off2.k + len2.k}, off1);
}

static bool disjoint(const Slot *x, int64_t oc, int64_t ok, int64_t c, int64_t k)
{
    return ranges_disjoint((Dim){oc, ok}, (Dim){c, k}, (Dim){x->oc, x->ok}, (Dim){x->c, x->k});
}

static void pack(Slot *slots, int n, bool is_int, int64_t *total_c, int64_t *total_k)
{
    *total_c = *total_k = 0;
    for (int i = 0; i < n; i++) {
        Slot *s = &slots[i];
        if (s->is_int != is_int)
            continue;
        /* candidates: 0 and the end of every placed slot whose lifetime overlaps */
        int64_t best_c = -1, best_k = -1;
        /* candidates: 0, the end of every placed slot whose lifetime
         * overlaps, and (cand == i) the start of the slot s overwrites */
        for (int cand = -1; cand <= i; cand++) {
            int64_t oc = 0, ok = 0;
            if (cand == i) {
                if (s->over < 0 || !slots[s->over].placed || slots[s->over].is_int != is_int)
                    continue;
                oc = slots[s->over].oc;
                ok = slots[s->over].ok;
            } else if (cand >= 0) {
                const Slot *o = &slots[cand];
                if (!o->placed || o->is_int != is_int || !conflict(slots, i, cand))
                    continue;
                oc = o->oc + o->c;
                ok = o->ok + o->k;
            }
            bool fits = true;
            for (int j = 0; j < i && fits; j++) {
                const Slot *o = &slots[j];
                if (!o->placed || o->is_int != is_int || !conflict(slots, i, j))
                    continue;
                fits = disjoint(o, oc, ok, s->c, s->k);
            }
            if (!fits)
                continue;
            /* prefer the smallest offset: fewer batch-sized strides, then fewer fixed ones */
            if (best_c < 0 || ok < best_k || (ok == best_k && oc < best_c)) {
                best_c = oc;
                best_k = ok;
            }
        }
        if (best_c < 0) { /* cannot happen: the end of everything always fits; stay safe */
            best_c = *total_c;
            best_k = *total_k;
        }
        s->oc = best_c;
        s->ok = best_k;
        s->placed = true;
        if (s->oc + s->c > *total_c)
            *total_c = s->oc + s->c;
        if (s->ok + s->k > *total_k)
            *total_k = s->ok + s->k;
    }
}

Plan *plan_function(Arena *a, IrFunc *f, const WeightLayout *wl, bool columns)
{
    Plan *p = arena_alloc(a, sizeof *p);
    p->n_ids = f->next_id;
    p->st = arena_alloc(a, sizeof(Storage) * (size_t)(p->n_ids + 1));
    int n = f->insts.len;

    /* 1. kinds */
    for (int i = 0; i < n; i++) {
        IrValue *v = f->insts.items[i];
        Storage *s = &p->st[v->id];
        switch (v->op) {
        case IR_INPUT: s->kind = ST_INPUT; break;
        case IR_LABELS: s->kind = ST_LABELS; break;
        case IR_PARAM: s->kind = ST_PARAM; s->offset = wl->offset[v->index]; break;
        case IR_STATE: s->kind = ST_STATE; s->offset = wl->offset[v->index]; break;
        case IR_RESHAPE: case IR_STOP_GRAD: s->kind = ST_ALIAS; s->alias = v->args[0]; break;
        case IR_OUTPUT: case IR_LOSS: case IR_ADD_LOSS: case IR_ADD_METRIC: case IR_ASSIGN: case IR_GRAD:
            s->kind = ST_NONE;
            break;
        default:
            if (v->into) {
                s->kind = ST_ALIAS;
                s->alias = v->into;
            } else {
                s->kind = v->type == DT_I32 ? ST_IWORK : ST_WORK;
            }
        }
    }
    for (int i = 0; i < n; i++) { /* make aliases point at roots */
        IrValue *v = f->insts.items[i];
        if (p->st[v->id].kind == ST_ALIAS)
            p->st[v->id].alias = plan_root(p, p->st[v->id].alias);
    }

    /* 2. a trainable weight's gradient is computed in place in the grads slab
     * when its storage serves nothing else */
    for (int i = 0; i < n; i++) {
        IrValue *g = f->insts.items[i];
        if (g->op != IR_GRAD)
            continue;
        IrValue *root = plan_root(p, g->args[0]);
        Storage *rs = &p->st[root->id];
        if (rs->kind != ST_WORK || root->shape.rank != g->args[0]->shape.rank)
            continue;
        bool exclusive = true;
        for (int j = 0; j < n && exclusive; j++) {
            IrValue *u = f->insts.items[j];
            if (u == g)
                continue;
            for (int k = 0; k < u->nargs; k++)
                if (plan_root(p, u->args[k]) == root)
                    exclusive = false;
        }
        for (int j = 0; j < i && exclusive; j++) { /* pinned twice (one buffer, two weights) */
            IrValue *u = f->insts.items[j];
            if (u->op == IR_GRAD && plan_root(p, u->args[0]) == root)
                exclusive = false;
        }
        if (exclusive) {
            rs->kind = ST_GRAD;
            rs->offset = wl->offset[g->index];
        }
    }

    /* 3. lifetimes of workspace roots */
    Slot *slots = arena_alloc(a, sizeof(Slot) * (size_t)(n + 1));
    int *slot_of = arena_alloc(a, sizeof(int) * (size_t)(p->n_ids + 1));
    int ns = 0;
    for (int i = 0; i < n; i++) {
        IrValue *v = f->insts.items[i];
        StorageKind k = p->st[v->id].kind;
        slot_of[v->id] = -1;
        if (k == ST_WORK || k == ST_IWORK) {
            Slot *s = &slots[ns];
            s->root = v;
            s->first = s->last = i;
            s->is_int = k == ST_IWORK;
            s->over = -1;
            storage_size(v, &s->c, &s->k);
            slot_of[v->id] = ns++;
        }
    }
    for (int i = 0; i < n; i++) {
        IrValue *v = f->insts.items[i];
        int last = v->op == IR_ASSIGN ? n : i; /* committed at the end of the step */
        /* every operand (however many: a loss summing 100 terms), the
         * storage accumulated into, the forward map re-read, and itself
         * when it is a view or an accumulation */
        for (int k = 0; k < v->nargs + 3; k++) {
            IrValue *ref = k < v->nargs ? v->args[k]
                         : k == v->nargs ? v->into
                         : k == v->nargs + 1 ? v->fwd
                         : p->st[v->id].kind == ST_ALIAS ? v : NULL;
            if (!ref)
                continue;
            IrValue *r = plan_root(p, ref);
            int si = r->id < p->n_ids ? slot_of[r->id] : -1;
            if (si >= 0 && last > slots[si].last)
                slots[si].last = last;
        }
    }
    int *lo, *hi;
    int nr = loop_ranges(a, f, &lo, &hi);
    for (int i = 0; i < ns; i++)
        widen(nr, lo, hi, &slots[i].first, &slots[i].last);
    /* 3b. elementwise maps that may overwrite an operand dying there */
    for (int i = 0; i < ns; i++) {
        Slot *sl = &slots[i];
        const IrValue *v = sl->root;
        for (int k = 0; k < v->nargs && sl->over < 0; k++) {
            IrValue *r = plan_root(p, v->args[k]);
            int o = r->id < p->n_ids ? slot_of[r->id] : -1;
            if (o >= 0 && o != i && slots[o].last == sl->first && slots[o].is_int == sl->is_int &&
                in_place_ok(p, v, r))
                sl->over = o;
        }
    }
    /* 4. pack */
    pack(slots, ns, false, &p->work_c, &p->work_k);
    pack(slots, ns, true, &p->iwork_c, &p->iwork_k);
    /* 5. the scratch region, after every slot */
    int64_t sc = 0, sk = 0;
    for (int i = 0; columns && i < n; i++) {
        ConvGemm cv;
        IrValue *v = f->insts.items[i];
        if (conv_match(v, &cv)) {
            if (pad16(cv.size.c) > sc)
                sc = pad16(cv.size.c);
            if (pad16(cv.size.k) > sk)
                sk = pad16(cv.size.k);
        }
    }
    if (sc > 0 || sk > 0) {
        p->scratch_c = p->work_c;
        p->scratch_k = p->work_k;
        p->work_c += sc;
        p->work_k += sk;
    }
    for (int i = 0; i < ns; i++) {
        Storage *s = &p->st[slots[i].root->id];
        s->off_c = slots[i].oc;
        s->off_k = slots[i].ok;
    }
    if (ir_verify_enabled() && !plan_verify(p, f, stderr))
        ir_verify_fail("the memory plan", "planning");
    return p;
}

static bool plan_bad(FILE *err, const IrFunc *f, const IrValue *v, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        fprintf(err, "plan check failed in func %s: ", f->name ? f->name : "?");
        va_start(ap, fmt);
        vfprintf(err, fmt, ap);
        va_end(ap);
        fputc('\n', err);
        ir_dump_inst(err, v);
        fputc('\n', err);
    }
    return false;
}

static bool is_sink(IrOp op)
{
    return op == IR_OUTPUT || op == IR_LOSS || op == IR_ADD_LOSS || op == IR_ADD_METRIC || op == IR_ASSIGN ||
           op == IR_GRAD;
}

bool plan_verify(const Plan *p, const IrFunc *f, FILE *err)
{
    int n = f->insts.len;
    /* the position of the last reference to each workspace root, as the
     * liveness rule of plan_function states it */
    int *first = calloc((size_t)p->n_ids + 1, sizeof(int)), *last = calloc((size_t)p->n_ids + 1, sizeof(int));
    if (!first || !last)
        klc_internal_fault(__FILE__, __LINE__, "out of memory");
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        IrValue *v = f->insts.items[i];
        if (v->id >= p->n_ids)
            ok = plan_bad(err, f, v, "the value has no storage entry");
        if (!ok)
            break;
        const Storage *s = &p->st[v->id];
        if (is_sink(v->op) != (s->kind == ST_NONE))
            ok = plan_bad(err, f, v, is_sink(v->op) ? "a sink has storage" : "the value has no storage");
        else if (s->kind == ST_ALIAS && (!s->alias || s->alias->id >= p->n_ids || p->st[s->alias->id].kind == ST_ALIAS ||
                                         p->st[s->alias->id].kind == ST_NONE))
            ok = plan_bad(err, f, v, "the value is an alias, but not of a root with storage");
        else if ((v->into || v->op == IR_RESHAPE || v->op == IR_STOP_GRAD) && s->kind != ST_ALIAS)
            ok = plan_bad(err, f, v, "a view or accumulation owns storage");
        else if (s->kind == ST_WORK || s->kind == ST_IWORK) {
            Dim d;
            int64_t tc = s->kind == ST_WORK ? p->work_c : p->iwork_c, tk = s->kind == ST_WORK ? p->work_k : p->iwork_k;
            if (!shape_count(&v->shape, &d) || s->off_c < 0 || s->off_k < 0 || s->off_c + d.c > tc ||
                s->off_k + d.k > tk)
                ok = plan_bad(err, f, v, "the buffer lies outside the workspace");
            first[v->id] = last[v->id] = i;
        }
        if (!ok)
            break;
        int end = v->op == IR_ASSIGN ? n : i;
        for (int k = 0; k < v->nargs + 3; k++) {
            IrValue *ref = k < v->nargs ? v->args[k] : k == v->nargs ? v->into : k == v->nargs + 1 ? v->fwd : v;
            if (!ref || (k == v->nargs + 2 && s->kind != ST_ALIAS))
                continue;
            IrValue *r = plan_root(p, ref);
            if (last[r->id] < end)
                last[r->id] = end;
        }
    }
    {
        Arena *tmp = arena_new();
        int *lo, *hi;
        int nr = loop_ranges(tmp, f, &lo, &hi);
        for (int i = 0; i < n && ok; i++) {
            IrValue *v = f->insts.items[i];
            StorageKind k = p->st[v->id].kind;
            if (k == ST_WORK || k == ST_IWORK)
                widen(nr, lo, hi, &first[v->id], &last[v->id]);
        }
        arena_free(tmp);
    }
    /* buffers alive at once are disjoint */
    for (int i = 0; i < n && ok; i++) {
        IrValue *x = f->insts.items[i];
        StorageKind kx = p->st[x->id].kind;
        if (kx != ST_WORK && kx != ST_IWORK)
            continue;
        for (int j = i + 1; j < n && ok; j++) {
            IrValue *y = f->insts.items[j];
            if (p->st[y->id].kind != kx || first[y->id] > last[x->id])
                continue;
            /* y overwriting x in place where x dies (see in_place_ok) */
            if (first[y->id] == last[x->id] && in_place_ok(p, y, x))
                continue;
            if (!plan_disjoint(p, x, y))
                ok = plan_bad(err, f, y, "%%%d shares memory with %%%d, which is still alive", y->id, x->id);
        }
    }
    free(first);
    free(last);
    return ok;
}

bool plan_disjoint(const Plan *p, IrValue *x, IrValue *y)
{
    const IrValue *rx = plan_root(p, x), *ry = plan_root(p, y);
    const Storage *sx = &p->st[rx->id], *sy = &p->st[ry->id];
    if (sx->kind == ST_NONE || sy->kind == ST_NONE || sx->kind != sy->kind)
        return true; /* no storage, or different buffers */
    if (rx == ry || (sx->kind != ST_WORK && sx->kind != ST_IWORK))
        return false;
    Dim cx, cy;
    storage_size(rx, &cx.c, &cx.k);
    storage_size(ry, &cy.c, &cy.k);
    return ranges_disjoint((Dim){sx->off_c, sx->off_k}, cx, (Dim){sy->off_c, sy->off_k}, cy);
}

PlannedModel *plan_model(Arena *a, Model *m)
{
    PlannedModel *pm = arena_alloc(a, sizeof *pm);
    pm->m = m;
    pm->wl = plan_weights(a, m);
    /* training reads each convolution's windows twice (forward product and
     * kernel gradient): they get a slot of their own, gathered once */
    conv_lower_columns(m->train);
    ir_verify_pass(m->train, "column lowering");
    pm->train = plan_function(a, m->train, &pm->wl, true);
    pm->test = plan_function(a, m->infer, &pm->wl, true);
    pm->predict = plan_function(a, m->predict, &pm->wl, true);
    return pm;
}

/* c + k*cap: "16", "784*cap", "16 + 784*cap". */
static void dump_lin(FILE *out, int64_t c, int64_t k)
{
    if (k && c)
        fprintf(out, "%lld + %lld*cap", (long long)c, (long long)k);
    else if (k)
        fprintf(out, "%lld*cap", (long long)k);
    else
        fprintf(out, "%lld", (long long)c);
}

static void dump_plan(FILE *out, const IrFunc *f, const Plan *p)
{
    static const char *const kinds[] = {"none", "input", "labels", "params", "state", "grads", "work", "iwork", "alias"};
    fprintf(out, "plan %s {\n  work: ", f->name);
    dump_lin(out, p->work_c, p->work_k);
    fputs(" floats, iwork: ", out);
    dump_lin(out, p->iwork_c, p->iwork_k);
    fputs(" int32s\n", out);
    if (p->scratch_c || p->scratch_k) {
        fputs("  scratch (column buffers) @ ", out);
        dump_lin(out, p->scratch_c, p->scratch_k);
        fputs("\n", out);
    }
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        const Storage *st = &p->st[v->id];
        if (st->kind == ST_NONE)
            continue;
        fprintf(out, "  %%%d %s", v->id, kinds[st->kind]);
        switch (st->kind) {
        case ST_PARAM: case ST_STATE: case ST_GRAD:
            fprintf(out, " @ %lld", (long long)st->offset);
            break;
        case ST_WORK: case ST_IWORK:
            fputs(" @ ", out);
            dump_lin(out, st->off_c, st->off_k);
            break;
        case ST_ALIAS:
            fprintf(out, " of %%%d\n", st->alias->id);
            continue;
        default:
            break;
        }
        int64_t c, k;
        storage_size(v, &c, &k);
        fputs(", size ", out);
        dump_lin(out, c, k);
        fputc('\n', out);
    }
    fputs("}\n", out);
}

void plan_dump(FILE *out, const PlannedModel *pm)
{
    const IrFunc *fs[3] = {pm->m->train, pm->m->infer, pm->m->predict};
    const Plan *ps[3] = {pm->train, pm->test, pm->predict};
    for (int i = 0; i < 3; i++) {
        ir_dump(out, fs[i]);
        dump_plan(out, fs[i], ps[i]);
    }
}
