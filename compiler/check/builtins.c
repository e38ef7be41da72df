/*
 * builtins.c — the names klc knows without a declaration.
 *
 *   - keras.ops functions on tensors: elementwise ones (exp, relu, where,
 *     ...) described by a scalar builder so they work on whole tensors and
 *     inside index expressions alike, and structural ones (softmax, sum,
 *     reshape, concatenate, one_hot, ...) with a handler each;
 *   - layer-API statements: add_loss, add_metric, assign (add_weight is
 *     layer.h's);
 *   - compile-time helpers: shape, len, int, float, assert;
 *   - Input (Sequential is model_api.h's);
 *   - Keras identifiers that are configuration, not code: initializers,
 *     optimizers, losses, metrics, regularizers, callbacks.  A bare name
 *     evaluates to a string (`uniform` is "uniform"); a call such as
 *     adam(learning_rate = 0.01) to a configuration value, read by the
 *     place that uses it (compile, add_weight, ...; keras.h).
 *
 * Each entry of the table is a Native (value.h) that sema_run binds in the
 * builtin scope.
 */
#include <math.h>
#include <string.h>

#include "check/builtins.h"

#include "check/comp.h"
#include "check/eval.h"
#include "check/tensor_ops.h"

typedef struct Builtin Builtin;
typedef Value *(*Handler)(Elab *e, const Builtin *b, Args *args, const Node *call);

typedef enum BKind {
    B_EW,     /* elementwise */
    B_FN,     /* tensor function with a handler */
    B_STMT,   /* statement-like (add_loss ...), handler */
    B_CT,     /* compile-time function, handler */
    B_NAME    /* Keras identifier: configuration */
} BKind;

struct Builtin {
    Native native;             /* first: a Value's native is the Builtin */
    BKind kind;
    int arity;                 /* B_EW: tensor operands */
    const char *params[4];     /* B_EW: keyword parameters after the operands */
    double defaults[4];
    ScalarBuilder build;
    Handler handler;
};

/* ------------------------------------------------------------------------
 * Elementwise builders (params are the keyword parameters' values)
 * --------------------------------------------------------------------- */

#define UN(fn, op) \
    static Scalar *fn(Arena *a, Scalar **o, const double *p) { (void)p; return s_un(a, op, o[0]); }
UN(e_exp, S_EXP)
UN(e_log, S_LOG)
UN(e_log1p, S_LOG1P)
UN(e_expm1, S_EXPM1)
UN(e_sqrt, S_SQRT)
UN(e_rsqrt, S_RSQRT)
UN(e_abs, S_ABS)
UN(e_sign, S_SIGN)
UN(e_tanh, S_TANH)
UN(e_sigmoid, S_SIGMOID)
UN(e_softplus, S_SOFTPLUS)
UN(e_relu, S_RELU)
UN(e_erf, S_ERF)
UN(e_sin, S_SIN)
UN(e_cos, S_COS)
UN(e_floor, S_FLOOR)
UN(e_ceil, S_CEIL)
UN(e_round, S_ROUND)
#undef UN

static Scalar *k(Arena *a, double c) { return s_const(a, c); }

static Scalar *e_linear(Arena *a, Scalar **o, const double *p) { (void)a; (void)p; return o[0]; }
static Scalar *e_square(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_MUL, o[0], s_copy(a, o[0])); }
static Scalar *e_reciprocal(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_DIV, k(a, 1), o[0]); }

/* relu6(x) = min(max(x, 0), 6) */
static Scalar *e_relu6(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_MIN2, s_un(a, S_RELU, o[0]), k(a, 6));
}

/* elu(x) = x > 0 ? x : alpha (e^x - 1) */
static Scalar *e_elu(Arena *a, Scalar **o, const double *p)
{
    Scalar *x = o[0];
    return s_select(a, s_bin(a, S_GT, x, k(a, 0)), s_copy(a, x),
                    s_bin(a, S_MUL, k(a, p[0]), s_un(a, S_EXPM1, s_copy(a, x))));
}

/* selu(x) = scale * elu(x, alpha), Keras' constants */
static Scalar *e_selu(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    const double alpha = 1.67326324235437728481, scale = 1.05070098735548049342;
    double pa[1] = {alpha};
    return s_bin(a, S_MUL, k(a, scale), e_elu(a, o, pa));
}

/* gelu: approximate 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), exact 0.5 x (1 + erf(x / sqrt 2)) */
static Scalar *e_gelu(Arena *a, Scalar **o, const double *p)
{
    Scalar *x = o[0];
    Scalar *inner;
    if (p[0] != 0) {
        Scalar *x3 = s_bin(a, S_MUL, s_copy(a, x), s_bin(a, S_MUL, s_copy(a, x), s_copy(a, x)));
        inner = s_un(a, S_TANH, s_bin(a, S_MUL, k(a, 0.7978845608028654),
                                      s_bin(a, S_ADD, s_copy(a, x), s_bin(a, S_MUL, k(a, 0.044715), x3))));
    } else {
        inner = s_un(a, S_ERF, s_bin(a, S_MUL, s_copy(a, x), k(a, 0.7071067811865476)));
    }
    return s_bin(a, S_MUL, s_bin(a, S_MUL, k(a, 0.5), x), s_bin(a, S_ADD, k(a, 1), inner));
}

/* softsign(x) = x / (1 + |x|) */
static Scalar *e_softsign(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_DIV, o[0], s_bin(a, S_ADD, k(a, 1), s_un(a, S_ABS, s_copy(a, o[0]))));
}

/* silu(x) = x sigmoid(x) */
static Scalar *e_silu(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_MUL, o[0], s_un(a, S_SIGMOID, s_copy(a, o[0])));
}

/* mish(x) = x tanh(softplus(x)) */
static Scalar *e_mish(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_MUL, o[0], s_un(a, S_TANH, s_un(a, S_SOFTPLUS, s_copy(a, o[0]))));
}

/* leaky_relu(x) = x > 0 ? x : slope x (TensorFlow's gradient convention at 0) */
static Scalar *e_leaky_relu(Arena *a, Scalar **o, const double *p)
{
    Scalar *x = o[0];
    return s_select(a, s_bin(a, S_GT, x, k(a, 0)), s_copy(a, x), s_bin(a, S_MUL, k(a, p[0]), s_copy(a, x)));
}

/* hard_sigmoid(x) = relu6(x + 3) / 6 (Keras 3) */
static Scalar *e_hard_sigmoid(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    Scalar *t[1] = {s_bin(a, S_ADD, o[0], k(a, 3))};
    return s_bin(a, S_DIV, e_relu6(a, t, NULL), k(a, 6));
}

static Scalar *e_maximum(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_MAX2, o[0], o[1]); }
static Scalar *e_minimum(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_MIN2, o[0], o[1]); }

static Scalar *e_where(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_select(a, s_truth(a, o[0]), o[1], o[2]);
}

/* clip(x, lo, hi) = min(max(x, lo), hi); gradient passes where lo <= x <= hi */
static Scalar *e_clip(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_MIN2, s_bin(a, S_MAX2, o[0], o[1]), o[2]);
}

/* ------------------------------------------------------------------------
 * Handlers
 * --------------------------------------------------------------------- */

static Value *err(Elab *e) { return v_err(e->arena); }

/* Bind args to names; a missing required argument (req[i]) is an error at the call. */
static bool take(Elab *e, const Builtin *b, Args *args, const Node *call, int n, const char *const *names,
                 const bool *req, Value **out, const Node **nodes)
{
    const char *what = arena_printf(e->arena, "%s()", b->native.name);
    if (!bind_args(e, args, what, n, names, out, nodes))
        return false;
    for (int i = 0; i < n; i++) {
        if (!out[i] && req[i]) {
            diag_error(e->diag, call->loc, "%s is missing its argument '%s'", what, names[i]);
            return false;
        }
        if (out[i] && out[i]->kind == V_ERR)
            return false;
        if (!nodes[i])
            nodes[i] = call;
    }
    return true;
}

