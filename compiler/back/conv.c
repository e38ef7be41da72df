/* conv.c — convolution maps as im2col / col2im and one GEMM; see conv.h. */
#include "back/conv.h"

#include <string.h>

#include "ir/ir_util.h"

/* Is every subscript of read r (of tensor t) a distinct plain variable
 * covering the whole axis?  Then vars[j] is axis j's variable. */
static bool plain_read(const Scalar *r, const IrValue *t, const Comp *c, int *vars)
{
    if (r->rank != t->shape.rank)
        return false;
    for (int j = 0; j < r->rank; j++) {
        if (!sub_is_var(&r->sub[j], &vars[j]) || !dim_eq(c->ext[vars[j]], t->shape.d[j]))
            return false;
        for (int k = 0; k < j; k++)
            if (vars[k] == vars[j])
                return false;
    }
    return true;
}

static bool uses_var(const Sub *subs, int rank, int var)
{
    for (int j = 0; j < rank; j++)
        if (subs[j].coef[var])
            return true;
    return false;
}

static bool affine(const Sub *subs, int rank)
{
    for (int j = 0; j < rank; j++)
        if (subs[j].ind)
            return false;
    return true;
}

static int index_of(const int *vars, int n, int var)
{
    for (int k = 0; k < n; k++)
        if (vars[k] == var)
            return k;
    return -1;
}

/* Is the read with axis variables pv[0..rank) laid out as [first.., second..]
 * (*trans = false) or [second.., first..] (*trans = true), each block in the
 * order given? */
static bool blocks(const int *pv, int rank, const int *first, int n1, const int *second, int n2, bool *trans)
{
    if (n1 + n2 != rank)
        return false;
    bool fwd = true, rev = true;
    for (int k = 0; k < n1; k++) {
        fwd = fwd && pv[k] == first[k];
        rev = rev && pv[n2 + k] == first[k];
    }
    for (int k = 0; k < n2; k++) {
        fwd = fwd && pv[n1 + k] == second[k];
        rev = rev && pv[k] == second[k];
    }
    *trans = !fwd;
    return fwd || rev;
}

static bool is_mul_of_reads(const Scalar *b)
{
    return b->op == S_MUL && b->a->op == S_READ && b->b->op == S_READ && b->a->type == DT_F32 &&
           b->b->type == DT_F32;
}

/* out[M.., N..] = sum over K of x[affine] * p[plain K/N]. */
static bool match_im2col(const IrValue *v, const Scalar *x, const Scalar *p, ConvGemm *cv)
{
    const Comp *c = v->comp;
    int pv[KLC_MAXRANK];
    if (!plain_read(p, v->args[p->arg], c, pv) || !affine(x->sub, x->rank))
        return false;
    int xv[KLC_MAXRANK];
    if (plain_read(x, v->args[x->arg], c, xv))
        return false; /* both plain: a GEMM or a transpose, not a convolution */
    int m_vars[KLC_MAXVARS], n_vars[KLC_MAXVARS], k_vars[KLC_MAXVARS];
    int nm = 0, nn = 0, nk = 0;
    for (int var = 0; var < c->n_out + c->n_red; var++) {
        bool in_x = uses_var(x->sub, x->rank, var), in_p = index_of(pv, p->rank, var) >= 0;
        if (var < c->n_out) {
            if (in_x == in_p || (in_x && nn > 0))
                return false; /* out = [M.., N..]: each output variable in one operand */
            if (in_x)
                m_vars[nm++] = var;
            else
                n_vars[nn++] = var;
        } else if (!in_x || !in_p) {
            return false;
        }
    }
    for (int j = 0; j < p->rank; j++) /* K in p's order */
        if (pv[j] >= c->n_out)
            k_vars[nk++] = pv[j];
    if (nm == 0 || nn == 0 || nk == 0 || !blocks(pv, p->rank, k_vars, nk, n_vars, nn, &cv->tb))
        return false;
    /* columns: [M.., K..], or [K.., M..] when x's innermost axis follows an
     * output variable (a kernel gradient), so the copy runs along it */
    bool m_inner = false;
    for (int k = 0; k < nm; k++)
        if (x->sub[x->rank - 1].coef[m_vars[k]])
            m_inner = true;
    cv->ta = m_inner;
    cv->n_col = 0;
    for (int k = 0; k < nm + nk; k++) {
        bool first = k < (m_inner ? nk : nm);
        int i = first ? k : k - (m_inner ? nk : nm);
        cv->col_var[cv->n_col++] = (first != m_inner) ? m_vars[i] : k_vars[i];
    }
    if (!comp_extent_product(c, m_vars, nm, &cv->M) || !comp_extent_product(c, n_vars, nn, &cv->N) || !comp_extent_product(c, k_vars, nk, &cv->K) ||
        !dim_mul(cv->M, cv->K, &cv->size))
        return false;
    cv->kind = CONV_IM2COL;
    cv->rx = x;
    cv->ra = NULL;
    cv->rb = p;
    return true;
}

