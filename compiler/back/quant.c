/* quant.c — int8 post-training quantization; see quant.h. */
#include "back/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cbuf.h"
#include "base/diag.h"
#include "back/codegen.h"
#include "fileio.h"

#include "klc/runtime.h"

#ifndef KLC_VERSION
#define KLC_VERSION "0.1.0"
#endif

void quant_multiplier(double real, int32_t *m, int *shift)
{
    if (!(real > 0)) {
        *m = 0;
        *shift = 0;
        return;
    }
    int e = 0;
    double q = frexp(real, &e); /* real = q * 2^e, q in [0.5, 1) */
    long long fixed = llround(q * 2147483648.0);
    if (fixed == 2147483648LL) {
        fixed /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        fixed = 0;
    }
    if (e > 30) {
        e = 30;
        fixed = 2147483647LL;
    }
    *m = (int32_t)fixed;
    *shift = e;
}

const char quant_helpers_c[] =
    "/* Requantization (TensorFlow Lite's MultiplyByQuantizedMultiplier): x * m * 2^(shift - 31)\n"
    " * with m in [2^30, 2^31), in integers.  klc_q_srdhm is the doubling high multiply\n"
    " * (a * b * 2 / 2^32 rounded to nearest, ties toward plus infinity; saturating),\n"
    " * klc_q_rdivpot the division by 2^e rounded to nearest, ties away from zero.  The two\n"
    " * roundings are TFLite's (5 * 0.25 gives 2: 2.5 -> 3, then 1.5 -> 2). */\n"
    "static int32_t klc_q_srdhm(int32_t a, int32_t b)\n"
    "{\n"
    "    if (a == INT32_MIN && b == INT32_MIN)\n"
    "        return INT32_MAX;\n"
    "    int64_t ab = (int64_t)a * (int64_t)b;\n"
    "    int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : 1 - (INT64_C(1) << 30);\n"
    "    return (int32_t)((ab + nudge) / (INT64_C(1) << 31)); /* division truncates toward zero */\n"
    "}\n"
    "\n"
    "/* x >> e, rounding toward minus infinity also for negative x (written without\n"
    " * the implementation-defined right shift of a negative number). */\n"
    "static int32_t klc_q_asr(int32_t x, int e)\n"
    "{\n"
    "    return x >= 0 ? x >> e : ~(~x >> e);\n"
    "}\n"
    "\n"
    "static int32_t klc_q_rdivpot(int32_t x, int e)\n"
    "{\n"
    "    int32_t mask = (int32_t)((INT64_C(1) << e) - 1);\n"
    "    int32_t remainder = x & mask;\n"
    "    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);\n"
    "    return klc_q_asr(x, e) + (remainder > threshold ? 1 : 0);\n"
    "}\n"
    "\n"
    "static int32_t klc_q_mbqm(int32_t x, int32_t m, int shift)\n"
    "{\n"
    "    if (shift > 0) {\n"
    "        int64_t y = (int64_t)x * (INT64_C(1) << shift);\n"
    "        x = y > INT32_MAX ? INT32_MAX : y < INT32_MIN ? INT32_MIN : (int32_t)y;\n"
    "    }\n"
    "    return klc_q_rdivpot(klc_q_srdhm(x, m), shift > 0 ? 0 : -shift);\n"
    "}\n"
    "\n"
    "/* z + acc rescaled, clamped to [lo, hi] (relu: lo = the zero point). */\n"
    "static int8_t klc_q_out(int32_t acc, int32_t m, int shift, int32_t z, int32_t lo, int32_t hi)\n"
    "{\n"
    "    int32_t q = z + klc_q_mbqm(acc, m, shift);\n"
    "    return (int8_t)(q < lo ? lo : q > hi ? hi : q);\n"
    "}\n"
    "\n"
    "/* The float x quantized: round(x / scale) + z (ties away from zero), clamped. */\n"
    "static int8_t klc_q_in(float x, float inv_scale, int32_t z)\n"
    "{\n"
    "    float r = x * inv_scale;\n"
    "    r = r > 512.0f ? 512.0f : r < -512.0f ? -512.0f : r; /* also a NaN: -512 */\n"
    "    int32_t q = (int32_t)(r >= 0.0f ? r + 0.5f : r - 0.5f) + z;\n"
    "    return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);\n"
    "}\n";

/* ---- the steps ---- */

typedef enum TKind { T_NONE = 0, T_ACT, T_CONST, T_FILL } TKind;

/* A tensor of the forward pass.  ACT: batch-dependent (axis 0 the batch),
 * int8 at run time; CONST: weights and what is computed from them alone,
 * float values known now; FILL: a batch-shaped constant (padding). */
typedef struct QT {
    TKind kind;
    Shape shape;
    int64_t row;       /* ACT: elements per row; CONST: elements */
    int64_t stride[KLC_MAXRANK]; /* element strides (axis 0's is `row` for ACT) */
    float *data;       /* CONST: values; ACT: one row of the float reference (the root's) */
    double fill;       /* FILL */
    int root;          /* ACT: the tensor whose storage this is (reshapes alias) */
    int qsrc;          /* ACT: the tensor whose scale and zero point this one has */
    double lo, hi;     /* observed range (own scale) */
    double scale;
    int32_t zp;
    int def, last;     /* ACT roots: the step defining it, the last step reading it */
    int64_t off;       /* ACT roots: offset in the workspace, in rows of bytes */
    const IrValue *v;
} QT;

typedef enum QKind { Q_INPUT, Q_LINEAR, Q_POOL, Q_MEAN, Q_PAD, Q_RELU, Q_OUTPUT } QKind;

/* A read of a tensor at an affine point: element offset sum_v coef[v] * v + off. */
typedef struct QRead {
    int t;
    int64_t coef[KLC_MAXVARS];
    int64_t off;
} QRead;

typedef struct QOp {
    QKind kind;
    int out, in;
    const IrValue *v;   /* the IR step (comments, messages) */
    /* maps: variables 0..n_out-1 the output's axes, then the reduced ones */
    int nv, n_out;
    int64_t ext[KLC_MAXVARS]; /* extents, the batch variable's 1 (one row) */
    bool batch[KLC_MAXVARS];  /* extent is the batch */
    QRead a, w, o;
    RedOp red;
    /* Q_LINEAR: the channel variable, its extent, the weight's axis of it,
     * folded float weights (W's layout), and the epilogue y = acc + beta[c], relu */
    int cv, w_axis;
    int64_t nch;
    const QT *wt;
    float *wf;
    double *beta;
    bool relu, closed;
    int8_t *wq;
    int32_t *bias, *mult, *shift;
    /* Q_MEAN */
    int32_t m1;
    int s1;
    int64_t count;
    /* Q_PAD: along axis, the input at `before` of the output's extent */
    int axis;
    int64_t before;
    /* Q_OUTPUT */
    bool softmax;
} QOp;

typedef struct QCtx {
    Arena *a;
    const Model *m;
    const InferOptions *o;
    IrFunc *f;
    QT *t;          /* by IR value id, then appended ones */
    int nt, cap_t;
    QOp *ops;
    int nops, cap_ops;
    int *tid;       /* IR value id -> tensor */
    const float *params, *state;
    const WeightLayout *wl;
} QCtx;

/* ---- messages ---- */

/* An error at the user's layer that made v (the model when none). */
static int refuse(QCtx *q, const IrValue *v, const char *why)
{
    const LayerInst *li = NULL;
    for (int i = 0; v && v->layer && i < q->m->layers.len && !li; i++) {
        const LayerInst *l = q->m->layers.items[i];
        if (!strcmp(l->name, v->layer))
            li = l;
    }
    Diag *d = diag_new(q->a, stderr);
    if (li)
        diag_error(d, li->loc, "int8 quantization: layer '%s' (%s) cannot be quantized: %s", li->name, li->type, why);
    else
        diag_error(d, q->m->loc, "int8 quantization: model '%s' cannot be quantized: %s", q->m->var, why);
    diag_finish(d);
    return 1;
}

