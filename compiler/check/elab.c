/*
 * elab.c — the compile-time evaluator: values, scopes, expressions and
 * statements, broadcasting and matrix products.
 *
 * eval() computes the value of an expression.  Compile-time values
 * (numbers, shapes, strings, functions, layers) are computed outright;
 * tensor expressions in call() bodies are elaborated into KIR maps in e->fn
 * with their shapes checked; inside index expressions (comp.c) expressions
 * become scalar bodies.
 */
#include "check/elab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPR_DEPTH 200 /* nesting of one expression (the parser allows deeper) */
#define MAX_EVAL_STEPS 500000L /* evaluations per program: defs that call each other twice
                                 * expand exponentially; real programs take thousands */
#define MAX_LIST_LEN (1 << 20)  /* elements of a compile-time list, bytes of a string */

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

const char *v_kind_name(VKind k)
{
    static const char *const names[] = {
        [V_ERR] = "error",      [V_NONE] = "None",     [V_INT] = "int",       [V_FLOAT] = "float",
        [V_BOOL] = "bool",      [V_STR] = "str",       [V_LIST] = "list",     [V_FN] = "function",
        [V_CONFIG] = "object",  [V_CLASS] = "layer class", [V_LAYER] = "layer", [V_INPUT] = "Input",
        [V_MODEL] = "model",    [V_METHOD] = "method", [V_WEIGHT] = "weight", [V_TENSOR] = "tensor",
        [V_INDEX] = "index",    [V_SCALAR] = "scalar",
    };
    return names[k];
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

const char *unknown_name_hint(const char *name)
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

void push_builtin_names(Arena *a, PtrVec *out)
{
    const char **names;
    int nb = builtin_names(&names);
    for (int i = 0; i < nb; i++)
        vec_push(a, out, (void *)names[i]);
}

void push_scope_names(Arena *a, PtrVec *out, const Scope *s)
{
    for (; s; s = s->parent)
        for (Binding *b = s->head; b; b = b->next)
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

static bool is_number(const Value *v)
{
    return v->kind == V_FLOAT || v->kind == V_BOOL || (v->kind == V_INT && dim_is_const(v->i));
}

static double number(const Value *v)
{
    return v->kind == V_FLOAT ? v->f : v->kind == V_BOOL ? (double)v->b : (double)v->i.c;
}

/* Evaluate a scalar tree made only of constants (compile-time folding). */
static bool fold(const Scalar *s, double *out)
{
    return sop_eval(s, out);
}

/* The extent of out axis j when broadcasting shapes (NumPy: right-aligned, 1 stretches). */
static bool broadcast(Elab *e, SrcLoc loc, int n, Value **ops, Shape *out, const char *what)
{
    int rank = 0;
    for (int i = 0; i < n; i++)
        if (ops[i]->kind == V_TENSOR && ops[i]->t->shape.rank > rank)
            rank = ops[i]->t->shape.rank;
    memset(out, 0, sizeof *out);
    out->rank = rank;
    for (int j = 0; j < rank; j++)
        out->d[j] = dim_const(1);
    for (int i = 0; i < n; i++) {
        if (ops[i]->kind != V_TENSOR)
            continue;
        const Shape *s = &ops[i]->t->shape;
        for (int j = 0; j < s->rank; j++) {
            Dim *o = &out->d[rank - s->rank + j];
            Dim d = s->d[j];
            if (dim_eq(d, dim_const(1)) || dim_eq(d, *o))
                continue;
            if (dim_eq(*o, dim_const(1))) {
                *o = d;
                continue;
            }
            /* find the first operand that set *o, for the message */
            const Value *other = NULL;
            for (int k = 0; k < i; k++)
                if (ops[k]->kind == V_TENSOR) {
                    const Shape *t = &ops[k]->t->shape;
                    int pos = rank - s->rank + j - (rank - t->rank);
                    if (pos >= 0 && pos < t->rank && dim_eq(t->d[pos], *o)) {
                        other = ops[k];
                        break;
                    }
                }
            int axis = j - s->rank; /* negative axis, as NumPy reports it */
            const char *sa = other ? shape_str(e->arena, &other->t->shape) : "?";
            diag_error(e->diag, loc, "shapes %s and %s do not broadcast for %s: dimensions %s and %s differ (axis %d)",
                       sa, shape_str(e->arena, s), what, dim_str(e->arena, *o), dim_str(e->arena, d), axis);
            for (int k = 0; k < n; k++)
                if (ops[k]->kind == V_TENSOR && ops[k]->decl) {
                    diag_context_suffix(e->diag, ops[k]->decl);
                    break;
                }
            return false;
        }
    }
    return true;
}

/* Read of tensor operand `arg` (shape s) inside a map over `out` (rank r). */
static Scalar *broadcast_read(Arena *a, int arg, const Shape *s, const Shape *out, DType type)
{
    Sub subs[KLC_MAXRANK];
    int r = out->rank;
    for (int j = 0; j < s->rank; j++) {
        int oj = r - s->rank + j;
        if (dim_eq(s->d[j], dim_const(1)) && !dim_eq(out->d[oj], dim_const(1)))
            subs[j] = sub_const(0);
        else
            subs[j] = sub_var(oj);
    }
    return s_read(a, arg, s->rank, subs, type);
}

static int arg_slot(IrFunc *f, IrValue *map, IrValue *t)
{
    for (int i = 0; i < map->nargs; i++)
        if (map->args[i] == t)
            return i;
    ir_add_arg(f, map, t);
    return map->nargs - 1;
}

Value *elementwise(Elab *e, SrcLoc loc, int n, Value **ops, const Node **nodes, ScalarBuilder build,
                   const double *params, const char *what)
{
    Arena *a = e->arena;
    bool any_tensor = false, any_scalar = false;
    int batch_int = -1; /* an operand that is an int depending on the batch size (N): run-time only */
    for (int i = 0; i < n; i++) {
        if (ops[i]->kind == V_ERR)
            return ops[i];
        if (ops[i]->kind == V_WEIGHT)
            ops[i] = as_tensor(e, ops[i], nodes[i]);
        if (ops[i]->kind == V_ERR)
            return ops[i];
        switch (ops[i]->kind) {
        case V_TENSOR: any_tensor = true; break;
        case V_SCALAR: case V_INDEX: any_scalar = true; break;
        default:
            if (ops[i]->kind == V_INT && batch_int < 0) {
                batch_int = i;
            } else if (!is_number(ops[i])) {
                diag_error(e->diag, nodes[i]->loc, "%s needs numbers or tensors, not %s", what,
                           v_describe(a, ops[i]));
                return v_err(a);
            }
        }
    }
    /* x / N: the batch size is a number when the tensor code runs, not before */
    if (batch_int >= 0 && !is_number(ops[batch_int]) && !any_tensor && !(e->comp && any_scalar)) {
        diag_error(e->diag, nodes[batch_int]->loc, "%s needs numbers or tensors, not %s", what,
                   v_describe(a, ops[batch_int]));
        return v_err(a);
    }
    Scalar *sc[4];
    if (e->comp && (any_scalar || any_tensor)) {
        /* inside an index expression: the result is a scalar body */
        for (int i = 0; i < n; i++) {
            sc[i] = comp_scalar(e, ops[i], nodes[i]);
            if (!sc[i])
                return v_err(a);
        }
        Value *r = v_new(a, V_SCALAR, loc);
        r->sc = build(a, sc, params);
        return r;
    }
    if (!any_tensor) { /* compile time */
        for (int i = 0; i < n; i++)
            sc[i] = s_const(a, number(ops[i]));
        Scalar *s = build(a, sc, params);
        double x;
        if (!fold(s, &x)) {
            diag_error(e->diag, loc, "%s cannot be computed at compile time", what);
            return v_err(a);
        }
        if (s->type == DT_BOOL)
            return v_bool(a, x != 0, loc);
        return v_float(a, x, loc);
    }
    if (!e->fn) {
        diag_error(e->diag, loc, "tensors exist only in call()");
        return v_err(a);
    }
    Shape out;
    if (!broadcast(e, loc, n, ops, &out, what))
        return v_err(a);
    Comp *c = comp_over(a, &out, out.rank);
    IrValue *m = ir_map(e->fn, &out, DT_F32, c, loc);
    for (int i = 0; i < n; i++) {
        if (ops[i]->kind == V_TENSOR) {
            IrValue *t = ops[i]->t;
            sc[i] = broadcast_read(a, arg_slot(e->fn, m, t), &t->shape, &out, t->type);
        } else if (ops[i]->kind == V_INT && !dim_is_const(ops[i]->i)) {
            sc[i] = s_dim(a, ops[i]->i);
        } else {
            sc[i] = s_const(a, number(ops[i]));
        }
    }
    c->body = build(a, sc, params);
    m->type = c->body->type;
    return v_tensor(a, m, loc);
}

/* ---- scalar builders for the operators ---- */

Scalar *b_add(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_ADD, o[0], o[1]); }
Scalar *b_sub(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_SUB, o[0], o[1]); }
Scalar *b_mul(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_MUL, o[0], o[1]); }
static Scalar *b_mod(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_MOD, o[0], o[1]); }
Scalar *b_pow(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_POW, o[0], o[1]); }
static Scalar *b_eq(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_EQ, o[0], o[1]); }
static Scalar *b_ne(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_NE, o[0], o[1]); }
static Scalar *b_lt(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_LT, o[0], o[1]); }
static Scalar *b_le(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_LE, o[0], o[1]); }
static Scalar *b_gt(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_GT, o[0], o[1]); }
static Scalar *b_ge(Arena *a, Scalar **o, const double *p) { (void)p; return s_bin(a, S_GE, o[0], o[1]); }
Scalar *b_neg(Arena *a, Scalar **o, const double *p) { (void)p; return s_un(a, S_NEG, o[0]); }
Scalar *b_not(Arena *a, Scalar **o, const double *p) { (void)p; return s_un(a, S_NOT, o[0]); }
static Scalar *b_select(Arena *a, Scalar **o, const double *p) { (void)p; return s_select(a, o[0], o[1], o[2]); }

