/*
 * value.c — values, scopes, messages, compile-time conversions.
 */
#include "check/value.h"

#include <string.h>

/* ------------------------------------------------------------------------
 * Values and scopes
 * --------------------------------------------------------------------- */

Value *v_new(Arena *a, VKind k, SrcLoc loc)
{
    Value *v = arena_alloc(a, sizeof *v);
    v->kind = k;
    v->loc = loc;
    return v;
}

Value *v_err(Arena *a)
{
    return v_new(a, V_ERR, (SrcLoc){0});
}

Value *v_int(Arena *a, int64_t i, SrcLoc loc)
{
    Value *v = v_new(a, V_INT, loc);
    v->i = dim_const(i);
    return v;
}

Value *v_dim(Arena *a, Dim d, SrcLoc loc)
{
    Value *v = v_new(a, V_INT, loc);
    v->i = d;
    return v;
}

Value *v_float(Arena *a, double f, SrcLoc loc)
{
    Value *v = v_new(a, V_FLOAT, loc);
    v->f = f;
    return v;
}

Value *v_bool(Arena *a, bool b, SrcLoc loc)
{
    Value *v = v_new(a, V_BOOL, loc);
    v->b = b;
    return v;
}

Value *v_str(Arena *a, const char *s, SrcLoc loc)
{
    Value *v = v_new(a, V_STR, loc);
    v->s = s;
    return v;
}

Value *v_tensor(Arena *a, IrValue *t, SrcLoc loc)
{
    Value *v = v_new(a, V_TENSOR, loc);
    v->t = t;
    return v;
}

static const char *v_kind_name(VKind k)
{
    static const char *const names[] = {
        [V_ERR] = "error",      [V_NONE] = "None",     [V_INT] = "int",       [V_FLOAT] = "float",
        [V_BOOL] = "bool",      [V_STR] = "str",       [V_LIST] = "list",     [V_FN] = "function",
        [V_CONFIG] = "object",  [V_CLASS] = "layer class", [V_LAYER] = "layer", [V_INPUT] = "Input",
        [V_MODEL] = "model",    [V_METHOD] = "method", [V_WEIGHT] = "weight", [V_TENSOR] = "tensor",
        [V_INDEX] = "index",    [V_SCALAR] = "scalar", [V_BUILTIN] = "function",
        [V_BUILD_INPUT] = "build()'s input",
    };
    return names[k];
}

bool args_poisoned(const Args *args)
{
    for (int i = 0; i < args->n_pos; i++)
        if (args->pos[i]->kind == V_ERR)
            return true;
    for (int i = 0; i < args->n_kw; i++)
        if (args->kw[i]->kind == V_ERR)
            return true;
    return false;
}

const char *v_describe(Arena *a, const Value *v)
{
    switch (v->kind) {
    case V_INT:
        return dim_is_const(v->i) ? arena_printf(a, "int %lld", (long long)v->i.c)
                                  : arena_printf(a, "int %s", dim_str(a, v->i));
    case V_FLOAT: return arena_printf(a, "float %g", v->f);
    case V_BOOL: return v->b ? "bool true" : "bool false";
    case V_STR: return v->bare ? arena_printf(a, "name '%s'", v->s) : arena_printf(a, "str \"%s\"", v->s);
    case V_TENSOR: return arena_printf(a, "tensor %s", shape_str(a, &v->t->shape));
    case V_WEIGHT: return arena_printf(a, "weight %s", shape_str(a, &v->weight->shape));
    case V_BUILD_INPUT:
        return arena_printf(a, "build()'s input %s (only its shape is known in build)", shape_str(a, &v->shape));
    case V_FN: return arena_printf(a, "function '%s'", v->s);
    case V_CONFIG: return arena_printf(a, "'%s(...)'", v->s);
    case V_CLASS: return arena_printf(a, "layer class '%s'", v->def->name);
    case V_LAYER: return arena_printf(a, "layer '%s'", v->layer->cls->name);
    default: return v_kind_name(v->kind);
    }
}

Scope *scope_new(Arena *a, Scope *parent)
{
    Scope *s = arena_alloc(a, sizeof *s);
    s->parent = parent;
    return s;
}

Scope *decl_scope(const Sema *s, const Node *decl)
{
    if (s->prelude && decl->loc.file && decl->loc.file->is_prelude)
        return s->prelude;
    return s->globals;
}

/* Scopes are lists; a large one (a file with thousands of top-level names)
 * gets a hash index, so that checking stays linear in the program's size. */
