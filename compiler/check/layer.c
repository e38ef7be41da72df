/*
 * layer.c — layer classes: hyperparameters, build() and call().
 *
 * `Dense(10, activation = softmax)` binds the class's hyperparameters
 * (positional, keyword, defaults, types) into a LayerSpec.  When the layer is
 * added to a model it is instantiated: its build() pattern is matched
 * against the input shape that reaches it, build() runs at compile time and
 * creates the weights (add_weight), and call() is elaborated twice, once per
 * value of the `training` flag, into the model's two functions.
 */
#include "check/layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <klc/abi.h>

#include "check/builtins.h"
#include "check/eval.h"
#include "check/keras.h"

/* Keras' base Layer keywords accepted by every layer. */
static const char *const base_kwargs[] = {"name", "trainable", "dtype", "activity_regularizer", "input_shape"};
enum { N_BASE_KWARGS = 5 };

static const char *type_word(const char *t)
{
    return t ? t : "any";
}

/* Convert a hyperparameter value to its declared type; NULL + error if it cannot be. */
static Value *coerce(Elab *e, Value *v, const char *type, const char *pname, const char *cls, const Node *at)
{
    Arena *a = e->arena;
    if (v->kind == V_ERR)
        return v;
    const char *what = arena_printf(a, "%s's '%s'", cls, pname);
    if (!strcmp(type, "int")) {
        if (v->kind == V_INT)
            return v;
        if (v->kind == V_FLOAT && fabs(v->f) < 9e18 && v->f == (double)(int64_t)v->f)
            diag_error(e->diag, at->loc, "%s must be an int; write %lld, not %.1f", what, (long long)v->f, v->f);
        else
            diag_error(e->diag, at->loc, "%s must be an int, not %s", what, v_describe(a, v));
        return v_err(a);
    }
    if (!strcmp(type, "float")) {
        if (v->kind == V_FLOAT)
            return v;
        if (v->kind == V_INT && dim_is_const(v->i))
            return v_float(a, (double)v->i.c, v->loc);
        diag_error(e->diag, at->loc, "%s must be a float, not %s", what, v_describe(a, v));
        return v_err(a);
    }
    if (!strcmp(type, "bool")) {
        if (v->kind == V_BOOL)
            return v;
        diag_error(e->diag, at->loc, "%s must be a bool (true or false), not %s", what, v_describe(a, v));
        return v_err(a);
    }
    if (!strcmp(type, "str")) {
        if (v->kind == V_STR || v->kind == V_NONE)
            return v;
        diag_error(e->diag, at->loc, "%s must be a string, not %s", what, v_describe(a, v));
        return v_err(a);
    }
    if (!strcmp(type, "fn")) {
        if (v->kind == V_NONE) /* Keras: activation = None is linear */
            v = builtin_activation(e, "linear", at);
        if (v->kind == V_FN) {
            Value *f = v_new(a, V_FN, v->loc);
            *f = *v;
            f->bare = true; /* called as an activation: keras.activations defaults */
            return f;
        }
        if (v->kind == V_STR) {
            Value *f = builtin_activation(e, v->s, at); /* only activations by name */
            if (f)
                return f;
            /* a user def by name */
            Value *d = scope_lookup(e->sema->globals, v->s);
            if (d && d->kind == V_FN && d->def)
                return d;
            PtrVec acts = {0};
            push_builtin_names(a, &acts, e->sema->builtins, true);
            diag_error(e->diag, at->loc, "%s: unknown activation \"%s\"%s", what, v->s,
                       suggest(a, v->s, (const char *const *)acts.items, acts.len));
            return v_err(a);
        }
        diag_error(e->diag, at->loc, "%s must be a function such as relu, not %s", what, v_describe(a, v));
        return v_err(a);
    }
    if (!strcmp(type, "initializer")) {
        InitSpec spec;
        if (v->kind == V_NONE || resolve_initializer(e, v, at, &spec))
            return v;
        return v_err(a);
    }
    if (!strcmp(type, "regularizer")) {
        double l1, l2;
        if (resolve_regularizer(e, v, at, &l1, &l2))
            return v;
        return v_err(a);
    }
    if (!strcmp(type, "list")) {
        if (v->kind == V_LIST || v->kind == V_NONE)
            return v;
        if (v->kind == V_INT) { /* kernel_size = 3 means [3] broadcast by the layer */
            Value *l = v_new(a, V_LIST, v->loc);
            l->n = 1;
            l->items = arena_alloc(a, sizeof(Value *));
            l->items[0] = v;
            return l;
        }
        diag_error(e->diag, at->loc, "%s must be a list, not %s", what, v_describe(a, v));
        return v_err(a);
    }
    return v; /* any */
}

/* The types a hyperparameter can be declared with (coerce() converts to each). */
static const char *const hp_types[] = {"int", "float", "bool", "str", "fn", "initializer", "regularizer", "list",
                                       "any"};
enum { N_HP_TYPES = (int)(sizeof hp_types / sizeof hp_types[0]) };


/* A class's build or call. */
static const Node *member(const Node *cls, NodeKind kind)
{
    for (int i = 0; i < cls->list2.len; i++)
        if (cls->list2.items[i] && cls->list2.items[i]->kind == kind)
            return cls->list2.items[i];
    return NULL;
}

/* How many tensors a layer's call() takes (its parameters but a last `training`). */
enum { MAX_CALL_INPUTS = 4 };

static int call_inputs(const Node *calldef)
{
    int np = calldef->list.len;
    return np > 0 && !strcmp(calldef->list.items[np - 1]->name, "training") ? np - 1 : np;
}

/* "query, value" for call(query, value, training). */
static const char *call_names(Arena *a, const Node *calldef)
{
    const char *r = "";
    for (int k = 0; k < call_inputs(calldef); k++)
        r = arena_printf(a, "%s%s%s", r, k ? ", " : "", calldef->list.items[k]->name);
    return r;
}

/* "q: [...], v: [...]" for call(q, v): the build() a message suggests. */
static const char *build_example(Arena *a, const Node *calldef)
{
    const char *r = "";
    for (int k = 0; k < call_inputs(calldef); k++)
        r = arena_printf(a, "%s%s%s: [...]", r, k ? ", " : "", calldef->list.items[k]->name);
    return r;
}

static bool known_type(const char *t)
{
    for (int i = 0; i < N_HP_TYPES; i++)
        if (!strcmp(hp_types[i], t))
            return true;
    return false;
}

