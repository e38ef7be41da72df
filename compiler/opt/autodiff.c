/* autodiff.c — reverse mode over KIR; see autodiff.h for the rules. */
#include "opt/autodiff.h"

#include <string.h>

#include "opt/simplify.h"

typedef struct AD {
    IrFunc *f;
    Arena *a;
    IrValue **adj;    /* by value id: current adjoint (latest version) */
    bool *relevant;   /* by value id: active and reaches the loss */
    int n_ids;
    PtrVec dead_arg;  /* IrValue*: an active operand whose use ... */
    PtrVec dead_use;  /* IrValue*: ... by this instruction has no derivative */
} AD;

static void dead_edge(AD *ad, IrValue *arg, IrValue *use)
{
    vec_push(ad->a, &ad->dead_arg, arg);
    vec_push(ad->a, &ad->dead_use, use);
}

/* ------------------------------------------------------------------------
 * Scalar derivatives
 * --------------------------------------------------------------------- */

static bool sub_equal(const Sub *x, const Sub *y);

static bool scalar_equal(const Scalar *x, const Scalar *y)
{
    if (!x || !y)
        return x == y;
    if (x->op != y->op || x->type != y->type)
        return false;
    switch (x->op) {
    case S_CONST: return x->cval == y->cval;
    case S_VAR: return x->var == y->var;
    case S_DIM: return dim_eq(x->dim, y->dim);
    case S_READ:
        if (x->arg != y->arg || x->rank != y->rank)
            return false;
        for (int j = 0; j < x->rank; j++)
            if (!sub_equal(&x->sub[j], &y->sub[j]))
                return false;
        return true;
    default:
        return scalar_equal(x->a, y->a) && scalar_equal(x->b, y->b) && scalar_equal(x->c, y->c);
    }
}

static bool sub_equal(const Sub *x, const Sub *y)
{
    return memcmp(x->coef, y->coef, sizeof x->coef) == 0 && x->off == y->off && x->off_n == y->off_n &&
           scalar_equal(x->ind, y->ind);
}

/* Reads that belong to one group: same operand, same subscripts. */
static bool in_group(const Scalar *r, const Scalar *g)
{
    if (r->arg != g->arg || r->rank != g->rank)
        return false;
    for (int j = 0; j < r->rank; j++)
        if (!sub_equal(&r->sub[j], &g->sub[j]))
            return false;
    return true;
}

static Scalar *K(Arena *a, double c)
{
    return s_const(a, c);
}

static Scalar *mul(Arena *a, Scalar *x, Scalar *y)
{
    if (!x || !y)
        return NULL;
    return s_bin(a, S_MUL, x, y);
}

static Scalar *add(Arena *a, Scalar *x, Scalar *y)
{
    if (!x)
        return y;
    if (!y)
        return x;
    return s_bin(a, S_ADD, x, y);
}

static Scalar *sub(Arena *a, Scalar *x, Scalar *y)
{
    if (!y)
        return x;
    if (!x)
        return s_un(a, S_NEG, y);
    return s_bin(a, S_SUB, x, y);
}

static Scalar *cp(Arena *a, const Scalar *s)
{
    return s_copy(a, s);
}

/* The vocabulary of the `deriv` column of ir/scalar_ops.def, inside sdiff:
 * da, db, dc are the operands' derivatives (NULL: zero). */
#define DA da
#define DB db
#define DC dc
#define X cp(a, s->a)
#define Y cp(a, s->b)
#define K(c) s_const(a, c)
#define U(op, e) s_un(a, S_##op, e)
#define B(op, e, f) s_bin(a, S_##op, e, f)
#define D_NONE NULL
#define D_UN(e) (e)
#define D_SUM(ea, eb) add(a, da ? (ea) : NULL, db ? (eb) : NULL)
#define D_DIFF(ea, eb) sub(a, da ? (ea) : NULL, db ? (eb) : NULL)
#define D_PICK(c, p, q) s_select(a, c, (p) ? (p) : K(0), (q) ? (q) : K(0))

/* d s / d (reads of group g); NULL means zero.  The chain rule over the
 * table: the operands' derivatives first, then the operation's row. */