/* out[affine(M, N)] += sum over K of a[plain M/K] * b[plain K/N]. */
static bool match_col2im(const IrValue *v, ConvGemm *cv)
{
    const Comp *c = v->comp;
    const Scalar *a = c->body->a, *b = c->body->b;
    int rank = v->shape.rank;
    if (!affine(c->out_sub, rank))
        return false;
    /* A: the operand holding the outermost axis of the target */
    bool a_first = false;
    for (int var = 0; var < c->n_out + c->n_red; var++)
        if (c->out_sub[0].coef[var]) {
            a_first = uses_var(a->sub, a->rank, var);
            if (!a_first && !uses_var(b->sub, b->rank, var))
                return false;
            break;
        }
    if (!a_first) {
        const Scalar *t = a;
        a = b;
        b = t;
    }
    int av[KLC_MAXRANK], bv[KLC_MAXRANK];
    if (!plain_read(a, v->args[a->arg], c, av) || !plain_read(b, v->args[b->arg], c, bv))
        return false;
    int m_vars[KLC_MAXVARS], n_vars[KLC_MAXVARS], k_vars[KLC_MAXVARS], kb[KLC_MAXVARS];
    int nm = 0, nn = 0, nk = 0, nkb = 0;
    for (int var = 0; var < c->n_out + c->n_red; var++) {
        bool in_a = index_of(av, a->rank, var) >= 0, in_b = index_of(bv, b->rank, var) >= 0;
        bool in_o = uses_var(c->out_sub, rank, var);
        if (in_a && in_b) {
            if (in_o)
                return false;
        } else if (!(in_a || in_b) || !in_o) {
            return false;
        }
    }
    for (int j = 0; j < a->rank; j++) {
        if (index_of(bv, b->rank, av[j]) >= 0)
            k_vars[nk++] = av[j];
        else
            m_vars[nm++] = av[j];
    }
    for (int j = 0; j < b->rank; j++) {
        if (index_of(av, a->rank, bv[j]) >= 0)
            kb[nkb++] = bv[j];
        else
            n_vars[nn++] = bv[j];
    }
    if (nm == 0 || nn == 0 || nk == 0 || memcmp(k_vars, kb, sizeof(int) * (size_t)nk) != 0 ||
        !blocks(av, a->rank, m_vars, nm, k_vars, nk, &cv->ta) || !blocks(bv, b->rank, k_vars, nk, n_vars, nn, &cv->tb))
        return false;
    cv->n_col = 0;
    for (int k = 0; k < nm; k++)
        cv->col_var[cv->n_col++] = m_vars[k];
    for (int k = 0; k < nn; k++)
        cv->col_var[cv->n_col++] = n_vars[k];
    if (!comp_extent_product(c, m_vars, nm, &cv->M) || !comp_extent_product(c, n_vars, nn, &cv->N) || !comp_extent_product(c, k_vars, nk, &cv->K) ||
        !dim_mul(cv->M, cv->N, &cv->size))
        return false;
    cv->kind = CONV_COL2IM;
    cv->rx = NULL;
    cv->ra = a;
    cv->rb = b;
    return true;
}

bool conv_match(const IrValue *v, ConvGemm *cv)
{
    if (v->op != IR_MAP || v->type != DT_F32)
        return false;
    const Comp *c = v->comp;
    if (!is_mul_of_reads(c->body))
        return false;
    if (c->scatter)
        return c->red == RED_NONE && match_col2im(v, cv);
    if (c->n_red < 1 || (c->red != RED_SUM && c->red != RED_MEAN))
        return false;
    return match_im2col(v, c->body->a, c->body->b, cv) || match_im2col(v, c->body->b, c->body->a, cv);
}

static bool sub_eq(const Sub *x, const Sub *y)
{
    return !x->ind && !y->ind && x->off == y->off && x->off_n == y->off_n &&
           !memcmp(x->coef, y->coef, sizeof x->coef);
}