/* ---- tensors ---- */

static int new_tensor(QCtx *q)
{
    if (q->nt == q->cap_t) {
        q->cap_t = q->cap_t ? 2 * q->cap_t : 64;
        QT *n = arena_alloc(q->a, sizeof *n * (size_t)q->cap_t);
        if (q->nt)
            memcpy(n, q->t, sizeof *n * (size_t)q->nt);
        q->t = n;
    }
    memset(&q->t[q->nt], 0, sizeof q->t[0]);
    return q->nt++;
}

static QOp *new_op(QCtx *q, QKind k, const IrValue *v)
{
    if (q->nops == q->cap_ops) {
        q->cap_ops = q->cap_ops ? 2 * q->cap_ops : 32;
        QOp *n = arena_alloc(q->a, sizeof *n * (size_t)q->cap_ops);
        if (q->nops)
            memcpy(n, q->ops, sizeof *n * (size_t)q->nops);
        q->ops = n;
    }
    QOp *o = &q->ops[q->nops++];
    memset(o, 0, sizeof *o);
    o->kind = k;
    o->v = v;
    o->in = o->out = -1;
    return o;
}

/* Shape facts: strides, and whether s is an activation's (batch first, the
 * rest constant) or a constant's (all constant).  false for anything else. */
static bool set_shape(QT *t, const Shape *s, bool act)
{
    t->shape = *s;
    int64_t st = 1;
    for (int j = s->rank - 1; j >= 0; j--) {
        Dim d = s->d[j];
        if (act && j == 0) {
            if (d.c != 0 || d.k != 1)
                return false;
            t->stride[0] = st;
            t->row = st;
            return true;
        }
        if (!dim_is_const(d))
            return false;
        t->stride[j] = st;
        st *= d.c;
    }
    if (act)
        return false; /* rank 0 */
    t->row = st;
    return true;
}

static QT *arg_t(QCtx *q, const IrValue *v, int k)
{
    int id = q->tid[v->args[k]->id];
    return id < 0 ? NULL : &q->t[id];
}

/* ---- evaluating scalar bodies at compile time ---- */

typedef struct ECtx {
    QCtx *q;
    const IrValue *v;
    int xarg;          /* reads of this operand give x */
    double x;
    const int64_t *vars;
    bool ok;
} ECtx;

static double ev(const Scalar *s, ECtx *c)
{
    switch (s->op) {
    case S_CONST:
        return s->cval;
    case S_VAR:
        return (double)c->vars[s->var];
    case S_DIM:
        if (dim_is_const(s->dim))
            return (double)s->dim.c;
        c->ok = false;
        return 0;
    case S_READ: {
        if (s->arg == c->xarg)
            return c->x;
        const QT *t = arg_t(c->q, c->v, s->arg);
        if (!t || t->kind != T_CONST || s->rank != t->shape.rank) {
            c->ok = false;
            return 0;
        }
        int64_t off = 0;
        for (int j = 0; j < s->rank; j++) {
            const Sub *u = &s->sub[j];
            if (u->ind || u->off_n) {
                c->ok = false;
                return 0;
            }
            int64_t i = u->off;
            for (int k = 0; k < KLC_MAXVARS; k++)
                i += u->coef[k] * c->vars[k];
            if (i < 0 || i >= t->shape.d[j].c) {
                c->ok = false;
                return 0;
            }
            off += i * t->stride[j];
        }
        return t->data[off];
    }
    default: {
        double x[3] = {0, 0, 0};
        const Scalar *o[3] = {s->a, s->b, s->c};
        for (int i = 0; i < sop_arity(s->op); i++)
            x[i] = ev(o[i], c);
        return sop_apply(s->op, x[0], x[1], x[2]);
    }
    }
}

/* Every operand the body reads, marked in `reads` (by operand index). */
static void mark_reads(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth;
    (void)in_index;
    if (s->op == S_READ)
        ((bool *)ctx)[s->arg] = true;
}

/* A map all of whose operands are constants: its values now.  false if it
 * reads something else or out of bounds. */
static bool eval_const_map(QCtx *q, const IrValue *v, QT *t)
{
    const Comp *c = v->comp;
    if (c->scatter || v->into)
        return false;
    t->data = arena_alloc(q->a, sizeof(float) * (size_t)(t->row ? t->row : 1));
    int nv = c->n_out + c->n_red;
    int64_t vars[KLC_MAXVARS] = {0};
    int64_t red_n = 1;
    for (int k = c->n_out; k < nv; k++) {
        if (!dim_is_const(c->ext[k]))
            return false;
        red_n *= c->ext[k].c;
    }
    ECtx e = {q, v, -1, 0, vars, true};
    for (int64_t i = 0; i < t->row; i++) {
        int64_t r = i;
        for (int k = c->n_out - 1; k >= 0; k--) {
            vars[k] = r % c->ext[k].c;
            r /= c->ext[k].c;
        }
        double acc = c->red == RED_MAX ? -INFINITY : c->red == RED_MIN ? INFINITY : 0;
        for (int64_t p = 0; p < red_n; p++) {
            int64_t rr = p;
            for (int k = nv - 1; k >= c->n_out; k--) {
                vars[k] = rr % c->ext[k].c;
                rr /= c->ext[k].c;
            }
            double x = ev(c->body, &e);
            if (c->red == RED_NONE)
                acc = x;
            else if (c->red == RED_MAX)
                acc = x > acc ? x : acc;
            else if (c->red == RED_MIN)
                acc = x < acc ? x : acc;
            else
                acc += x;
        }
        if (c->red == RED_MEAN)
            acc /= (double)red_n;
        t->data[i] = (float)acc;
    }
    return e.ok;
}

/* The read r of tensor t (an operand of a map over c) as a linear offset;
 * false if a subscript is data-dependent or batch-offset. */
static bool linear_read(const Scalar *r, const QT *t, int ti, QRead *out)
{
    memset(out, 0, sizeof *out);
    out->t = ti;
    if (r->rank != t->shape.rank)
        return false;
    for (int j = 0; j < r->rank; j++) {
        const Sub *u = &r->sub[j];
        if (u->ind || u->off_n)
            return false;
        for (int k = 0; k < KLC_MAXVARS; k++)
            out->coef[k] += u->coef[k] * t->stride[j];
        out->off += u->off * t->stride[j];
    }
    return true;
}

/* The comprehension's variables into o (batch variables' extent 1); false
 * if an extent is neither constant nor the batch. */
static bool set_vars(QOp *o, const Comp *c)
{
    o->nv = c->n_out + c->n_red;
    o->n_out = c->n_out;
    for (int k = 0; k < o->nv; k++) {
        Dim d = c->ext[k];
        if (d.c == 0 && d.k == 1) {
            o->batch[k] = true;
            o->ext[k] = 1;
        } else if (dim_is_const(d)) {
            o->ext[k] = d.c;
        } else {
            return false;
        }
    }
    return true;
}

/* The output of a map as a read at its own variables (row-major). */
static void out_read(QOp *o, const QT *t, int ti)
{
    memset(&o->o, 0, sizeof o->o);
    o->o.t = ti;
    for (int k = 0; k < o->n_out; k++)
        o->o.coef[k] = t->stride[k];
}

static bool same_sub(const Scalar *x, const Scalar *y)
{
    if (x->rank != y->rank)
        return false;
    for (int j = 0; j < x->rank; j++) {
        if (x->sub[j].ind || y->sub[j].ind || x->sub[j].off != y->sub[j].off || x->sub[j].off_n != y->sub[j].off_n)
            return false;
        if (memcmp(x->sub[j].coef, y->sub[j].coef, sizeof x->sub[j].coef))
            return false;
    }
    return true;
}

/* The reads of operand k in s: the first in *first, false if two differ. */
typedef struct ReadsOf {
    int k;
    const Scalar *first;
    bool same;
} ReadsOf;