static Scalar *sdiff(Arena *a, const Scalar *s, const Scalar *g)
{
    if (!s)
        return NULL;
    if (s->op == S_READ)
        return s->type == DT_F32 && in_group(s, g) ? K(1) : NULL;
    Scalar *da = sdiff(a, s->a, g), *db = sdiff(a, s->b, g), *dc = sdiff(a, s->c, g);
    if (!da && !db && !dc)
        return NULL; /* the leaves, and operations of constants */
    switch (s->op) {
#define LEAF(name, text)
#define OP(name, arity, text, c_real, c_int, eval, deriv) \
    case S_##name:                                        \
        return deriv;
#include "ir/scalar_ops.def"
#undef LEAF
#undef OP
    default:
        KLC_UNREACHABLE();
    }
}

#undef DA
#undef DB
#undef DC
#undef X
#undef Y
#undef K
#undef U
#undef B
#undef D_NONE
#undef D_UN
#undef D_SUM
#undef D_DIFF
#undef D_PICK

/* The distinct read groups of float operands in a body (not inside gather
 * subscripts, which are integer data), in the order of scalar_visit. */
typedef struct Groups {
    Arena *a;
    PtrVec *groups; /* const Scalar*: the first read of each group */
} Groups;

static void add_group(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth;
    Groups *gs = ctx;
    if (s->op != S_READ || in_index || s->type != DT_F32)
        return;
    for (int i = 0; i < gs->groups->len; i++)
        if (in_group(s, gs->groups->items[i]))
            return;
    vec_push(gs->a, gs->groups, (void *)s);
}

/* ------------------------------------------------------------------------
 * Rewriting scalars into a new map's numbering
 *
 * A derivative of map v's body reads v's operands 0..v->nargs-1, the
 * adjoint dy as operand -1 and, for the output-based derivatives, v's own
 * output as operand v->nargs.  The contribution map reads dy, v's operands,
 * then v: every operand shifts by one (scalar_remap with arg_shift 1).
 * --------------------------------------------------------------------- */

/* Does a tree read operand `arg` (anywhere, gather indices included)? */
typedef struct ReadsArg {
    int arg;
    bool found;
} ReadsArg;

static void find_arg(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth, (void)in_index;
    ReadsArg *r = ctx;
    if (s->op == S_READ && s->arg == r->arg)
        r->found = true;
}

static bool reads_arg(const Scalar *s, int arg)
{
    ReadsArg r = {arg, false};
    scalar_visit(s, find_arg, &r);
    return r.found;
}

/* ------------------------------------------------------------------------
 * Contributions
 * --------------------------------------------------------------------- */

static IrValue *adj_of(AD *ad, const IrValue *v)
{
    return v->id < ad->n_ids ? ad->adj[v->id] : NULL;
}

static void set_adj(AD *ad, const IrValue *v, IrValue *g)
{
    ad->adj[v->id] = g;
}

static IrValue *zeros(AD *ad, const IrValue *like)
{
    IrValue *z = ir_new(ad->f, IR_ZERO, &like->shape, DT_F32, like->loc);
    z->grad_of = like;
    return z;
}

/* The full-shape reads of an ordinary tensor over identity variables. */
static Scalar *read_all(Arena *a, int arg, const Shape *s)
{
    return s_read_all(a, arg, s, DT_F32);
}

/* A map producing (or accumulating into the adjoint of) x. */
static IrValue *contribution_map(AD *ad, const IrValue *x, Comp *c, SrcLoc loc)
{
    IrValue *prev = adj_of(ad, x);
    if (c->scatter && !prev)
        prev = zeros(ad, x);
    IrValue *g = ir_map(ad->f, &x->shape, DT_F32, c, loc);
    g->into = prev;
    g->name = x->name ? arena_printf(ad->a, "d_%s", x->name) : NULL;
    g->grad_of = x;
    set_adj(ad, x, g);
    return g;
}

/* Add a whole tensor `t` (x's shape) to x's adjoint. */
static void add_tensor(AD *ad, const IrValue *x, IrValue *t)
{
    IrValue *prev = adj_of(ad, x);
    if (!prev) {
        if (!t->grad_of)
            t->grad_of = x;
        set_adj(ad, x, t);
        return;
    }
    Comp *c = comp_over(ad->a, &x->shape, x->shape.rank);
    c->body = read_all(ad->a, 0, &x->shape);
    IrValue *g = contribution_map(ad, x, c, t->loc);
    ir_add_arg(ad->f, g, t);
}