/* Check a class's declaration once (types of parameters, members). */
bool layer_check_class(Elab *e, const Node *cls)
{
    bool ok = true;
    for (int i = 0; i < cls->list.len; i++) {
        const Node *p = cls->list.items[i];
        if (!known_type(p->tname)) {
            diag_error(e->diag, p->loc, "unknown hyperparameter type '%s'%s (types: int, float, bool, str, fn, "
                       "initializer, regularizer, list, any)", p->tname,
                       suggest(e->arena, p->tname, hp_types, N_HP_TYPES));
            ok = false;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(cls->list.items[j]->name, p->name)) {
                diag_error(e->diag, p->loc, "hyperparameter '%s' declared twice", p->name);
                ok = false;
            }
        for (int k = 0; k < N_BASE_KWARGS; k++)
            if (!strcmp(base_kwargs[k], p->name) && strcmp(p->name, "dtype")) {
                diag_error(e->diag, p->loc, "'%s' is a keyword of every Keras layer and cannot be a hyperparameter",
                           p->name);
                ok = false;
            }
    }
    int builds = 0, calls = 0;
    for (int i = 0; i < cls->list2.len; i++) {
        const Node *m = cls->list2.items[i];
        if (!m)
            continue;
        if (m->kind == N_BUILD && ++builds > 1) {
            diag_error(e->diag, m->loc, "layer '%s' has more than one build()", cls->name);
            ok = false;
        }
        if (m->kind == N_CALLDEF && ++calls > 1) {
            diag_error(e->diag, m->loc, "layer '%s' has more than one call()", cls->name);
            ok = false;
        }
        if (m->kind == N_CALLDEF) {
            int np = m->list.len, n_in = call_inputs(m);
            bool bad = n_in < 1 || n_in > MAX_CALL_INPUTS;
            for (int k = 0; k < n_in; k++)
                bad = bad || !strcmp(m->list.items[k]->name, "training");
            if (bad || np - n_in > 1) {
                diag_error(e->diag, m->loc, "call() takes the input (or up to %d inputs) and optionally 'training' "
                           "last: call(x), call(x, training), call(query, value)", MAX_CALL_INPUTS);
                ok = false;
            }
        }
    }
    const Node *build = member(cls, N_BUILD), *calldef = member(cls, N_CALLDEF);
    if (ok && build && calldef && build->list.len > 0 && build->list.len != call_inputs(calldef)) {
        int n_in = call_inputs(calldef);
        if (n_in == 1)
            diag_error(e->diag, build->loc, "build() takes one input pattern, like build(x: [N, D])");
        else
            diag_error(e->diag, build->loc, "build() takes one pattern per input of call() (%d), like build(%s)",
                       n_in, build_example(e->arena, calldef));
        ok = false;
    }
    if (calls == 0) {
        diag_error(e->diag, cls->loc, "layer '%s' has no call()", cls->name);
        ok = false;
    }
    return ok;
}

static Value *layer_spec(Elab *e, const Node *cls, Args *args, const Node *call)
{
    Arena *a = e->arena;
    int np = cls->list.len;
    LayerSpec *ls = arena_alloc(a, sizeof *ls);
    ls->cls = cls;
    ls->call = call;
    ls->trainable = true;
    ls->hp = scope_new(a, decl_scope(e->sema, cls));
    bool ok = true, misspelled = false;
    Value **vals = arena_alloc(a, sizeof(Value *) * (size_t)(np + 1));
    const Node **nodes = arena_alloc(a, sizeof(Node *) * (size_t)(np + 1));
    if (args->n_pos > np) {
        diag_error(e->diag, args->pos_node[np]->loc, "%s takes %d positional argument%s, got %d", cls->name, np,
                   np == 1 ? "" : "s", args->n_pos);
        return v_err(a);
    }
    for (int i = 0; i < args->n_pos; i++) {
        vals[i] = args->pos[i];
        nodes[i] = args->pos_node[i];
    }
    for (int k = 0; k < args->n_kw; k++) {
        const char *kw = args->kw_name[k];
        const Node *kn = args->kw_node[k];
        Value *kv = args->kw[k];
        int found = -1;
        for (int i = 0; i < np; i++)
            if (!strcmp(cls->list.items[i]->name, kw))
                found = i;
        if (found >= 0) {
            if (vals[found] && found < args->n_pos) {
                diag_error(e->diag, kn->loc, "%s got '%s' twice (positionally and by keyword)", cls->name, kw);
                ok = false;
            }
            vals[found] = kv;
            nodes[found] = kn;
            continue;
        }
        if (kv->kind == V_ERR) {
            ok = false;
            continue;
        }
        if (!strcmp(kw, "name")) {
            if (kv->kind != V_STR || !kv->s[0]) {
                diag_error(e->diag, kn->loc, "a layer's name must be a non-empty string");
                ok = false;
            } else {
                ls->name = kv->s;
            }
        } else if (!strcmp(kw, "trainable")) {
            if (!want_bool(e, kv, kn, "trainable", &ls->trainable))
                ok = false;
        } else if (!strcmp(kw, "dtype")) {
            if (!(kv->kind == V_NONE || (kv->kind == V_STR && !strcmp(kv->s, "float32")))) {
                diag_error(e->diag, kn->loc, "klc layers compute in float32; dtype = \"float32\" is the only choice");
                ok = false;
            }
        } else if (!strcmp(kw, "activity_regularizer")) {
            if (!resolve_regularizer(e, kv, kn, &ls->activity_l1, &ls->activity_l2))
                ok = false;
        } else if (!strcmp(kw, "input_shape")) {
            int64_t per_sample;
            if (!want_shape(e, kv, kn, "input_shape", &ls->input_shape, false)) {
                ok = false;
            } else if (!shape_const_count(&ls->input_shape, &per_sample)) {
                diag_error(e->diag, kn->loc, "an input of shape %s has too many elements",
                           shape_str(a, &ls->input_shape));
                ok = false;
            } else {
                ls->has_input_shape = true;
            }
        } else {
            const char **cands = arena_alloc(a, sizeof(char *) * (size_t)(np + N_BASE_KWARGS));
            for (int i = 0; i < np; i++)
                cands[i] = cls->list.items[i]->name;
            for (int i = 0; i < N_BASE_KWARGS; i++)
                cands[np + i] = base_kwargs[i];
            diag_error(e->diag, kn->loc, "%s has no argument '%s'%s", cls->name, kw,
                       suggest(a, kw, cands, np + N_BASE_KWARGS));
            ok = false;
            misspelled = true;
        }
    }
    for (int i = 0; i < np; i++) {
        const Node *p = cls->list.items[i];
        Value *v = vals[i];
        const Node *at = nodes[i] ? nodes[i] : call;
        if (!v) {
            if (!p->a) {
                /* after a misspelled keyword, the missing argument is its echo: say nothing more */
                if (!misspelled)
                    diag_error(e->diag, call->loc, "%s is missing its argument '%s' (%s)", cls->name, p->name,
                               type_word(p->tname));
                ok = false;
                continue;
            }
            /* defaults are evaluated in the class's scope, seeing earlier hyperparameters */
            Elab de = *e;
            de.fn = NULL;
            de.in_call = de.in_build = false;
            de.comp = NULL;
            v = eval(&de, ls->hp, p->a);
            at = p->a;
        }
        if (v->kind == V_ERR) {
            ok = false;
            continue;
        }
        v = coerce(e, v, p->tname, p->name, cls->name, at);
        if (v->kind == V_ERR)
            ok = false;
        scope_bind(a, ls->hp, p->name, v);
    }
    if (!ok)
        return v_err(a);
    Value *r = v_new(a, V_LAYER, call->loc);
    r->layer = ls;
    return r;
}