static void find_reads(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth;
    ReadsOf *r = ctx;
    if (s->op != S_READ || s->arg != r->k)
        return;
    if (in_index)
        r->same = false;
    else if (!r->first)
        r->first = s;
    else if (!same_sub(r->first, s))
        r->same = false;
}

/* Does every read of a constant in `body` depend on variable `cv` alone? */
typedef struct OnlyVar {
    QCtx *q;
    const IrValue *v;
    int xarg, cv;
    bool ok;
} OnlyVar;

static void check_only_var(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth;
    (void)in_index;
    OnlyVar *c = ctx;
    if (s->op == S_VAR && s->var != c->cv)
        c->ok = false;
    if (s->op != S_READ || s->arg == c->xarg)
        return;
    for (int j = 0; j < s->rank; j++)
        for (int k = 0; k < KLC_MAXVARS; k++)
            if (k != c->cv && s->sub[j].coef[k])
                c->ok = false;
}

/* Fold y = g(x) (the body of v, x its reads of operand xarg, constants
 * indexed by variable cv only) into the open epilogue of the linear step L
 * whose output x is: per channel, g must be relu(alpha x + beta) or
 * alpha x + beta.  Returns NULL, or why it cannot. */
static const char *fold_epilogue(QCtx *q, QOp *L, const IrValue *v, const Scalar *body, int xarg, int cv)
{
    OnlyVar ov = {q, v, xarg, cv, true};
    scalar_visit(body, check_only_var, &ov);
    if (!ov.ok)
        return "an elementwise step after the product reads more than per-channel constants";
    bool relu = false;
    const Scalar *h = body;
    if (h->op == S_RELU) {
        relu = true;
        h = h->a;
    } else if (h->op == S_MAX2 && h->b->op == S_CONST && h->b->cval == 0) {
        relu = true;
        h = h->a;
    } else if (h->op == S_MAX2 && h->a->op == S_CONST && h->a->cval == 0) {
        relu = true;
        h = h->b;
    }
    if (L->relu)
        return "a step after its relu is not a relu";
    int64_t vars[KLC_MAXVARS] = {0};
    ECtx e = {q, v, xarg, 0, vars, true};
    static const double probe[] = {-3.0, 0.5, 7.0, -11.0};
    for (int64_t ch = 0; ch < L->nch; ch++) {
        vars[cv] = ch;
        e.x = 0;
        double b = ev(h, &e);
        e.x = 1;
        double al = ev(h, &e) - b;
        for (int i = 0; i < 4; i++) {
            e.x = probe[i];
            double y = ev(h, &e), want = al * probe[i] + b;
            if (!(fabs(y - want) <= 1e-6 * (fabs(want) + fabs(b) + fabs(al) + 1)))
                return "its activation is not relu (only relu is fused into the int8 products)";
        }
        if (!e.ok || !isfinite(al) || !isfinite(b))
            return "a per-channel constant after the product is not finite";
        /* y = al * (acc + beta) + b: scale the channel's weights and bias */
        L->beta[ch] = al * L->beta[ch] + b;
        int64_t inner = L->wt->stride[L->w_axis], d = L->wt->shape.d[L->w_axis].c;
        for (int64_t i = 0; i < L->wt->row; i++)
            if ((i / inner) % d == ch)
                L->wf[i] = (float)(al * L->wf[i]);
    }
    L->relu = relu;
    return NULL;
}

/* ---- reading the forward pass ---- */

/* The linear step producing tensor ti with an open epilogue, if any. */
static QOp *open_linear(QCtx *q, int ti)
{
    for (int i = q->nops - 1; i >= 0; i--)
        if (q->ops[i].out == ti)
            return q->ops[i].kind == Q_LINEAR && !q->ops[i].closed ? &q->ops[i] : NULL;
    return NULL;
}

static int use_count(QCtx *q, const IrValue *x)
{
    int n = 0;
    for (int i = 0; i < q->f->insts.len; i++) {
        const IrValue *v = q->f->insts.items[i];
        for (int k = 0; k < v->nargs; k++)
            n += v->args[k] == x;
    }
    return n;
}

static int act_out(QCtx *q, const IrValue *v, int qsrc)
{
    int ti = new_tensor(q);
    QT *t = &q->t[ti];
    t->kind = T_ACT;
    t->v = v;
    if (!set_shape(t, &v->shape, true))
        return -1;
    t->root = ti;
    t->qsrc = qsrc < 0 ? ti : qsrc;
    t->lo = 0;
    t->hi = 0;
    q->tid[v->id] = ti;
    return ti;
}

/* A map reading activations. */
static int read_map(QCtx *q, const IrValue *v)
{
    const Comp *c = v->comp;
    if (c->scatter || v->into)
        return refuse(q, v, "a scatter map");
    bool reads[64] = {false};
    if (v->nargs > 64)
        return refuse(q, v, "too many operands");
    scalar_visit(c->body, mark_reads, reads);
    int act = -1, n_act = 0;
    for (int k = 0; k < v->nargs; k++) {
        const QT *t = arg_t(q, v, k);
        if (!reads[k])
            continue;
        if (!t || t->kind == T_FILL || t->kind == T_NONE)
            return refuse(q, v, "it reads a value the int8 file does not hold");
        if (t->kind == T_ACT) {
            act = k;
            n_act++;
        }
    }
    if (n_act != 1)
        return refuse(q, v, "a step combining two activations (the int8 file covers chains of layers)");
    if (v->type != DT_F32)
        return refuse(q, v, "a step with integer or boolean values");
    int xi = q->tid[v->args[act]->id];
    ReadsOf ro = {act, NULL, true};
    scalar_visit(c->body, find_reads, &ro);
    if (!ro.same || !ro.first)
        return refuse(q, v, "its input is read at several points in one step");
    const Scalar *xr = ro.first;

    /* a contraction with a weight: Dense, Conv2D */
    const Scalar *b = c->body;
    if (c->red == RED_SUM && b->op == S_MUL && b->a->op == S_READ && b->b->op == S_READ) {
        const Scalar *wr = b->a->arg == act ? b->b : b->a;
        const QT *wt = arg_t(q, v, wr->arg);
        if (wr->arg == act || !wt || wt->kind != T_CONST)
            return refuse(q, v, "a product of two activations");
        QOp *o = new_op(q, Q_LINEAR, v);
        if (!set_vars(o, c))
            return refuse(q, v, "an extent other than the batch or a constant");
        int cv = -1, w_axis = -1, nchv = 0;
        for (int j = 0; j < wr->rank; j++) {
            int var;
            if (!sub_is_var(&wr->sub[j], &var))
                return refuse(q, v, "its weight is read at computed subscripts");
            if (var < c->n_out) {
                bool in_x = false;
                for (int i = 0; i < xr->rank; i++)
                    in_x = in_x || xr->sub[i].coef[var] != 0;
                if (in_x)
                    return refuse(q, v, "a weight shared across an output axis of its input (depthwise)");
                cv = var;
                w_axis = j;
                nchv++;
            }
        }
        if (nchv != 1)
            return refuse(q, v, "its weight has no single output-channel axis");
        o->cv = cv;
        o->w_axis = w_axis;
        o->nch = wt->shape.d[w_axis].c;
        o->wt = wt;
        o->wf = arena_alloc(q->a, sizeof(float) * (size_t)wt->row);
        memcpy(o->wf, wt->data, sizeof(float) * (size_t)wt->row);
        o->beta = arena_alloc(q->a, sizeof(double) * (size_t)o->nch);
        memset(o->beta, 0, sizeof(double) * (size_t)o->nch);
        o->red = RED_SUM;
        o->in = xi;
        if (!linear_read(xr, &q->t[xi], xi, &o->a) || !linear_read(wr, wt, -1, &o->w))
            return refuse(q, v, "a data-dependent read");
        int ti = act_out(q, v, -1);
        if (ti < 0)
            return refuse(q, v, "an output shape other than [N, ...]");
        out_read(o, &q->t[ti], ti);
        o->out = ti;
        return 0;
    }

    QOp *L = use_count(q, v->args[act]) == 1 ? open_linear(q, xi) : NULL;
    bool plain_read = b->op == S_READ;

    if (c->red == RED_NONE) {
        bool identity = xr->rank == v->shape.rank && c->n_out == v->shape.rank;
        for (int j = 0; identity && j < xr->rank; j++) {
            int var;
            identity = sub_is_var(&xr->sub[j], &var) && var == j;
        }
        if (!identity)
            return refuse(q, v, "an elementwise step reading its input elsewhere than at its own point");
        if (L) {
            const char *why = fold_epilogue(q, L, v, b, act, L->cv);
            if (why)
                return refuse(q, v, why);
            q->tid[v->id] = xi; /* the linear step's output is this value */
            q->t[xi].v = v;
            return 0;
        }
        bool relu = (b->op == S_RELU && b->a->op == S_READ) ||
                    (b->op == S_MAX2 && b->a->op == S_READ && b->b->op == S_CONST && b->b->cval == 0);
        if (plain_read) {
            q->tid[v->id] = xi; /* a copy */
            return 0;
        }
        if (!relu)
            return refuse(q, v, "an elementwise function other than relu on an activation");
        QOp *o = new_op(q, Q_RELU, v);
        o->in = xi;
        int ti = act_out(q, v, q->t[xi].qsrc);
        if (ti < 0)
            return refuse(q, v, "an output shape other than [N, ...]");
        o->out = ti;
        return 0;
    }

    /* a reduction: pooling; its body may end the product before it */
    if (c->red == RED_SUM)
        return refuse(q, v, "a sum that is not a product with a weight");
    if (!plain_read) {
        /* mean(relu(bn(conv))): the body is the product's epilogue */
        int ch_var = -1, xch = q->t[xi].shape.rank - 1;
        bool perm = L != NULL;
        for (int j = 0; perm && j < xr->rank; j++) {
            int var;
            perm = sub_is_var(&xr->sub[j], &var);
            if (perm && j == xch)
                ch_var = var;
        }
        if (!perm || ch_var < 0 || L->cv != q->t[xi].shape.rank - 1)
            return refuse(q, v, "a pooling of a function of its input");
        const char *why = fold_epilogue(q, L, v, b, act, ch_var);
        if (why)
            return refuse(q, v, why);
    }
    if (L)
        L->closed = true;
    QOp *o = new_op(q, c->red == RED_MEAN ? Q_MEAN : Q_POOL, v);
    if (!set_vars(o, c))
        return refuse(q, v, "an extent other than the batch or a constant");
    for (int k = c->n_out; k < o->nv; k++)
        if (o->batch[k])
            return refuse(q, v, "a reduction over the batch");
    o->red = c->red;
    o->in = xi;
    if (!linear_read(xr, &q->t[xi], xi, &o->a))
        return refuse(q, v, "a data-dependent read");
    int ti = act_out(q, v, c->red == RED_MEAN ? -1 : q->t[xi].qsrc);
    if (ti < 0)
        return refuse(q, v, "an output shape other than [N, ...]");
    out_read(o, &q->t[ti], ti);
    o->out = ti;
    o->count = 1;
    for (int k = c->n_out; k < o->nv; k++)
        o->count *= o->ext[k];
    return 0;
}