/* The count of a mean: product of the reduced extents. */
static Scalar *count_of(Arena *a, const Comp *c)
{
    Dim total = comp_red_count(c);
    return dim_is_const(total) ? K(a, (double)total.c) : s_dim(a, total);
}

/* The contribution of one read group of map v to operand x = v->args[g->arg]. */
static void map_group(AD *ad, IrValue *v, const Scalar *g, Scalar *partial, IrValue *dy)
{
    Arena *a = ad->a;
    const Comp *c = v->comp;
    const IrValue *x = v->args[g->arg];
    int nv = c->n_out + c->n_red;

    /* value = dy[out vars] * partial (/ count for a mean), dy read as operand -1 */
    Sub ys[KLC_MAXRANK];
    for (int j = 0; j < c->n_out && j < KLC_MAXRANK; j++)
        ys[j] = sub_var(j);
    Scalar *val = s_bin(a, S_MUL, s_read(a, -1, c->n_out, ys, DT_F32), partial);
    if (c->red == RED_MEAN)
        val = s_bin(a, S_DIV, val, count_of(a, c));

    /* gather form: every subscript a distinct plain variable spanning its axis,
     * or the constant 0 on an axis of size 1 (a broadcast) */
    bool gather = c->red != RED_MAX && c->red != RED_MIN;
    int axis_var[KLC_MAXRANK];
    bool used[KLC_MAXVARS] = {0};
    for (int j = 0; gather && j < g->rank; j++) {
        int var;
        if (sub_is_var(&g->sub[j], &var) && !used[var] && dim_eq(c->ext[var], x->shape.d[j])) {
            axis_var[j] = var;
            used[var] = true;
        } else if (sub_is_const(&g->sub[j]) && g->sub[j].off == 0 && g->sub[j].off_n == 0 &&
                   dim_eq(x->shape.d[j], dim_const(1))) {
            axis_var[j] = -1;
        } else {
            gather = false;
        }
    }
    bool self = reads_arg(val, v->nargs);
    int var_of[KLC_MAXVARS] = {0}; /* v's variables in the contribution */
    ScalarMap r = {.var = var_of, .arg_shift = 1};
    Comp *nc;
    if (gather) {
        int n_red = 0;
        for (int k = 0; k < nv; k++)
            if (!used[k])
                n_red++;
        nc = comp_new(a, x->shape.rank, n_red);
        for (int j = 0; j < x->shape.rank; j++) {
            nc->ext[j] = x->shape.d[j];
            if (axis_var[j] >= 0)
                var_of[axis_var[j]] = j;
        }
        int rv = x->shape.rank;
        for (int k = 0; k < nv; k++)
            if (!used[k]) {
                var_of[k] = rv;
                nc->ext[rv++] = c->ext[k];
            }
        nc->red = n_red ? RED_SUM : RED_NONE;
    } else {
        nc = comp_new(a, nv, 0);
        for (int k = 0; k < nv; k++) {
            var_of[k] = k;
            nc->ext[k] = c->ext[k];
        }
        nc->scatter = true;
        for (int j = 0; j < g->rank; j++)
            nc->out_sub[j] = sub_remap(a, &g->sub[j], &r);
    }
    nc->body = scalar_fold(a, scalar_remap(a, val, &r));
    IrValue *contrib;
    if (c->red == RED_MAX || c->red == RED_MIN) {
        /* route dy to the first extremum: a dedicated instruction that
         * recomputes the forward body to find it */
        IrValue *prev = adj_of(ad, x);
        if (!prev)
            prev = zeros(ad, x);
        contrib = ir_new(ad->f, IR_ARGMAX_GRAD, &x->shape, DT_F32, v->loc);
        contrib->comp = nc;
        contrib->into = prev;
        contrib->fwd = v;
        contrib->name = x->name ? arena_printf(a, "d_%s", x->name) : NULL;
        contrib->grad_of = x;
        set_adj(ad, x, contrib);
    } else {
        contrib = contribution_map(ad, x, nc, v->loc);
    }
    ir_add_arg(ad->f, contrib, dy);
    for (int k = 0; k < v->nargs; k++)
        ir_add_arg(ad->f, contrib, v->args[k]);
    if (self)
        ir_add_arg(ad->f, contrib, v);
}

