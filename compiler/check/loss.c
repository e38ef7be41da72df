/*
 * loss.c — a compiled model's objective, in KIR.
 *
 * The loss of compile() is built after the forward pass, with Keras'
 * formulas (keras-semantics.md §4) and its reduction sum_over_batch_size,
 * then the add_loss() terms and weight regularizer penalties are added:
 *
 *     total = mean(per-sample loss) + Σ add_loss terms + Σ penalties
 *
 * As TensorFlow's fit does, a softmax (or sigmoid) feeding a crossentropy
 * is not differentiated through: the loss is computed from its logits by a
 * fused, stable operation (IR_XENT, or the logits form of binary
 * crossentropy).  Labels enter as IR_LABELS: int32 class ids for the sparse
 * loss, floats of the output's shape otherwise.
 */
#include "check/loss.h"

#include <string.h>

#define EPS 1e-7 /* keras.config.epsilon() */

typedef struct LB {
    Diag *diag;
    Model *m;
    IrFunc *f;
    Arena *a;
    SrcLoc loc;
} LB;

static Scalar *rd(LB *b, int arg, const Shape *sh)
{
    return s_read_all(b->a, arg, sh, DT_F32);
}

/* out[v] = body over `shape` (elementwise in the given args). */
static IrValue *ew(LB *b, const Shape *shape, Scalar *body, int nargs, IrValue **args)
{
    return ir_ew(b->f, shape, DT_F32, body, nargs, args, b->loc);
}

/* Reduce the last axis of x ([..., C] -> [...]) with `red`, body applied per element. */
static IrValue *reduce_last(LB *b, IrValue *x, RedOp red)
{
    const Shape *s = &x->shape;
    Shape out = *s;
    out.rank--;
    Comp *c = comp_over(b->a, s, out.rank);
    c->red = red;
    c->body = rd(b, 0, s);
    IrValue *v = ir_map(b->f, &out, DT_F32, c, b->loc);
    ir_add_arg(b->f, v, x);
    return v;
}

/* Mean over every element: Keras' sum_over_batch_size. */
static IrValue *mean_all(LB *b, IrValue *x)
{
    Comp *c = comp_over(b->a, &x->shape, 0);
    c->red = x->shape.rank ? RED_MEAN : RED_NONE;
    c->body = rd(b, 0, &x->shape);
    Shape sc = {0};
    IrValue *v = ir_map(b->f, &sc, DT_F32, c, b->loc);
    ir_add_arg(b->f, v, x);
    return v;
}

static Scalar *k(LB *b, double c)
{
    return s_const(b->a, c);
}

static Scalar *clipped(LB *b, Scalar *p)
{
    return s_bin(b->a, S_MIN2, s_bin(b->a, S_MAX2, p, k(b, EPS)), k(b, 1 - EPS));
}

/* Is x a sigmoid map applied elementwise to one tensor?  Returns that tensor. */
static IrValue *sigmoid_input(IrValue *x)
{
    if (x->op != IR_MAP || x->comp->red != RED_NONE || x->nargs != 1 || x->comp->body->op != S_SIGMOID)
        return NULL;
    const Scalar *r = x->comp->body->a;
    if (r->op != S_READ || !shape_eq(&x->args[0]->shape, &x->shape))
        return NULL;
    for (int j = 0; j < r->rank; j++) {
        int v;
        if (!sub_is_var(&r->sub[j], &v) || v != j)
            return NULL;
    }
    return x->args[0];
}

