/*
 * keras.c — Keras' settings by name: initializers, regularizers, optimizers,
 * losses and metrics, from a bare name (a string), a configuration value
 * (adam(learning_rate = 0.01)) or None, to what the program records.
 */
#include "check/keras.h"

#include <string.h>

#include <klc/abi.h>

/* ------------------------------------------------------------------------
 * Initializers and regularizers
 * --------------------------------------------------------------------- */

typedef struct InitName {
    const char *name;
    klc_init_kind kind;
    double args[3];
    const char *params[3]; /* keyword names of args */
} InitName;

static const InitName init_names[] = {
    {"zeros", KLC_INIT_ZEROS, {0}, {NULL}},
    {"Zeros", KLC_INIT_ZEROS, {0}, {NULL}},
    {"zero", KLC_INIT_ZEROS, {0}, {NULL}},
    {"ones", KLC_INIT_ONES, {0}, {NULL}},
    {"Ones", KLC_INIT_ONES, {0}, {NULL}},
    {"one", KLC_INIT_ONES, {0}, {NULL}},
    {"constant", KLC_INIT_CONSTANT, {0}, {"value"}},
    {"Constant", KLC_INIT_CONSTANT, {0}, {"value"}},
    {"uniform", KLC_INIT_RANDOM_UNIFORM, {-0.05, 0.05}, {"minval", "maxval"}},
    {"random_uniform", KLC_INIT_RANDOM_UNIFORM, {-0.05, 0.05}, {"minval", "maxval"}},
    {"RandomUniform", KLC_INIT_RANDOM_UNIFORM, {-0.05, 0.05}, {"minval", "maxval"}},
    {"normal", KLC_INIT_RANDOM_NORMAL, {0, 0.05}, {"mean", "stddev"}},
    {"random_normal", KLC_INIT_RANDOM_NORMAL, {0, 0.05}, {"mean", "stddev"}},
    {"RandomNormal", KLC_INIT_RANDOM_NORMAL, {0, 0.05}, {"mean", "stddev"}},
    {"truncated_normal", KLC_INIT_TRUNCATED_NORMAL, {0, 0.05}, {"mean", "stddev"}},
    {"TruncatedNormal", KLC_INIT_TRUNCATED_NORMAL, {0, 0.05}, {"mean", "stddev"}},
    /* variance scaling: scale, mode (0 fan_in, 1 fan_out, 2 fan_avg), distribution (0 trunc, 1 normal, 2 uniform) */
    {"glorot_uniform", KLC_INIT_VARIANCE_SCALING, {1, 2, 2}, {NULL}},
    {"GlorotUniform", KLC_INIT_VARIANCE_SCALING, {1, 2, 2}, {NULL}},
    {"glorot_normal", KLC_INIT_VARIANCE_SCALING, {1, 2, 0}, {NULL}},
    {"GlorotNormal", KLC_INIT_VARIANCE_SCALING, {1, 2, 0}, {NULL}},
    {"he_uniform", KLC_INIT_VARIANCE_SCALING, {2, 0, 2}, {NULL}},
    {"HeUniform", KLC_INIT_VARIANCE_SCALING, {2, 0, 2}, {NULL}},
    {"he_normal", KLC_INIT_VARIANCE_SCALING, {2, 0, 0}, {NULL}},
    {"HeNormal", KLC_INIT_VARIANCE_SCALING, {2, 0, 0}, {NULL}},
    {"lecun_uniform", KLC_INIT_VARIANCE_SCALING, {1, 0, 2}, {NULL}},
    {"LecunUniform", KLC_INIT_VARIANCE_SCALING, {1, 0, 2}, {NULL}},
    {"lecun_normal", KLC_INIT_VARIANCE_SCALING, {1, 0, 0}, {NULL}},
    {"LecunNormal", KLC_INIT_VARIANCE_SCALING, {1, 0, 0}, {NULL}},
    {"variance_scaling", KLC_INIT_VARIANCE_SCALING, {1, 0, 0}, {"scale", "mode", "distribution"}},
    {"VarianceScaling", KLC_INIT_VARIANCE_SCALING, {1, 0, 0}, {"scale", "mode", "distribution"}},
    {"orthogonal", KLC_INIT_ORTHOGONAL, {1}, {"gain"}},
    {"Orthogonal", KLC_INIT_ORTHOGONAL, {1}, {"gain"}},
    {"identity", KLC_INIT_IDENTITY, {1}, {"gain"}},
    {"Identity", KLC_INIT_IDENTITY, {1}, {"gain"}},
    /* klc's own: the bias LSTM's unit_forget_bias makes (zeros, ones for the forget gate) */
    {"unit_forget_bias", KLC_INIT_UNIT_FORGET_BIAS, {0}, {NULL}},
};