static void backprop_map(AD *ad, IrValue *v, IrValue *dy)
{
    Arena *a = ad->a;
    const Comp *c = v->comp;
    PtrVec groups = {0};
    Groups gs = {a, &groups};
    scalar_visit(c->body, add_group, &gs);
    /* derivatives from the output where the outermost function allows it:
     * exp, tanh, sigmoid and relu of anything (then the input need not be kept) */
    const Scalar *body = c->body, *inner = NULL;
    Scalar *outer = NULL;
    if (c->red == RED_NONE && !c->scatter && c->n_out <= KLC_MAXRANK &&
        (body->op == S_EXP || body->op == S_TANH || body->op == S_SIGMOID || body->op == S_RELU)) {
        Sub ys[KLC_MAXRANK];
        for (int j = 0; j < c->n_out; j++)
            ys[j] = sub_var(j);
        Scalar *y = s_read(a, v->nargs, c->n_out, ys, DT_F32);
        switch (body->op) {
        case S_EXP: outer = y; break;
        case S_TANH: outer = s_bin(a, S_SUB, K(a, 1), s_bin(a, S_MUL, y, s_copy(a, y))); break;
        case S_SIGMOID: outer = s_bin(a, S_MUL, y, s_bin(a, S_SUB, K(a, 1), s_copy(a, y))); break;
        default: outer = s_un(a, S_TOFLOAT, s_bin(a, S_GT, y, K(a, 0))); break;
        }
        inner = body->a;
    }
    for (int i = 0; i < groups.len; i++) {
        const Scalar *g = groups.items[i];
        const IrValue *x = v->args[g->arg];
        if (!ad->relevant[x->id])
            continue;
        Scalar *p = outer ? mul(a, s_copy(a, outer), sdiff(a, inner, g)) : sdiff(a, body, g);
        if (!p) {
            dead_edge(ad, v->args[g->arg], v);
            continue;
        }
        map_group(ad, v, g, scalar_fold(a, p), dy);
    }
}

/* Reduce the last axis (or `axis`) of a map body read: out has x's shape minus the axis. */
static IrValue *reduce_axis(AD *ad, const Shape *s, int axis, Scalar *body, int nargs, IrValue **args, SrcLoc loc)
{
    Arena *a = ad->a;
    Shape out;
    memset(&out, 0, sizeof out);
    Comp *c = comp_new(a, s->rank - 1, 1);
    int o = 0;
    int map[KLC_MAXVARS] = {0};
    for (int j = 0; j < s->rank; j++) {
        if (j == axis) {
            map[j] = s->rank - 1;
            c->ext[s->rank - 1] = s->d[j];
        } else {
            map[j] = o;
            c->ext[o] = s->d[j];
            out.d[out.rank++] = s->d[j];
            o++;
        }
    }
    ScalarMap r = {.var = map};
    c->body = scalar_remap(a, body, &r);
    c->red = RED_SUM;
    IrValue *v = ir_map(ad->f, &out, DT_F32, c, loc);
    for (int i = 0; i < nargs; i++)
        ir_add_arg(ad->f, v, args[i]);
    return v;
}

/* Read of a reduced tensor (x's shape without `axis`) at x's variables. */
static Scalar *read_without(Arena *a, int arg, const Shape *s, int axis)
{
    Sub subs[KLC_MAXRANK];
    int o = 0;
    for (int j = 0; j < s->rank; j++)
        if (j != axis)
            subs[o++] = sub_var(j);
    return s_read(a, arg, o, subs, DT_F32);
}

static IrValue *ew(AD *ad, const Shape *s, Scalar *body, int nargs, IrValue **args, SrcLoc loc)
{
    return ir_ew(ad->f, s, DT_F32, body, nargs, args, loc);
}