static IrValue *per_sample_loss(LB *b, IrValue *y, IrValue *labels)
{
    Arena *a = b->a;
    const LossCfg *l = &b->m->loss;
    const Shape *s = &y->shape;
    Shape row = *s;
    row.rank--;
    int C = (int)s->d[s->rank - 1].c;
    switch (l->kind) {
    case LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
    case LOSS_CATEGORICAL_CROSSENTROPY: {
        bool dense = l->kind == LOSS_CATEGORICAL_CROSSENTROPY;
        IrValue *lab = labels;
        if (dense && l->label_smoothing > 0) { /* y (1 - s) + s / C */
            IrValue *args[1] = {labels};
            lab = ew(b, s, s_bin(a, S_ADD, s_bin(a, S_MUL, rd(b, 0, s), k(b, 1 - l->label_smoothing)),
                                 k(b, l->label_smoothing / C)), 1, args);
        }
        IrValue *logits = NULL;
        if (y->op == IR_SOFTMAX && y->axis == s->rank - 1) {
            logits = y->args[0];
            if (l->from_logits)
                diag_warning(b->diag, l->loc,
                             "from_logits = true, but the model's output comes from a softmax; the loss uses its "
                             "logits, as TensorFlow does");
        } else if (l->from_logits) {
            logits = y;
        }
        if (logits) {
            IrValue *x = ir_new(b->f, IR_XENT, &row, DT_F32, b->loc);
            x->index = dense;
            ir_add_arg(b->f, x, logits);
            ir_add_arg(b->f, x, lab);
            return x;
        }
        /* probabilities */
        IrValue *args1[1] = {y};
        if (!dense) {
            /* TensorFlow: clipped probabilities taken as logits of log p:
             * l = -log clip(p_y) + log Σ_j clip(p_j) */
            IrValue *cp = ew(b, s, clipped(b, rd(b, 0, s)), 1, args1);
            IrValue *sum = reduce_last(b, cp, RED_SUM);
            Comp *c = comp_over(a, &row, row.rank);
            Sub ls[KLC_MAXRANK], ps[KLC_MAXRANK];
            for (int j = 0; j < row.rank; j++)
                ls[j] = ps[j] = sub_var(j);
            ps[row.rank] = sub_const(0);
            ps[row.rank].ind = s_read(a, 2, row.rank, ls, DT_I32);
            IrValue *v = ir_map(b->f, &row, DT_F32, c, b->loc);
            ir_add_arg(b->f, v, cp);
            ir_add_arg(b->f, v, sum);
            ir_add_arg(b->f, v, labels);
            c->body = s_bin(a, S_SUB, s_un(a, S_LOG, s_read(a, 1, row.rank, ls, DT_F32)),
                            s_un(a, S_LOG, s_read(a, 0, s->rank, ps, DT_F32)));
            return v;
        }
        /* categorical from probabilities: p / Σp, clipped, -Σ y log p */
        IrValue *sum = reduce_last(b, y, RED_SUM);
        Comp *c = comp_over(a, s, row.rank);
        c->red = RED_SUM;
        IrValue *v = ir_map(b->f, &row, DT_F32, c, b->loc);
        ir_add_arg(b->f, v, y);
        ir_add_arg(b->f, v, sum);
        ir_add_arg(b->f, v, lab);
        Scalar *p = clipped(b, s_bin(a, S_DIV, rd(b, 0, s), rd(b, 1, &row)));
        c->body = s_un(a, S_NEG, s_bin(a, S_MUL, rd(b, 2, s), s_un(a, S_LOG, p)));
        return v;
    }
    case LOSS_BINARY_CROSSENTROPY: {
        IrValue *lab = labels;
        if (l->label_smoothing > 0) { /* y (1 - s) + 0.5 s */
            IrValue *args[1] = {labels};
            lab = ew(b, s, s_bin(a, S_ADD, s_bin(a, S_MUL, rd(b, 0, s), k(b, 1 - l->label_smoothing)),
                                 k(b, 0.5 * l->label_smoothing)), 1, args);
        }
        /* TensorFlow takes a sigmoid output's logits even with from_logits = true
         * (it warns), as it does for a softmax output */
        IrValue *z = sigmoid_input(y);
        if (z && l->from_logits)
            diag_warning(b->diag, l->loc,
                         "from_logits = true, but the model's output comes from a sigmoid; the loss uses its "
                         "logits, as TensorFlow does");
        if (!z && l->from_logits)
            z = y;
        IrValue *e;
        if (z) { /* max(z, 0) - z y + log(1 + e^-|z|) */
            IrValue *args[2] = {z, lab};
            Scalar *zz = rd(b, 0, s);
            Scalar *body = s_bin(a, S_ADD,
                                 s_bin(a, S_SUB, s_un(a, S_RELU, zz), s_bin(a, S_MUL, s_copy(a, zz), rd(b, 1, s))),
                                 s_un(a, S_LOG1P, s_un(a, S_EXP, s_un(a, S_NEG, s_un(a, S_ABS, s_copy(a, zz))))));
            e = ew(b, s, body, 2, args);
        } else { /* -(y log p + (1 - y) log(1 - p)), p clipped */
            IrValue *args[2] = {y, lab};
            Scalar *p = clipped(b, rd(b, 0, s));
            Scalar *yy = rd(b, 1, s);
            Scalar *body = s_un(a, S_NEG, s_bin(a, S_ADD, s_bin(a, S_MUL, yy, s_un(a, S_LOG, p)),
                                                s_bin(a, S_MUL, s_bin(a, S_SUB, k(b, 1), s_copy(a, yy)),
                                                      s_un(a, S_LOG, s_bin(a, S_SUB, k(b, 1), s_copy(a, p))))));
            e = ew(b, s, body, 2, args);
        }
        return reduce_last(b, e, RED_MEAN);
    }
    case LOSS_MEAN_SQUARED_ERROR:
    case LOSS_MEAN_ABSOLUTE_ERROR:
    case LOSS_HUBER: {
        IrValue *args[2] = {y, labels};
        Scalar *d = s_bin(a, S_SUB, rd(b, 0, s), rd(b, 1, s)); /* e = y_pred - y_true */
        Scalar *body;
        if (l->kind == LOSS_MEAN_SQUARED_ERROR)
            body = s_bin(a, S_MUL, d, s_copy(a, d));
        else if (l->kind == LOSS_MEAN_ABSOLUTE_ERROR)
            body = s_un(a, S_ABS, d);
        else { /* |e| <= delta ? 0.5 e^2 : 0.5 delta^2 + delta (|e| - delta), in Keras' order */
            double dl = l->delta;
            float dl32 = (float)dl;
            body = s_select(a, s_bin(a, S_LE, s_un(a, S_ABS, d), k(b, dl)),
                            s_bin(a, S_MUL, k(b, 0.5), s_bin(a, S_MUL, s_copy(a, d), s_copy(a, d))),
                            s_bin(a, S_ADD, k(b, (float)(0.5f * (dl32 * dl32))),
                                  s_bin(a, S_MUL, k(b, dl), s_bin(a, S_SUB, s_un(a, S_ABS, s_copy(a, d)), k(b, dl)))));
        }
        return reduce_last(b, ew(b, s, body, 2, args), RED_MEAN);
    }
    case LOSS_NONE:
        break;
    }
    return NULL;
}