/* Builds the steps from the forward pass.  Returns 0, or 1 (refused). */
static int read_forward(QCtx *q)
{
    IrFunc *f = q->f;
    q->tid = arena_alloc(q->a, sizeof(int) * (size_t)(f->next_id + 1));
    for (int i = 0; i <= f->next_id; i++)
        q->tid[i] = -1;
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        switch (v->op) {
        case IR_INPUT: {
            if (v->type != DT_F32)
                return refuse(q, v, "the model takes integer inputs");
            int ti = act_out(q, v, -1);
            if (ti < 0)
                return refuse(q, v, "an input shape other than [N, ...]");
            QOp *o = new_op(q, Q_INPUT, v);
            o->out = ti;
            break;
        }
        case IR_PARAM:
        case IR_STATE: {
            int ti = new_tensor(q);
            QT *t = &q->t[ti];
            t->kind = T_CONST;
            t->v = v;
            if (!set_shape(t, &v->shape, false))
                return refuse(q, v, "a weight of non-constant shape");
            const Weight *w = q->m->weights.items[v->index];
            const float *src = (w->trainable ? q->params : q->state) + q->wl->offset[v->index];
            t->data = arena_alloc(q->a, sizeof(float) * (size_t)(t->row ? t->row : 1));
            memcpy(t->data, src, sizeof(float) * (size_t)t->row);
            q->tid[v->id] = ti;
            break;
        }
        case IR_MAP: {
            bool any_act = false, all_const = true;
            for (int k = 0; k < v->nargs; k++) {
                const QT *t = arg_t(q, v, k);
                any_act = any_act || (t && t->kind == T_ACT);
                all_const = all_const && t && t->kind == T_CONST;
            }
            if (!any_act) {
                int ti = new_tensor(q);
                QT *t = &q->t[ti];
                t->v = v;
                if (v->nargs == 0 && v->comp->body->op == S_CONST && v->comp->red == RED_NONE &&
                    set_shape(t, &v->shape, true)) {
                    t->kind = T_FILL;
                    t->fill = v->comp->body->cval;
                } else if (all_const && set_shape(t, &v->shape, false)) {
                    t->kind = T_CONST;
                    if (!eval_const_map(q, v, t))
                        return refuse(q, v, "a constant that cannot be computed at compile time");
                } else {
                    return refuse(q, v, "a step the int8 file does not cover");
                }
                q->tid[v->id] = ti;
                break;
            }
            if (read_map(q, v))
                return 1;
            break;
        }
        case IR_RESHAPE: {
            const QT *s = arg_t(q, v, 0);
            if (!s || s->kind != T_ACT)
                return refuse(q, v, "a reshape of a constant");
            int src = q->tid[v->args[0]->id];
            QOp *L = open_linear(q, src);
            if (L)
                L->closed = true;
            int ti = act_out(q, v, q->t[src].qsrc);
            if (ti < 0 || q->t[ti].row != q->t[src].row)
                return refuse(q, v, "a reshape across the batch");
            q->t[ti].root = q->t[src].root;
            break;
        }
        case IR_CONCAT: {
            int src = -1;
            int64_t before = 0;
            for (int k = 0; k < v->nargs; k++) {
                const QT *t = arg_t(q, v, k);
                if (t && t->kind == T_ACT && src < 0) {
                    src = q->tid[v->args[k]->id];
                } else if (t && t->kind == T_FILL && t->fill == 0) {
                    if (src < 0)
                        before += v->args[k]->shape.d[v->axis].c;
                } else {
                    return refuse(q, v, "a concatenation of activations (only zero padding is covered)");
                }
            }
            if (src < 0 || v->axis == 0)
                return refuse(q, v, "a concatenation of constants");
            QOp *L = open_linear(q, src);
            if (L)
                L->closed = true;
            QOp *o = new_op(q, Q_PAD, v);
            o->in = src;
            o->axis = v->axis;
            o->before = before;
            int ti = act_out(q, v, q->t[src].qsrc);
            if (ti < 0)
                return refuse(q, v, "an output shape other than [N, ...]");
            o->out = ti;
            break;
        }
        case IR_SOFTMAX: {
            const QT *s = arg_t(q, v, 0);
            bool is_output = false;
            for (int k = i + 1; k < f->insts.len; k++) {
                const IrValue *u = f->insts.items[k];
                for (int j = 0; j < u->nargs; j++)
                    if (u->args[j] == v && u->op != IR_OUTPUT)
                        is_output = false, k = f->insts.len;
                if (k < f->insts.len && u->op == IR_OUTPUT && u->args[0] == v)
                    is_output = true;
            }
            if (!s || s->kind != T_ACT || v->axis != v->shape.rank - 1 || !is_output)
                return refuse(q, v, "a softmax other than the model's output");
            q->tid[v->id] = q->tid[v->args[0]->id];
            QOp *L = open_linear(q, q->tid[v->id]);
            if (L)
                L->closed = true;
            QOp *o = new_op(q, Q_OUTPUT, v);
            o->in = q->tid[v->id];
            o->softmax = true;
            break;
        }
        case IR_OUTPUT: {
            const QT *s = arg_t(q, v, 0);
            if (!s || s->kind != T_ACT)
                return refuse(q, v, "an output that does not depend on the input");
            if (v->args[0]->op == IR_SOFTMAX)
                break;
            QOp *L = open_linear(q, q->tid[v->args[0]->id]);
            if (L)
                L->closed = true;
            QOp *o = new_op(q, Q_OUTPUT, v->args[0]);
            o->in = q->tid[v->args[0]->id];
            break;
        }
        default:
            return refuse(q, v, arena_printf(q->a, "a '%s' step", irop_name(v->op)));
        }
    }
    return 0;
}