/* Does column map `col` (made by conv_lower_columns) hold exactly the
 * windows `want` of x over `shape`? */
static bool same_columns(const IrValue *col, const IrValue *x, const Shape *shape, const Scalar *want)
{
    const Scalar *r = col->comp->body;
    if (col->args[0] != x || !shape_eq(&col->shape, shape) || r->rank != want->rank)
        return false;
    for (int j = 0; j < r->rank; j++)
        if (!sub_eq(&r->sub[j], &want->sub[j]))
            return false;
    return true;
}

/* Does an instruction in insts[from, to) accumulate into x's storage? */
static bool written_between(const IrFunc *f, int from, int to, const IrValue *x)
{
    for (int i = from; i < to; i++) {
        const IrValue *w = f->insts.items[i];
        if (w->into && ir_storage_of(w) == ir_storage_of(x))
            return true;
    }
    return false;
}

/* Read `r` of body s replaced by `by` (the others copied). */
typedef struct ReplaceRead {
    const Scalar *r;
    Scalar *by;
} ReplaceRead;

static Scalar *replace_read(Arena *a, const Scalar *s, void *ctx)
{
    (void)a;
    const ReplaceRead *rr = ctx;
    return s == rr->r ? rr->by : NULL;
}

int conv_lower_columns(IrFunc *f)
{
    Arena *a = f->arena;
    int first_new = f->next_id, rewritten = 0;
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        ConvGemm cv;
        if (v->loop || !conv_match(v, &cv) || cv.kind != CONV_IM2COL || cv.rx->arg == cv.rb->arg ||
            cv.n_col > KLC_MAXRANK)
            continue;
        const Comp *c = v->comp;
        IrValue *x = v->args[cv.rx->arg];
        /* the column map's variable k is v's variable col_var[k]; the
         * windows read x at v's subscripts renamed so */
        int var_of[KLC_MAXVARS] = {0};
        Dim ext[KLC_MAXRANK];
        for (int k = 0; k < cv.n_col; k++) {
            var_of[cv.col_var[k]] = k;
            ext[k] = c->ext[cv.col_var[k]];
        }
        Shape shape = shape_make(cv.n_col, ext);
        ScalarMap rename = {.var = var_of};
        Scalar *windows = scalar_remap(a, cv.rx, &rename);
        windows->arg = 0;
        IrValue *col = NULL;
        for (int j = i - 1; j >= 0 && !col; j--) {
            IrValue *u = f->insts.items[j];
            if (u->id >= first_new && u->op == IR_MAP && same_columns(u, x, &shape, windows) &&
                !written_between(f, j + 1, i, x))
                col = u;
        }
        if (!col) {
            Comp *cc = comp_new(a, cv.n_col, 0);
            for (int k = 0; k < cv.n_col; k++) {
                cc->ext[k] = ext[k];
                cc->var_name[k] = c->var_name[cv.col_var[k]];
            }
            cc->red = RED_NONE;
            cc->body = windows;
            col = ir_map(f, &shape, DT_F32, cc, v->loc); /* appended: move it before v */
            ir_add_arg(f, col, x);
            col->name = "cols";
            col->layer = v->layer;
            memmove(&f->insts.items[i + 1], &f->insts.items[i], sizeof(void *) * (size_t)(f->insts.len - 1 - i));
            f->insts.items[i++] = col;
        }
        /* v: the same product, cols read at the column axes' variables */
        Sub plain[KLC_MAXRANK];
        for (int k = 0; k < cv.n_col; k++)
            plain[k] = sub_var(cv.col_var[k]);
        ReplaceRead rr = {cv.rx, s_read(a, cv.rx->arg, cv.n_col, plain, DT_F32)};
        ScalarMap m = {.subst = replace_read, .ctx = &rr};
        Comp *nc = arena_alloc(a, sizeof *nc);
        *nc = *c;
        nc->body = scalar_remap(a, c->body, &m);
        IrValue **args = arena_alloc(a, sizeof(IrValue *) * (size_t)v->nargs);
        memcpy(args, v->args, sizeof(IrValue *) * (size_t)v->nargs);
        args[cv.rx->arg] = col;
        v->args = args;
        v->comp = nc;
        rewritten++;
    }
    if (f->next_id > first_new && !f->lowered_id)
        f->lowered_id = first_new;
    ir_count_uses(f);
    return rewritten;
}