/* Python's true division: the result is real even for integers. */
Scalar *b_div(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    Scalar *x = o[0]->type == DT_F32 ? o[0] : s_un(a, S_TOFLOAT, o[0]);
    Scalar *y = o[1]->type == DT_F32 ? o[1] : s_un(a, S_TOFLOAT, o[1]);
    return s_bin(a, S_DIV, x, y);
}

/* Python's floor division: an int when both operands are (i // 2 can subscript). */
static Scalar *b_floordiv(Arena *a, Scalar **o, const double *p)
{
    Scalar *r = s_un(a, S_FLOOR, b_div(a, o, p));
    if (o[0]->type == DT_I32 && o[1]->type == DT_I32)
        r->type = DT_I32;
    return r;
}

static Scalar *b_and(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_AND, s_truth(a, o[0]), s_truth(a, o[1]));
}

static Scalar *b_or(Arena *a, Scalar **o, const double *p)
{
    (void)p;
    return s_bin(a, S_OR, s_truth(a, o[0]), s_truth(a, o[1]));
}

/* ------------------------------------------------------------------------
 * Matrix product (NumPy's matmul)
 * --------------------------------------------------------------------- */

Value *matmul(Elab *e, SrcLoc loc, Value *x, Value *y, const Node *nx, const Node *ny)
{
    Arena *a = e->arena;
    x = as_tensor(e, x, nx);
    y = as_tensor(e, y, ny);
    if (x->kind == V_ERR || y->kind == V_ERR)
        return v_err(a);
    if (x->kind != V_TENSOR || y->kind != V_TENSOR) {
        const Node *bad = x->kind != V_TENSOR ? nx : ny;
        Value *bv = x->kind != V_TENSOR ? x : y;
        diag_error(e->diag, bad->loc, "'@' multiplies tensors, not %s", v_describe(a, bv));
        return v_err(a);
    }
    if (e->comp) {
        diag_error(e->diag, loc, "'@' is not available inside an index expression; write the sum: sum[k](a[i, k] * b[k, j])");
        return v_err(a);
    }
    const Shape *sa = &x->t->shape, *sb = &y->t->shape;
    if (sa->rank == 0 || sb->rank == 0) {
        diag_error(e->diag, loc, "'@' needs tensors of rank 1 or more, got %s and %s", shape_str(a, sa),
                   shape_str(a, sb));
        return v_err(a);
    }
    /* contracted extents: last of x, first (rank 1) or second to last of y */
    Dim ka = sa->d[sa->rank - 1];
    Dim kb = sb->rank == 1 ? sb->d[0] : sb->d[sb->rank - 2];
    if (!dim_eq(ka, kb)) {
        diag_error(e->diag, loc, "cannot multiply %s by %s: inner dimensions %s and %s differ", shape_str(a, sa),
                   shape_str(a, sb), dim_str(a, ka), dim_str(a, kb));
        if (y->decl)
            diag_context_suffix(e->diag, y->decl);
        else if (x->decl)
            diag_context_suffix(e->diag, x->decl);
        return v_err(a);
    }
    /* batch axes: x[:-2] and y[:-2] broadcast */
    int bx = sa->rank >= 2 ? sa->rank - 2 : 0;
    int by = sb->rank >= 2 ? sb->rank - 2 : 0;
    int nb = bx > by ? bx : by;
    Shape out;
    memset(&out, 0, sizeof out);
    for (int j = 0; j < nb; j++) {
        Dim dx = j - (nb - bx) >= 0 ? sa->d[j - (nb - bx)] : dim_const(1);
        Dim dy = j - (nb - by) >= 0 ? sb->d[j - (nb - by)] : dim_const(1);
        if (!dim_eq(dx, dy) && !dim_eq(dx, dim_const(1)) && !dim_eq(dy, dim_const(1))) {
            diag_error(e->diag, loc, "cannot multiply %s by %s: batch dimensions %s and %s differ",
                       shape_str(a, sa), shape_str(a, sb), dim_str(a, dx), dim_str(a, dy));
            return v_err(a);
        }
        out.d[out.rank++] = dim_eq(dx, dim_const(1)) ? dy : dx;
    }
    int m_var = -1, n_var = -1;
    if (sa->rank >= 2) {
        m_var = out.rank;
        out.d[out.rank++] = sa->d[sa->rank - 2];
    }
    if (sb->rank >= 2) {
        n_var = out.rank;
        out.d[out.rank++] = sb->d[sb->rank - 1];
    }
    if (out.rank + 1 > KLC_MAXVARS) {
        diag_error(e->diag, loc, "'@' on tensors of this rank is not supported");
        return v_err(a);
    }
    Comp *c = comp_new(a, out.rank, 1);
    for (int j = 0; j < out.rank; j++)
        c->ext[j] = out.d[j];
    int k_var = out.rank;
    c->ext[k_var] = ka;
    c->red = RED_SUM;
    IrValue *m = ir_map(e->fn, &out, DT_F32, c, loc);
    Sub subx[KLC_MAXRANK], suby[KLC_MAXRANK];
    for (int j = 0; j < bx; j++) {
        int oj = nb - bx + j;
        subx[j] = dim_eq(sa->d[j], dim_const(1)) && !dim_eq(out.d[oj], dim_const(1)) ? sub_const(0) : sub_var(oj);
    }
    for (int j = 0; j < by; j++) {
        int oj = nb - by + j;
        suby[j] = dim_eq(sb->d[j], dim_const(1)) && !dim_eq(out.d[oj], dim_const(1)) ? sub_const(0) : sub_var(oj);
    }
    if (sa->rank >= 2) {
        subx[bx] = sub_var(m_var);
        subx[bx + 1] = sub_var(k_var);
    } else {
        subx[0] = sub_var(k_var);
    }
    if (sb->rank >= 2) {
        suby[by] = sub_var(k_var);
        suby[by + 1] = sub_var(n_var);
    } else {
        suby[0] = sub_var(k_var);
    }
    Scalar *rx = s_read(a, arg_slot(e->fn, m, x->t), sa->rank, subx, x->t->type);
    Scalar *ry = s_read(a, arg_slot(e->fn, m, y->t), sb->rank, suby, y->t->type);
    c->body = s_bin(a, S_MUL, rx, ry);
    return v_tensor(a, m, loc);
}