/* ---- the float reference, for calibration ---- */

static float *buf_of(QCtx *q, int ti)
{
    return q->t[q->t[ti].root].data;
}

static int64_t at(const QRead *r, const int64_t *vars, int nv)
{
    int64_t i = r->off;
    for (int k = 0; k < nv; k++)
        i += r->coef[k] * vars[k];
    return i;
}

/* One row through a map step (LINEAR, POOL, MEAN) in float. */
static void ref_map(QCtx *q, const QOp *o)
{
    const float *x = buf_of(q, o->in);
    float *y = buf_of(q, o->out);
    int64_t vars[KLC_MAXVARS] = {0};
    int64_t n_pts = 1, n_red = 1;
    for (int k = 0; k < o->n_out; k++)
        n_pts *= o->ext[k];
    for (int k = o->n_out; k < o->nv; k++)
        n_red *= o->ext[k];
    for (int64_t p = 0; p < n_pts; p++) {
        int64_t r = p;
        for (int k = o->n_out - 1; k >= 0; k--) {
            vars[k] = r % o->ext[k];
            r /= o->ext[k];
        }
        double acc = o->red == RED_MAX ? -INFINITY : o->red == RED_MIN ? INFINITY : 0;
        for (int64_t s = 0; s < n_red; s++) {
            int64_t rr = s;
            for (int k = o->nv - 1; k >= o->n_out; k--) {
                vars[k] = rr % o->ext[k];
                rr /= o->ext[k];
            }
            double xv = x[at(&o->a, vars, o->nv)];
            if (o->kind == Q_LINEAR)
                acc += xv * (double)o->wf[at(&o->w, vars, o->nv)];
            else if (o->red == RED_MAX)
                acc = xv > acc ? xv : acc;
            else if (o->red == RED_MIN)
                acc = xv < acc ? xv : acc;
            else
                acc += xv;
        }
        if (o->kind == Q_LINEAR) {
            acc += o->beta[vars[o->cv]];
            if (o->relu && acc < 0)
                acc = 0;
        } else if (o->kind == Q_MEAN) {
            acc /= (double)o->count;
        }
        y[at(&o->o, vars, o->n_out)] = (float)acc;
    }
}

/* Product of the extents of axes [from, to) of t's shape (axis 0 excluded). */
static int64_t extent(const QT *t, int from, int to)
{
    int64_t r = 1;
    for (int j = from < 1 ? 1 : from; j < to; j++)
        r *= t->shape.d[j].c;
    return r;
}

static void ref_step(QCtx *q, const QOp *o, const float *row)
{
    switch (o->kind) {
    case Q_INPUT:
        memcpy(buf_of(q, o->out), row, sizeof(float) * (size_t)q->t[o->out].row);
        break;
    case Q_LINEAR:
    case Q_POOL:
    case Q_MEAN:
        ref_map(q, o);
        break;
    case Q_RELU: {
        const float *x = buf_of(q, o->in);
        float *y = buf_of(q, o->out);
        for (int64_t i = 0; i < q->t[o->out].row; i++)
            y[i] = x[i] > 0 ? x[i] : 0;
        break;
    }
    case Q_PAD: {
        const QT *ti = &q->t[o->in], *to = &q->t[o->out];
        int64_t outer = extent(ti, 1, o->axis), inner = extent(ti, o->axis + 1, ti->shape.rank);
        int64_t in_ax = ti->shape.d[o->axis].c, out_ax = to->shape.d[o->axis].c;
        float *y = buf_of(q, o->out);
        const float *x = buf_of(q, o->in);
        memset(y, 0, sizeof(float) * (size_t)to->row);
        for (int64_t r = 0; r < outer; r++)
            memcpy(y + (r * out_ax + o->before) * inner, x + r * in_ax * inner, sizeof(float) * (size_t)(in_ax * inner));
        break;
    }
    case Q_OUTPUT:
        break;
    }
}

/* ---- calibration and quantization ---- */

static void observe(QT *t, const float *v)
{
    for (int64_t i = 0; i < t->row; i++) {
        if (v[i] < t->lo)
            t->lo = v[i];
        if (v[i] > t->hi)
            t->hi = v[i];
    }
}

/* TFLite's asymmetric int8 parameters of [lo, hi] (0 inside): scale
 * (hi - lo) / 255, the zero point the nearest integer to -128 - lo / scale. */
static void choose_qparams(QT *t)
{
    double lo = t->lo < 0 ? t->lo : 0, hi = t->hi > 0 ? t->hi : 0;
    if (!(hi - lo > 1e-30)) {
        t->scale = 1;
        t->zp = 0;
        return;
    }
    t->scale = (double)(float)((hi - lo) / 255.0);
    double z = -128.0 - lo / t->scale;
    z = z < -128 ? -128 : z > 127 ? 127 : z;
    t->zp = (int32_t)llround(z);
}

static const QT *qp(const QCtx *q, int ti)
{
    return &q->t[q->t[ti].qsrc];
}

static int32_t clamp32(double x)
{
    return x >= 2147483647.0 ? INT32_MAX : x <= -2147483648.0 ? INT32_MIN : (int32_t)llround(x);
}

static void quantize_linear(QCtx *q, QOp *o)
{
    const QT *wt = o->wt;
    double s_in = qp(q, o->in)->scale, s_out = qp(q, o->out)->scale;
    int32_t z_in = qp(q, o->in)->zp;
    int64_t inner = wt->stride[o->w_axis], d = wt->shape.d[o->w_axis].c;
    double *maxabs = arena_alloc(q->a, sizeof(double) * (size_t)o->nch);
    int64_t *sumw = arena_alloc(q->a, sizeof(int64_t) * (size_t)o->nch);
    for (int64_t c = 0; c < o->nch; c++) {
        maxabs[c] = 0;
        sumw[c] = 0;
    }
    for (int64_t i = 0; i < wt->row; i++) {
        int64_t c = (i / inner) % d;
        double v = fabs((double)o->wf[i]);
        if (v > maxabs[c])
            maxabs[c] = v;
    }
    double *sw = arena_alloc(q->a, sizeof(double) * (size_t)o->nch);
    for (int64_t c = 0; c < o->nch; c++)
        sw[c] = maxabs[c] > 0 ? (double)(float)(maxabs[c] / 127.0) : 1.0;
    o->wq = arena_alloc(q->a, (size_t)wt->row);
    for (int64_t i = 0; i < wt->row; i++) {
        int64_t c = (i / inner) % d;
        long long v = llround((double)o->wf[i] / sw[c]);
        v = v < -127 ? -127 : v > 127 ? 127 : v;
        o->wq[i] = (int8_t)v;
        sumw[c] += v;
    }
    o->bias = arena_alloc(q->a, sizeof(int32_t) * (size_t)o->nch);
    o->mult = arena_alloc(q->a, sizeof(int32_t) * (size_t)o->nch);
    o->shift = arena_alloc(q->a, sizeof(int32_t) * (size_t)o->nch);
    for (int64_t c = 0; c < o->nch; c++) {
        /* the bias at scale s_in * sw[c]; the input's zero point folded in:
         * sum (qx - z) qw = sum qx qw - z sum qw */
        double b = (double)clamp32(o->beta[c] / (s_in * sw[c]));
        o->bias[c] = clamp32(b - (double)z_in * (double)sumw[c]);
        int sh;
        quant_multiplier(s_in * sw[c] / s_out, &o->mult[c], &sh);
        o->shift[c] = sh;
    }
}