bool resolve_initializer(Elab *e, Value *v, const Node *at, InitSpec *out)
{
    Arena *a = e->arena;
    const char *name = NULL;
    Args *args = NULL;
    if (v->kind == V_ERR)
        return false;
    if (v->kind == V_STR)
        name = v->s;
    else if (v->kind == V_CONFIG) {
        name = v->s;
        args = v->args;
    } else if (v->kind == V_FN)
        name = v->s; /* zeros, ones: also tensor functions */
    else {
        diag_error(e->diag, at->loc, "an initializer must be a name like \"glorot_uniform\", not %s",
                   v_describe(a, v));
        return false;
    }
    const InitName *in = NULL;
    int n = (int)(sizeof init_names / sizeof init_names[0]);
    for (int i = 0; i < n; i++)
        if (!strcmp(init_names[i].name, name))
            in = &init_names[i];
    if (!in) {
        const char *cands[64];
        for (int i = 0; i < n; i++)
            cands[i] = init_names[i].name;
        diag_error(e->diag, at->loc, "unknown initializer '%s'%s", name, suggest(a, name, cands, n));
        return false;
    }
    out->kind = in->kind;
    memcpy(out->args, in->args, sizeof out->args);
    out->text = name;
    if (args) {
        int np = 0;
        while (np < 3 && in->params[np])
            np++;
        Value *vals[3];
        const Node *nodes[3];
        const char *what = arena_printf(a, "initializer %s", name);
        if (!bind_args(e, args, what, np, in->params, vals, nodes))
            return false;
        for (int i = 0; i < np; i++) {
            if (!vals[i])
                continue;
            if (in->kind == KLC_INIT_VARIANCE_SCALING && i == 1) {
                static const char *const modes[] = {"fan_in", "fan_out", "fan_avg"};
                bool found = false;
                for (int m = 0; m < 3; m++)
                    if (vals[i]->kind == V_STR && !strcmp(vals[i]->s, modes[m])) {
                        out->args[1] = m;
                        found = true;
                    }
                if (!found) {
                    diag_error(e->diag, nodes[i]->loc, "mode must be \"fan_in\", \"fan_out\" or \"fan_avg\"");
                    return false;
                }
            } else if (in->kind == KLC_INIT_VARIANCE_SCALING && i == 2) {
                static const char *const dists[] = {"truncated_normal", "untruncated_normal", "uniform", "normal"};
                bool found = false;
                for (int m = 0; m < 4; m++)
                    if (vals[i]->kind == V_STR && !strcmp(vals[i]->s, dists[m])) {
                        out->args[2] = m == 3 ? 0 : m; /* "normal" means truncated_normal */
                        found = true;
                    }
                if (!found) {
                    diag_error(e->diag, nodes[i]->loc,
                               "distribution must be \"truncated_normal\", \"untruncated_normal\" or \"uniform\"");
                    return false;
                }
            } else if (!want_float(e, vals[i], nodes[i], in->params[i], &out->args[i])) {
                return false;
            }
        }
        if (in->kind == KLC_INIT_VARIANCE_SCALING && out->args[0] <= 0) {
            diag_error(e->diag, at->loc, "variance_scaling's scale must be positive");
            return false;
        }
        if ((in->kind == KLC_INIT_RANDOM_NORMAL || in->kind == KLC_INIT_TRUNCATED_NORMAL) && out->args[1] < 0) {
            diag_error(e->diag, at->loc, "stddev must not be negative");
            return false;
        }
    }
    return true;
}