/* ------------------------------------------------------------------------
 * Operators
 * --------------------------------------------------------------------- */

static bool is_runtime(const Value *v)
{
    return v->kind == V_TENSOR || v->kind == V_WEIGHT || v->kind == V_SCALAR || v->kind == V_INDEX;
}

/* Integer arithmetic on compile-time ints (dimensions may involve N). */
static Value *int_binary(Elab *e, const Node *n, Value *x, Value *y)
{
    Arena *a = e->arena;
    Dim r;
    bool ok = true;
    bool cx = dim_is_const(x->i), cy = dim_is_const(y->i);
    switch (n->op) {
    case OP_ADD: ok = dim_add(x->i, y->i, &r); break;
    case OP_SUB: ok = dim_sub(x->i, y->i, &r); break;
    case OP_MUL:
        ok = dim_mul(x->i, y->i, &r);
        if (!ok && !cx && !cy) {
            diag_error(e->diag, n->loc, "cannot multiply %s by %s: the batch size cannot be squared",
                       dim_str(a, x->i), dim_str(a, y->i));
            return v_err(a);
        }
        break;
    case OP_MOD:
        if (!cx || !cy) {
            diag_error(e->diag, n->loc, "'%%' needs fixed ints; %s depends on the batch size",
                       dim_str(a, cx ? y->i : x->i));
            return v_err(a);
        }
        if (y->i.c == 0) {
            diag_error(e->diag, n->loc, "integer modulo by zero");
            return v_err(a);
        }
        /* Python's modulo takes the divisor's sign; x % -1 is 0 (C's INT64_MIN % -1 overflows) */
        r = dim_const(y->i.c == -1 ? 0 : x->i.c % y->i.c);
        if (r.c != 0 && (r.c < 0) != (y->i.c < 0))
            r.c += y->i.c;
        break;
    case OP_POW:
        if (!cx || !cy) {
            diag_error(e->diag, n->loc, "'**' needs fixed ints");
            return v_err(a);
        }
        if (y->i.c < 0)
            return v_float(a, pow((double)x->i.c, (double)y->i.c), n->loc);
        { /* by squaring: O(log exponent) steps, each overflow-checked */
            Dim base = x->i;
            int64_t k = y->i.c;
            r = dim_const(1);
            while (k > 0 && ok) {
                if (k & 1)
                    ok = dim_mul(r, base, &r);
                k >>= 1;
                if (k > 0 && ok)
                    ok = dim_mul(base, base, &base);
            }
        }
        break;
    default:
        KLC_UNREACHABLE();
    }
    if (!ok) {
        diag_error(e->diag, n->loc, "integer overflow in %s", node_text(a, n, 60));
        return v_err(a);
    }
    return v_dim(a, r, n->loc);
}