static void backprop(AD *ad, IrValue *v)
{
    Arena *a = ad->a;
    IrValue *dy = adj_of(ad, v);
    switch (v->op) {
    case IR_MAP:
        backprop_map(ad, v, dy);
        return;
    case IR_SOFTMAX: { /* dx = y (dy - Σ dy y) */
        IrValue *x = v->args[0];
        if (!ad->relevant[x->id])
            return;
        const Shape *s = &v->shape;
        IrValue *args[2] = {dy, v};
        IrValue *t = reduce_axis(ad, s, v->axis, s_bin(a, S_MUL, read_all(a, 0, s), read_all(a, 1, s)), 2, args,
                                 v->loc);
        IrValue *args3[3] = {dy, v, t};
        IrValue *dx = ew(ad, s, s_bin(a, S_MUL, read_all(a, 1, s),
                                       s_bin(a, S_SUB, read_all(a, 0, s), read_without(a, 2, s, v->axis))),
                         3, args3, v->loc);
        add_tensor(ad, x, dx);
        return;
    }
    case IR_LOG_SOFTMAX: { /* dx = dy - e^y Σ dy */
        IrValue *x = v->args[0];
        if (!ad->relevant[x->id])
            return;
        const Shape *s = &v->shape;
        IrValue *args[1] = {dy};
        IrValue *t = reduce_axis(ad, s, v->axis, read_all(a, 0, s), 1, args, v->loc);
        IrValue *args3[3] = {dy, v, t};
        IrValue *dx = ew(ad, s, s_bin(a, S_SUB, read_all(a, 0, s),
                                       s_bin(a, S_MUL, s_un(a, S_EXP, read_all(a, 1, s)), read_without(a, 2, s, v->axis))),
                         3, args3, v->loc);
        add_tensor(ad, x, dx);
        return;
    }
    case IR_XENT: { /* dz = dl (p Σy - y), sparse: dl (p - onehot) */
        IrValue *z = v->args[0], *lab = v->args[1];
        if (!ad->relevant[z->id])
            return;
        const Shape *s = &z->shape;
        int last = s->rank - 1;
        IrValue *p = ir_new(ad->f, IR_SOFTMAX, s, DT_F32, v->loc);
        p->axis = last;
        ir_add_arg(ad->f, p, z);
        IrValue *dz;
        if (v->index) {
            IrValue *largs[1] = {lab};
            IrValue *ls = reduce_axis(ad, s, last, read_all(a, 0, s), 1, largs, v->loc);
            IrValue *args[4] = {dy, p, lab, ls};
            Scalar *body = s_bin(a, S_MUL, read_without(a, 0, s, last),
                                 s_bin(a, S_SUB, s_bin(a, S_MUL, read_all(a, 1, s), read_without(a, 3, s, last)),
                                       read_all(a, 2, s)));
            dz = ew(ad, s, body, 4, args, v->loc);
        } else {
            IrValue *args[3] = {dy, p, lab};
            Sub ls[KLC_MAXRANK];
            for (int j = 0; j < last; j++)
                ls[j] = sub_var(j);
            Scalar *onehot = s_un(a, S_TOFLOAT, s_bin(a, S_EQ, s_read(a, 2, last, ls, DT_I32), s_var(a, last)));
            Scalar *body = s_bin(a, S_MUL, read_without(a, 0, s, last), s_bin(a, S_SUB, read_all(a, 1, s), onehot));
            dz = ew(ad, s, body, 3, args, v->loc);
        }
        add_tensor(ad, z, dz);
        return;
    }
    case IR_RESHAPE: {
        IrValue *x = v->args[0];
        if (!ad->relevant[x->id])
            return;
        IrValue *r = ir_new(ad->f, IR_RESHAPE, &x->shape, DT_F32, v->loc);
        ir_add_arg(ad->f, r, dy);
        add_tensor(ad, x, r);
        return;
    }
    case IR_CONCAT: { /* dx_i = dy[..., off_i + j, ...], off_i the extent of the pieces before x_i */
        Dim off = dim_const(0);
        for (int i = 0; i < v->nargs; i++) {
            IrValue *x = v->args[i];
            if (ad->relevant[x->id]) {
                Sub subs[KLC_MAXRANK];
                for (int j = 0; j < x->shape.rank; j++) {
                    subs[j] = sub_var(j);
                    if (j == v->axis) {
                        subs[j].off = off.c;
                        subs[j].off_n = off.k;
                    }
                }
                Comp *c = comp_over(a, &x->shape, x->shape.rank);
                c->body = s_read(a, 0, x->shape.rank, subs, DT_F32);
                IrValue *g = contribution_map(ad, x, c, v->loc);
                ir_add_arg(ad->f, g, dy);
            }
            if (!dim_add(off, x->shape.d[v->axis], &off))
                KLC_UNREACHABLE();
        }
        return;
    }
    default:
        return;
    }
}