/* ------------------------------------------------------------------------
 * add_weight
 * --------------------------------------------------------------------- */

/* Keras' compute_fans. */
static void fans(const Shape *s, int64_t *fan_in, int64_t *fan_out)
{
    if (s->rank == 0) {
        *fan_in = *fan_out = 1;
    } else if (s->rank == 1) {
        *fan_in = *fan_out = s->d[0].c;
    } else if (s->rank == 2) {
        *fan_in = s->d[0].c;
        *fan_out = s->d[1].c;
    } else {
        int64_t receptive = 1;
        for (int j = 0; j < s->rank - 2; j++)
            receptive *= s->d[j].c;
        *fan_in = s->d[s->rank - 2].c * receptive;
        *fan_out = s->d[s->rank - 1].c * receptive;
    }
}

static bool c_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static const char *c_name(Arena *a, const char *layer, const char *weight)
{
    char *s = arena_printf(a, "%s_%s", layer, weight);
    for (char *p = s; *p; p++)
        if (!c_ident_char(*p))
            *p = '_';
    return s;
}

/* The attribute under which Keras' saving code finds a sub-layer that the
 * prelude's class `parent` keeps as `attr` (Keras' names where the prelude's
 * differ), else attr. */
static const char *keras_attr(const char *parent, const char *attr)
{
    static const char *const map[][3] = {
        {"MultiHeadAttention", "q_proj", "_query_dense"},
        {"MultiHeadAttention", "k_proj", "_key_dense"},
        {"MultiHeadAttention", "v_proj", "_value_dense"},
        {"MultiHeadAttention", "o_proj", "_output_dense"},
        {"MultiHeadAttention", "drop", "_dropout_layer"},
        {"Bidirectional", "inner", "forward_layer"},
        {"Bidirectional", "_backward_copy", "backward_layer"},
        {"TimeDistributed", "inner", "layer"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], parent) && !strcmp(map[i][1], attr))
            return map[i][2];
    return attr;
}

/* Where Keras keeps the own weights of a layer of class `type`, below the
 * layer: an RNN's are its cell's. */
static const char *keras_weights_owner(const char *type)
{
    if (!strcmp(type, "LSTM") || !strcmp(type, "GRU") || !strcmp(type, "SimpleRNN"))
        return "cell";
    return NULL;
}

/* add_weight(shape, initializer, dtype, trainable, regularizer, constraint, name) in build():
 * a weight of the layer being instantiated (e->layer), as a V_WEIGHT. */
static Value *layer_add_weight(Elab *e, Args *args)
{
    Arena *a = e->arena;
    const Node *call = args->call;
    if (!e->in_build || !e->layer) {
        diag_error(e->diag, call->loc, "add_weight() can only be used in build()");
        return v_err(a);
    }
    static const char *const names[] = {"shape", "initializer", "dtype", "trainable", "regularizer",
                                        "constraint", "name"};
    Value *v[7];
    const Node *nd[7];
    if (!bind_args(e, args, "add_weight()", 7, names, v, nd))
        return v_err(a);
    for (int i = 0; i < 7; i++)
        if (v[i] && v[i]->kind == V_ERR)
            return v_err(a);
    Weight *w = arena_alloc(a, sizeof *w);
    w->loc = call->loc;
    w->trainable = true;
    if (v[0]) {
        if (!want_shape(e, v[0], nd[0], "a weight's shape", &w->shape, false))
            return v_err(a);
        w->decl = node_text(a, nd[0]->kind == N_KWARG ? nd[0]->a : nd[0], 40);
    } else {
        w->decl = "[]";
    }
    if (!shape_const_count(&w->shape, &w->size) || w->size > ((int64_t)1 << 31)) {
        diag_error(e->diag, (nd[0] ? nd[0] : call)->loc, "weight of shape %s is too large",
                   shape_str(a, &w->shape));
        return v_err(a);
    }
    if (v[2] && v[2]->kind != V_NONE && !(v[2]->kind == V_STR && !strcmp(v[2]->s, "float32"))) {
        diag_error(e->diag, nd[2]->loc, "weights are float32; dtype = \"float32\" is the only choice");
        return v_err(a);
    }
    if (v[3] && !want_bool(e, v[3], nd[3], "trainable", &w->trainable))
        return v_err(a);
    if (v[4] && !resolve_regularizer(e, v[4], nd[4], &w->l1, &w->l2))
        return v_err(a);
    if (v[5] && v[5]->kind != V_NONE) {
        diag_error(e->diag, nd[5]->loc, "weight constraints are not supported yet");
        return v_err(a);
    }
    const char *wname = e->assign_target;
    if (v[6]) {
        if (v[6]->kind != V_STR || !v[6]->s[0]) {
            diag_error(e->diag, nd[6]->loc, "a weight's name must be a non-empty string");
            return v_err(a);
        }
        wname = v[6]->s;
    }
    if (!wname) {
        diag_error(e->diag, call->loc, "assign add_weight(...) to a name, or give it name = \"...\"");
        return v_err(a);
    }
    if (v[1] && v[1]->kind != V_NONE) {
        if (!resolve_initializer(e, v[1], nd[1], &w->init))
            return v_err(a);
    } else {
        w->init.kind = KLC_INIT_VARIANCE_SCALING; /* glorot_uniform: (1, fan_avg, uniform) */
        w->init.args[0] = 1;
        w->init.args[1] = 2;
        w->init.args[2] = 2;
        w->init.text = "glorot_uniform";
    }
    if (w->init.kind == KLC_INIT_IDENTITY && w->shape.rank != 2) {
        diag_error(e->diag, (nd[1] ? nd[1] : call)->loc, "the identity initializer needs a 2-D weight, not %s",
                   shape_str(a, &w->shape));
        return v_err(a);
    }
    if (w->init.kind == KLC_INIT_ORTHOGONAL && w->shape.rank < 2) {
        diag_error(e->diag, (nd[1] ? nd[1] : call)->loc, "the orthogonal initializer needs a weight of rank 2 or more");
        return v_err(a);
    }
    LayerInst *li = e->layer;
    for (int i = 0; i < li->weights.len; i++) {
        Weight *o = li->weights.items[i];
        if (!strcmp(o->name, wname)) {
            diag_error(e->diag, call->loc, "layer '%s' already has a weight named '%s'", li->name, wname);
            return v_err(a);
        }
    }
    /* a sub-layer's weight belongs to the model's layer, named by its path in it
     * (Keras' variable.path residual/dense/kernel is the key residual.dense.kernel) */
    const LayerInst *root = e->root ? e->root : li;
    w->name = e->path ? arena_printf(a, "%s.%s", e->path, wname) : wname;
    w->layer = root->name;
    w->key = arena_printf(a, "%s.%s", root->name, w->name);
    const char *own = keras_weights_owner(li->type);
    if (own)
        w->owner_path = e->owner_path ? arena_printf(a, "%s/%s", e->owner_path, own) : own;
    else
        w->owner_path = e->owner_path ? e->owner_path : "";
    w->cname = c_name(a, root->name, w->name);
    fans(&w->shape, &w->fan_in, &w->fan_out);
    vec_push(a, &li->weights, w);
    Value *r = v_new(a, V_WEIGHT, call->loc);
    r->weight = w;
    return r;
}