static unsigned name_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void index_put(Binding **index, int cap, Binding *b)
{
    unsigned j = name_hash(b->name) & (unsigned)(cap - 1);
    while (index[j])
        j = (j + 1) & (unsigned)(cap - 1);
    index[j] = b;
}

static Binding *scope_find(const Scope *s, const char *name)
{
    if (s->index) {
        for (unsigned j = name_hash(name) & (unsigned)(s->index_cap - 1); s->index[j];
             j = (j + 1) & (unsigned)(s->index_cap - 1))
            if (strcmp(s->index[j]->name, name) == 0)
                return s->index[j];
        return NULL;
    }
    for (Binding *b = s->head; b; b = b->next)
        if (strcmp(b->name, name) == 0)
            return b;
    return NULL;
}

void scope_bind(Arena *a, Scope *s, const char *name, Value *v)
{
    Binding *b = scope_find(s, name);
    if (b) {
        b->val = v;
        return;
    }
    b = arena_alloc(a, sizeof *b);
    b->name = name;
    b->val = v;
    b->next = s->head;
    s->head = b;
    s->n++;
    if (s->n > 32 && 2 * s->n > s->index_cap) { /* (re)build the index at twice the size */
        int cap = s->index_cap ? 2 * s->index_cap : 128;
        Binding **index = arena_alloc(a, sizeof *index * (size_t)cap);
        for (Binding *x = s->head; x; x = x->next)
            index_put(index, cap, x);
        s->index = index;
        s->index_cap = cap;
    } else if (s->index) {
        index_put(s->index, s->index_cap, b);
    }
}

Value *scope_lookup_local(const Scope *s, const char *name)
{
    Binding *b = scope_find(s, name);
    return b ? b->val : NULL;
}

Value *scope_lookup(const Scope *s, const char *name)
{
    for (; s; s = s->parent) {
        Value *v = scope_lookup_local(s, name);
        if (v)
            return v;
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Small helpers for messages
 * --------------------------------------------------------------------- */

const char *node_text(Arena *a, const Node *n, int max)
{
    if (!n || !n->loc.file)
        return "";
    const char *s = n->loc.file->text + n->loc.start;
    int len = n->loc.end - n->loc.start;
    char *out = arena_alloc(a, (size_t)max + 4);
    int o = 0;
    bool space = false;
    for (int i = 0; i < len && o < max; i++) {
        char c = s[i];
        if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
            space = true;
            continue;
        }
        if (c == '#') { /* a comment inside the range: skip to its end */
            while (i < len && s[i] != '\n')
                i++;
            space = true;
            continue;
        }
        if (space && o > 0 && out[o - 1] != '(' && out[o - 1] != '[' && c != ')' && c != ']')
            out[o++] = ' ';
        space = false;
        out[o++] = c;
    }
    if (o >= max)
        memcpy(out + max - 3, "...", 4);
    else
        out[o] = '\0';
    return out;
}

static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int d[41][41];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1; /* transposition */
        }
    return d[la][lb];
}

static bool same_ignoring_case(const char *x, const char *y)
{
    for (; *x && *y; x++, y++)
        if ((*x >= 'A' && *x <= 'Z' ? *x + 32 : *x) != (*y >= 'A' && *y <= 'Z' ? *y + 32 : *y))
            return false;
    return *x == *y;
}

/* For an unknown name a Keras user is likely to write (self, training, keras):
 * what to write instead, or NULL. */
static const char *unknown_name_hint(const char *name)
{
    if (!strcmp(name, "training"))
        return "to use the training flag, declare it as call()'s second parameter: call(x, training)";
    if (!strcmp(name, "self"))
        return "klc layers have no 'self'; hyperparameters and weights are plain names (kernel, not self.kernel)";
    if (!strcmp(name, "keras") || !strcmp(name, "tf") || !strcmp(name, "layers") || !strcmp(name, "ops"))
        return "klc knows Keras' names without a module prefix (Dense, relu, adam; not keras.layers.Dense)";
    return NULL;
}

const char *suggest(Arena *a, const char *name, const char *const *candidates, int n)
{
    const char *best = NULL;
    int best_d = 99;
    int len = (int)strlen(name);
    int limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    for (int i = 0; i < n; i++) {
        if (!candidates[i] || strcmp(candidates[i], name) == 0)
            continue;
        int d = edit_distance(name, candidates[i]);
        if (d < best_d || (d == best_d && best && strcmp(candidates[i], best) < 0)) {
            best_d = d;
            best = candidates[i];
        }
    }
    /* a name differing only in case first; otherwise a close one that keeps some of the name
     * (a one-letter name is one edit away from every other) */
    for (int i = 0; i < n; i++)
        if (candidates[i] && strcmp(candidates[i], name) != 0 && same_ignoring_case(candidates[i], name))
            return arena_printf(a, "; did you mean '%s'?", candidates[i]);
    if (best && best_d <= limit && best_d < len)
        return arena_printf(a, "; did you mean '%s'?", best);
    return "";
}