/* ------------------------------------------------------------------------
 * Loops: backpropagation through time
 *
 * A forward loop L (ir.h: every value a tensor [T, ...], step t computing
 * slice t) keeps every step's values, so its backward pass is one loop Lb
 * over the steps in reverse whose step t runs the adjoints of L's
 * instructions in reverse order, each on slice t: the contributions to
 * values of L.  Contributions to anything else (weights, values computed
 * before the loop) are maps over all the steps at once, reading the
 * adjoints of L's values whole: they go after Lb (a weight's gradient is
 * one product over all the steps).  Every contribution to slice t of a
 * value of L is made in step t, except a carry's: c = carry(init, next)
 * sends its adjoint at step t to next's at step t - 1 (carry_grad, last in
 * step t, before step t - 1 reads it), so next's adjoint is zeroed before
 * Lb; and at step 0 to init's (after Lb).
 * --------------------------------------------------------------------- */

static void backprop_carry(AD *ad, IrValue *c)
{
    Arena *a = ad->a;
    IrValue *dy = adj_of(ad, c);
    IrValue *init = c->args[0], *next = c->args[1];
    if (ad->relevant[init->id]) { /* d init = dy[0, ...] */
        Sub subs[KLC_MAXRANK];
        subs[0] = sub_const(0);
        for (int j = 0; j < init->shape.rank; j++)
            subs[j + 1] = sub_var(j);
        Comp *cc = comp_over(a, &init->shape, init->shape.rank);
        cc->body = s_read(a, 0, init->shape.rank + 1, subs, DT_F32);
        IrValue *g = contribution_map(ad, init, cc, c->loc);
        ir_add_arg(ad->f, g, dy);
    }
    if (ad->relevant[next->id]) {
        IrValue *g = ir_new(ad->f, IR_CARRY_GRAD, &next->shape, DT_F32, c->loc);
        g->into = adj_of(ad, next);
        g->name = next->name ? arena_printf(a, "d_%s", next->name) : NULL;
        g->grad_of = next;
        ir_add_arg(ad->f, g, dy);
        set_adj(ad, next, g);
    }
}

static void backprop_loop(AD *ad, int j0, int j1)
{
    IrFunc *f = ad->f;
    Arena *a = ad->a;
    IrLoop *fl = ((IrValue *)f->insts.items[j0])->loop;
    IrLoop *bl = arena_alloc(a, sizeof *bl);
    bl->id = ++f->n_loops;
    bl->trips = fl->trips;
    bl->reverse = !fl->reverse;
    int mark0 = f->insts.len;
    for (int k = j0; k <= j1; k++) { /* a carry's new state: step t + 1 adds to it before step t */
        IrValue *c = f->insts.items[k];
        IrValue *v = c->op == IR_CARRY ? c->args[1] : NULL;
        if (v && ad->relevant[v->id] && !adj_of(ad, v))
            set_adj(ad, v, zeros(ad, v));
    }
    int mark1 = f->insts.len;
    for (int k = mark0; k < mark1; k++)
        ((IrValue *)f->insts.items[k])->layer = ((IrValue *)f->insts.items[j1])->layer;
    for (int k = j1; k >= j0; k--) {
        IrValue *v = f->insts.items[k];
        if (!ad->relevant[v->id] || !adj_of(ad, v))
            continue;
        int first = f->insts.len;
        if (v->op == IR_CARRY)
            backprop_carry(ad, v);
        else
            backprop(ad, v);
        for (int m = first; m < f->insts.len; m++)
            ((IrValue *)f->insts.items[m])->layer = v->layer;
    }
    /* the step's part into Lb, the rest after it */
    int n = f->insts.len - mark1;
    bool *in = arena_alloc(a, sizeof(bool) * (size_t)(f->next_id + 1));
    IrValue **succ = arena_alloc(a, sizeof(IrValue *) * (size_t)(f->next_id + 1));
    IrValue **made = arena_alloc(a, sizeof(IrValue *) * (size_t)(n + 1));
    for (int k = 0; k < n; k++) {
        IrValue *w = f->insts.items[mark1 + k];
        made[k] = w;
        bool step = w->op == IR_CARRY_GRAD || (w->grad_of && w->grad_of->loop == fl);
        if (!w->grad_of)
            for (int m = 0; m < w->nargs; m++)
                step = step || in[w->args[m]->id];
        in[w->id] = step;
        if (step) {
            w->loop = bl;
            if (w->into)
                succ[w->into->id] = w;
        }
    }
    int o = mark1;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < n; k++)
            if (in[made[k]->id] == (pass == 0))
                f->insts.items[o++] = made[k];
    /* after Lb, an adjoint of the loop is read whole: in its final version */
    for (int k = 0; k < n; k++) {
        IrValue *w = made[k];
        if (in[w->id])
            continue;
        for (int m = 0; m < w->nargs; m++)
            while (in[w->args[m]->id] && succ[w->args[m]->id])
                w->args[m] = succ[w->args[m]->id];
    }
    /* the adjoints of the loop's values, for what comes before it */
    for (int k = j0; k <= j1; k++) {
        IrValue *v = f->insts.items[k];
        IrValue *g = adj_of(ad, v);
        while (g && in[g->id] && succ[g->id])
            g = succ[g->id];
        if (g)
            set_adj(ad, v, g);
    }
}