/* ------------------------------------------------------------------------
 * Instantiation
 * --------------------------------------------------------------------- */

/* Match `x: [N, D, ...]` against the input shape, binding dimension names.  Errors
 * point into the pattern (for the prelude's layers: at the layer in the model). */
static bool bind_pattern(Elab *e, const Node *pat, const Shape *in, DType in_type, Scope *s, SrcLoc site)
{
    Arena *a = e->arena;
    int np = pat->list.len, ell = -1;
    for (int i = 0; i < np; i++)
        if (pat->list.items[i]->kind == N_ELLIPSIS) {
            if (ell >= 0) {
                diag_error(e->diag, pat->list.items[i]->loc, "a pattern can have one '...'");
                return false;
            }
            ell = i;
        }
    const char *ptext = node_text(a, pat, 60);
    if (pat->list.len > 0 && ((ell < 0 && in->rank != np) || (ell >= 0 && in->rank < np - 1))) {
        diag_error(e->diag, site, "%s expects an input of rank %s%d (build(%s)) but gets %s", e->layer->type,
                   ell >= 0 ? "at least " : "", ell >= 0 ? np - 1 : np, ptext, shape_str(a, in));
        return false;
    }
    if (pat->tname) {
        bool want_int = !strcmp(pat->tname, "int");
        if (!want_int && strcmp(pat->tname, "float")) {
            diag_error(e->diag, pat->loc, "a pattern's element type is 'int' or 'float', not '%s'", pat->tname);
            return false;
        }
        if (want_int != (in_type == DT_I32)) {
            diag_error(e->diag, site, "%s expects %s input (build(%s)) but gets %s values", e->layer->type,
                       want_int ? "integer" : "float", ptext, in_type == DT_I32 ? "integer" : "float");
            return false;
        }
    }
    for (int i = 0, j = 0; i < np; i++) {
        const Node *d = pat->list.items[i];
        if (d->kind == N_ELLIPSIS) {
            j += in->rank - (np - 1);
            continue;
        }
        Dim dim = in->d[j++];
        if (d->kind == N_INT) {
            if (!dim_eq(dim, dim_const(d->ival))) {
                diag_error(e->diag, d->loc, "%s expects axis %d of its input to be %lld (build(%s)) but it is %s",
                           e->layer->type, j - 1, (long long)d->ival, ptext, dim_str(a, dim));
                return false;
            }
            continue;
        }
        if (!strcmp(d->name, "_"))
            continue;
        Value *old = scope_lookup_local(s, d->name);
        if (old) {
            if (old->kind == V_INT && !dim_eq(old->i, dim)) {
                diag_error(e->diag, d->loc, "%s expects its input's dimensions named '%s' to be equal (build(%s)), "
                           "but they are %s and %s", e->layer->type, d->name, ptext, dim_str(a, old->i),
                           dim_str(a, dim));
                return false;
            }
            continue;
        }
        scope_bind(a, s, d->name, v_dim(a, dim, d->loc));
    }
    /* the input has no value at compile time, only its shape: shape(x), ndim(x), x.shape, x.ndim */
    Value *iv = v_new(a, V_BUILD_INPUT, pat->loc);
    iv->shape = *in;
    iv->dtype = in_type;
    scope_bind(a, s, pat->name, iv);
    return true;
}

static const char *instantiation_text(Arena *a, const LayerSpec *ls)
{
    return node_text(a, ls->call, 60);
}

/* Every tensor of a step lives in a workspace sized c + k * batch: one
 * whose size grows with the square of the batch (the [N, N] of
 * x @ transpose(x)) cannot be stored, and is refused where it is made. */
static bool storable(Elab *e, const IrFunc *f, int first)
{
    for (int i = first; i < f->insts.len; i++) {
        const IrValue *v = f->insts.items[i];
        Dim count;
        if (shape_count(&v->shape, &count))
            continue;
        int batch_axes = 0;
        for (int j = 0; j < v->shape.rank; j++)
            batch_axes += !dim_is_const(v->shape.d[j]);
        if (batch_axes > 1)
            diag_error(e->diag, v->loc,
                       "this makes a tensor of shape %s, whose size grows with the square of the batch size; "
                       "klc stores tensors of at most one batch-sized dimension",
                       shape_str(e->arena, &v->shape));
        else
            diag_error(e->diag, v->loc, "this makes a tensor of shape %s, which has too many elements",
                       shape_str(e->arena, &v->shape));
        return false;
    }
    return true;
}

/* Elaborate call() into f with input tensor x; returns the output or poison. */
static Value *elaborate_call(Elab *base, Scope *build_scope, const Node *calldef, IrFunc *f, IrValue *const *xs,
                             bool training)
{
    Elab e = *base;
    e.fn = f;
    e.in_call = true;
    e.in_build = false;
    e.training = training;
    e.returned = false;
    e.result = NULL;
    Scope *s = scope_new(e.arena, build_scope);
    int n_in = call_inputs(calldef);
    for (int k = 0; k < n_in; k++)
        scope_bind(e.arena, s, calldef->list.items[k]->name, v_tensor(e.arena, xs[k], calldef->list.items[k]->loc));
    if (calldef->list.len > n_in)
        scope_bind(e.arena, s, "training", v_bool(e.arena, training, calldef->list.items[n_in]->loc));
    exec_block(&e, s, calldef->a);
    if (!e.returned) {
        diag_error(e.diag, calldef->loc, "call() of layer '%s' ends without returning a tensor", e.layer->type);
        return v_err(e.arena);
    }
    return e.result;
}