/* ---- workspace ---- */

/* Offsets of the activations' storage (in bytes per row) by liveness:
 * first fit among the tensors live at the same time.  Returns the peak. */
static int64_t place(QCtx *q)
{
    for (int i = 0; i < q->nt; i++)
        if (q->t[i].kind == T_ACT && q->t[i].root == i)
            q->t[i].def = q->t[i].last = -1;
    for (int s = 0; s < q->nops; s++) {
        const QOp *o = &q->ops[s];
        if (o->out >= 0) {
            QT *r = &q->t[q->t[o->out].root];
            if (r->def < 0)
                r->def = s;
            r->last = s > r->last ? s : r->last;
        }
        if (o->in >= 0) {
            QT *r = &q->t[q->t[o->in].root];
            r->last = s > r->last ? s : r->last;
        }
    }
    int64_t peak = 0;
    for (int s = 0; s < q->nops; s++) {
        const QOp *o = &q->ops[s];
        if (o->out < 0 || q->t[q->t[o->out].root].def != s)
            continue;
        QT *t = &q->t[q->t[o->out].root];
        /* candidates: 0 and the end of every placed tensor live with t */
        int64_t best = -1;
        for (int c = -1; c < q->nt; c++) {
            int64_t off = 0;
            if (c >= 0) {
                const QT *u = &q->t[c];
                if (u->kind != T_ACT || u->root != c || u == t || u->def < 0 || u->def >= s || u->last < t->def)
                    continue;
                off = u->off + u->row;
            }
            bool fits = true;
            for (int k = 0; k < q->nt && fits; k++) {
                const QT *u = &q->t[k];
                if (u->kind != T_ACT || u->root != k || u == t || u->def < 0 || u->def >= s || u->last < t->def)
                    continue;
                fits = off + t->row <= u->off || u->off + u->row <= off;
            }
            if (fits && (best < 0 || off < best))
                best = off;
        }
        t->off = best;
        if (best + t->row > peak)
            peak = best + t->row;
    }
    return peak;
}

/* ---- the C ---- */

static const char *ind(int depth)
{
    static const char sp[] = "                                                                ";
    int n = 4 * depth;
    return sp + (int)sizeof sp - 1 - (n < (int)sizeof sp - 1 ? n : (int)sizeof sp - 1);
}

/* The element offset of r as a C expression over v0.. */
static const char *idx(Arena *a, const QRead *r, int nv)
{
    const char *s = "";
    for (int k = 0; k < nv; k++) {
        if (!r->coef[k])
            continue;
        if (r->coef[k] == 1)
            s = arena_printf(a, "%s%sv%d", s, *s ? " + " : "", k);
        else
            s = arena_printf(a, "%s%sv%d * %lld", s, *s ? " + " : "", k, (long long)r->coef[k]);
    }
    if (r->off || !*s)
        s = arena_printf(a, "%s%s%lld", s, *s ? " + " : "", (long long)r->off);
    return s;
}

static const char *buf_name(QCtx *q, int ti)
{
    return arena_printf(q->a, "b%d", q->t[ti].root);
}

static void emit_i8(CBuf *b, const char *name, const int8_t *v, int64_t n)
{
    cb_printf(b, "static const int8_t %s[%lld] = {\n", name, (long long)n);
    for (int64_t i = 0; i < n; i++)
        cb_printf(b, "%s%d,%s", i % 16 == 0 ? (i ? "\n    " : "    ") : "", v[i], i % 16 == 15 || i == n - 1 ? "" : " ");
    cb_printf(b, "\n};\n");
}

static void emit_i32(CBuf *b, const char *name, const int32_t *v, int64_t n)
{
    cb_printf(b, "static const int32_t %s[%lld] = {\n", name, (long long)n);
    for (int64_t i = 0; i < n; i++)
        cb_printf(b, "%s%ld,%s", i % 8 == 0 ? (i ? "\n    " : "    ") : "", (long)v[i], i % 8 == 7 || i == n - 1 ? "" : " ");
    cb_printf(b, "\n};\n");
}

/* Loops over variables [from, to) of o, opened at depth d; returns the depth inside. */
static int open_loops(CBuf *b, const QOp *o, int from, int to, int d)
{
    for (int k = from; k < to; k++, d++) {
        if (o->batch[k])
            cb_printf(b, "%sfor (int32_t v%d = 0; v%d < nn; v%d++)\n", ind(d), k, k, k);
        else
            cb_printf(b, "%sfor (int32_t v%d = 0; v%d < %lld; v%d++)\n", ind(d), k, k, (long long)o->ext[k], k);
    }
    return d;
}

static const char *layer_of(const IrValue *v)
{
    return v && v->layer ? v->layer : "model";
}