static Value *compare(Elab *e, const Node *n, Value *x, Value *y)
{
    Arena *a = e->arena;
    if (x->kind == V_STR && y->kind == V_STR) {
        int c = strcmp(x->s, y->s);
        if (n->op == OP_EQ)
            return v_bool(a, c == 0, n->loc);
        if (n->op == OP_NE)
            return v_bool(a, c != 0, n->loc);
    }
    if ((n->op == OP_EQ || n->op == OP_NE) && (x->kind == V_STR || y->kind == V_STR || x->kind == V_NONE ||
                                                 y->kind == V_NONE)) {
        bool eq = x->kind == y->kind && (x->kind == V_NONE || (x->kind == V_STR && !strcmp(x->s, y->s)));
        return v_bool(a, n->op == OP_EQ ? eq : !eq, n->loc);
    }
    if (x->kind == V_INT && y->kind == V_INT && !(dim_is_const(x->i) && dim_is_const(y->i))) {
        if (n->op == OP_EQ || n->op == OP_NE) {
            bool eq = dim_eq(x->i, y->i);
            return v_bool(a, n->op == OP_EQ ? eq : !eq, n->loc);
        }
        diag_error(e->diag, n->loc, "cannot order %s and %s: the batch size is not known at compile time",
                   dim_str(a, x->i), dim_str(a, y->i));
        return v_err(a);
    }
    return NULL; /* numbers and tensors: elementwise */
}