static bool want_tensor(Elab *e, Value **v, const Node *at, const char *what)
{
    *v = as_tensor(e, *v, at);
    if ((*v)->kind == V_ERR)
        return false;
    if ((*v)->kind != V_TENSOR) {
        diag_error(e->diag, at->loc, "%s needs a tensor, not %s", what, v_describe(e->arena, *v));
        return false;
    }
    if (e->comp) {
        diag_error(e->diag, at->loc, "%s works on whole tensors and is not available inside an index expression",
                   what);
        return false;
    }
    return true;
}

/* A Python-style axis (negative counts from the end) of a rank-r tensor. */
static bool want_axis(Elab *e, Value *v, const Node *at, int rank, int *axis)
{
    int64_t ax;
    if (!want_int(e, v, at, "axis", &ax))
        return false;
    if (ax < -rank || ax >= rank) {
        diag_error(e->diag, at->loc, "axis %lld is out of range for a tensor of rank %d (valid: %d to %d)",
                   (long long)ax, rank, -rank, rank - 1);
        return false;
    }
    *axis = (int)(ax < 0 ? ax + rank : ax);
    return true;
}

static Value *apply_elementwise(Elab *e, const Builtin *b, Args *args, const Node *call, const double *override)
{
    Arena *a = e->arena;
    const char *names[8];
    bool req[8];
    int n = b->arity;
    static const char *const operand_names[3][3] = {{"x"}, {"x1", "x2"}, {"condition", "x1", "x2"}};
    for (int i = 0; i < n; i++) {
        names[i] = operand_names[n - 1][i];
        req[i] = true;
    }
    if (!strcmp(b->native.name, "clip")) {
        names[1] = "x_min";
        names[2] = "x_max";
    }
    int np = 0;
    while (np < 4 && b->params[np])
        np++;
    for (int i = 0; i < np; i++) {
        names[n + i] = b->params[i];
        req[n + i] = false;
    }
    Value *vals[8];
    const Node *nodes[8];
    if (!take(e, b, args, call, n + np, names, req, vals, nodes))
        return err(e);
    double params[4];
    for (int i = 0; i < np; i++) {
        params[i] = override ? override[i] : b->defaults[i];
        if (vals[n + i]) {
            if (vals[n + i]->kind == V_BOOL)
                params[i] = vals[n + i]->b;
            else if (!want_float(e, vals[n + i], nodes[n + i], b->params[i], &params[i]))
                return err(e);
        }
    }
    const char *what = arena_printf(a, "%s()", b->native.name);
    return elementwise(e, call->loc, n, vals, nodes, b->build, params, what);
}

static Value *h_softmax(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"x", "axis"};
    static const bool req[] = {true, false};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], "softmax"))
        return err(e);
    int axis = v[0]->t->shape.rank - 1;
    if (v[1] && !want_axis(e, v[1], nd[1], v[0]->t->shape.rank, &axis))
        return err(e);
    if (v[0]->t->shape.rank == 0) {
        diag_error(e->diag, call->loc, "%s needs a tensor of rank 1 or more", b->native.name);
        return err(e);
    }
    IrValue *r = ir_new(e->fn, !strcmp(b->native.name, "log_softmax") ? IR_LOG_SOFTMAX : IR_SOFTMAX, &v[0]->t->shape,
                        DT_F32, call->loc);
    r->axis = axis;
    ir_add_arg(e->fn, r, v[0]->t);
    return v_tensor(e->arena, r, call->loc);
}

/* sum/mean/max/min(x, axis = None | int | [ints], keepdims = false); also
 * max(a, b) / min(a, b) of compile-time numbers. */
static Value *h_reduce(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    if ((!strcmp(b->native.name, "max") || !strcmp(b->native.name, "min")) && args->n_pos >= 2 && args->n_kw == 0) {
        bool all_ct = true;
        for (int i = 0; i < args->n_pos; i++)
            all_ct = all_ct && (args->pos[i]->kind == V_INT || args->pos[i]->kind == V_FLOAT);
        if (all_ct) {
            for (int i = 0; i < args->n_pos; i++)
                if (args->pos[i]->kind == V_INT && !dim_is_const(args->pos[i]->i)) {
                    diag_error(e->diag, args->pos_node[i]->loc, "%s() of the batch size is not known at compile time",
                               b->native.name);
                    return err(e);
                }
            Value *best = args->pos[0];
            for (int i = 1; i < args->n_pos; i++) {
                Value *c = args->pos[i];
                double x = c->kind == V_INT ? (double)c->i.c : c->f, y = best->kind == V_INT ? (double)best->i.c : best->f;
                if (!strcmp(b->native.name, "max") ? x > y : x < y)
                    best = c;
            }
            return best;
        }
        diag_error(e->diag, call->loc, "%s(a, b) of tensors is written %s(a, b)", b->native.name,
                   !strcmp(b->native.name, "max") ? "maximum" : "minimum");
        return err(e);
    }
    static const char *const names[] = {"x", "axis", "keepdims"};
    static const bool req[] = {true, false, false};
    Value *v[3];
    const Node *nd[3];
    if (!take(e, b, args, call, 3, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], b->native.name))
        return err(e);
    IrValue *x = v[0]->t;
    int rank = x->shape.rank;
    bool reduce[KLC_MAXRANK] = {0};
    if (!v[1] || v[1]->kind == V_NONE) {
        for (int j = 0; j < rank; j++)
            reduce[j] = true;
    } else if (v[1]->kind == V_LIST) {
        for (int i = 0; i < v[1]->n; i++) {
            int ax;
            if (!want_axis(e, v[1]->items[i], nd[1], rank, &ax))
                return err(e);
            if (reduce[ax]) {
                diag_error(e->diag, nd[1]->loc, "axis %d listed twice", ax);
                return err(e);
            }
            reduce[ax] = true;
        }
    } else {
        int ax;
        if (!want_axis(e, v[1], nd[1], rank, &ax))
            return err(e);
        reduce[ax] = true;
    }
    bool keep = false;
    if (v[2] && !want_bool(e, v[2], nd[2], "keepdims", &keep))
        return err(e);
    int n_out = 0, n_red = 0;
    for (int j = 0; j < rank; j++) {
        if (reduce[j])
            n_red++;
        else
            n_out++;
    }
    Shape out;
    memset(&out, 0, sizeof out);
    Comp *c = comp_new(a, keep ? rank : n_out, n_red);
    Sub subs[KLC_MAXRANK];
    int ov = 0, rv = keep ? rank : n_out;
    for (int j = 0; j < rank; j++) {
        if (reduce[j]) {
            c->ext[rv] = x->shape.d[j];
            subs[j] = sub_var(rv++);
            if (keep) {
                c->ext[ov] = dim_const(1);
                out.d[out.rank++] = dim_const(1);
                ov++;
            }
        } else {
            c->ext[ov] = x->shape.d[j];
            out.d[out.rank++] = x->shape.d[j];
            subs[j] = sub_var(ov++);
        }
    }
    c->red = red_of(b->native.name);
    IrValue *m = ir_map(e->fn, &out, c->red == RED_MEAN ? DT_F32 : x->type == DT_BOOL ? DT_F32 : x->type, c,
                        call->loc);
    ir_add_arg(e->fn, m, x);
    Scalar *rd = s_read(a, 0, rank, subs, x->type);
    c->body = x->type == DT_BOOL ? s_un(a, S_TOFLOAT, rd) : rd;
    if (n_red == 0) /* nothing to reduce: still a (copy) map, with no reduction */
        c->red = RED_NONE;
    return v_tensor(a, m, call->loc);
}