void report_unknown_name(Diag *d, Arena *a, SrcLoc loc, const char *name, NameCollector collect, const void *ctx)
{
    if (diag_quiet(d)) { /* past the error limit: no message, no suggestion to compute */
        diag_error(d, loc, "unknown name '%s'", name);
        return;
    }
    const char *hint = unknown_name_hint(name);
    if (hint) {
        diag_error(d, loc, "unknown name '%s': %s", name, hint);
        return;
    }
    PtrVec cands = {0};
    collect(ctx, a, &cands);
    diag_error(d, loc, "unknown name '%s'%s", name, suggest(a, name, (const char *const *)cands.items, cands.len));
}

void push_builtin_names(Arena *a, PtrVec *out, const Scope *builtins, bool only_activations)
{
    int first = out->len;
    for (Binding *b = builtins->head; b; b = b->next)
        if (b->val->kind == V_BUILTIN && (!only_activations || b->val->native->activation))
            vec_push(a, out, (void *)b->name);
    for (int i = first, j = out->len - 1; i < j; i++, j--) { /* registration order */
        void *t = out->items[i];
        out->items[i] = out->items[j];
        out->items[j] = t;
    }
}

void push_scope_names(Arena *a, PtrVec *out, const Scope *s)
{
    for (; s; s = s->parent)
        for (Binding *b = s->head; b; b = b->next)
            if (b->val->kind != V_BUILTIN)
                vec_push(a, out, (void *)b->name);
}

/* ------------------------------------------------------------------------
 * Compile-time conversions
 * --------------------------------------------------------------------- */

bool want_dim(Elab *e, Value *v, const Node *at, const char *what, Dim *out)
{
    if (v->kind == V_ERR)
        return false;
    if (v->kind != V_INT) {
        diag_error(e->diag, at->loc, "%s must be an int, not %s", what, v_describe(e->arena, v));
        return false;
    }
    *out = v->i;
    return true;
}

bool want_int(Elab *e, Value *v, const Node *at, const char *what, int64_t *out)
{
    Dim d;
    if (!want_dim(e, v, at, what, &d))
        return false;
    if (!dim_is_const(d)) {
        diag_error(e->diag, at->loc, "%s must be a fixed int, but %s depends on the batch size",
                   what, dim_str(e->arena, d));
        return false;
    }
    *out = d.c;
    return true;
}

bool want_float(Elab *e, Value *v, const Node *at, const char *what, double *out)
{
    if (v->kind == V_ERR)
        return false;
    if (v->kind == V_FLOAT) {
        *out = v->f;
        return true;
    }
    if (v->kind == V_INT && dim_is_const(v->i)) {
        *out = (double)v->i.c;
        return true;
    }
    diag_error(e->diag, at->loc, "%s must be a float, not %s", what, v_describe(e->arena, v));
    return false;
}

bool want_bool(Elab *e, Value *v, const Node *at, const char *what, bool *out)
{
    if (v->kind == V_ERR)
        return false;
    if (v->kind == V_BOOL) {
        *out = v->b;
        return true;
    }
    if (v->kind == V_TENSOR || v->kind == V_WEIGHT || v->kind == V_SCALAR || v->kind == V_INDEX)
        diag_error(e->diag, at->loc,
                   "%s must be known at compile time, but it is a run-time %s; "
                   "tensors cannot steer control flow (use where(c, a, b) or c ? a : b on tensors)",
                   what, v->kind == V_SCALAR || v->kind == V_INDEX ? "value" : "tensor");
    else
        diag_error(e->diag, at->loc, "%s must be a bool, not %s", what, v_describe(e->arena, v));
    return false;
}

/* A shape: a list of ints (or a single int); dims may be tied to the batch
 * only when allow_batch. */