static Value *eval_binary(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    /* && and || short-circuit at compile time */
    if (n->op == OP_AND || n->op == OP_OR) {
        Value *x = eval(e, s, n->a);
        if (x->kind == V_ERR)
            return x;
        Value *y;
        if (x->kind == V_BOOL) {
            if (n->op == OP_AND && !x->b)
                return v_bool(a, false, n->loc);
            if (n->op == OP_OR && x->b)
                return v_bool(a, true, n->loc);
            y = eval(e, s, n->b);
            if (y->kind == V_ERR || y->kind == V_BOOL)
                return y;
            if (!is_runtime(y)) {
                diag_error(e->diag, n->b->loc, "'%s' needs bools, not %s", ast_binop_text(n->op), v_describe(a, y));
                return v_err(a);
            }
        } else {
            y = eval(e, s, n->b);
            if (y->kind == V_ERR)
                return y;
            if (!is_runtime(x)) {
                diag_error(e->diag, n->a->loc, "'%s' needs bools, not %s", ast_binop_text(n->op), v_describe(a, x));
                return v_err(a);
            }
        }
        Value *ops[2] = {x, y};
        const Node *nodes[2] = {n->a, n->b};
        return elementwise(e, n->loc, 2, ops, nodes, n->op == OP_AND ? b_and : b_or, NULL,
                           n->op == OP_AND ? "'&&'" : "'||'");
    }
    Value *x = eval(e, s, n->a);
    Value *y = eval(e, s, n->b);
    if (x->kind == V_ERR || y->kind == V_ERR)
        return v_err(a);
    if (n->op == OP_MATMUL)
        return matmul(e, n->loc, x, y, n->a, n->b);

    /* index arithmetic inside index expressions stays affine when it can */
    if (e->comp && (x->kind == V_INDEX || y->kind == V_INDEX) &&
        (n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL)) {
        bool xi = x->kind == V_INDEX || (x->kind == V_INT && dim_is_const(x->i));
        bool yi = y->kind == V_INDEX || (y->kind == V_INT && dim_is_const(y->i));
        if (xi && yi && !(n->op == OP_MUL && x->kind == V_INDEX && y->kind == V_INDEX)) {
            Sub sx = x->kind == V_INDEX ? x->sub : sub_const(x->i.c);
            Sub sy = y->kind == V_INDEX ? y->sub : sub_const(y->i.c);
            Sub r;
            memset(&r, 0, sizeof r);
            bool ok = true;
            if (n->op == OP_MUL) {
                const Sub *idx = x->kind == V_INDEX ? &sx : &sy;
                int64_t k = x->kind == V_INDEX ? sy.off : sx.off;
                for (int v = 0; v < KLC_MAXVARS; v++)
                    ok = ok && !__builtin_mul_overflow(idx->coef[v], k, &r.coef[v]);
                ok = ok && !__builtin_mul_overflow(idx->off, k, &r.off);
            } else if (n->op == OP_SUB) {
                for (int v = 0; v < KLC_MAXVARS; v++)
                    ok = ok && !__builtin_sub_overflow(sx.coef[v], sy.coef[v], &r.coef[v]);
                ok = ok && !__builtin_sub_overflow(sx.off, sy.off, &r.off);
            } else {
                for (int v = 0; v < KLC_MAXVARS; v++)
                    ok = ok && !__builtin_add_overflow(sx.coef[v], sy.coef[v], &r.coef[v]);
                ok = ok && !__builtin_add_overflow(sx.off, sy.off, &r.off);
            }
            if (!ok) {
                diag_error(e->diag, n->loc, "index arithmetic overflows");
                return v_err(a);
            }
            Value *v = v_new(a, V_INDEX, n->loc);
            v->sub = r;
            return v;
        }
    }

    if (x->kind == V_INT && y->kind == V_INT &&
        (n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL || n->op == OP_MOD || n->op == OP_POW))
        return int_binary(e, n, x, y);
    if (x->kind == V_INT && y->kind == V_INT && n->op == OP_FLOORDIV) {
        if (dim_is_const(y->i) && y->i.c == 0) {
            diag_error(e->diag, n->loc, "integer division by zero");
            return v_err(a);
        }
        if (dim_is_const(x->i) && dim_is_const(y->i)) {
            if (x->i.c == INT64_MIN && y->i.c == -1) {
                diag_error(e->diag, n->loc, "integer overflow in %s", node_text(a, n, 60));
                return v_err(a);
            }
            int64_t q = x->i.c / y->i.c;
            if ((x->i.c % y->i.c != 0) && ((x->i.c < 0) != (y->i.c < 0)))
                q--;
            return v_int(a, q, n->loc);
        }
        Dim r;
        if (dim_div_exact(x->i, y->i, &r))
            return v_dim(a, r, n->loc);
        diag_error(e->diag, n->loc, "cannot divide %s by %s: the batch size is not known at compile time",
                   dim_str(a, x->i), dim_str(a, y->i));
        return v_err(a);
    }
    if (n->op == OP_DIV && x->kind == V_INT && y->kind == V_INT && !(dim_is_const(x->i) && dim_is_const(y->i))) {
        diag_error(e->diag, n->loc, "cannot divide %s by %s: the batch size is not known at compile time",
                   dim_str(a, x->i), dim_str(a, y->i));
        return v_err(a);
    }
    if ((x->kind == V_STR && y->kind == V_STR) || (x->kind == V_LIST && y->kind == V_LIST)) {
        size_t len = x->kind == V_STR ? strlen(x->s) + strlen(y->s) : (size_t)x->n + (size_t)y->n;
        if (n->op == OP_ADD && len > MAX_LIST_LEN) {
            diag_error(e->diag, n->loc, "this %s would have %zu %s; at most %d are supported",
                       x->kind == V_STR ? "string" : "list", len, x->kind == V_STR ? "characters" : "elements",
                       MAX_LIST_LEN);
            return v_err(a);
        }
    }
    if (x->kind == V_STR && y->kind == V_STR && n->op == OP_ADD)
        return v_str(a, arena_printf(a, "%s%s", x->s, y->s), n->loc);
    if (x->kind == V_LIST && y->kind == V_LIST && n->op == OP_ADD) {
        Value *l = v_new(a, V_LIST, n->loc);
        l->n = x->n + y->n;
        l->items = arena_alloc(a, sizeof(Value *) * (size_t)(l->n ? l->n : 1));
        for (int i = 0; i < x->n; i++)
            l->items[i] = x->items[i];
        for (int i = 0; i < y->n; i++)
            l->items[x->n + i] = y->items[i];
        return l;
    }
    if (n->op >= OP_EQ && n->op <= OP_GE) {
        Value *c = compare(e, n, x, y);
        if (c)
            return c;
    }
    ScalarBuilder build = NULL;
    switch (n->op) {
    case OP_ADD: build = b_add; break;
    case OP_SUB: build = b_sub; break;
    case OP_MUL: build = b_mul; break;
    case OP_DIV: build = b_div; break;
    case OP_FLOORDIV: build = b_floordiv; break;
    case OP_MOD: build = b_mod; break;
    case OP_POW: build = b_pow; break;
    case OP_EQ: build = b_eq; break;
    case OP_NE: build = b_ne; break;
    case OP_LT: build = b_lt; break;
    case OP_LE: build = b_le; break;
    case OP_GT: build = b_gt; break;
    case OP_GE: build = b_ge; break;
    default: KLC_UNREACHABLE();
    }
    Value *ops[2] = {x, y};
    const Node *nodes[2] = {n->a, n->b};
    const char *what = arena_printf(a, "'%s'", ast_binop_text(n->op));
    return elementwise(e, n->loc, 2, ops, nodes, build, NULL, what);
}

static Value *eval_unary(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *x = eval(e, s, n->a);
    if (x->kind == V_ERR)
        return x;
    if (n->op == '+') {
        if (x->kind == V_INT || x->kind == V_FLOAT || is_runtime(x))
            return x;
    } else if (n->op == '-') {
        if (x->kind == V_INT) {
            Dim r;
            if (dim_sub(dim_const(0), x->i, &r))
                return v_dim(a, r, n->loc);
        }
        if (x->kind == V_FLOAT)
            return v_float(a, -x->f, n->loc);
        if (x->kind == V_INDEX) {
            Value *v = v_new(a, V_INDEX, n->loc);
            bool ok = true;
            for (int k = 0; k < KLC_MAXVARS; k++)
                ok = ok && !__builtin_sub_overflow((int64_t)0, x->sub.coef[k], &v->sub.coef[k]);
            ok = ok && !__builtin_sub_overflow((int64_t)0, x->sub.off, &v->sub.off);
            if (!ok) {
                diag_error(e->diag, n->loc, "index arithmetic overflows");
                return v_err(a);
            }
            return v;
        }
        if (is_runtime(x)) {
            Value *ops[1] = {x};
            const Node *nodes[1] = {n->a};
            return elementwise(e, n->loc, 1, ops, nodes, b_neg, NULL, "unary '-'");
        }
    } else if (n->op == '!') {
        if (x->kind == V_BOOL)
            return v_bool(a, !x->b, n->loc);
        if (is_runtime(x)) {
            Value *ops[1] = {x};
            const Node *nodes[1] = {n->a};
            return elementwise(e, n->loc, 1, ops, nodes, b_not, NULL, "'!'");
        }
    }
    diag_error(e->diag, n->loc, "unary '%c' cannot be applied to %s", n->op, v_describe(a, x));
    return v_err(a);
}