/* reshape(x, newshape): -1 is inferred; dims may involve the batch N. */
static Value *h_reshape(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "newshape"};
    static const bool req[] = {true, true};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], "reshape"))
        return err(e);
    Shape sh;
    if (!want_shape(e, v[1], nd[1], "the new shape", &sh, true))
        return err(e);
    Dim total, known = dim_const(1);
    if (!shape_count(&v[0]->t->shape, &total)) {
        diag_error(e->diag, call->loc, "reshape of a tensor this large is not supported");
        return err(e);
    }
    int infer = -1;
    for (int j = 0; j < sh.rank; j++) {
        if (dim_eq(sh.d[j], dim_const(-1))) {
            if (infer >= 0) {
                diag_error(e->diag, nd[1]->loc, "only one dimension of a new shape can be -1");
                return err(e);
            }
            infer = j;
        } else if (!dim_mul(known, sh.d[j], &known)) {
            diag_error(e->diag, nd[1]->loc, "the new shape %s is not supported (the batch size appears twice)",
                       shape_str(a, &sh));
            return err(e);
        }
    }
    if (infer >= 0) {
        Dim q;
        bool ok = false;
        if (dim_is_const(known))
            ok = dim_div_exact(total, known, &q);
        else if (dim_is_const(total) == false && known.c == 0 && total.c == 0 && known.k != 0 &&
                 total.k % known.k == 0) {
            q = dim_const(total.k / known.k);
            ok = true;
        }
        if (!ok) {
            diag_error(e->diag, call->loc, "cannot reshape %s into %s: %s elements do not divide evenly",
                       shape_str(a, &v[0]->t->shape), shape_str(a, &sh), dim_str(a, total));
            return err(e);
        }
        sh.d[infer] = q;
    } else if (!dim_eq(known, total)) {
        diag_error(e->diag, call->loc, "cannot reshape %s (%s elements) into %s (%s elements)",
                   shape_str(a, &v[0]->t->shape), dim_str(a, total), shape_str(a, &sh), dim_str(a, known));
        return err(e);
    }
    IrValue *r = ir_new(e->fn, IR_RESHAPE, &sh, v[0]->t->type, call->loc);
    ir_add_arg(e->fn, r, v[0]->t);
    return v_tensor(a, r, call->loc);
}

/* transpose(x, axes = reversed) */
static Value *h_transpose(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "axes"};
    static const bool req[] = {true, false};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], "transpose"))
        return err(e);
    IrValue *x = v[0]->t;
    int rank = x->shape.rank, perm[KLC_MAXRANK];
    if (!v[1] || v[1]->kind == V_NONE) {
        for (int j = 0; j < rank; j++)
            perm[j] = rank - 1 - j;
    } else {
        if (v[1]->kind != V_LIST || v[1]->n != rank) {
            diag_error(e->diag, nd[1]->loc, "axes must list each of the %d axes once", rank);
            return err(e);
        }
        bool seen[KLC_MAXRANK] = {0};
        for (int j = 0; j < rank; j++) {
            if (!want_axis(e, v[1]->items[j], nd[1], rank, &perm[j]))
                return err(e);
            if (seen[perm[j]]) {
                diag_error(e->diag, nd[1]->loc, "axes must be a permutation: axis %d appears twice", perm[j]);
                return err(e);
            }
            seen[perm[j]] = true;
        }
    }
    Shape out;
    out.rank = rank;
    Sub subs[KLC_MAXRANK];
    for (int j = 0; j < rank; j++) {
        out.d[j] = x->shape.d[perm[j]];
        subs[perm[j]] = sub_var(j);
    }
    Comp *c = comp_over(a, &out, rank);
    IrValue *m = ir_map(e->fn, &out, x->type, c, call->loc);
    ir_add_arg(e->fn, m, x);
    c->body = s_read(a, 0, rank, subs, x->type);
    return v_tensor(a, m, call->loc);
}

/* expand_dims(x, axis) / squeeze(x, axis) are reshapes. */
static Value *h_expand_squeeze(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "axis"};
    bool expand = !strcmp(b->native.name, "expand_dims");
    const bool req[] = {true, expand};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], b->native.name))
        return err(e);
    const Shape *s = &v[0]->t->shape;
    Shape out;
    memset(&out, 0, sizeof out);
    if (expand) {
        int ax;
        if (s->rank + 1 > KLC_MAXRANK) {
            diag_error(e->diag, call->loc, "expand_dims() would make a tensor of rank %d (at most %d)",
                       s->rank + 1, KLC_MAXRANK);
            return err(e);
        }
        if (!want_axis(e, v[1], nd[1], s->rank + 1, &ax))
            return err(e);
        for (int j = 0, i = 0; j <= s->rank; j++)
            out.d[out.rank++] = j == ax ? dim_const(1) : s->d[i++];
    } else {
        int ax = -1;
        if (v[1] && v[1]->kind != V_NONE && !want_axis(e, v[1], nd[1], s->rank, &ax))
            return err(e);
        if (ax >= 0 && !dim_eq(s->d[ax], dim_const(1))) {
            diag_error(e->diag, nd[1]->loc, "cannot squeeze axis %d of %s: its size is %s, not 1", ax,
                       shape_str(a, s), dim_str(a, s->d[ax]));
            return err(e);
        }
        for (int j = 0; j < s->rank; j++)
            if (!(ax < 0 ? dim_eq(s->d[j], dim_const(1)) : j == ax))
                out.d[out.rank++] = s->d[j];
    }
    IrValue *r = ir_new(e->fn, IR_RESHAPE, &out, v[0]->t->type, call->loc);
    ir_add_arg(e->fn, r, v[0]->t);
    return v_tensor(a, r, call->loc);
}

/* concatenate([a, b, ...], axis = -1) */
static Value *h_concatenate(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"xs", "axis"};
    static const bool req[] = {true, false};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd))
        return err(e);
    if (v[0]->kind != V_LIST || v[0]->n < 1) {
        diag_error(e->diag, nd[0]->loc, "concatenate takes a list of tensors: concatenate([a, b], axis = -1)");
        return err(e);
    }
    Value *first = v[0]->items[0];
    if (!want_tensor(e, &first, nd[0], "concatenate"))
        return err(e);
    int rank = first->t->shape.rank, axis = rank - 1;
    if (rank == 0) {
        diag_error(e->diag, nd[0]->loc, "cannot concatenate scalars");
        return err(e);
    }
    if (v[1] && !want_axis(e, v[1], nd[1], rank, &axis))
        return err(e);
    Shape out = first->t->shape;
    IrValue *r = ir_new(e->fn, IR_CONCAT, NULL, first->t->type, call->loc);
    r->axis = axis;
    ir_add_arg(e->fn, r, first->t);
    for (int i = 1; i < v[0]->n; i++) {
        Value *x = v[0]->items[i];
        if (!want_tensor(e, &x, nd[0], "concatenate"))
            return err(e);
        const Shape *s = &x->t->shape;
        bool ok = s->rank == rank;
        for (int j = 0; ok && j < rank; j++)
            ok = j == axis || dim_eq(s->d[j], out.d[j]);
        if (!ok) {
            diag_error(e->diag, nd[0]->loc,
                       "cannot concatenate %s and %s along axis %d: the other dimensions must match",
                       shape_str(a, &first->t->shape), shape_str(a, s), axis);
            return err(e);
        }
        if (!dim_add(out.d[axis], s->d[axis], &out.d[axis])) {
            diag_error(e->diag, nd[0]->loc, "concatenating along axis %d overflows its size", axis);
            return err(e);
        }
        ir_add_arg(e->fn, r, x->t);
    }
    r->shape = out;
    return v_tensor(a, r, call->loc);
}

/* one_hot(ids, num_classes) -> float [..., num_classes] */
static Value *h_one_hot(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "num_classes"};
    static const bool req[] = {true, true};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], "one_hot"))
        return err(e);
    int64_t nc;
    if (!want_int(e, v[1], nd[1], "num_classes", &nc))
        return err(e);
    if (nc <= 0) {
        diag_error(e->diag, nd[1]->loc, "num_classes must be positive");
        return err(e);
    }
    IrValue *x = v[0]->t;
    if (x->type != DT_I32) {
        diag_error(e->diag, nd[0]->loc, "one_hot needs integer ids, not a %s tensor",
                   x->type == DT_BOOL ? "bool" : "float");
        return err(e);
    }
    if (x->shape.rank + 1 > KLC_MAXRANK) {
        diag_error(e->diag, call->loc, "one_hot() would make a tensor of rank %d (at most %d)", x->shape.rank + 1,
                   KLC_MAXRANK);
        return err(e);
    }
    Shape out = x->shape;
    out.d[out.rank++] = dim_const(nc);
    Comp *c = comp_over(a, &out, out.rank);
    IrValue *m = ir_map(e->fn, &out, DT_F32, c, call->loc);
    ir_add_arg(e->fn, m, x);
    c->body = s_un(a, S_TOFLOAT, s_bin(a, S_EQ, s_read_all(a, 0, &x->shape, DT_I32), s_var(a, out.rank - 1)));
    return v_tensor(a, m, call->loc);
}