static void emit_step(QCtx *q, CBuf *b, int s)
{
    const QOp *o = &q->ops[s];
    Arena *a = q->a;
    const char *P = q->m->var;
    const char *out = o->out >= 0 ? buf_name(q, o->out) : NULL, *in = o->in >= 0 ? buf_name(q, o->in) : NULL;
    switch (o->kind) {
    case Q_INPUT: {
        const QT *t = qp(q, o->out);
        cb_printf(b, "    /* the input quantized: scale %.9g, zero point %d */\n", t->scale, (int)t->zp);
        cb_printf(b, "    for (int32_t i = 0; i < nn * %lld; i++)\n        %s[i] = klc_q_in(x[i], %s, %d);\n",
                  (long long)q->t[o->out].row, out, cg_real(a, 1.0 / t->scale, false), (int)t->zp);
        break;
    }
    case Q_LINEAR: {
        const QT *to = qp(q, o->out);
        cb_printf(b, "    /* %s: %s; int8 x int8 -> int32 + bias, requantized per channel to scale %.9g,\n"
                     "     * zero point %d%s */\n",
                  layer_of(o->v), shape_str(a, &q->t[o->out].shape), to->scale, (int)to->zp,
                  o->relu ? " (relu: clamped at the zero point)" : "");
        int d = open_loops(b, o, 0, o->n_out, 1);
        cb_printf(b, "%s{\n", ind(d));
        cb_printf(b, "%sint32_t acc = %s_b%d[v%d];\n", ind(d + 1), P, s, o->cv);
        int d2 = open_loops(b, o, o->n_out, o->nv, d + 1);
        cb_printf(b, "%sacc += (int32_t)%s[%s] * (int32_t)%s_w%d[%s];\n", ind(d2), in, idx(a, &o->a, o->nv), P, s,
                  idx(a, &o->w, o->nv));
        cb_printf(b, "%s%s[%s] = klc_q_out(acc, %s_m%d[v%d], (int)%s_s%d[v%d], %d, %d, 127);\n", ind(d + 1), out,
                  idx(a, &o->o, o->n_out), P, s, o->cv, P, s, o->cv, (int)to->zp, o->relu ? (int)to->zp : -128);
        cb_printf(b, "%s}\n", ind(d));
        break;
    }
    case Q_POOL: {
        bool mx = o->red == RED_MAX;
        cb_printf(b, "    /* %s: %s, the %s of each window, on the int8 values */\n", layer_of(o->v),
                  shape_str(a, &q->t[o->out].shape), mx ? "maximum" : "minimum");
        int d = open_loops(b, o, 0, o->n_out, 1);
        cb_printf(b, "%s{\n%sint8_t best = %d;\n", ind(d), ind(d + 1), mx ? -128 : 127);
        int d2 = open_loops(b, o, o->n_out, o->nv, d + 1);
        cb_printf(b, "%s{\n%sint8_t e = %s[%s];\n%sif (e %s best)\n%sbest = e;\n%s}\n", ind(d2), ind(d2 + 1), in,
                  idx(a, &o->a, o->nv), ind(d2 + 1), mx ? ">" : "<", ind(d2 + 2), ind(d2));
        cb_printf(b, "%s%s[%s] = best;\n%s}\n", ind(d + 1), out, idx(a, &o->o, o->n_out), ind(d));
        break;
    }
    case Q_MEAN: {
        const QT *ti = qp(q, o->in), *to = qp(q, o->out);
        cb_printf(b, "    /* %s: %s, means of %lld values: int32 sums requantized to scale %.9g, zero point %d */\n",
                  layer_of(o->v), shape_str(a, &q->t[o->out].shape), (long long)o->count, to->scale, (int)to->zp);
        int d = open_loops(b, o, 0, o->n_out, 1);
        cb_printf(b, "%s{\n%sint32_t acc = %lld;\n", ind(d), ind(d + 1), -(long long)o->count * ti->zp);
        int d2 = open_loops(b, o, o->n_out, o->nv, d + 1);
        cb_printf(b, "%sacc += %s[%s];\n", ind(d2), in, idx(a, &o->a, o->nv));
        cb_printf(b, "%s%s[%s] = klc_q_out(acc, %ld, %d, %d, -128, 127);\n%s}\n", ind(d + 1), out,
                  idx(a, &o->o, o->n_out), (long)o->m1, o->s1, (int)to->zp, ind(d));
        break;
    }
    case Q_PAD: {
        const QT *ti = &q->t[o->in], *to = &q->t[o->out];
        int64_t outer = extent(ti, 1, o->axis), inner = extent(ti, o->axis + 1, ti->shape.rank);
        int64_t in_ax = ti->shape.d[o->axis].c, out_ax = to->shape.d[o->axis].c;
        cb_printf(b, "    /* %s: %s, zero padding (the zero point) along axis %d */\n", layer_of(o->v),
                  shape_str(a, &to->shape), o->axis);
        cb_printf(b, "    memset(%s, %d, (size_t)nn * %lldu);\n", out, (int)qp(q, o->out)->zp, (long long)to->row);
        cb_printf(b, "    for (int32_t r = 0; r < nn * %lld; r++)\n", (long long)outer);
        cb_printf(b, "        memcpy(%s + r * %lld + %lld, %s + r * %lld, %lldu);\n", out, (long long)(out_ax * inner),
                  (long long)(o->before * inner), in, (long long)(in_ax * inner), (long long)(in_ax * inner));
        break;
    }
    case Q_RELU: {
        int z = (int)qp(q, o->out)->zp;
        cb_printf(b, "    /* %s: relu, the int8 values clamped at the zero point */\n", layer_of(o->v));
        cb_printf(b, "    for (int32_t i = 0; i < nn * %lld; i++)\n        %s[i] = (int8_t)(%s[i] < %d ? %d : %s[i]);\n",
                  (long long)q->t[o->out].row, out, in, z, z, in);
        break;
    }
    case Q_OUTPUT: {
        const QT *t = qp(q, o->in);
        int64_t row = q->t[o->in].row;
        cb_printf(b, "    /* the output dequantized: (q - %d) * %.9g%s */\n", (int)t->zp, t->scale,
                  o->softmax ? ", then softmax in float" : "");
        cb_printf(b, "    for (int32_t i = 0; i < nn * %lld; i++)\n        y[i] = %s * (float)(%s[i] - %d);\n",
                  (long long)row, cg_real(a, t->scale, false), in, (int)t->zp);
        if (o->softmax) {
            int64_t k = q->t[o->in].shape.d[q->t[o->in].shape.rank - 1].c;
            cb_printf(b, "    for (int32_t r = 0; r < nn * %lld; r++) {\n", (long long)(row / k));
            cb_printf(b, "        float *p = y + r * %lld, mx = p[0], sum = 0.0f;\n", (long long)k);
            cb_printf(b, "        for (int32_t k = 1; k < %lld; k++)\n            mx = p[k] > mx ? p[k] : mx;\n",
                      (long long)k);
            cb_printf(b, "        for (int32_t k = 0; k < %lld; k++) {\n            p[k] = expf(p[k] - mx);\n"
                         "            sum += p[k];\n        }\n", (long long)k);
            cb_printf(b, "        for (int32_t k = 0; k < %lld; k++)\n            p[k] /= sum;\n    }\n", (long long)k);
        }
        break;
    }
    }
}