static Value *eval_ternary(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *c = eval(e, s, n->a);
    if (c->kind == V_ERR)
        return c;
    if (c->kind == V_BOOL) /* compile time: only the chosen branch is evaluated */
        return eval(e, s, c->b ? n->b : n->c);
    if (!is_runtime(c)) {
        diag_error(e->diag, n->a->loc, "the condition of '?:' must be a bool, not %s", v_describe(a, c));
        return v_err(a);
    }
    Value *x = eval(e, s, n->b), *y = eval(e, s, n->c);
    Value *ops[3] = {c, x, y};
    const Node *nodes[3] = {n->a, n->b, n->c};
    if (x->kind == V_ERR || y->kind == V_ERR)
        return v_err(a);
    return elementwise(e, n->loc, 3, ops, nodes, b_select, NULL, "'?:'");
}

/* ------------------------------------------------------------------------
 * Names, lists, attributes, calls
 * --------------------------------------------------------------------- */

/* Suggestions for an unknown name in an expression: builtins, then the scopes. */
static void names_in_scope(const void *ctx, Arena *a, PtrVec *out)
{
    push_builtin_names(a, out);
    push_scope_names(a, out, ctx);
}

static Value *eval_name(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    if (n->flags & NODE_REPORTED)
        return v_err(a);
    Value *v = scope_lookup(s, n->name);
    if (v) {
        if (v->kind == V_WEIGHT && e->in_call)
            return as_tensor(e, v, n);
        return v;
    }
    const Builtin *b = builtin_find(n->name);
    if (b)
        return builtin_call(e, b, NULL, n); /* a builtin used as a value */
    report_unknown_name(e->diag, a, n->loc, n->name, names_in_scope, s);
    return v_err(a);
}