/* Activity regularizer: penalty(output) / batch size, as Keras 3.14+. */
static void activity_penalty(Elab *e, IrFunc *f, IrValue *y, double l1, double l2, SrcLoc loc)
{
    Arena *a = e->arena;
    Comp *c = comp_over(a, &y->shape, 0);
    c->red = RED_SUM;
    Scalar *r = s_read_all(a, 0, &y->shape, DT_F32);
    Scalar *pen = NULL;
    if (l1 > 0)
        pen = s_bin(a, S_MUL, s_const(a, l1), s_un(a, S_ABS, r));
    if (l2 > 0) {
        Scalar *q = s_bin(a, S_MUL, s_const(a, l2), s_bin(a, S_MUL, s_copy(a, r), s_copy(a, r)));
        pen = pen ? s_bin(a, S_ADD, pen, q) : q;
    }
    c->body = s_bin(a, S_DIV, pen, s_dim(a, y->shape.d[0]));
    Shape sc = {0};
    IrValue *m = ir_map(f, &sc, DT_F32, c, loc);
    ir_add_arg(f, m, y);
    IrValue *al = ir_new(f, IR_ADD_LOSS, NULL, DT_F32, loc);
    ir_add_arg(f, al, m);
}

static bool in_build(Elab *e, const Value *callee, const Node *call)
{
    (void)callee;
    if (e->in_build && e->layer)
        return true;
    diag_error(e->diag, call->loc, "add_weight() can only be used in build()");
    return false;
}

static Value *call_add_weight(Elab *e, Value *callee, Args *args, const Node *call)
{
    (void)callee;
    (void)call;
    if (args_poisoned(args))
        return v_err(e->arena);
    return layer_add_weight(e, args);
}

const Native add_weight_native = {"add_weight", call_add_weight, in_build, NULL, false};

/* ------------------------------------------------------------------------
 * Sub-layers: layers that a layer's build() creates and its call() calls
 * --------------------------------------------------------------------- */

static const Native sublayer_native;

/* The first free one of base, base_1, base_2, ... among the n names taken. */
static const char *auto_name(Arena *a, const char *base, void *const *names, int n)
{
    size_t bl = strlen(base);
    bool *taken = arena_alloc(a, (size_t)n + 1);
    for (int i = 0; i < n; i++) {
        const char *u = names[i];
        if (strncmp(u, base, bl) != 0)
            continue;
        if (!u[bl]) {
            taken[0] = true;
        } else if (u[bl] == '_' && u[bl + 1] >= '1' && u[bl + 1] <= '9') {
            char *end;
            long k = strtol(u + bl + 1, &end, 10);
            if (!*end && k <= n)
                taken[k] = true;
        }
    }
    int k = 0;
    while (taken[k])
        k++;
    return k ? arena_printf(a, "%s_%d", base, k) : base;
}

/* Make the layer value v a sub-layer of e->layer: its own copy of the spec,
 * named as Keras names it (given, else snake_case(class) made unique among
 * the parent's sub-layers), not built until its first call.  `attr` is the
 * name the parent keeps it under (Keras' self.<attr>), NULL if none: its
 * Keras object path then uses its name. */