/* Check the loss and metrics against the output; decide the labels' form. */
static bool check_compat(LB *b, IrValue *y, bool *sparse)
{
    Diag *d = b->diag;
    Model *m = b->m;
    LossCfg *l = &m->loss;
    Arena *a = b->a;
    const Shape *s = &y->shape;
    *sparse = l->kind == LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    bool ok = true;
    if (l->kind != LOSS_NONE && y->type != DT_F32) {
        diag_error(d, l->loc, "the %s loss needs a float output, but model '%s' outputs %s", l->name, m->var,
                   y->type == DT_BOOL ? "bools (a comparison is not differentiable)" : "integers");
        return false;
    }
    if ((l->kind == LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || l->kind == LOSS_CATEGORICAL_CROSSENTROPY) &&
        s->rank < 2) {
        diag_error(d, l->loc, "%s needs an output with a class axis, like (None, 10); model '%s' outputs %s",
                   l->name, m->var, shape_keras(a, s));
        return false;
    }
    /* [N] outputs compare with [N] labels: fine for the regression losses too */
    for (int i = 0; i < m->metrics.len; i++) {
        MetricCfg *mc = m->metrics.items[i];
        if (mc->resolve_accuracy) {
            int64_t last = s->rank > 1 ? s->d[s->rank - 1].c : 1; /* [N]: one value per sample */
            if (last == 1)
                mc->kind = METRIC_BINARY_ACCURACY;
            else if (*sparse)
                mc->kind = METRIC_SPARSE_CATEGORICAL_ACCURACY;
            else
                mc->kind = METRIC_CATEGORICAL_ACCURACY;
        }
        if (l->kind == LOSS_NONE) {
            diag_error(d, mc->loc, "metric '%s' needs labels, but compile() has no loss", mc->name);
            ok = false;
        } else if (mc->kind == METRIC_SPARSE_CATEGORICAL_ACCURACY && !*sparse) {
            diag_error(d, mc->loc, "sparse_categorical_accuracy needs class-id labels, but the %s loss uses labels "
                       "shaped like the output", l->name);
            ok = false;
        } else if (mc->kind != METRIC_SPARSE_CATEGORICAL_ACCURACY && *sparse) {
            diag_error(d, mc->loc, "metric '%s'%s needs labels shaped like the output, but "
                       "sparse_categorical_crossentropy uses class ids", mc->name,
                       mc->resolve_accuracy ? " (binary accuracy, for an output of one unit)" : "");
            ok = false;
        } else if (mc->kind == METRIC_CATEGORICAL_ACCURACY && s->rank < 2) {
            diag_error(d, mc->loc, "categorical accuracy needs an output with a class axis");
            ok = false;
        }
    }
    return ok;
}