bool resolve_regularizer(Elab *e, Value *v, const Node *at, double *l1, double *l2)
{
    Arena *a = e->arena;
    *l1 = *l2 = 0;
    if (v->kind == V_NONE)
        return true;
    const char *name = v->kind == V_STR || v->kind == V_CONFIG ? v->s : NULL;
    if (!name) {
        diag_error(e->diag, at->loc, "a regularizer must be l1, l2 or l1_l2, not %s", v_describe(a, v));
        return false;
    }
    bool is_l1 = !strcmp(name, "l1") || !strcmp(name, "L1");
    bool is_l2 = !strcmp(name, "l2") || !strcmp(name, "L2");
    bool is_l1l2 = !strcmp(name, "l1_l2") || !strcmp(name, "L1L2");
    if (!is_l1 && !is_l2 && !is_l1l2) {
        static const char *const cands[] = {"l1", "l2", "l1_l2"};
        diag_error(e->diag, at->loc, "unknown regularizer '%s'%s", name, suggest(a, name, cands, 3));
        return false;
    }
    /* Keras defaults: l1(0.01), l2(0.01), l1_l2(l1 = 0, l2 = 0) */
    if (is_l1)
        *l1 = 0.01;
    if (is_l2)
        *l2 = 0.01;
    if (v->kind == V_CONFIG) {
        static const char *const n1[] = {"l1"}, *const n2[] = {"l2"}, *const n12[] = {"l1", "l2"};
        Value *vals[2];
        const Node *nodes[2];
        const char *what = arena_printf(a, "regularizer %s", name);
        int n = is_l1l2 ? 2 : 1;
        if (!bind_args(e, v->args, what, n, is_l1 ? n1 : is_l2 ? n2 : n12, vals, nodes))
            return false;
        for (int i = 0; i < n; i++) {
            double x;
            if (!vals[i])
                continue;
            if (!want_float(e, vals[i], nodes[i], "a regularization factor", &x))
                return false;
            if (x < 0) {
                diag_error(e->diag, nodes[i]->loc, "a regularization factor must not be negative");
                return false;
            }
            if (is_l1 || (is_l1l2 && i == 0))
                *l1 = x;
            else
                *l2 = x;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Optimizers, losses, metrics
 * --------------------------------------------------------------------- */

void optimizer_defaults(OptimizerCfg *o, OptKind kind)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->beta_1 = 0.9;
    o->beta_2 = 0.999;
    o->epsilon = 1e-7;
    o->rho = 0.9;
    switch (kind) {
    case OPT_SGD: o->name = "sgd"; o->learning_rate = 0.01; break;
    case OPT_ADAM: o->name = "adam"; o->learning_rate = 0.001; break;
    case OPT_ADAMW: o->name = "adamw"; o->learning_rate = 0.001; o->weight_decay = 0.004; break;
    case OPT_RMSPROP: o->name = "rmsprop"; o->learning_rate = 0.001; break;
    }
}

/* A float argument that Keras would refuse as an int (its dtype would be int32). */
static bool want_real(Elab *e, Value *x, const Node *xn, const char *what, double *out)
{
    if (x->kind == V_INT) {
        diag_error(e->diag, xn->loc, "%s must be a float; write %lld.0", what, (long long)x->i.c);
        return false;
    }
    return want_float(e, x, xn, what, out);
}

/* learning_rate = ExponentialDecay(...) and the other Keras schedules. */
static bool resolve_schedule(Elab *e, Value *v, const Node *at, LrScheduleCfg *sc)
{
    static const char *const names[] = {"ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
                                        "InverseTimeDecay", "CosineDecay"};
    static const LrKind kinds[] = {LR_EXPONENTIAL_DECAY, LR_PIECEWISE_CONSTANT_DECAY, LR_POLYNOMIAL_DECAY,
                                   LR_INVERSE_TIME_DECAY, LR_COSINE_DECAY};
    memset(sc, 0, sizeof *sc);
    int found = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(v->s, names[i]))
            found = i;
    if (found < 0) {
        diag_error(e->diag, at->loc, "learning_rate must be a float or a schedule (ExponentialDecay, "
                   "PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay), not %s",
                   v_describe(e->arena, v));
        return false;
    }
    sc->kind = kinds[found];
    sc->name = names[found];
    sc->power = 1.0;
    sc->end_lr = 0.0001;
    const char *what = names[found];
    Value *a[6];
    const Node *an[6];
    if (sc->kind == LR_PIECEWISE_CONSTANT_DECAY) {
        static const char *const k[] = {"boundaries", "values", "name"};
        if (!bind_args(e, v->args, what, 3, k, a, an))
            return false;
        if (!a[0] || !a[1]) {
            diag_error(e->diag, at->loc, "PiecewiseConstantDecay needs boundaries and values");
            return false;
        }
        if (a[0]->kind != V_LIST || a[1]->kind != V_LIST || a[0]->n < 1) {
            diag_error(e->diag, (a[0]->kind != V_LIST || a[0]->n < 1 ? an[0] : an[1])->loc,
                       "boundaries and values must be lists: boundaries = [1000, 2000], values = [0.1, 0.05, 0.01]");
            return false;
        }
        if (a[1]->n != a[0]->n + 1) {
            diag_error(e->diag, an[1]->loc, "the length of boundaries should be 1 less than the length of values "
                       "(boundaries has %d, values %d)", a[0]->n, a[1]->n);
            return false;
        }
        int n = a[0]->n;
        sc->n_boundaries = n;
        sc->boundaries = arena_alloc(e->arena, (size_t)n * sizeof *sc->boundaries);
        sc->values = arena_alloc(e->arena, (size_t)(n + 1) * sizeof *sc->values);
        for (int i = 0; i < n; i++) {
            if (!want_int(e, a[0]->items[i], an[0], "a boundary (an optimizer step)", &sc->boundaries[i]))
                return false;
            if (i > 0 && sc->boundaries[i] <= sc->boundaries[i - 1]) {
                diag_error(e->diag, an[0]->loc, "boundaries must increase (%lld after %lld)",
                           (long long)sc->boundaries[i], (long long)sc->boundaries[i - 1]);
                return false;
            }
        }
        for (int i = 0; i <= n; i++)
            if (!want_float(e, a[1]->items[i], an[1], "a learning rate", &sc->values[i]))
                return false;
        return true;
    }
    static const char *const k_exp[] = {"initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name"};
    static const char *const k_poly[] = {"initial_learning_rate", "decay_steps", "end_learning_rate", "power",
                                         "cycle", "name"};
    static const char *const k_cos[] = {"initial_learning_rate", "decay_steps", "alpha", "name", "warmup_target",
                                        "warmup_steps"};
    const char *const *k = sc->kind == LR_POLYNOMIAL_DECAY ? k_poly : sc->kind == LR_COSINE_DECAY ? k_cos : k_exp;
    int nk = sc->kind == LR_POLYNOMIAL_DECAY || sc->kind == LR_COSINE_DECAY ? 6 : 5;
    if (!bind_args(e, v->args, what, nk, k, a, an))
        return false;
    int n_required = sc->kind == LR_EXPONENTIAL_DECAY || sc->kind == LR_INVERSE_TIME_DECAY ? 3 : 2;
    for (int i = 0; i < n_required; i++)
        if (!a[i]) {
            diag_error(e->diag, at->loc, "%s needs %s", what, k[i]);
            return false;
        }
    if (!want_real(e, a[0], an[0], "initial_learning_rate", &sc->initial) ||
        !want_float(e, a[1], an[1], "decay_steps", &sc->decay_steps))
        return false;
    if (!(sc->decay_steps > 0)) {
        diag_error(e->diag, an[1]->loc, "decay_steps must be > 0, not %g", sc->decay_steps);
        return false;
    }
    switch (sc->kind) {
    case LR_EXPONENTIAL_DECAY:
    case LR_INVERSE_TIME_DECAY:
        if (!want_float(e, a[2], an[2], "decay_rate", &sc->decay_rate) ||
            (a[3] && !want_bool(e, a[3], an[3], "staircase", &sc->staircase)))
            return false;
        break;
    case LR_POLYNOMIAL_DECAY:
        if ((a[2] && !want_float(e, a[2], an[2], "end_learning_rate", &sc->end_lr)) ||
            (a[3] && !want_float(e, a[3], an[3], "power", &sc->power)) ||
            (a[4] && !want_bool(e, a[4], an[4], "cycle", &sc->cycle)))
            return false;
        break;
    case LR_COSINE_DECAY:
        if (a[2] && !want_float(e, a[2], an[2], "alpha", &sc->alpha))
            return false;
        if (a[4] && a[4]->kind != V_NONE) {
            if (!want_float(e, a[4], an[4], "warmup_target", &sc->warmup_target))
                return false;
            sc->has_warmup = true;
        }
        if (a[5] && !want_float(e, a[5], an[5], "warmup_steps", &sc->warmup_steps))
            return false;
        if (sc->warmup_steps < 0 || (sc->has_warmup && !(sc->warmup_steps > 0))) {
            diag_error(e->diag, (a[5] ? an[5] : an[4])->loc,
                       "a warmup needs warmup_steps > 0 (got %g)", sc->warmup_steps);
            return false;
        }
        break;
    default: break;
    }
    return true;
}

bool resolve_optimizer(Elab *e, Value *v, const Node *at, OptimizerCfg *o)
{
    Arena *a = e->arena;
    const char *name = v->kind == V_STR || v->kind == V_CONFIG ? v->s : NULL;
    static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop", "SGD", "Adam", "AdamW", "RMSprop"};
    int found = -1;
    for (int i = 0; name && i < 8; i++)
        if (!strcmp(names[i], name))
            found = i % 4;
    if (found < 0) {
        if (name)
            diag_error(e->diag, at->loc, "unknown optimizer '%s'%s (klc has sgd, adam, adamw and rmsprop)", name,
                       suggest(a, name, names, 8));
        else
            diag_error(e->diag, at->loc, "optimizer must be a name like adam or adam(learning_rate = 0.001), not %s",
                       v_describe(a, v));
        return false;
    }
    optimizer_defaults(o, (OptKind)found);
    if (v->kind != V_CONFIG)
        return true;
    /* keyword arguments by optimizer */
    enum { LR, B1, B2, EPS, AMS, MOM, NEST, RHO, CEN, WD, CN, CV, GCN, NAME, N_OPT };
    static const char *const keys[N_OPT] = {"learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "momentum",
                                            "nesterov", "rho", "centered", "weight_decay", "clipnorm", "clipvalue",
                                            "global_clipnorm", "name"};
    static const bool allowed[4][N_OPT] = {
        /* sgd */ {1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1},
        /* adam */ {1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1},
        /* adamw */ {1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1},
        /* rmsprop */ {1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1},
    };
    const char *kn[N_OPT];
    int nk = 0, idx[N_OPT];
    for (int i = 0; i < N_OPT; i++)
        if (allowed[found][i]) {
            idx[nk] = i;
            kn[nk++] = keys[i];
        }
    Value *vals[N_OPT];
    const Node *nodes[N_OPT];
    const char *what = arena_printf(a, "optimizer %s", name);
    if (v->args->n_pos > 1) {
        diag_error(e->diag, v->args->pos_node[1]->loc, "%s takes only learning_rate positionally", what);
        return false;
    }
    if (!bind_args(e, v->args, what, nk, kn, vals, nodes))
        return false;
    int n_clip = 0;
    for (int j = 0; j < nk; j++) {
        Value *x = vals[j];
        const Node *xn = nodes[j];
        if (!x || x->kind == V_NONE)
            continue;
        if (x->kind == V_ERR)
            return false;
        int key = idx[j];
        switch (key) {
        case AMS: if (!want_bool(e, x, xn, "amsgrad", &o->amsgrad)) return false; break;
        case NEST: if (!want_bool(e, x, xn, "nesterov", &o->nesterov)) return false; break;
        case CEN: if (!want_bool(e, x, xn, "centered", &o->centered)) return false; break;
        case NAME:
            if (x->kind != V_STR) {
                diag_error(e->diag, xn->loc, "name must be a string");
                return false;
            }
            o->name = x->s;
            break;
        default: {
            if (key == LR && x->kind == V_CONFIG) {
                if (!resolve_schedule(e, x, xn, &o->schedule))
                    return false;
                const LrScheduleCfg *sc = &o->schedule;
                o->learning_rate = sc->kind == LR_PIECEWISE_CONSTANT_DECAY ? sc->values[0] : sc->initial;
                break;
            }
            if (key == LR && x->kind == V_INT) {
                /* Keras refuses an int learning rate */
                diag_error(e->diag, xn->loc, "learning_rate must be a float; write %lld.0", (long long)x->i.c);
                return false;
            }
            double d;
            if (!want_float(e, x, xn, keys[key], &d))
                return false;
            switch (key) {
            case LR: o->learning_rate = d; break;
            case B1: o->beta_1 = d; break;
            case B2: o->beta_2 = d; break;
            case EPS: o->epsilon = d; break;
            case MOM: o->momentum = d; break;
            case RHO: o->rho = d; break;
            case WD: o->weight_decay = d; break;
            case CN: o->clipnorm = d; n_clip++; break;
            case CV: o->clipvalue = d; n_clip++; break;
            case GCN: o->global_clipnorm = d; n_clip++; break;
            }
            if (d < 0 || (key == MOM && d > 1) || ((key == B1 || key == B2 || key == RHO) && d >= 1) ||
                ((key == CN || key == CV || key == GCN) && d <= 0)) {
                diag_error(e->diag, xn->loc, "%s = %g is out of range", keys[key], d);
                return false;
            }
        }
        }
    }
    if (n_clip > 1) {
        diag_error(e->diag, at->loc, "only one of clipnorm, clipvalue and global_clipnorm can be set");
        return false;
    }
    if (o->kind == OPT_ADAMW) { /* Keras: AdamW requires a weight decay (None is refused, 0.0 is allowed) */
        for (int j = 0; j < nk; j++)
            if (idx[j] == WD && vals[j] && vals[j]->kind == V_NONE) {
                diag_error(e->diag, nodes[j]->loc, "adamw needs a weight_decay (a float); None is not allowed");
                return false;
            }
    }
    return true;
}

bool resolve_loss(Elab *e, Value *v, const Node *at, LossCfg *l)
{
    Arena *a = e->arena;
    memset(l, 0, sizeof *l);
    l->loc = at->loc;
    l->delta = 1.0;
    if (v->kind == V_NONE) {
        l->kind = LOSS_NONE;
        return true;
    }
    const char *name = v->kind == V_STR || v->kind == V_CONFIG ? v->s : NULL;
    static const struct {
        const char *name;
        LossKind kind;
    } names[] = {
        {"sparse_categorical_crossentropy", LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        {"SparseCategoricalCrossentropy", LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        {"categorical_crossentropy", LOSS_CATEGORICAL_CROSSENTROPY},
        {"CategoricalCrossentropy", LOSS_CATEGORICAL_CROSSENTROPY},
        {"binary_crossentropy", LOSS_BINARY_CROSSENTROPY},
        {"BinaryCrossentropy", LOSS_BINARY_CROSSENTROPY},
        {"bce", LOSS_BINARY_CROSSENTROPY},
        {"BCE", LOSS_BINARY_CROSSENTROPY},
        {"mean_squared_error", LOSS_MEAN_SQUARED_ERROR},
        {"MeanSquaredError", LOSS_MEAN_SQUARED_ERROR},
        {"mse", LOSS_MEAN_SQUARED_ERROR},
        {"MSE", LOSS_MEAN_SQUARED_ERROR},
        {"mean_absolute_error", LOSS_MEAN_ABSOLUTE_ERROR},
        {"MeanAbsoluteError", LOSS_MEAN_ABSOLUTE_ERROR},
        {"mae", LOSS_MEAN_ABSOLUTE_ERROR},
        {"MAE", LOSS_MEAN_ABSOLUTE_ERROR},
        {"huber", LOSS_HUBER},
        {"huber_loss", LOSS_HUBER},
        {"Huber", LOSS_HUBER},
    };
    int n = (int)(sizeof names / sizeof names[0]);
    int found = -1;
    for (int i = 0; name && i < n; i++)
        if (!strcmp(names[i].name, name))
            found = i;
    if (found < 0) {
        const char *cands[32];
        for (int i = 0; i < n; i++)
            cands[i] = names[i].name;
        if (name)
            diag_error(e->diag, at->loc, "unknown loss '%s'%s", name, suggest(a, name, cands, n));
        else
            diag_error(e->diag, at->loc, "loss must be a name like sparse_categorical_crossentropy, not %s",
                       v_describe(a, v));
        return false;
    }
    l->kind = names[found].kind;
    l->name = name;
    if (v->kind != V_CONFIG)
        return true;
    static const char *const keys[] = {"from_logits", "label_smoothing", "delta", "reduction", "name"};
    Value *vals[5];
    const Node *nodes[5];
    const char *what = arena_printf(a, "loss %s", name);
    if (v->args->n_pos > 0) {
        diag_error(e->diag, v->args->pos_node[0]->loc, "%s takes keyword arguments only", what);
        return false;
    }
    bool ok = bind_args(e, v->args, what, 5, keys, vals, nodes);
    if (!ok)
        return false;
    bool is_ce = l->kind == LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || l->kind == LOSS_CATEGORICAL_CROSSENTROPY ||
                 l->kind == LOSS_BINARY_CROSSENTROPY;
    if (vals[0] && !is_ce) {
        diag_error(e->diag, nodes[0]->loc, "%s has no argument 'from_logits'", name);
        return false;
    }
    if (vals[0] && !want_bool(e, vals[0], nodes[0], "from_logits", &l->from_logits))
        return false;
    if (vals[1]) {
        if (l->kind != LOSS_CATEGORICAL_CROSSENTROPY && l->kind != LOSS_BINARY_CROSSENTROPY) {
            diag_error(e->diag, nodes[1]->loc, "%s has no argument 'label_smoothing'", name);
            return false;
        }
        if (!want_float(e, vals[1], nodes[1], "label_smoothing", &l->label_smoothing))
            return false;
        if (l->label_smoothing < 0 || l->label_smoothing > 1) {
            diag_error(e->diag, nodes[1]->loc, "label_smoothing must be in [0, 1]");
            return false;
        }
    }
    if (vals[2]) {
        if (l->kind != LOSS_HUBER) {
            diag_error(e->diag, nodes[2]->loc, "%s has no argument 'delta'", name);
            return false;
        }
        if (!want_float(e, vals[2], nodes[2], "delta", &l->delta))
            return false;
        if (l->delta <= 0) {
            diag_error(e->diag, nodes[2]->loc, "delta must be positive");
            return false;
        }
    }
    if (vals[3] && !(vals[3]->kind == V_STR && !strcmp(vals[3]->s, "sum_over_batch_size"))) {
        diag_error(e->diag, nodes[3]->loc, "klc supports reduction = \"sum_over_batch_size\" (Keras' default) only");
        return false;
    }
    return true;
}

/* The node of element i of a list argument written as a literal (metrics = [a, b]), else the argument. */
static const Node *item_node(const Node *at, const Value *v, int i)
{
    const Node *ln = at->kind == N_KWARG ? at->a : at;
    if (v->kind == V_LIST && ln->kind == N_LIST && i < ln->list.len)
        return ln->list.items[i];
    return at;
}

bool resolve_metrics(Elab *e, Value *v, const Node *at, Model *m)
{
    Arena *a = e->arena;
    m->metrics.len = 0;
    if (v->kind == V_NONE)
        return true;
    int n = v->kind == V_LIST ? v->n : 1;
    Value **items = v->kind == V_LIST ? v->items : &v;
    static const struct {
        const char *name;
        MetricKind kind;
        bool resolve;
    } names[] = {
        {"accuracy", METRIC_CATEGORICAL_ACCURACY, true},
        {"acc", METRIC_CATEGORICAL_ACCURACY, true},
        {"sparse_categorical_accuracy", METRIC_SPARSE_CATEGORICAL_ACCURACY, false},
        {"SparseCategoricalAccuracy", METRIC_SPARSE_CATEGORICAL_ACCURACY, false},
        {"categorical_accuracy", METRIC_CATEGORICAL_ACCURACY, false},
        {"CategoricalAccuracy", METRIC_CATEGORICAL_ACCURACY, false},
        {"binary_accuracy", METRIC_BINARY_ACCURACY, false},
        {"BinaryAccuracy", METRIC_BINARY_ACCURACY, false},
        {"mae", METRIC_MEAN_ABSOLUTE_ERROR, false},
        {"mean_absolute_error", METRIC_MEAN_ABSOLUTE_ERROR, false},
        {"MeanAbsoluteError", METRIC_MEAN_ABSOLUTE_ERROR, false},
        {"mse", METRIC_MEAN_SQUARED_ERROR, false},
        {"mean_squared_error", METRIC_MEAN_SQUARED_ERROR, false},
        {"MeanSquaredError", METRIC_MEAN_SQUARED_ERROR, false},
    };
    int nn = (int)(sizeof names / sizeof names[0]);
    for (int i = 0; i < n; i++) {
        Value *it = items[i];
        if (it->kind == V_ERR)
            return false;
        const char *name = it->kind == V_STR || it->kind == V_CONFIG ? it->s : NULL;
        int found = -1;
        for (int k = 0; name && k < nn; k++)
            if (!strcmp(names[k].name, name))
                found = k;
        if (found < 0) {
            const char *cands[32];
            for (int k = 0; k < nn; k++)
                cands[k] = names[k].name;
            if (name)
                diag_error(e->diag, item_node(at, v, i)->loc, "unknown metric '%s'%s", name,
                           suggest(a, name, cands, nn));
            else
                diag_error(e->diag, item_node(at, v, i)->loc, "metrics must be names like accuracy, not %s",
                           v_describe(a, it));
            return false;
        }
        MetricCfg *mc = arena_alloc(a, sizeof *mc);
        mc->kind = names[found].kind;
        mc->resolve_accuracy = names[found].resolve;
        mc->loc = item_node(at, v, i)->loc;
        /* the log key: as typed for "accuracy"/"acc"; Keras' default name otherwise */
        static const char *const keys[] = {"sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
                                           "mean_absolute_error", "mean_squared_error"};
        mc->name = names[found].resolve ? name : keys[mc->kind];
        if (!strcmp(name, "mae") || !strcmp(name, "mse"))
            mc->name = name;
        for (int k = 0; k < m->metrics.len; k++)
            if (!strcmp(((MetricCfg *)m->metrics.items[k])->name, mc->name)) {
                diag_error(e->diag, at->loc, "metric '%s' is listed twice", mc->name);
                return false;
            }
        vec_push(a, &m->metrics, mc);
    }
    return true;
}