/* take(x, indices, axis = 0): a gather; gradient is a scatter-add. */
static Value *h_take(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "indices", "axis"};
    static const bool req[] = {true, true, false};
    Value *v[3];
    const Node *nd[3];
    if (!take(e, b, args, call, 3, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], "take") ||
        !want_tensor(e, &v[1], nd[1], "take"))
        return err(e);
    IrValue *x = v[0]->t, *ids = v[1]->t;
    int axis = 0;
    if (v[2] && !want_axis(e, v[2], nd[2], x->shape.rank, &axis))
        return err(e);
    if (ids->type != DT_I32) {
        diag_error(e->diag, nd[1]->loc, "take() needs integer indices, not a float tensor");
        return err(e);
    }
    int rank = x->shape.rank - 1 + ids->shape.rank;
    if (rank > KLC_MAXRANK || rank + 0 > KLC_MAXVARS) {
        diag_error(e->diag, call->loc, "take() result of rank %d is too large", rank);
        return err(e);
    }
    Shape out;
    memset(&out, 0, sizeof out);
    for (int j = 0; j < axis; j++)
        out.d[out.rank++] = x->shape.d[j];
    for (int j = 0; j < ids->shape.rank; j++)
        out.d[out.rank++] = ids->shape.d[j];
    for (int j = axis + 1; j < x->shape.rank; j++)
        out.d[out.rank++] = x->shape.d[j];
    Comp *c = comp_over(a, &out, out.rank);
    IrValue *m = ir_map(e->fn, &out, x->type, c, call->loc);
    ir_add_arg(e->fn, m, x);
    ir_add_arg(e->fn, m, ids);
    Sub isub[KLC_MAXRANK], xsub[KLC_MAXRANK];
    for (int j = 0; j < ids->shape.rank; j++)
        isub[j] = sub_var(axis + j);
    int v2 = 0;
    for (int j = 0; j < x->shape.rank; j++) {
        if (j == axis) {
            xsub[j] = sub_const(0);
            xsub[j].ind = s_read(a, 1, ids->shape.rank, isub, DT_I32);
            v2 = axis + ids->shape.rank;
        } else {
            xsub[j] = sub_var(j < axis ? j : v2++);
        }
    }
    c->body = s_read(a, 0, x->shape.rank, xsub, x->type);
    return v_tensor(a, m, call->loc);
}

static Value *h_stop_gradient(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"x"};
    static const bool req[] = {true};
    Value *v[1];
    const Node *nd[1];
    if (!take(e, b, args, call, 1, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], "stop_gradient"))
        return err(e);
    IrValue *r = ir_new(e->fn, IR_STOP_GRAD, &v[0]->t->shape, v[0]->t->type, call->loc);
    ir_add_arg(e->fn, r, v[0]->t);
    return v_tensor(e->arena, r, call->loc);
}

static Value *h_matmul(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"x1", "x2"};
    static const bool req[] = {true, true};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd))
        return err(e);
    return matmul(e, call->loc, v[0], v[1], nd[0], nd[1]); /* the '@' operator */
}

/* zeros(shape) / ones(shape) / full(shape, value) */
/* A shape that makes a new tensor: -1 ("the rest", reshape's) means nothing here. */
static bool new_tensor_shape(Elab *e, Value *v, const Node *at, Shape *sh)
{
    if (!want_shape(e, v, at, "the shape", sh, true))
        return false;
    for (int j = 0; j < sh->rank; j++)
        if (dim_is_const(sh->d[j]) && sh->d[j].c <= 0) {
            diag_error(e->diag, at->loc, "the shape has a non-positive dimension %lld", (long long)sh->d[j].c);
            return false;
        }
    return true;
}

static Value *h_fill(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"shape", "fill_value"};
    bool full = !strcmp(b->native.name, "full");
    const bool req[] = {true, full};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, full ? 2 : 1, names, req, v, nd))
        return err(e);
    Shape sh;
    if (!new_tensor_shape(e, v[0], nd[0], &sh))
        return err(e);
    double x = !strcmp(b->native.name, "ones");
    if (full && !want_float(e, v[1], nd[1], "fill_value", &x))
        return err(e);
    if (!e->fn) {
        diag_error(e->diag, call->loc, "%s() makes a tensor and is only available in call()", b->native.name);
        return err(e);
    }
    return v_tensor(a, ir_ew(e->fn, &sh, DT_F32, s_const(a, x), 0, NULL, call->loc), call->loc);
}

/* arange(start, stop = None, step = 1, dtype = None): Keras' ops.arange over
 * compile-time ints, arange(5) = [0, 1, 2, 3, 4]; int32 unless dtype =
 * "float32".  The positions of a position embedding: arange(T). */
static Value *h_arange(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"start", "stop", "step", "dtype"};
    static const bool req[] = {true, false, false, false};
    Value *v[4];
    const Node *nd[4];
    if (!take(e, b, args, call, 4, names, req, v, nd))
        return err(e);
    int64_t start = 0, stop = 0, step = 1;
    if (!want_int(e, v[0], nd[0], "start", &start))
        return err(e);
    if (v[1] && v[1]->kind != V_NONE) {
        if (!want_int(e, v[1], nd[1], "stop", &stop))
            return err(e);
    } else { /* arange(stop) */
        stop = start;
        start = 0;
    }
    if (v[2] && !want_int(e, v[2], nd[2], "step", &step))
        return err(e);
    DType type = DT_I32;
    if (v[3] && v[3]->kind != V_NONE) {
        if (v[3]->kind != V_STR || (strcmp(v[3]->s, "int32") && strcmp(v[3]->s, "float32"))) {
            diag_error(e->diag, nd[3]->loc, "arange(): dtype must be \"int32\" or \"float32\"");
            return err(e);
        }
        if (!strcmp(v[3]->s, "float32"))
            type = DT_F32;
    }
    if (step == 0) {
        diag_error(e->diag, (nd[2] ? nd[2] : call)->loc, "arange(): step must not be 0");
        return err(e);
    }
    /* int32 values (so the arithmetic below cannot overflow int64) */
    if (start < INT32_MIN || start > INT32_MAX || stop < INT32_MIN || stop > INT32_MAX ||
        step < INT32_MIN || step > INT32_MAX) {
        diag_error(e->diag, call->loc, "arange(): start, stop and step must fit in int32");
        return err(e);
    }
    int64_t span = stop - start;
    int64_t len = step > 0 ? (span + step - 1) / step : (span + step + 1) / step; /* ceil(span / step) */
    if (len <= 0) {
        diag_error(e->diag, call->loc, "arange(%lld, %lld, %lld) has no elements", (long long)start,
                   (long long)stop, (long long)step);
        return err(e);
    }
    if (!e->fn) {
        diag_error(e->diag, call->loc, "arange() makes a tensor and is only available in call()");
        return err(e);
    }
    Shape sh = {.rank = 1, .d = {dim_const((int64_t)len)}};
    Scalar *k0 = s_const(a, (double)start), *k1 = s_const(a, (double)step);
    k0->type = k1->type = DT_I32;
    Scalar *body = s_bin(a, S_ADD, k0, s_bin(a, S_MUL, k1, s_var(a, 0)));
    body->type = DT_I32;
    body->b->type = DT_I32;
    if (type == DT_F32)
        body = s_un(a, S_TOFLOAT, body);
    return v_tensor(a, ir_ew(e->fn, &sh, type, body, 0, NULL, call->loc), call->loc);
}

/* Random numbers: uniform in [0, 1) per element, from the step's counter-based stream. */
static IrValue *random_tensor(Elab *e, const Shape *sh, SrcLoc loc)
{
    IrValue *r = ir_new(e->fn, IR_RANDOM, sh, DT_F32, loc);
    int stream = 0;
    for (int i = 0; i < e->fn->insts.len; i++)
        if (((IrValue *)e->fn->insts.items[i])->op == IR_RANDOM)
            stream++;
    r->index = stream; /* stream number: position among the function's random tensors */
    return r;
}