static const char *upper_name(Arena *a, const char *s)
{
    char *r = arena_strdup(a, s);
    for (char *p = r; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return r;
}

/* The calibration rows, as float32 rows of the model's input.  Returns 0, or
 * 1 with a message naming the file. */
static int load_calibration(QCtx *q, klc_tensor *x)
{
    const char *path = q->o->calibrate;
    const Shape *want = &q->m->input_shape;
    klc_tensor raw;
    memset(x, 0, sizeof *x);
    if (klc_npy_load(&raw, path) != 0) {
        fprintf(stderr, "klc: %s\n", klc_last_error());
        return 1;
    }
    bool ok = raw.rank == want->rank && raw.shape[0] >= 1;
    for (int j = 1; ok && j < raw.rank; j++)
        ok = raw.shape[j] == want->d[j].c;
    int rc = 0;
    if (!ok) {
        char got[192];
        klc_shape_str(got, sizeof got, raw.rank, raw.shape);
        fprintf(stderr, "klc: %s: calibration inputs of shape %s, but model '%s' takes rows of %s\n", path, got,
                q->m->var, shape_str(q->a, want));
        rc = 1;
    } else if (klc_tensor_convert(x, &raw, KLC_F32) != 0) {
        fprintf(stderr, "klc: %s: %s\n", path, klc_last_error());
        rc = 1;
    } else {
        const float *v = x->data;
        int64_t n = 1;
        for (int j = 0; j < x->rank; j++)
            n *= x->shape[j];
        for (int64_t i = 0; i < n && !rc; i++)
            if (!isfinite(v[i])) {
                fprintf(stderr, "klc: %s: calibration input element %lld is not finite\n", path, (long long)i);
                rc = 1;
            }
        if (rc)
            klc_tensor_free(x);
    }
    klc_tensor_free(&raw);
    return rc;
}

static int quantize(Arena *a, const PlannedModel *pm, const InferOptions *o, const float *params,
                    const float *state)
{
    QCtx q;
    memset(&q, 0, sizeof q);
    q.a = a;
    q.m = pm->m;
    q.o = o;
    q.f = pm->m->predict;
    q.params = params;
    q.state = state;
    q.wl = &pm->wl;
    const char *P = q.m->var, *U = upper_name(a, P);
    if (read_forward(&q))
        return 1;
    klc_tensor cal;
    if (load_calibration(&q, &cal))
        return 1;

    /* calibration: every row through the float steps, ranges observed */
    for (int i = 0; i < q.nt; i++)
        if (q.t[i].kind == T_ACT && q.t[i].root == i)
            q.t[i].data = arena_alloc(a, sizeof(float) * (size_t)q.t[i].row);
    int64_t in_row = q.t[q.ops[0].out].row;
    for (int64_t r = 0; r < cal.shape[0]; r++) {
        const float *row = (const float *)cal.data + r * in_row;
        for (int s = 0; s < q.nops; s++) {
            ref_step(&q, &q.ops[s], row);
            int out = q.ops[s].out;
            if (out >= 0 && q.t[out].qsrc == out)
                observe(&q.t[out], buf_of(&q, out));
        }
    }
    int64_t cal_rows = cal.shape[0];
    klc_tensor_free(&cal);
    for (int i = 0; i < q.nt; i++)
        if (q.t[i].kind == T_ACT && q.t[i].qsrc == i)
            choose_qparams(&q.t[i]);
    int64_t n_w8 = 0, n_w32 = 0, n_float = 0;
    for (int s = 0; s < q.nops; s++) {
        QOp *op = &q.ops[s];
        if (op->kind == Q_LINEAR) {
            quantize_linear(&q, op);
            n_w8 += op->wt->row;
            n_w32 += 3 * op->nch;
            n_float += op->wt->row + op->nch;
        } else if (op->kind == Q_MEAN) {
            int32_t m1;
            int s1;
            quant_multiplier(qp(&q, op->in)->scale / (qp(&q, op->out)->scale * (double)op->count), &m1, &s1);
            op->m1 = m1;
            op->s1 = s1;
        }
    }
    int64_t peak = place(&q);
    const QOp *last = &q.ops[q.nops - 1];
    int64_t out_row = last->kind == Q_OUTPUT ? q.t[last->in].row : 0;
    bool softmax = last->kind == Q_OUTPUT && last->softmax;

    CBuf c, h;
    cb_init(&c);
    cb_init(&h);
    /* ---- header ---- */
    const char *guard = arena_printf(a, "KLC_INFER_%s_H", U);
    cb_printf(&h, "/*\n * Generated by klc %s from %s — do not edit.\n *\n", KLC_VERSION, o->source);
    cb_printf(&h, " * Inference for model '%s', quantized to int8 (TensorFlow Lite's scheme; calibrated on\n"
                  " * the %lld rows of %s): no klc runtime, no malloc, no float in the products.\n"
                  " * Rows are C-order float: input [n", P, (long long)cal_rows, o->calibrate);
    for (int j = 1; j < q.m->input_shape.rank; j++)
        cb_printf(&h, ", %lld", (long long)q.m->input_shape.d[j].c);
    cb_printf(&h, "] (quantized at the entry), output [n");
    for (int j = 1; j < q.m->output_shape.rank; j++)
        cb_printf(&h, ", %lld", (long long)q.m->output_shape.d[j].c);
    cb_printf(&h, "] (dequantized at the exit).\n *\n");
    cb_printf(&h, " * Weights: %lld int8 values (%lld bytes) and %lld int32 per-channel biases,\n"
                  " * multipliers and shifts (%lld bytes); as float32 they took %lld bytes.\n */\n",
              (long long)n_w8, (long long)n_w8, (long long)(n_w32 / 3), (long long)(4 * n_w32),
              (long long)(4 * n_float));
    cb_printf(&h, "#ifndef %s\n#define %s\n\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", guard,
              guard);
    cb_printf(&h, "/* Elements of one input row and one output row. */\n");
    cb_printf(&h, "#define %s_INPUT_SIZE %lld\n#define %s_OUTPUT_SIZE %lld\n\n", U, (long long)in_row, U,
              (long long)out_row);
    cb_printf(&h, "/* Workspace for n rows, in bytes (int8 activations). */\n");
    cb_printf(&h, "#define %s_WORK_BYTES(n) (%lldLL * (int64_t)(n))\n\n", U, (long long)peak);
    cb_printf(&h, "/* Forward pass of n rows (1 <= n <= %s_BATCH_CAPACITY) with the file's static\n"
                  " * workspace (not reentrant).  Returns 0, or -1 if n is out of range or a buffer\n"
                  " * is NULL. */\n", U);
    cb_printf(&h, "int %s_predict(const float *x, int64_t n, float *y);\n\n", P);
    cb_printf(&h, "/* The same with the caller's workspace of %s_WORK_BYTES(n) bytes; reentrant. */\n", U);
    cb_printf(&h, "int %s_predict_ex(const float *x, int64_t n, float *y, int8_t *work);\n\n", P);
    cb_printf(&h, "#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n", guard);

    /* ---- source ---- */
    cb_printf(&c, "/*\n * Generated by klc %s from %s — do not edit.\n *\n", KLC_VERSION, o->source);
    cb_printf(&c, " * Inference for model '%s', int8 (weights from %s, activation ranges from the %lld\n"
                  " * rows of %s).  Weights: per output channel symmetric int8 (zero point 0, values\n"
                  " * in [-127, 127]); activations: per tensor asymmetric int8; products accumulate in\n"
                  " * int32 with int32 biases (scale input_scale * weight_scale[c]) and are brought to\n"
                  " * the output's scale by a fixed-point multiplier and shift.  Define\n"
                  " * %s_BATCH_CAPACITY to size the static workspace.\n */\n",
              P, o->weights, (long long)cal_rows, o->calibrate, U);
    if (softmax)
        cb_printf(&c, "#include <math.h>\n");
    cb_printf(&c, "#include <stdint.h>\n#include <string.h>\n\n");
    cb_printf(&c, "#include \"%s\"\n\n", cb_base_name(o->h_path));
    cb_printf(&c, "#ifndef %s_BATCH_CAPACITY\n#define %s_BATCH_CAPACITY %ld\n#endif\n\n", U, U, o->batch_capacity);
    cb_printf(&c, "%s\n", quant_helpers_c);
    for (int s = 0; s < q.nops; s++) {
        const QOp *op = &q.ops[s];
        if (op->kind != Q_LINEAR)
            continue;
        cb_printf(&c, "/* %s: int8 weights %s (scale per channel: the multipliers below), int32 bias\n"
                      " * minus the input's zero point times each channel's weight sum, requantization\n"
                      " * multipliers and shifts per channel. */\n",
                  layer_of(op->v), shape_str(a, &op->wt->shape));
        emit_i8(&c, arena_printf(a, "%s_w%d", P, s), op->wq, op->wt->row);
        emit_i32(&c, arena_printf(a, "%s_b%d", P, s), op->bias, op->nch);
        emit_i32(&c, arena_printf(a, "%s_m%d", P, s), op->mult, op->nch);
        emit_i32(&c, arena_printf(a, "%s_s%d", P, s), op->shift, op->nch);
        cb_printf(&c, "\n");
    }
    cb_printf(&c, "static void %s_forward(const float *x, int64_t n, float *y, int8_t *work)\n{\n", P);
    cb_printf(&c, "    const int32_t nn = (int32_t)n;\n");
    for (int i = 0; i < q.nt; i++)
        if (q.t[i].kind == T_ACT && q.t[i].root == i && q.t[i].def >= 0)
            cb_printf(&c, "    int8_t *const b%d = work + %lld * n; /* %s */\n", i, (long long)q.t[i].off,
                      shape_str(a, &q.t[i].shape));
    for (int s = 0; s < q.nops; s++)
        emit_step(&q, &c, s);
    cb_printf(&c, "}\n\n");
    cb_printf(&c, "int %s_predict_ex(const float *x, int64_t n, float *y, int8_t *work)\n{\n", P);
    cb_printf(&c, "    if (n < 1 || n > INT32_MAX / %lld || !x || !y || !work)\n        return -1;\n",
              (long long)(peak > 0 ? peak : 1));
    cb_printf(&c, "    %s_forward(x, n, y, work);\n    return 0;\n}\n\n", P);
    cb_printf(&c, "static int8_t %s_work[%s_WORK_BYTES(%s_BATCH_CAPACITY) + 1];\n\n", P, U, U);
    cb_printf(&c, "int %s_predict(const float *x, int64_t n, float *y)\n{\n", P);
    cb_printf(&c, "    if (n < 1 || n > %s_BATCH_CAPACITY || !x || !y)\n        return -1;\n", U);
    cb_printf(&c, "    %s_forward(x, n, y, %s_work);\n    return 0;\n}\n", P, P);

    int rc = cb_write_pair(&h, o->h_path, &c, o->c_path) != 0 ? 2 : 0;
    cb_free(&c);
    cb_free(&h);
    return rc;
}

int emit_quantized(Arena *a, const PlannedModel *pm, const InferOptions *o)
{
    float *params, *state;
    int rc = infer_load_weights(pm, o->weights, &params, &state);
    if (rc)
        return rc;
    rc = quantize(a, pm, o, params, state);
    free(params);
    free(state);
    return rc;
}