bool want_shape(Elab *e, Value *v, const Node *at, const char *what, Shape *out, bool allow_batch)
{
    if (v->kind == V_ERR)
        return false;
    memset(out, 0, sizeof *out);
    if (v->kind == V_INT) {
        out->rank = 1;
        out->d[0] = v->i;
    } else if (v->kind == V_LIST) {
        if (v->n > KLC_MAXRANK) {
            diag_error(e->diag, at->loc, "%s has %d dimensions; at most %d are supported", what, v->n,
                       KLC_MAXRANK);
            return false;
        }
        out->rank = v->n;
        for (int i = 0; i < v->n; i++) {
            Value *d = v->items[i];
            if (d->kind == V_ERR)
                return false;
            if (d->kind != V_INT) {
                diag_error(e->diag, at->loc, "%s must be a list of ints, but element %d is %s", what, i + 1,
                           v_describe(e->arena, d));
                return false;
            }
            out->d[i] = d->i;
        }
    } else {
        diag_error(e->diag, at->loc, "%s must be a list of ints like [3, 4], not %s", what,
                   v_describe(e->arena, v));
        return false;
    }
    for (int i = 0; i < out->rank; i++) {
        if (!allow_batch && !dim_is_const(out->d[i])) {
            diag_error(e->diag, at->loc, "%s cannot depend on the batch size (dimension %d is %s)", what, i + 1,
                       dim_str(e->arena, out->d[i]));
            return false;
        }
        /* -1 ("the rest") only where dimensions may be computed, as in reshape */
        if (dim_is_const(out->d[i]) && out->d[i].c <= 0 && !(out->d[i].c == -1 && allow_batch)) {
            diag_error(e->diag, at->loc, "%s has a non-positive dimension %lld", what, (long long)out->d[i].c);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Tensors
 * --------------------------------------------------------------------- */

/* One PARAM/STATE instruction per weight and function, made on first use. */
IrValue *weight_value(IrFunc *f, Weight *w)
{
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *x = f->insts.items[i];
        if ((x->op == IR_PARAM || x->op == IR_STATE) && x->index == w->index)
            return x;
    }
    IrValue *t = ir_new(f, w->trainable ? IR_PARAM : IR_STATE, &w->shape, DT_F32, w->loc);
    t->index = w->index;
    t->name = w->cname;
    return t;
}

Value *as_tensor(Elab *e, Value *v, const Node *at)
{
    if (v->kind == V_TENSOR || v->kind == V_ERR)
        return v;
    if (v->kind == V_WEIGHT) {
        if (!e->fn) {
            diag_error(e->diag, at->loc, "weight '%s' can only be used in call()", v->weight->name);
            return v_err(e->arena);
        }
        Weight *w = v->weight;
        Value *r = v_tensor(e->arena, weight_value(e->fn, w), v->loc);
        r->decl = arena_printf(e->arena, "%s declared as %s", w->name, w->decl);
        return r;
    }
    return v;
}

Value *shape_list(Elab *e, const Shape *sh, SrcLoc loc)
{
    Value *l = v_new(e->arena, V_LIST, loc);
    l->n = sh->rank;
    l->items = arena_alloc(e->arena, sizeof(Value *) * (size_t)(sh->rank ? sh->rank : 1));
    for (int i = 0; i < sh->rank; i++)
        l->items[i] = v_dim(e->arena, sh->d[i], loc);
    return l;
}

bool bind_args(Elab *e, const Args *args, const char *what, int n, const char *const *names, Value **out,
               const Node **out_node)
{
    bool ok = true;
    for (int i = 0; i < n; i++) {
        out[i] = NULL;
        if (out_node)
            out_node[i] = NULL;
    }
    if (args->n_pos > n) {
        diag_error(e->diag, args->pos_node[n]->loc, "%s takes at most %d positional argument%s, got %d", what, n,
                   n == 1 ? "" : "s", args->n_pos);
        return false;
    }
    for (int i = 0; i < args->n_pos; i++) {
        out[i] = args->pos[i];
        if (out_node)
            out_node[i] = args->pos_node[i];
    }
    for (int k = 0; k < args->n_kw; k++) {
        int found = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], args->kw_name[k]) == 0)
                found = i;
        if (found < 0) {
            diag_error(e->diag, args->kw_node[k]->loc, "%s has no argument '%s'%s", what, args->kw_name[k],
                       suggest(e->arena, args->kw_name[k], names, n));
            ok = false;
            continue;
        }
        if (out[found] && found < args->n_pos) {
            diag_error(e->diag, args->kw_node[k]->loc, "%s got argument '%s' twice (positionally and by keyword)",
                       what, args->kw_name[k]);
            ok = false;
            continue;
        }
        out[found] = args->kw[k];
        if (out_node)
            out_node[found] = args->kw_node[k];
    }
    return ok;
}