static Value *eval_list(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *l = v_new(a, V_LIST, n->loc);
    l->n = n->list.len;
    l->items = arena_alloc(a, sizeof(Value *) * (size_t)(l->n ? l->n : 1));
    /* a list with a poisoned element still carries the others (a Sequential keeps checking) */
    for (int i = 0; i < n->list.len; i++)
        l->items[i] = eval(e, s, n->list.items[i]);
    return l;
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

static Value *eval_attr(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *base = eval(e, s, n->a);
    if (base->kind == V_ERR)
        return base;
    if (base->kind == V_MODEL) {
        static const char *const methods[] = {"compile", "fit", "add", "summary"};
        for (int i = 0; i < 4; i++)
            if (strcmp(n->name, methods[i]) == 0) {
                Value *m = v_new(a, V_METHOD, n->loc);
                m->model = base->model;
                m->s = methods[i];
                return m;
            }
        diag_error(e->diag, n->loc, "a model has no attribute '%s'%s (klc models have compile, fit and add)",
                   n->name, suggest(a, n->name, methods, 4));
        return v_err(a);
    }
    /* a weight's shape is known in build(), before it becomes a tensor in call(): shape(kernel) */
    if (base->kind == V_WEIGHT && strcmp(n->name, "shape") == 0)
        return shape_list(e, &base->weight->shape, n->loc);
    if (base->kind == V_WEIGHT && strcmp(n->name, "ndim") == 0)
        return v_int(a, base->weight->shape.rank, n->loc);
    if (base->kind == V_WEIGHT && (base = as_tensor(e, base, n->a))->kind == V_ERR)
        return base;
    if (base->kind == V_TENSOR && strcmp(n->name, "shape") == 0)
        return shape_list(e, &base->t->shape, n->loc);
    if (base->kind == V_TENSOR && strcmp(n->name, "ndim") == 0)
        return v_int(a, base->t->shape.rank, n->loc);
    diag_error(e->diag, n->loc, "%s has no attribute '%s'", v_describe(a, base), n->name);
    return v_err(a);
}

/* A[i] on a compile-time list (negative indices count from the end). */
static Value *eval_index(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    Value *base = eval(e, s, n->a);
    if (base->kind == V_ERR)
        return base;
    if (base->kind == V_LIST) {
        if (n->list.len != 1) {
            diag_error(e->diag, n->loc, "a list takes one subscript");
            return v_err(a);
        }
        Value *iv = eval(e, s, n->list.items[0]);
        int64_t i;
        if (!want_int(e, iv, n->list.items[0], "a list subscript", &i))
            return v_err(a);
        int64_t j = i < 0 ? i + base->n : i;
        if (j < 0 || j >= base->n) {
            diag_error(e->diag, n->list.items[0]->loc, "list index %lld out of range for a list of %d", (long long)i,
                       base->n);
            return v_err(a);
        }
        return base->items[j];
    }
    if (base->kind == V_TENSOR || base->kind == V_WEIGHT)
        return comp_read(e, s, n);
    diag_error(e->diag, n->loc, "%s cannot be subscripted", v_describe(a, base));
    return v_err(a);
}

Args *eval_args(Elab *e, Scope *s, const Node *call)
{
    Arena *a = e->arena;
    Args *args = arena_alloc(a, sizeof *args);
    int n = call->list.len;
    args->pos = arena_alloc(a, sizeof(Value *) * (size_t)(n + 1));
    args->pos_node = arena_alloc(a, sizeof(Node *) * (size_t)(n + 1));
    args->kw = arena_alloc(a, sizeof(Value *) * (size_t)(n + 1));
    args->kw_node = arena_alloc(a, sizeof(Node *) * (size_t)(n + 1));
    args->kw_name = arena_alloc(a, sizeof(char *) * (size_t)(n + 1));
    args->loc = call->loc;
    args->call = call;
    for (int i = 0; i < n; i++) {
        const Node *arg = call->list.items[i];
        if (arg->kind == N_KWARG) {
            for (int k = 0; k < args->n_kw; k++)
                if (strcmp(args->kw_name[k], arg->name) == 0) {
                    diag_error(e->diag, arg->loc, "keyword argument '%s' given twice", arg->name);
                    break;
                }
            args->kw_name[args->n_kw] = arg->name;
            args->kw_node[args->n_kw] = arg;
            args->kw[args->n_kw++] = eval(e, s, arg->a);
        } else {
            if (args->n_kw > 0) {
                diag_error(e->diag, arg->loc, "positional argument after keyword arguments");
                continue;
            }
            args->pos_node[args->n_pos] = arg;
            args->pos[args->n_pos++] = eval(e, s, arg);
        }
    }
    return args;
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

/* model.fit(x_train, y_train, ...) as in Keras: the data is given to the trainer at run
 * time.  Said before x_train is looked up (it is no name of the program). */
static bool fit_with_data(Elab *e, const Value *callee, const Node *call)
{
    if (callee->kind != V_METHOD || strcmp(callee->s, "fit"))
        return false;
    int pos = 0;
    for (int i = 0; i < call->list.len; i++) {
        const Node *arg = call->list.items[i];
        const char *name = arg->kind == N_KWARG ? arg->name : pos == 0 ? "x" : pos == 1 ? "y" : "";
        const Node *val = arg->kind == N_KWARG ? arg->a : arg;
        if (arg->kind != N_KWARG)
            pos++;
        if ((!strcmp(name, "x") || !strcmp(name, "y")) && val->kind != N_NONE) {
            diag_error(e->diag, arg->loc, "training data comes at run time, not in fit(): pass it to the "
                       "trainer (fit --x x.npy --y y.npy)");
            return true;
        }
    }
    return false;
}

static Value *eval_call(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    const Builtin *b = n->a->kind == N_NAME && !scope_lookup(s, n->a->name) ? builtin_find(n->a->name) : NULL;
    if (b) {
        if (!builtin_usable_here(e, b, n))
            return v_err(a);
        Args *args = eval_args(e, s, n);
        return builtin_call(e, b, args, n);
    }
    Value *callee = eval(e, s, n->a);
    if (callee->kind == V_ERR) {
        eval_args(e, s, n); /* still check the arguments */
        return callee;
    }
    if (fit_with_data(e, callee, n))
        return v_err(a);
    Args *args = eval_args(e, s, n);
    return call_value(e, callee, args, n);
}

/* Inline a user `def`: bind its parameters and evaluate its body. */
static Value *call_def(Elab *e, Value *fnv, Args *args, const Node *call)
{
    Arena *a = e->arena;
    const Node *def = fnv->def;
    int np = def->list.len;
    const char **names = arena_alloc(a, sizeof(char *) * (size_t)(np + 1));
    for (int i = 0; i < np; i++)
        names[i] = def->list.items[i]->name;
    Value **vals = arena_alloc(a, sizeof(Value *) * (size_t)(np + 1));
    const char *what = arena_printf(a, "'%s'", def->name);
    if (!bind_args(e, args, what, np, names, vals, NULL))
        return v_err(a);
    for (int i = 0; i < np; i++) {
        if (!vals[i]) {
            diag_error(e->diag, call->loc, "%s is missing argument '%s'", what, names[i]);
            return v_err(a);
        }
        if (vals[i]->kind == V_ERR)
            return v_err(a);
    }
    if (e->depth > 32) {
        diag_error(e->diag, call->loc, "'%s' calls itself too deeply (defs are inlined; recursion is not allowed)",
                   def->name);
        return v_err(a);
    }
    Scope *sc = scope_new(a, e->sema->globals);
    for (int i = 0; i < np; i++)
        scope_bind(a, sc, names[i], vals[i]);
    e->depth++;
    Value *r = eval(e, sc, def->a);
    e->depth--;
    return r;
}

Value *call_value(Elab *e, Value *callee, Args *args, const Node *call)
{
    Arena *a = e->arena;
    switch (callee->kind) {
    case V_FN:
        if (callee->def)
            return call_def(e, callee, args, call);
        if (callee->bare && args->n_pos == 1 && args->n_kw == 0) /* an activation hyperparameter */
            return apply_fn(e, callee, args->pos[0], args->pos_node[0]);
        return builtin_call(e, callee->fn, args, call);
    case V_CLASS:
        return layer_spec(e, callee->def, args, call);
    case V_METHOD:
        return model_method(e, callee, args, call);
    case V_CONFIG:
        diag_error(e->diag, call->loc, "'%s(...)' is a configuration, not a function", callee->s);
        return v_err(a);
    case V_LAYER:
        diag_error(e->diag, call->loc,
                   "calling a layer on a tensor is not supported: layers are composed in Sequential([...])");
        return v_err(a);
    default:
        diag_error(e->diag, call->loc, "%s is not callable", v_describe(a, callee));
        return v_err(a);
    }
}

static Value *eval_node(Elab *e, Scope *s, const Node *n);

/* Poison (V_ERR) means an error was reported: one that was not would let a
 * wrong program pass as correct, so that is an internal fault. */
Value *eval(Elab *e, Scope *s, const Node *n)
{
    Value *v = eval_node(e, s, n);
    if (v->kind == V_ERR && diag_error_count(e->diag) == 0)
        klc_internal_fault(__FILE__, __LINE__, "an expression failed without a message (%s:%d)",
                           n->loc.file ? n->loc.file->path : "?", n->loc.start);
    return v;
}

static Value *eval_node(Elab *e, Scope *s, const Node *n)
{
    Arena *a = e->arena;
    if (++e->sema->steps > MAX_EVAL_STEPS) {
        if (e->sema->steps == MAX_EVAL_STEPS + 1)
            diag_error(e->diag, n->loc, "checking this program takes too long (more than %ld evaluation steps); "
                       "do defs call each other many times over?", MAX_EVAL_STEPS);
        return v_err(a);
    }
    if (n->depth > MAX_EXPR_DEPTH) {
        diag_error(e->diag, n->loc, "expression nested too deeply (more than %d levels)", MAX_EXPR_DEPTH);
        return v_err(a);
    }
    switch (n->kind) {
    case N_INT: return v_int(a, n->ival, n->loc);
    case N_FLOAT: return v_float(a, n->fval, n->loc);
    case N_STR: return v_str(a, n->name, n->loc);
    case N_BOOL: return v_bool(a, n->bval, n->loc);
    case N_NONE: return v_new(a, V_NONE, n->loc);
    case N_NAME: return eval_name(e, s, n);
    case N_LIST: return eval_list(e, s, n);
    case N_UNARY: return eval_unary(e, s, n);
    case N_BINARY: return eval_binary(e, s, n);
    case N_TERNARY: return eval_ternary(e, s, n);
    case N_CALL: return eval_call(e, s, n);
    case N_INDEX: return eval_index(e, s, n);
    case N_ATTR: return eval_attr(e, s, n);
    case N_REDUCE: return comp_reduce(e, s, n);
    case N_KWARG:
        diag_error(e->diag, n->loc, "keyword arguments are only allowed in calls");
        return v_err(a);
    default:
        diag_error(e->diag, n->loc, "this is not an expression");
        return v_err(a);
    }
}

/* ------------------------------------------------------------------------
 * Statements
 * --------------------------------------------------------------------- */

static bool is_call_to(const Node *n, const char *name)
{
    return n && n->kind == N_CALL && n->a->kind == N_NAME && strcmp(n->a->name, name) == 0;
}

static void exec_stmt(Elab *e, Scope *s, const Node *st)
{
    Arena *a = e->arena;
    switch (st->kind) {
    case N_ASSIGN: {
        const Node *t = st->a;
        if (t->kind == N_INDEX) {
            if (!e->in_call) {
                diag_error(e->diag, st->loc, "index expressions define tensors and are only allowed in call()");
                return;
            }
            Value *v = comp_statement(e, s, st);
            if (t->a->kind == N_NAME)
                scope_bind(a, s, t->a->name, v);
            return;
        }
        if (t->kind != N_NAME) {
            diag_error(e->diag, t->loc, "cannot assign to %s; assign to a name", node_text(a, t, 40));
            return;
        }
        if (st->b) {
            diag_error(e->diag, st->b->loc, "a declared shape needs index variables: %s[i, j] : [...] = ...",
                       t->name);
            return;
        }
        const char *saved = e->assign_target;
        e->assign_target = is_call_to(st->c, "add_weight") ? t->name : NULL;
        Value *v = eval(e, s, st->c);
        e->assign_target = saved;
        if (v->kind == V_TENSOR && !v->t->name && e->in_call)
            v->t->name = t->name;
        Value *old = scope_lookup(s, t->name);
        if (old && old->kind == V_WEIGHT && e->in_call) {
            diag_error(e->diag, t->loc, "'%s' is a weight; weights change only through assign(%s, value) "
                       "(for non-trainable state) or the optimizer", t->name, t->name);
            return;
        }
        scope_bind(a, s, t->name, v);
        return;
    }
    case N_IF: {
        Value *c = eval(e, s, st->a);
        bool b;
        if (!want_bool(e, c, st->a, "an 'if' condition", &b))
            return;
        if (b)
            exec_block(e, s, st->b);
        else if (st->c && st->c->kind == N_BLOCK)
            exec_block(e, s, st->c);
        else if (st->c)
            exec_stmt(e, s, st->c);
        return;
    }
    case N_RETURN: {
        if (!e->in_call) {
            diag_error(e->diag, st->loc, "'return' is only allowed in call()");
            return;
        }
        Value *v = eval(e, s, st->a);
        if (v->kind == V_WEIGHT)
            v = as_tensor(e, v, st->a);
        if (v->kind != V_ERR && v->kind != V_TENSOR) {
            diag_error(e->diag, st->a->loc, "call() must return a tensor, not %s", v_describe(a, v));
            v = v_err(a);
        }
        e->result = v;
        e->returned = true;
        return;
    }
    case N_EXPR: {
        const Node *x = st->a;
        Value *v = eval(e, s, x);
        if (v->kind == V_ERR || v->kind == V_NONE)
            return;
        diag_error(e->diag, x->loc, "the value of this expression is not used");
        return;
    }
    case N_BLOCK:
        exec_block(e, s, st);
        return;
    default:
        diag_error(e->diag, st->loc, "this is not a statement");
    }
}

/* Statements in order until a return.  A statement right after a `return`
 * of the same block can never run and is an error; after a return inside a
 * compile-time `if`, the rest is simply not part of this specialisation. */
void exec_block(Elab *e, Scope *s, const Node *block)
{
    for (int i = 0; i < block->list.len; i++) {
        const Node *st = block->list.items[i];
        if (!st)
            continue;
        if (i > 0 && block->list.items[i - 1] && block->list.items[i - 1]->kind == N_RETURN) {
            diag_error(e->diag, st->loc, "statement after 'return' is never executed");
            return;
        }
        if (e->returned)
            return;
        exec_stmt(e, s, st);
    }
}