/* The layer a value belongs to, for a note. */
static const LayerInst *layer_named(const Model *m, const char *name)
{
    for (int i = 0; name && i < m->layers.len; i++) {
        const LayerInst *li = m->layers.items[i];
        if (!strcmp(li->name, name))
            return li;
    }
    return NULL;
}

/* Trainable weights that get no gradient: an error when they reach the loss
 * only through operations without a derivative, a warning when they do not
 * reach it at all. */
static int check_weights(AD *ad, Model *m, const bool *needed, Diag *d)
{
    IrFunc *f = ad->f;
    int errors = 0;
    bool *dep = arena_alloc(ad->a, sizeof(bool) * (size_t)ad->n_ids);
    for (int w = 0; w < m->weights.len; w++) {
        Weight *wt = m->weights.items[w];
        if (!wt->trainable)
            continue;
        IrValue *p = NULL;
        for (int i = 0; i < f->insts.len && !p; i++) {
            IrValue *v = f->insts.items[i];
            if (v->op == IR_PARAM && v->index == wt->index)
                p = v;
        }
        if (p && ad->adj[p->id])
            continue;
        /* Keras drops variables without a gradient before weight decay and the update */
        wt->no_grad = true;
        if (!d)
            continue;
        const LayerInst *owner = layer_named(m, wt->layer);
        if (!p || !needed[p->id]) {
            diag_warning(d, wt->loc, "trainable weight '%s' does not affect the loss; it will not be trained",
                         wt->key);
            if (owner)
                diag_note(d, owner->loc, "in %s, layer %d of '%s'", owner->name, owner->position, m->var);
            continue;
        }
        /* which values depend on the weight, then the first use that kills its gradient */
        memset(dep, 0, sizeof(bool) * (size_t)ad->n_ids);
        dep[p->id] = true;
        for (int i = 0; i < f->insts.len; i++) {
            IrValue *v = f->insts.items[i];
            if (v->id >= ad->n_ids)
                break;
            for (int k = 0; k < v->nargs && !dep[v->id]; k++)
                dep[v->id] = dep[v->args[k]->id];
        }
        IrValue *use = NULL; /* the earliest, in program order */
        for (int i = 0; i < ad->dead_arg.len; i++) {
            IrValue *arg = ad->dead_arg.items[i], *u = ad->dead_use.items[i];
            if (dep[arg->id] && (!use || u->id < use->id))
                use = u;
        }
        if (!use) { /* only through stop_gradient: the user asked for it */
            diag_warning(d, wt->loc, "trainable weight '%s' reaches the loss only through stop_gradient(); it will "
                         "not be trained", wt->key);
            if (owner)
                diag_note(d, owner->loc, "in %s, layer %d of '%s'", owner->name, owner->position, m->var);
            continue;
        }
        diag_error(d, use->loc, "the loss depends on trainable weight '%s' only through this operation, which has "
                   "no gradient", wt->key);
        const LayerInst *li = layer_named(m, use->layer);
        if (li)
            diag_note(d, li->loc, "in layer '%s' (%s), layer %d of '%s'", li->name, li->type, li->position, m->var);
        diag_note(d, wt->loc, "'%s' is created here; make it trainable = false, or compute the loss from a "
                  "differentiable expression", wt->key);
        errors++;
    }
    return errors;
}