/* dropout(x, rate, noise_shape = None): inverted dropout, keep with 1 - rate and scale. */
static Value *h_dropout(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "rate", "noise_shape"};
    static const bool req[] = {true, true, false};
    Value *v[3];
    const Node *nd[3];
    if (!take(e, b, args, call, 3, names, req, v, nd) || !want_tensor(e, &v[0], nd[0], "dropout"))
        return err(e);
    double rate;
    if (!want_float(e, v[1], nd[1], "rate", &rate))
        return err(e);
    if (rate < 0 || rate > 1) {
        diag_error(e->diag, nd[1]->loc, "the dropout rate must be in [0, 1], got %g", rate);
        return err(e);
    }
    IrValue *x = v[0]->t;
    if (rate == 0)
        return v[0];
    Shape ns = x->shape;
    if (v[2] && v[2]->kind != V_NONE) {
        if (v[2]->kind != V_LIST || v[2]->n != x->shape.rank) {
            diag_error(e->diag, nd[2]->loc, "noise_shape must list %d dimensions (None for the input's)",
                       x->shape.rank);
            return err(e);
        }
        for (int j = 0; j < ns.rank; j++) {
            Value *d = v[2]->items[j];
            if (d->kind == V_NONE)
                continue;
            if (d->kind != V_INT || (!dim_eq(d->i, dim_const(1)) && !dim_eq(d->i, x->shape.d[j]))) {
                diag_error(e->diag, nd[2]->loc, "noise_shape dimension %d must be None, 1 or %s", j,
                           dim_str(a, x->shape.d[j]));
                return err(e);
            }
            ns.d[j] = d->i;
        }
    }
    IrValue *u = random_tensor(e, &ns, call->loc);
    Sub us[KLC_MAXRANK];
    for (int j = 0; j < x->shape.rank; j++)
        us[j] = dim_eq(ns.d[j], dim_const(1)) && !dim_eq(x->shape.d[j], dim_const(1)) ? sub_const(0) : sub_var(j);
    /* rate == 1 drops everything (Keras: zeros) */
    Scalar *keep = s_bin(a, S_GE, s_read(a, 1, ns.rank, us, DT_F32), s_const(a, rate));
    Scalar *scaled = rate >= 1 ? s_const(a, 0)
                               : s_bin(a, S_MUL, s_read_all(a, 0, &x->shape, DT_F32), s_const(a, 1.0 / (1.0 - rate)));
    IrValue *xu[2] = {x, u};
    IrValue *m = ir_ew(e->fn, &x->shape, DT_F32, s_select(a, keep, scaled, s_const(a, 0)), 2, xu, call->loc);
    return v_tensor(a, m, call->loc);
}

/* random_uniform(shape, minval = 0, maxval = 1) */
static Value *h_random_uniform(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"shape", "minval", "maxval"};
    static const bool req[] = {true, false, false};
    Value *v[3];
    const Node *nd[3];
    if (!take(e, b, args, call, 3, names, req, v, nd))
        return err(e);
    Shape sh;
    double lo = 0, hi = 1;
    if (!new_tensor_shape(e, v[0], nd[0], &sh) ||
        (v[1] && !want_float(e, v[1], nd[1], "minval", &lo)) || (v[2] && !want_float(e, v[2], nd[2], "maxval", &hi)))
        return err(e);
    if (!e->fn) {
        diag_error(e->diag, call->loc, "random_uniform() is only available in call()");
        return err(e);
    }
    IrValue *u = random_tensor(e, &sh, call->loc);
    if (lo == 0 && hi == 1)
        return v_tensor(a, u, call->loc);
    Scalar *body = s_bin(a, S_ADD, s_const(a, lo), s_bin(a, S_MUL, s_const(a, hi - lo), s_read_all(a, 0, &sh, DT_F32)));
    return v_tensor(a, ir_ew(e->fn, &sh, DT_F32, body, 1, &u, call->loc), call->loc);
}

static Value *h_cast(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "dtype"};
    static const bool req[] = {true, true};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd))
        return err(e);
    if (v[1]->kind != V_STR || (strcmp(v[1]->s, "float32") && strcmp(v[1]->s, "int32"))) {
        diag_error(e->diag, nd[1]->loc, "cast() supports dtype \"float32\" and \"int32\"");
        return err(e);
    }
    bool to_int = !strcmp(v[1]->s, "int32");
    Value *x = as_tensor(e, v[0], nd[0]);
    if (x->kind == V_ERR)
        return x;
    if (x->kind != V_TENSOR) {
        if (x->kind == V_FLOAT && to_int) {
            if (!(fabs(x->f) < 9e18)) {
                diag_error(e->diag, nd[0]->loc, "cast() of %g to int32 is out of range", x->f);
                return err(e);
            }
            return v_int(a, (int64_t)x->f, call->loc); /* truncates toward zero, as TensorFlow */
        }
        if (x->kind == V_INT && !to_int && dim_is_const(x->i))
            return v_float(a, (double)x->i.c, call->loc);
        return x;
    }
    Scalar *r = s_read_all(a, 0, &x->t->shape, x->t->type);
    if (to_int && r->type != DT_I32) {
        /* toward zero, as TensorFlow's (and NumPy's) cast: x < 0 ? ceil(x) : floor(x) */
        Scalar *f = r->type == DT_F32 ? r : s_un(a, S_TOFLOAT, r);
        Scalar *down = s_un(a, S_FLOOR, f), *up = s_un(a, S_CEIL, s_copy(a, f));
        down->type = up->type = DT_I32;
        r = s_select(a, s_bin(a, S_LT, s_copy(a, f), s_const(a, 0)), up, down);
    } else if (!to_int && r->type != DT_F32) {
        r = s_un(a, S_TOFLOAT, r);
    }
    return v_tensor(a, ir_ew(e->fn, &x->t->shape, to_int ? DT_I32 : DT_F32, r, 1, &x->t, call->loc), call->loc);
}

/* ---- compile-time helpers ---- */

static Value *h_shape(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x"};
    static const bool req[] = {true};
    Value *v[1];
    const Node *nd[1];
    if (!take(e, b, args, call, 1, names, req, v, nd))
        return err(e);
    const Shape *s;
    if (v[0]->kind == V_WEIGHT)
        s = &v[0]->weight->shape;
    else if (v[0]->kind == V_BUILD_INPUT) /* build()'s input: its shape only */
        s = &v[0]->shape;
    else if ((v[0] = as_tensor(e, v[0], nd[0]))->kind == V_TENSOR)
        s = &v[0]->t->shape;
    else {
        diag_error(e->diag, nd[0]->loc, "%s() needs a tensor, not %s", b->native.name, v_describe(a, v[0]));
        return err(e);
    }
    if (!strcmp(b->native.name, "ndim"))
        return v_int(a, s->rank, call->loc);
    return shape_list(e, s, call->loc);
}

static Value *h_len(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"x"};
    static const bool req[] = {true};
    Value *v[1];
    const Node *nd[1];
    if (!take(e, b, args, call, 1, names, req, v, nd))
        return err(e);
    if (v[0]->kind == V_LIST)
        return v_int(e->arena, v[0]->n, call->loc);
    if (v[0]->kind == V_STR)
        return v_int(e->arena, (int64_t)strlen(v[0]->s), call->loc);
    diag_error(e->diag, nd[0]->loc, "len() needs a list, not %s", v_describe(e->arena, v[0]));
    return err(e);
}

/* is_list(v), is_int(v), is_float(v), is_bool(v), is_str(v), is_none(v): a compile-time test
 * of a value's kind (a bool is not an int here; an int depending on N is). */
static Value *h_is_kind(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"v"};
    static const bool req[] = {true};
    static const struct { const char *name; VKind kind; } kinds[] = {
        {"is_list", V_LIST}, {"is_int", V_INT}, {"is_float", V_FLOAT},
        {"is_bool", V_BOOL}, {"is_str", V_STR}, {"is_none", V_NONE},
    };
    Value *v[1];
    const Node *nd[1];
    if (!take(e, b, args, call, 1, names, req, v, nd))
        return err(e);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(b->native.name, kinds[i].name))
            return v_bool(e->arena, v[0]->kind == kinds[i].kind, call->loc);
    return err(e); /* not reached: the table below names only these */
}