/* A regularizer's penalty, in Keras' order: l1 * Σ|w| + l2 * Σw²
 * (added every step, in evaluate too, not divided by the batch size). */
static IrValue *penalty(LB *b, Weight *w)
{
    Arena *a = b->a;
    IrValue *t = weight_value(b->f, w);
    IrValue *sums[2];
    int n = 0;
    for (int kind = 0; kind < 2; kind++) {
        if ((kind == 0 ? w->l1 : w->l2) <= 0)
            continue;
        Comp *c = comp_over(a, &w->shape, 0);
        c->red = w->shape.rank ? RED_SUM : RED_NONE;
        Scalar *x = rd(b, 0, &w->shape);
        c->body = kind == 0 ? s_un(a, S_ABS, x) : s_bin(a, S_MUL, x, s_copy(a, x));
        Shape sc = {0};
        IrValue *v = ir_map(b->f, &sc, DT_F32, c, w->loc);
        ir_add_arg(b->f, v, t);
        sums[n++] = v;
    }
    Comp *c = comp_new(a, 0, 0);
    Scalar *body = NULL;
    int k = 0;
    if (w->l1 > 0) {
        body = s_bin(a, S_MUL, s_const(a, w->l1), s_read(a, k++, 0, NULL, DT_F32));
    }
    if (w->l2 > 0) {
        Scalar *q = s_bin(a, S_MUL, s_const(a, w->l2), s_read(a, k++, 0, NULL, DT_F32));
        body = body ? s_bin(a, S_ADD, body, q) : q;
    }
    c->body = body;
    Shape sc = {0};
    IrValue *v = ir_map(b->f, &sc, DT_F32, c, w->loc);
    for (int i = 0; i < n; i++)
        ir_add_arg(b->f, v, sums[i]);
    return v;
}

void loss_build(Arena *a, Diag *d, Model *m, IrFunc *f)
{
    LB b = {d, m, f, a, m->loss.loc};
    IrValue *y = f->output;
    bool sparse;
    if (!check_compat(&b, y, &sparse)) {
        m->broken = true;
        return;
    }
    PtrVec terms = {0};
    if (m->loss.kind != LOSS_NONE) {
        Shape ls = y->shape;
        if (sparse)
            ls.rank--;
        f->labels = ir_new(f, IR_LABELS, &ls, sparse ? DT_I32 : DT_F32, b.loc);
        f->labels->name = "y";
        IrValue *per = per_sample_loss(&b, y, f->labels);
        vec_push(a, &terms, mean_all(&b, per));
    }
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *x = f->insts.items[i];
        if (x->op == IR_ADD_LOSS)
            vec_push(a, &terms, x->args[0]);
    }
    for (int i = 0; i < m->weights.len; i++) {
        Weight *w = m->weights.items[i];
        if (w->trainable && (w->l1 > 0 || w->l2 > 0))
            vec_push(a, &terms, penalty(&b, w));
    }
    if (terms.len == 0) {
        if (!f->training) /* reported once, for the training function */
            return;
        diag_error(d, m->loss.loc, "model '%s' has no loss to compute: give compile() a loss, or call "
                   "add_loss() in a layer", m->var);
        m->broken = true;
        return;
    }
    IrValue *total = terms.items[0];
    if (terms.len > 1) {
        Comp *c = comp_new(a, 0, 0);
        Scalar *body = NULL;
        for (int i = 0; i < terms.len; i++) {
            Scalar *r = s_read(a, i, 0, NULL, DT_F32);
            body = body ? s_bin(a, S_ADD, body, r) : r;
        }
        c->body = body;
        Shape sc = {0};
        total = ir_map(f, &sc, DT_F32, c, b.loc);
        for (int i = 0; i < terms.len; i++)
            ir_add_arg(f, total, terms.items[i]);
    }
    total->name = "loss";
    IrValue *l = ir_new(f, IR_LOSS, NULL, DT_F32, b.loc);
    ir_add_arg(f, l, total);
    f->loss = total;
}