int ad_differentiate(IrFunc *f, Model *m, Diag *d)
{
    Arena *a = f->arena;
    AD ad;
    memset(&ad, 0, sizeof ad);
    ad.f = f;
    ad.a = a;
    int n = f->insts.len;
    ad.n_ids = f->next_id + 1;
    ad.adj = arena_alloc(a, sizeof(IrValue *) * (size_t)ad.n_ids);
    ad.relevant = arena_alloc(a, sizeof(bool) * (size_t)ad.n_ids);
    bool *active = arena_alloc(a, sizeof(bool) * (size_t)ad.n_ids);
    bool *needed = arena_alloc(a, sizeof(bool) * (size_t)ad.n_ids);

    /* activity: depends on a trainable weight through differentiable
     * operations (repeated while a loop's carry, which reads a later value,
     * changes something) */
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = 0; i < n; i++) {
            IrValue *v = f->insts.items[i];
            bool act = false;
            switch (v->op) {
            case IR_PARAM: act = true; break;
            case IR_INPUT: case IR_LABELS: case IR_STATE: case IR_RANDOM: case IR_STOP_GRAD: case IR_ZERO:
            case IR_ASSIGN: case IR_ADD_METRIC: case IR_OUTPUT:
                act = false;
                break;
            default:
                for (int k = 0; k < v->nargs; k++)
                    act = act || active[v->args[k]->id];
            }
            act = act && v->type == DT_F32;
            changed = changed || act != active[v->id];
            active[v->id] = act;
        }
    }
    /* reaching the loss */
    if (!f->loss)
        return 0;
    needed[f->loss->id] = true;
    for (bool changed = true; changed;) {
        changed = false;
        for (int i = n - 1; i >= 0; i--) {
            IrValue *v = f->insts.items[i];
            if (!needed[v->id])
                continue;
            for (int k = 0; k < v->nargs; k++) {
                changed = changed || !needed[v->args[k]->id];
                needed[v->args[k]->id] = true;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        IrValue *v = f->insts.items[i];
        ad.relevant[v->id] = active[v->id] && needed[v->id];
        /* a needed value computed from an active one without a derivative:
         * integer or boolean results (comparisons, casts) */
        if (needed[v->id] && !active[v->id] && v->op != IR_STOP_GRAD)
            for (int k = 0; k < v->nargs; k++)
                if (active[v->args[k]->id])
                    dead_edge(&ad, v->args[k], v);
    }

    /* everything made from here on is the backward pass */
    f->grad_start_id = f->next_id;
    /* seed: d loss / d loss = 1 */
    Comp *one = comp_new(a, 0, 0);
    one->body = K(a, 1);
    Shape scalar = {0};
    IrValue *seed = ir_map(f, &scalar, DT_F32, one, f->loss->loc);
    seed->name = "d_loss";
    seed->grad_of = f->loss;
    ad.adj[f->loss->id] = seed;

    for (int i = n - 1; i >= 0; i--) {
        IrValue *v = f->insts.items[i];
        if (v->loop) { /* the whole loop at once: its steps in reverse */
            int j0 = i;
            while (j0 > 0 && ((IrValue *)f->insts.items[j0 - 1])->loop == v->loop)
                j0--;
            backprop_loop(&ad, j0, i);
            i = j0;
            continue;
        }
        if (!ad.relevant[v->id] || !ad.adj[v->id])
            continue;
        int first = f->insts.len;
        backprop(&ad, v);
        for (int k = first; k < f->insts.len; k++) /* backward code belongs to the same layer */
            ((IrValue *)f->insts.items[k])->layer = v->layer;
    }

    int errors = check_weights(&ad, m, needed, d);

    /* one gradient per trainable weight, zero when it does not reach the loss */
    for (int w = 0; w < m->weights.len; w++) {
        const Weight *wt = m->weights.items[w];
        if (!wt->trainable)
            continue;
        IrValue *p = NULL;
        for (int i = 0; i < n; i++) {
            IrValue *v = f->insts.items[i];
            if (v->op == IR_PARAM && v->index == wt->index)
                p = v;
        }
        IrValue *g = p ? ad.adj[p->id] : NULL;
        if (!g) {
            g = ir_new(f, IR_ZERO, &wt->shape, DT_F32, wt->loc);
            g->name = arena_printf(a, "d_%s", wt->cname);
        }
        IrValue *sink = ir_new(f, IR_GRAD, NULL, DT_F32, wt->loc);
        sink->index = wt->index;
        ir_add_arg(f, sink, g);
    }
    return errors;
}