static Value *h_int_float(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"x"};
    static const bool req[] = {true};
    Value *v[1];
    const Node *nd[1];
    if (!take(e, b, args, call, 1, names, req, v, nd))
        return err(e);
    if (!strcmp(b->native.name, "float")) {
        double x;
        if (!want_float(e, v[0], nd[0], "float()'s argument", &x))
            return err(e);
        return v_float(e->arena, x, call->loc);
    }
    if (v[0]->kind == V_INT)
        return v[0];
    if (v[0]->kind == V_BOOL)
        return v_int(e->arena, v[0]->b, call->loc);
    double x;
    if (!want_float(e, v[0], nd[0], "int()'s argument", &x))
        return err(e);
    if (!(fabs(x) < 9e18)) {
        diag_error(e->diag, nd[0]->loc, "int() of %g is out of range", x);
        return err(e);
    }
    return v_int(e->arena, (int64_t)x, call->loc); /* truncates toward zero, as Python */
}

/* assert(condition, "message"): a compile-time check in a layer. */
static Value *h_assert(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"condition", "message"};
    static const bool req[] = {true, false};
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd))
        return err(e);
    bool ok;
    if (!want_bool(e, v[0], nd[0], "assert()'s condition", &ok))
        return err(e);
    if (!ok) {
        const char *msg = v[1] && v[1]->kind == V_STR ? v[1]->s : node_text(e->arena, nd[0], 60);
        diag_error(e->diag, call->loc, "%s", msg);
        /* as in Python, a failed assert stops the body: what follows would only
         * fail on the same bad value (Dense(0): a weight of shape [D, 0]) */
        e->returned = true;
        e->result = err(e);
        return err(e);
    }
    return v_new(e->arena, V_NONE, call->loc);
}

/* ---- layer API statements ---- */

static bool in_call(Elab *e, const Builtin *b, const Node *call)
{
    if (!e->in_call || !e->fn) {
        diag_error(e->diag, call->loc, "%s() can only be used in call()", b->native.name);
        return false;
    }
    if (e->comp) {
        diag_error(e->diag, call->loc, "%s() is a statement, not part of an index expression", b->native.name);
        return false;
    }
    return true;
}

/* The scalar sum (or mean) of a tensor, as a map. */
static IrValue *total(Elab *e, IrValue *x, RedOp red, SrcLoc loc)
{
    Arena *a = e->arena;
    if (x->shape.rank == 0 && red != RED_MEAN)
        return x;
    Comp *c = comp_over(a, &x->shape, 0);
    c->red = x->shape.rank ? red : RED_NONE;
    Shape sc = {0};
    IrValue *m = ir_map(e->fn, &sc, DT_F32, c, loc);
    ir_add_arg(e->fn, m, x);
    Scalar *r = s_read_all(a, 0, &x->shape, x->type);
    c->body = x->type == DT_F32 ? r : s_un(a, S_TOFLOAT, r);
    return m;
}

/* add_loss(value): summed into the objective (Keras: a non-scalar is summed). */
static Value *h_add_loss(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"loss"};
    static const bool req[] = {true};
    Value *v[1];
    const Node *nd[1];
    if (!in_call(e, b, call) || !take(e, b, args, call, 1, names, req, v, nd))
        return err(e);
    v[0] = as_tensor(e, v[0], nd[0]);
    if (v[0]->kind == V_ERR)
        return err(e);
    if (v[0]->kind != V_TENSOR) {
        diag_error(e->diag, nd[0]->loc, "add_loss() takes a tensor computed from the layer's values, not %s",
                   v_describe(e->arena, v[0]));
        return err(e);
    }
    if (v[0]->t->type != DT_F32) {
        diag_error(e->diag, nd[0]->loc, "add_loss() needs a float tensor");
        return err(e);
    }
    IrValue *s = total(e, v[0]->t, RED_SUM, call->loc);
    IrValue *r = ir_new(e->fn, IR_ADD_LOSS, NULL, DT_F32, call->loc);
    ir_add_arg(e->fn, r, s);
    return v_new(e->arena, V_NONE, call->loc);
}

/* add_metric(value, name = "..."): Keras 2's meaning: shown beside the loss,
 * averaged over the epoch; never differentiated.  A non-scalar is averaged. */
static Value *h_add_metric(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    static const char *const names[] = {"value", "name", "aggregation"};
    static const bool req[] = {true, true, false};
    Value *v[3];
    const Node *nd[3];
    if (!in_call(e, b, call) || !take(e, b, args, call, 3, names, req, v, nd))
        return err(e);
    v[0] = as_tensor(e, v[0], nd[0]);
    if (v[0]->kind == V_ERR)
        return err(e);
    if (v[0]->kind != V_TENSOR) {
        diag_error(e->diag, nd[0]->loc, "add_metric() takes a tensor, not %s", v_describe(e->arena, v[0]));
        return err(e);
    }
    if (v[1]->kind != V_STR || !v[1]->s[0]) {
        diag_error(e->diag, nd[1]->loc, "add_metric()'s name must be a non-empty string");
        return err(e);
    }
    if (v[2] && (v[2]->kind != V_STR || strcmp(v[2]->s, "mean"))) {
        diag_error(e->diag, nd[2]->loc, "add_metric() supports aggregation = \"mean\" only");
        return err(e);
    }
    const char *name = v[1]->s;
    static const char *const reserved[] = {"loss", "accuracy", "acc"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, reserved[i]) || (!strncmp(name, "val_", 4))) {
            diag_error(e->diag, nd[1]->loc, "add_metric() name \"%s\" is reserved for Keras' own logs", name);
            return err(e);
        }
    Model *m = e->model;
    int index = -1;
    for (int i = 0; i < m->added_metrics.len; i++)
        if (!strcmp(m->added_metrics.items[i], name))
            index = i;
    if (index < 0) {
        vec_push(e->arena, &m->added_metrics, (void *)name);
        index = m->added_metrics.len - 1;
    }
    for (int i = 0; i < e->fn->insts.len; i++) {
        IrValue *x = e->fn->insts.items[i];
        if (x->op == IR_ADD_METRIC && x->index == index) {
            diag_error(e->diag, nd[1]->loc, "add_metric() name \"%s\" is used twice in one forward pass", name);
            return err(e);
        }
    }
    IrValue *sg = ir_new(e->fn, IR_STOP_GRAD, &v[0]->t->shape, v[0]->t->type, call->loc);
    ir_add_arg(e->fn, sg, v[0]->t);
    IrValue *s = total(e, sg, RED_MEAN, call->loc);
    IrValue *r = ir_new(e->fn, IR_ADD_METRIC, NULL, DT_F32, call->loc);
    r->index = index;
    ir_add_arg(e->fn, r, s);
    return v_new(e->arena, V_NONE, call->loc);
}