static Value *make_sublayer(Elab *e, Value *v, const Node *at, const char *attr)
{
    Arena *a = e->arena;
    LayerInst *parent = e->layer;
    LayerSpec *ls = arena_alloc(a, sizeof *ls);
    *ls = *v->layer;
    LayerInst *si = arena_alloc(a, sizeof *si);
    si->type = ls->cls->name;
    si->loc = at->loc;
    si->position = parent->position;
    int n = parent->sublayers.len;
    void **names = arena_alloc(a, sizeof(void *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        const LayerInst *o = parent->sublayers.items[i];
        names[i] = (void *)o->name;
        if (ls->name && !strcmp(o->name, ls->name)) {
            diag_error(e->diag, at->loc, "layer '%s' already has a sub-layer named '%s'; names must be unique",
                       parent->name, ls->name);
            diag_note(e->diag, o->loc, "the first '%s'", ls->name);
            return v_err(a);
        }
    }
    si->name = ls->name ? ls->name : auto_name(a, keras_snake_case(a, ls->cls->name), names, n);
    vec_push(a, &parent->sublayers, si);
    ls->inst = si;
    ls->path = e->path ? arena_printf(a, "%s.%s", e->path, si->name) : si->name;
    const char *seg = keras_attr(parent->type, attr ? attr : si->name);
    ls->owner_path = e->owner_path ? arena_printf(a, "%s/%s", e->owner_path, seg) : seg;
    ls->built = false;
    ls->build_scope = NULL;
    Value *r = v_new(a, V_LAYER, v->loc);
    r->layer = ls;
    r->native = &sublayer_native;
    return r;
}

#define KLC_MAX_HP_LAYERS 16

/* A layer hyperparameter (Block(inner = Dense(8)), or such a default) is a
 * sub-layer of each instance: bound in its build scope, declaration order. */
static void adopt_hp_layers(Elab *e, const LayerSpec *ls, Scope *bs)
{
    const Node *cls = ls->cls;
    const LayerSpec *seen[KLC_MAX_HP_LAYERS];
    int n_seen = 0;
    for (int i = 0; i < cls->list.len; i++) {
        const Node *p = cls->list.items[i];
        Value *v = scope_lookup_local(ls->hp, p->name);
        if (!v || v->kind != V_LAYER || v->native)
            continue;
        /* a second hyperparameter holding the same layer (Bidirectional's
         * `_backward_copy: any = inner`) is a copy: its own weights, and a
         * name of its own even when the layer was given one */
        bool copy = false;
        for (int k = 0; k < n_seen; k++)
            copy = copy || seen[k] == v->layer;
        if (!copy && n_seen < KLC_MAX_HP_LAYERS)
            seen[n_seen++] = v->layer;
        if (copy && v->layer->name) {
            Value *u = v_new(e->arena, V_LAYER, v->loc);
            LayerSpec *cs = arena_alloc(e->arena, sizeof *cs);
            *cs = *v->layer;
            cs->name = NULL;
            u->layer = cs;
            v = u;
        }
        scope_bind(e->arena, bs, p->name, make_sublayer(e, v, p->a ? p->a : ls->call, p->name));
    }
}

static bool class_call_allowed(Elab *e, const Value *callee, const Node *call)
{
    if (!e->in_call)
        return true;
    diag_error(e->diag, call->loc, "a layer is created in build() (like d = %s(...)) and called in call(); "
               "it cannot be created in call()", callee->def->name);
    return false;
}

static Value *call_class(Elab *e, Value *callee, Args *args, const Node *call)
{
    Value *v = layer_spec(e, callee->def, args, call);
    if (v->kind == V_LAYER && e->in_build && e->layer) /* d = Dense(64) in build(): a sub-layer */
        return make_sublayer(e, v, call, call == e->bind_call ? e->bind_target : NULL);
    return v;
}

const Native layer_class_native = {"layer class", call_class, class_call_allowed, NULL, false};

/* A weight's C identifier, made distinct from those of the model's other weights. */
static void unique_cname(Arena *a, const Model *m, Weight *w)
{
    const char *base = w->cname;
    for (int k = 2;; k++) {
        bool clash = false;
        for (int i = 0; i < m->weights.len && !clash; i++)
            clash = !strcmp(((const Weight *)m->weights.items[i])->cname, w->cname);
        if (!clash)
            return;
        w->cname = arena_printf(a, "%s_%d", base, k);
    }
}

/* Keras order: a layer's trainable weights, then its state (its sub-layers'
 * follow, as they are built).  `frozen` makes them all non-trainable; `root`
 * is the model's layer, whose parameter counts (the summary's row) they join. */
static void register_weights(Model *m, Arena *a, const LayerInst *li, LayerInst *root, bool frozen)
{
    for (int i = 0; i < li->weights.len; i++) {
        Weight *w = li->weights.items[i];
        if (frozen)
            w->trainable = false;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < li->weights.len; i++) {
            Weight *w = li->weights.items[i];
            if (w->trainable != (pass == 0))
                continue;
            w->index = m->weights.len;
            unique_cname(a, m, w);
            vec_push(a, &m->weights, w);
            root->params += w->size;
            if (w->trainable)
                root->trainable_params += w->size;
        }
}

/* How deep sub-layers may nest (a layer whose build() makes its own class). */
enum { MAX_SUBLAYER_DEPTH = 8 };

static bool sublayer_call_allowed(Elab *e, const Value *callee, const Node *call)
{
    if (e->in_call && !e->comp)
        return true;
    diag_error(e->diag, call->loc, "sub-layer '%s' can only be called on a tensor in call()%s",
               callee->layer->inst->name, e->in_call ? ", not inside an index expression" : "");
    return false;
}

static bool pattern_compatible(Elab *se, const LayerSpec *ls, const Node *pat, const IrValue *x, SrcLoc at);

/* Compatible with the shape it was built on: build()'s pattern matches the new
 * input with the same dimensions (Dense(4) built on [N, 8] takes [N, 3, 8]). */
static bool sublayer_compatible(Elab *se, const LayerSpec *ls, const Node *build, IrValue *const *xs, int n_in,
                                SrcLoc at)
{
    if (!build || build->list.len != n_in)
        return true;
    for (int k = 0; k < n_in; k++)
        if (!pattern_compatible(se, ls, build->list.items[k], xs[k], at))
            return false;
    return true;
}

/* One input of a sub-layer's later call against build()'s pattern for it. */
static bool pattern_compatible(Elab *se, const LayerSpec *ls, const Node *pat, const IrValue *x, SrcLoc at)
{
    Arena *a = se->arena;
    Scope *tmp = scope_new(a, NULL);
    if (!bind_pattern(se, pat, &x->shape, x->type, tmp, at))
        return false;
    for (const Binding *b = tmp->head; b; b = b->next) {
        const Value *old = scope_lookup_local(ls->build_scope, b->name);
        if (b->val->kind != V_INT || !old || old->kind != V_INT || dim_eq(old->i, b->val->i))
            continue;
        diag_error(se->diag, at, "sub-layer '%s' was built on its first call for %s = %s (build(%s)); "
                   "this call gives it %s, where %s = %s", ls->inst->name, b->name, dim_str(a, old->i),
                   node_text(a, pat, 60), shape_str(a, &x->shape), b->name, dim_str(a, b->val->i));
        return false;
    }
    return true;
}

/* dense(x) or dense(x, training = false) in call(): on the first call, build()
 * runs on x's shape (as Keras builds on first call) and creates the weights;
 * every call elaborates the sub-layer's call() into the current function. */
static Value *call_sublayer(Elab *e, Value *callee, Args *args, const Node *call)
{
    Arena *a = e->arena;
    LayerSpec *ls = callee->layer;
    LayerInst *si = ls->inst;
    if (args_poisoned(args))
        return v_err(a);
    const Node *cdef = member(ls->cls, N_CALLDEF);
    int n_in = cdef ? call_inputs(cdef) : 1;
    /* the inputs by call()'s parameter names (one input: Keras' `inputs`), then training */
    const char *names[MAX_CALL_INPUTS + 1];
    for (int k = 0; k < n_in; k++)
        names[k] = n_in == 1 ? "inputs" : cdef->list.items[k]->name;
    names[n_in] = "training";
    Value *v[MAX_CALL_INPUTS + 1];
    const Node *nd[MAX_CALL_INPUTS + 1];
    const char *what = arena_printf(a, "sub-layer '%s'", si->name);
    if (!bind_args(e, args, what, n_in + 1, names, v, nd))
        return v_err(a);
    IrValue *xs[MAX_CALL_INPUTS];
    for (int k = 0; k < n_in; k++) {
        Value *x = v[k] ? as_tensor(e, v[k], nd[k]) : NULL;
        if (x && x->kind == V_TENSOR) {
            xs[k] = x->t;
            continue;
        }
        if (n_in == 1)
            diag_error(e->diag, (x ? nd[k] : call)->loc, "%s is called on one tensor, like %s(x)%s%s", what,
                       si->name, x ? ", not " : "", x ? v_describe(a, x) : "");
        else if (!x)
            diag_error(e->diag, call->loc, "%s is called on %d tensors, like %s(%s); '%s' is missing", what, n_in,
                       si->name, call_names(a, cdef), names[k]);
        else
            diag_error(e->diag, nd[k]->loc, "%s: '%s' must be a tensor, not %s", what, names[k], v_describe(a, x));
        return v_err(a);
    }
    bool training = e->training;
    if (v[n_in] && !want_bool(e, v[n_in], nd[n_in], "training", &training))
        return v_err(a);
    int nesting = 1; /* the sub-layer's depth below the model's layer: the parts of its path */
    for (const char *p = ls->path; *p; p++)
        nesting += *p == '.';
    if (nesting > MAX_SUBLAYER_DEPTH) {
        diag_error(e->diag, call->loc, "layers nest more than %d deep (does a layer build itself?)",
                   MAX_SUBLAYER_DEPTH);
        return v_err(a);
    }
    Elab se = *e;
    se.layer = si;
    se.root = e->root ? e->root : e->layer;
    se.path = ls->path;
    se.owner_path = ls->owner_path;
    se.frozen = e->frozen || !ls->trainable;
    const Node *cls = ls->cls;
    const char *ctx = arena_printf(a, "in %s, sub-layer '%s' of '%s'", node_text(a, ls->call, 60), si->name,
                                   e->layer->name);
    diag_push_context(e->diag, call->loc, ctx);
    int errors_before = diag_error_count(e->diag);
    const Node *build = member(cls, N_BUILD);
    bool ok = true;
    if (!ls->built) {
        ls->built = true;
        si->in_shape = xs[0]->shape;
        Scope *bs = scope_new(a, ls->hp);
        ls->build_scope = bs;
        Elab be = se;
        be.fn = NULL;
        be.in_call = false;
        be.in_build = true;
        adopt_hp_layers(&be, ls, bs);
        for (int k = 0; ok && build && k < build->list.len && k < n_in; k++)
            ok = bind_pattern(&be, build->list.items[k], &xs[k]->shape, xs[k]->type, bs, build->list.items[k]->loc);
        /* its own flag: false when it or a layer holding it is frozen (Keras sets
         * trainable on every sub-layer) */
        scope_bind(a, bs, "trainable", v_bool(a, !se.frozen, call->loc));
        if (ok && build)
            exec_block(&be, bs, build->a);
        register_weights(e->model, a, si, se.root, se.frozen);
        if (diag_error_count(e->diag) != errors_before) {
            ok = false;
            ls->build_scope = NULL; /* broken: later calls fail silently, its error said why */
        }
    } else if (!ls->build_scope) {
        ok = false;
    } else {
        ok = sublayer_compatible(&se, ls, build, xs, n_in, call->loc);
    }
    Value *y = v_err(a);
    const Node *calldef = member(cls, N_CALLDEF);
    if (ok && calldef && calldef->list.len >= 1) {
        int first = e->fn->insts.len;
        y = elaborate_call(&se, ls->build_scope, calldef, e->fn, xs, training);
        /* readable names in the C: tower_residual_dense_y (inner sub-layers tagged theirs first) */
        const char *tag = c_name(a, se.root->name, ls->path);
        for (int i = first; i < e->fn->insts.len; i++)
            if (!((IrValue *)e->fn->insts.items[i])->layer)
                ((IrValue *)e->fn->insts.items[i])->layer = tag;
        if (y->kind == V_TENSOR) {
            if (ls->activity_l1 > 0 || ls->activity_l2 > 0)
                activity_penalty(&se, e->fn, y->t, ls->activity_l1, ls->activity_l2, call->loc);
            si->out_shape = y->t->shape;
            y = v_tensor(a, y->t, call->loc);
        }
    }
    diag_pop_context(e->diag);
    return y;
}

static const Native sublayer_native = {"sub-layer", call_sublayer, sublayer_call_allowed, NULL, false};

/* ------------------------------------------------------------------------
 * layer_name(l) and rename(l, name): a sub-layer's name, in build()
 * --------------------------------------------------------------------- */

static bool sublayer_fn_allowed(Elab *e, const Value *callee, const Node *call)
{
    if (e->in_build && e->layer)
        return true;
    diag_error(e->diag, call->loc, "%s() can only be used in build()", callee->native->name);
    return false;
}

/* The sub-layer argument k of a layer_name/rename call, or NULL (reported). */
static LayerSpec *sublayer_arg(Elab *e, const char *fn, Args *args, int n, const Node *call)
{
    if (args->n_pos != n || args->n_kw != 0) {
        diag_error(e->diag, call->loc, n == 1 ? "%s() takes one argument, a sub-layer"
                                              : "%s() takes two arguments, a sub-layer and its new name", fn);
        return NULL;
    }
    const Value *l = args->pos[0];
    if (l->kind != V_LAYER || l->native != &sublayer_native) {
        diag_error(e->diag, args->pos_node[0]->loc, "%s() takes a sub-layer of this layer, not %s", fn,
                   v_describe(e->arena, l));
        return NULL;
    }
    return l->layer;
}

static Value *call_layer_name(Elab *e, Value *callee, Args *args, const Node *call)
{
    (void)callee;
    if (args_poisoned(args))
        return v_err(e->arena);
    LayerSpec *ls = sublayer_arg(e, "layer_name", args, 1, call);
    return ls ? v_str(e->arena, ls->inst->name, call->loc) : v_err(e->arena);
}

/* Renames a sub-layer in build(), so before its first call (in call()):
 * its weights are keyed by the new name.  Keras' Bidirectional names its
 * copies forward_lstm and backward_lstm.  The name must be free among the
 * parent's sub-layers. */
static Value *call_rename(Elab *e, Value *callee, Args *args, const Node *call)
{
    (void)callee;
    if (args_poisoned(args))
        return v_err(e->arena);
    LayerSpec *ls = sublayer_arg(e, "rename", args, 2, call);
    if (!ls)
        return v_err(e->arena);
    const Value *nv = args->pos[1];
    if (nv->kind != V_STR || !nv->s[0]) {
        diag_error(e->diag, args->pos_node[1]->loc, "rename(): the new name must be a non-empty string");
        return v_err(e->arena);
    }
    const LayerInst *parent = e->layer;
    for (int i = 0; i < parent->sublayers.len; i++) {
        const LayerInst *o = parent->sublayers.items[i];
        if (o != ls->inst && !strcmp(o->name, nv->s)) {
            diag_error(e->diag, args->pos_node[1]->loc, "layer '%s' already has a sub-layer named '%s'; names must be unique",
                       parent->name, nv->s);
            return v_err(e->arena);
        }
    }
    ls->inst->name = nv->s;
    ls->path = e->path ? arena_printf(e->arena, "%s.%s", e->path, nv->s) : nv->s;
    return v_new(e->arena, V_NONE, call->loc);
}

const Native layer_name_native = {"layer_name", call_layer_name, sublayer_fn_allowed, NULL, false};
const Native rename_native = {"rename", call_rename, sublayer_fn_allowed, NULL, false};

/* The .weights.h5 paths of the weights of li, the model's next layer: Keras
 * names a Sequential's layers by snake_case(class) made unique in list order
 * (not by their names), and numbers each object's own variables, trainable
 * then not, in creation order (saving_lib's _save_container_state). */
static void keras_paths(Model *m, Arena *a, const LayerInst *li)
{
    int same = 0;
    for (int i = 0; i < m->layers.len; i++)
        same += !strcmp(((const LayerInst *)m->layers.items[i])->type, li->type);
    const char *base = keras_snake_case(a, li->type);
    const char *lname = same ? arena_printf(a, "%s_%d", base, same) : base;
    for (int i = 0; i < m->weights.len; i++) {
        Weight *w = m->weights.items[i];
        if (w->keras_path || strcmp(w->layer, li->name))
            continue;
        int index = 0;
        for (int j = 0; j < i; j++) {
            const Weight *o = m->weights.items[j];
            index += !strcmp(o->layer, li->name) && !strcmp(o->owner_path, w->owner_path);
        }
        w->keras_path = arena_printf(a, "layers/%s%s%s/vars/%d", lname, w->owner_path[0] ? "/" : "",
                                     w->owner_path, index);
    }
}

void layer_instantiate(Sema *sema, Model *m, Value *spec, int position)
{
    Arena *a = sema->arena;
    LayerSpec *ls = spec->layer;
    const Node *cls = ls->cls;
    LayerInst *li = arena_alloc(a, sizeof *li);
    li->type = cls->name;
    li->loc = ls->call->loc;
    li->position = position;
    li->in_shape = m->output_shape;

    Elab e = {0};
    e.sema = sema;
    e.arena = a;
    e.diag = sema->diag;
    e.model = m;
    e.layer = li;

    /* Keras' names: given, else snake_case(class) made unique within the model */
    if (ls->name) {
        for (int i = 0; i < m->used_names.len; i++)
            if (!strcmp(m->used_names.items[i], ls->name)) {
                diag_error(sema->diag, li->loc,
                           "a layer named '%s' is already in model '%s'; layer names must be unique", ls->name,
                           m->var);
                for (int k = 0; k < m->layers.len; k++) {
                    const LayerInst *first = m->layers.items[k];
                    if (!strcmp(first->name, ls->name))
                        diag_note(sema->diag, first->loc, "'%s' is layer %d", ls->name, first->position);
                }
                m->broken = true;
                return;
            }
        li->name = ls->name;
    } else {
        li->name = auto_name(a, keras_snake_case(a, cls->name), m->used_names.items, m->used_names.len);
    }
    vec_push(a, &m->used_names, (void *)li->name);

    const char *ctx = arena_printf(a, "in %s, layer %d of '%s'", instantiation_text(a, ls), position, m->var);
    diag_push_context(sema->diag, li->loc, ctx);
    int errors_before = diag_error_count(sema->diag);

    /* build */
    Scope *bs = scope_new(a, ls->hp);
    const Node *build = member(cls, N_BUILD);
    bool ok = true;
    const Node *cdef = member(cls, N_CALLDEF);
    if (cdef && call_inputs(cdef) > 1) {
        diag_error(sema->diag, li->loc, "%s takes %d inputs (call(%s)) but a Sequential model gives each layer one; "
                   "call it from another layer's call()", cls->name, call_inputs(cdef), call_names(a, cdef));
        diag_pop_context(sema->diag);
        m->broken = true;
        return;
    }
    if (build && build->list.len == 1)
        ok = bind_pattern(&e, build->list.items[0], &m->output_shape, m->output_type, bs,
                          build->list.items[0]->loc);
    /* the layer's own flag (Keras' self.trainable), a bool named `trainable` in build and call */
    scope_bind(a, bs, "trainable", v_bool(a, ls->trainable, li->loc));
    if (ok) {
        Elab be = e;
        be.in_build = true;
        adopt_hp_layers(&be, ls, bs);
        if (build)
            exec_block(&be, bs, build->a);
    }
    /* trainable = false freezes every weight of the layer (its sub-layers' too) */
    register_weights(m, a, li, li, !ls->trainable);
    e.frozen = !ls->trainable;
    if (diag_error_count(sema->diag) != errors_before)
        ok = false;

    /* call, once per specialisation */
    const Node *calldef = member(cls, N_CALLDEF);
    Value *out[2] = {NULL, NULL};
    if (ok && calldef && calldef->list.len >= 1) {
        IrFunc *fs[2] = {m->train, m->infer};
        for (int t = 0; t < 2; t++) {
            int first = fs[t]->insts.len;
            out[t] = elaborate_call(&e, bs, calldef, fs[t], &fs[t]->output, t == 0);
            if (out[t]->kind == V_ERR || !storable(&e, fs[t], first))
                ok = false;
            for (int i = first; i < fs[t]->insts.len; i++) /* tag for readable names in the C */
                if (!((IrValue *)fs[t]->insts.items[i])->layer) /* a sub-layer's are tagged already */
                    ((IrValue *)fs[t]->insts.items[i])->layer = li->name;
        }
        if (ok && !shape_eq(&out[0]->t->shape, &out[1]->t->shape)) {
            diag_error(sema->diag, calldef->loc, "call() returns %s when training but %s otherwise",
                       shape_str(a, &out[0]->t->shape), shape_str(a, &out[1]->t->shape));
            ok = false;
        }
        if (ok && out[0]->t->type != out[1]->t->type) {
            diag_error(sema->diag, calldef->loc, "call() returns different element types when training and not");
            ok = false;
        }
        if (ok && (out[0]->t->shape.rank == 0 || !dim_eq(out[0]->t->shape.d[0], dim_batch()))) {
            diag_error(sema->diag, calldef->loc,
                       "call() must return one row per sample (a first dimension N), but returns %s",
                       shape_str(a, &out[0]->t->shape));
            ok = false;
        }
        for (int j = 1; ok && j < out[0]->t->shape.rank; j++)
            if (!dim_is_const(out[0]->t->shape.d[j])) {
                diag_error(sema->diag, calldef->loc, "call() returns %s: only the first dimension may be the batch",
                           shape_str(a, &out[0]->t->shape));
                ok = false;
            }
    } else {
        ok = false;
    }
    diag_pop_context(sema->diag);
    if (!ok) {
        m->broken = true;
        return;
    }
    IrFunc *fs[2] = {m->train, m->infer};
    for (int t = 0; t < 2; t++) {
        IrValue *y = out[t]->t;
        if (ls->activity_l1 > 0 || ls->activity_l2 > 0)
            activity_penalty(&e, fs[t], y, ls->activity_l1, ls->activity_l2, li->loc);
        fs[t]->output = y;
        if (!y->name)
            y->name = arena_printf(a, "%s_out", li->name);
    }
    li->out_shape = out[0]->t->shape;
    m->output_shape = li->out_shape;
    m->output_type = out[0]->t->type;
    keras_paths(m, a, li);
    vec_push(a, &m->layers, li);
}

/* Keras' to_snake_case, three regular-expression substitutions applied the
 * way Python's re.sub does (left to right, matches do not overlap):
 *   \W+ -> "";  (.)([A-Z][a-z]+) -> \1_\2;  ([a-z])([A-Z]) -> \1_\2;  lower. */
const char *keras_snake_case(Arena *a, const char *name)
{
    size_t n = strlen(name);
    char *w = arena_alloc(a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (c_ident_char(name[i]))
            w[k++] = name[i];
    w[k] = '\0';
    char *s1 = arena_alloc(a, 2 * k + 1);
    size_t o = 0;
    for (size_t i = 0; i < k;) {
        size_t j = i + 2;
        while (j < k && w[j] >= 'a' && w[j] <= 'z')
            j++;
        if (i + 2 < k && w[i + 1] >= 'A' && w[i + 1] <= 'Z' && j > i + 2) {
            s1[o++] = w[i];
            s1[o++] = '_';
            for (size_t t = i + 1; t < j; t++)
                s1[o++] = w[t];
            i = j;
        } else {
            s1[o++] = w[i++];
        }
    }
    s1[o] = '\0';
    char *s2 = arena_alloc(a, 2 * o + 1);
    size_t p = 0;
    for (size_t i = 0; i < o;) {
        if (i + 1 < o && s1[i] >= 'a' && s1[i] <= 'z' && s1[i + 1] >= 'A' && s1[i + 1] <= 'Z') {
            s2[p++] = s1[i];
            s2[p++] = '_';
            s2[p++] = s1[i + 1];
            i += 2;
        } else {
            s2[p++] = s1[i++];
        }
    }
    s2[p] = '\0';
    for (size_t i = 0; i < p; i++)
        if (s2[i] >= 'A' && s2[i] <= 'Z')
            s2[i] = (char)(s2[i] - 'A' + 'a');
    return s2;
}