/* assign(state, value): non-trainable weights, while training, never differentiated. */
static Value *h_assign(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"variable", "value"};
    static const bool req[] = {true, true};
    if (!in_call(e, b, call))
        return err(e);
    /* the first argument must name a weight: look at it before it is turned into a tensor */
    const Node *target = call->list.len > 0 && call->list.items[0]->kind != N_KWARG ? call->list.items[0] : NULL;
    Value *v[2];
    const Node *nd[2];
    if (!take(e, b, args, call, 2, names, req, v, nd))
        return err(e);
    Weight *w = NULL;
    if (v[0]->kind == V_TENSOR && (v[0]->t->op == IR_STATE || v[0]->t->op == IR_PARAM))
        w = e->model->weights.items[v[0]->t->index];
    if (!w) {
        diag_error(e->diag, (target ? target : nd[0])->loc, "assign() updates a weight made by add_weight, not %s",
                   v_describe(a, v[0]));
        return err(e);
    }
    if (w->trainable) {
        diag_error(e->diag, (target ? target : nd[0])->loc,
                   "cannot assign() to trainable weight '%s': trainable weights change only through the optimizer; "
                   "create it with add_weight(..., trainable = false)",
                   w->name);
        return err(e);
    }
    if (!e->training) {
        diag_error(e->diag, call->loc,
                   "assign() runs only while training; put it under 'if training { ... }' (call(x, training))");
        return err(e);
    }
    Value *val = as_tensor(e, v[1], nd[1]);
    if (val->kind == V_ERR)
        return err(e);
    if (val->kind != V_TENSOR && val->kind != V_FLOAT && val->kind != V_INT) {
        diag_error(e->diag, nd[1]->loc, "assign() needs a tensor value, not %s", v_describe(a, val));
        return err(e);
    }
    if (val->kind == V_TENSOR && !shape_eq(&val->t->shape, &w->shape)) {
        diag_error(e->diag, nd[1]->loc, "cannot assign a value of shape %s to '%s' of shape %s",
                   shape_str(a, &val->t->shape), w->name, shape_str(a, &w->shape));
        return err(e);
    }
    for (int i = 0; i < e->fn->insts.len; i++) {
        IrValue *x = e->fn->insts.items[i];
        if (x->op == IR_ASSIGN && x->index == w->index) {
            diag_error(e->diag, call->loc, "'%s' is assigned twice in one step", w->name);
            return err(e);
        }
    }
    IrValue *t;
    if (val->kind == V_TENSOR) {
        t = val->t;
    } else { /* a number: the weight's shape filled with it (elementwise() would fold it to a number) */
        double x;
        if (!want_float(e, val, nd[1], "assign()'s value", &x))
            return err(e);
        t = ir_ew(e->fn, &w->shape, DT_F32, s_const(a, x), 0, NULL, call->loc);
    }
    IrValue *sg = ir_new(e->fn, IR_STOP_GRAD, &t->shape, DT_F32, call->loc);
    ir_add_arg(e->fn, sg, t);
    IrValue *r = ir_new(e->fn, IR_ASSIGN, NULL, DT_F32, call->loc);
    r->index = w->index;
    ir_add_arg(e->fn, r, sg);
    return v_new(a, V_NONE, call->loc);
}

/* ---- Input ---- */

static Value *h_input(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"shape", "batch_size", "dtype", "name"};
    static const bool req[] = {true, false, false, false};
    Value *v[4];
    const Node *nd[4];
    if (!take(e, b, args, call, 4, names, req, v, nd))
        return err(e);
    Value *r = v_new(a, V_INPUT, call->loc);
    if (!want_shape(e, v[0], nd[0], "Input's shape", &r->shape, false))
        return err(e);
    int64_t per_sample;
    if (!shape_const_count(&r->shape, &per_sample)) {
        diag_error(e->diag, nd[0]->loc, "an input of shape %s has too many elements", shape_str(a, &r->shape));
        return err(e);
    }
    if (v[1] && v[1]->kind != V_NONE) {
        diag_error(e->diag, nd[1]->loc, "Input(batch_size = ...) is not supported: the batch size is chosen at run time");
        return err(e);
    }
    r->dtype = DT_F32;
    if (v[2] && v[2]->kind != V_NONE) {
        if (v[2]->kind == V_STR && !strcmp(v[2]->s, "float32"))
            r->dtype = DT_F32;
        else if (v[2]->kind == V_STR && (!strcmp(v[2]->s, "int32") || !strcmp(v[2]->s, "int64")))
            r->dtype = DT_I32;
        else {
            diag_error(e->diag, nd[2]->loc, "Input's dtype must be \"float32\" or \"int32\"");
            return err(e);
        }
    }
    if (v[3] && v[3]->kind != V_STR) {
        diag_error(e->diag, nd[3]->loc, "Input's name must be a string");
        return err(e);
    }
    return r;
}

/* ------------------------------------------------------------------------
 * The table
 * --------------------------------------------------------------------- */

static Value *builtin_invoke(Elab *e, Value *callee, Args *args, const Node *call);
static bool builtin_check_call(Elab *e, const Value *callee, const Node *call);
static Value *name_value(Elab *e, const Value *self, const Node *at);

#define NATIVE(n, act) {n, builtin_invoke, NULL, NULL, act}
#define EW(n, ar, fn) {NATIVE(n, false), B_EW, ar, {NULL}, {0}, fn, NULL}
#define ACT(n, fn) {NATIVE(n, true), B_EW, 1, {NULL}, {0}, fn, NULL}
#define ACT_P(n, p, d, fn) {NATIVE(n, true), B_EW, 1, {p}, {d}, fn, NULL}
#define FN(n, h) {NATIVE(n, false), B_FN, 0, {NULL}, {0}, NULL, h}
#define CT(n, h) {NATIVE(n, false), B_CT, 0, {NULL}, {0}, NULL, h}
#define ST(n, h) {{n, builtin_invoke, builtin_check_call, NULL, false}, B_STMT, 0, {NULL}, {0}, NULL, h}
#define NAME(n) {{n, builtin_invoke, NULL, name_value, false}, B_NAME, 0, {NULL}, {0}, NULL, NULL}

static const Builtin table[] = {
    /* activations (also keras.ops functions) */
    ACT("linear", e_linear),
    ACT("relu", e_relu),
    ACT("relu6", e_relu6),
    ACT("sigmoid", e_sigmoid),
    ACT("tanh", e_tanh),
    ACT_P("elu", "alpha", 1.0, e_elu),
    ACT("selu", e_selu),
    ACT_P("gelu", "approximate", 1, e_gelu),
    ACT("softplus", e_softplus),
    ACT("softsign", e_softsign),
    ACT("silu", e_silu),
    ACT("swish", e_silu),
    ACT("mish", e_mish),
    ACT_P("leaky_relu", "negative_slope", 0.2, e_leaky_relu),
    ACT("hard_sigmoid", e_hard_sigmoid),
    ACT("exponential", e_exp),
    {NATIVE("softmax", true), B_FN, 0, {NULL}, {0}, NULL, h_softmax},
    {NATIVE("log_softmax", true), B_FN, 0, {NULL}, {0}, NULL, h_softmax},
    /* elementwise math */
    EW("exp", 1, e_exp),
    EW("log", 1, e_log),
    EW("log1p", 1, e_log1p),
    EW("expm1", 1, e_expm1),
    EW("sqrt", 1, e_sqrt),
    EW("rsqrt", 1, e_rsqrt),
    EW("square", 1, e_square),
    EW("abs", 1, e_abs),
    EW("absolute", 1, e_abs),
    EW("sign", 1, e_sign),
    EW("erf", 1, e_erf),
    EW("sin", 1, e_sin),
    EW("cos", 1, e_cos),
    EW("floor", 1, e_floor),
    EW("ceil", 1, e_ceil),
    EW("round", 1, e_round),
    EW("negative", 1, b_neg),
    EW("reciprocal", 1, e_reciprocal),
    EW("logical_not", 1, b_not),
    EW("maximum", 2, e_maximum),
    EW("minimum", 2, e_minimum),
    EW("power", 2, b_pow),
    EW("add", 2, b_add),
    EW("subtract", 2, b_sub),
    EW("multiply", 2, b_mul),
    EW("divide", 2, b_div),
    EW("where", 3, e_where),
    EW("clip", 3, e_clip),
    /* structural */
    FN("sum", h_reduce),
    FN("mean", h_reduce),
    FN("max", h_reduce),
    FN("min", h_reduce),
    FN("reshape", h_reshape),
    FN("transpose", h_transpose),
    FN("expand_dims", h_expand_squeeze),
    FN("squeeze", h_expand_squeeze),
    FN("concatenate", h_concatenate),
    FN("concat", h_concatenate),
    FN("one_hot", h_one_hot),
    FN("take", h_take),
    FN("stop_gradient", h_stop_gradient),
    FN("matmul", h_matmul),
    FN("zeros", h_fill),
    FN("ones", h_fill),
    FN("full", h_fill),
    FN("arange", h_arange),
    FN("dropout", h_dropout),
    FN("random_uniform", h_random_uniform),
    FN("cast", h_cast),
    /* compile time */
    CT("shape", h_shape),
    CT("ndim", h_shape),
    CT("len", h_len),
    CT("int", h_int_float),
    CT("is_list", h_is_kind),
    CT("is_int", h_is_kind),
    CT("is_float", h_is_kind),
    CT("is_bool", h_is_kind),
    CT("is_str", h_is_kind),
    CT("is_none", h_is_kind),
    CT("float", h_int_float),
    CT("assert", h_assert),
    CT("Input", h_input),
    /* layer API */
    ST("add_loss", h_add_loss),
    ST("add_metric", h_add_metric),
    ST("assign", h_assign),
    /* configuration names: initializers */
    NAME("zero"), NAME("one"), NAME("constant"), NAME("uniform"), NAME("random_uniform_init"),
    NAME("normal"), NAME("random_normal"), NAME("truncated_normal"), NAME("glorot_uniform"),
    NAME("glorot_normal"), NAME("he_uniform"), NAME("he_normal"), NAME("lecun_uniform"), NAME("lecun_normal"),
    NAME("variance_scaling"), NAME("orthogonal"), NAME("identity"),
    NAME("Zeros"), NAME("Ones"), NAME("Constant"), NAME("RandomUniform"), NAME("RandomNormal"),
    NAME("TruncatedNormal"), NAME("GlorotUniform"), NAME("GlorotNormal"), NAME("HeUniform"), NAME("HeNormal"),
    NAME("LecunUniform"), NAME("LecunNormal"), NAME("VarianceScaling"), NAME("Orthogonal"), NAME("Identity"),
    /* optimizers */
    NAME("sgd"), NAME("adam"), NAME("adamw"), NAME("rmsprop"), NAME("SGD"), NAME("Adam"), NAME("AdamW"),
    NAME("RMSprop"),
    /* losses */
    NAME("sparse_categorical_crossentropy"), NAME("categorical_crossentropy"), NAME("binary_crossentropy"),
    NAME("mean_squared_error"), NAME("mean_absolute_error"), NAME("huber"), NAME("huber_loss"), NAME("mse"),
    NAME("mae"), NAME("MSE"), NAME("MAE"), NAME("bce"), NAME("BCE"),
    NAME("SparseCategoricalCrossentropy"), NAME("CategoricalCrossentropy"), NAME("BinaryCrossentropy"),
    NAME("MeanSquaredError"), NAME("MeanAbsoluteError"), NAME("Huber"),
    /* metrics */
    NAME("accuracy"), NAME("acc"), NAME("sparse_categorical_accuracy"), NAME("categorical_accuracy"),
    NAME("binary_accuracy"), NAME("SparseCategoricalAccuracy"), NAME("CategoricalAccuracy"),
    NAME("BinaryAccuracy"), /* MeanSquaredError, MeanAbsoluteError: with the losses */
    /* regularizers */
    NAME("l1"), NAME("l2"), NAME("l1_l2"), NAME("L1"), NAME("L2"), NAME("L1L2"),
    /* callbacks */
    NAME("EarlyStopping"), NAME("ModelCheckpoint"), NAME("TerminateOnNaN"), NAME("ReduceLROnPlateau"),
    NAME("CSVLogger"), NAME("LearningRateScheduler"),
    /* learning-rate schedules */
    NAME("ExponentialDecay"), NAME("PiecewiseConstantDecay"), NAME("PolynomialDecay"), NAME("InverseTimeDecay"),
    NAME("CosineDecay"),
};

#define N_TABLE ((int)(sizeof table / sizeof table[0]))

int builtin_count(void)
{
    return N_TABLE;
}

const Native *builtin_native(int i)
{
    return &table[i].native;
}

/* The table entry a native is, or NULL for the natives of other modules. */
static const Builtin *as_builtin(const Native *n)
{
    return n->call == builtin_invoke ? (const Builtin *)n : NULL;
}

/* The layer-API statements are refused where they cannot be used before their
 * arguments are evaluated (add_loss(sum(kernel)) in build() is about add_loss). */
static bool builtin_check_call(Elab *e, const Value *callee, const Node *call)
{
    return in_call(e, as_builtin(callee->native), call);
}

/* A Keras identifier written as a name is a string: initializer = uniform. */
static Value *name_value(Elab *e, const Value *self, const Node *at)
{
    Value *v = v_str(e->arena, self->native->name, at->loc);
    v->bare = true;
    return v;
}

Value *builtin_activation(Elab *e, const char *name, const Node *at)
{
    const Value *b = scope_lookup_local(e->sema->builtins, name);
    if (!b || b->kind != V_BUILTIN || !b->native->activation)
        return NULL;
    Value *f = v_new(e->arena, V_FN, at->loc);
    f->native = b->native;
    f->s = b->native->name;
    f->bare = true; /* called as an activation: keras.activations defaults */
    return f;
}

static Value *builtin_call(Elab *e, const Builtin *b, Args *args, const Node *call);
static Value *apply_fn(Elab *e, Value *fn, Value *x, const Node *at);

/* The native of every table entry: a call by name, or of a function value
 * (an activation hyperparameter when `bare` is called on one tensor). */
static Value *builtin_invoke(Elab *e, Value *callee, Args *args, const Node *call)
{
    if (callee->kind == V_FN && callee->bare && args->n_pos == 1 && args->n_kw == 0)
        return apply_fn(e, callee, args->pos[0], args->pos_node[0]);
    return builtin_call(e, as_builtin(callee->native), args, call);
}

static Value *builtin_call(Elab *e, const Builtin *b, Args *args, const Node *call)
{
    Arena *a = e->arena;
    if (args_poisoned(args))
        return err(e);
    switch (b->kind) {
    case B_EW:
        return apply_elementwise(e, b, args, call, NULL);
    case B_FN:
        if (!e->fn && !(e->comp)) {
            /* compile-time uses: max(a, b) of numbers */
            if ((!strcmp(b->native.name, "max") || !strcmp(b->native.name, "min")))
                return b->handler(e, b, args, call);
            diag_error(e->diag, call->loc, "%s() works on tensors and is only available in call()", b->native.name);
            return err(e);
        }
        return b->handler(e, b, args, call);
    case B_CT:
    case B_STMT:
        return b->handler(e, b, args, call);
    case B_NAME: {
        Value *v = v_new(a, V_CONFIG, call->loc);
        v->s = b->native.name;
        v->args = args;
        return v;
    }
    }
    KLC_UNREACHABLE();
}

/* Apply an activation (a fn value, a name string, or None) to tensor x. */
static Value *apply_fn(Elab *e, Value *fn, Value *x, const Node *at)
{
    Arena *a = e->arena;
    if (fn->kind == V_ERR || x->kind == V_ERR)
        return v_err(a);
    if (fn->kind == V_NONE)
        return x;
    const Native *native = NULL;
    if (fn->kind == V_STR) {
        const Value *named = scope_lookup_local(e->sema->builtins, fn->s);
        native = named && named->kind == V_BUILTIN ? named->native : NULL;
        if (!native || !native->activation) {
            diag_error(e->diag, at->loc, "unknown activation \"%s\"", fn->s);
            return v_err(a);
        }
    } else if (fn->kind == V_FN) {
        native = fn->native;
    } else {
        diag_error(e->diag, at->loc, "%s is not a function", v_describe(a, fn));
        return v_err(a);
    }
    Args *args = arena_alloc(a, sizeof *args);
    args->n_pos = 1;
    args->pos = arena_alloc(a, sizeof(Value *));
    args->pos_node = arena_alloc(a, sizeof(Node *));
    args->pos[0] = x;
    args->pos_node[0] = at;
    args->loc = at->loc;
    args->call = at;
    if (fn->kind == V_FN && fn->def)
        return call_value(e, fn, args, at);
    const Builtin *b = as_builtin(native);
    if (!b) /* another module's function */
        return native->call(e, fn, args, at);
    if (b->kind == B_EW) {
        /* keras.activations.gelu is exact by default; keras.ops.gelu approximates */
        double act_defaults[4] = {b->defaults[0], b->defaults[1], b->defaults[2], b->defaults[3]};
        if (!strcmp(b->native.name, "gelu"))
            act_defaults[0] = 0;
        return apply_elementwise(e, b, args, at, act_defaults);
    }
    return builtin_call(e, b, args, at);
}
