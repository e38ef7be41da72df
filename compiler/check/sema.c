/*
 * sema.c — the program: prelude, imports, declarations, name resolution,
 * top-level statements, models and their compile/fit settings.
 *
 * Order of work:
 *   1. parse the prelude and the main file (and, transitively, its imports);
 *   2. declare every layer class and def (so order in the file does not
 *      matter), check each declaration, and resolve every name used in
 *      their bodies — mistakes in layers that no model uses are found too;
 *   3. run the main file's statements in order: Sequential([...]) builds a
 *      model and instantiates its layers at once, compile() and fit()
 *      record settings;
 *   4. add each compiled model's loss to its two functions.
 */
#define _XOPEN_SOURCE 700 /* realpath, PATH_MAX */
#include "check/sema.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check/elab.h"
#include "front/parse.h"

#include "prelude.inc"

/* ------------------------------------------------------------------------
 * Name resolution inside declarations
 * --------------------------------------------------------------------- */

typedef struct NameCheck {
    Sema *sema;
    PtrVec locals;   /* const char*: names defined anywhere in the declaration */
    PtrVec scoped;   /* const char*: index variables in scope (a stack) */
} NameCheck;

static bool has(const PtrVec *v, const char *name)
{
    for (int i = 0; i < v->len; i++)
        if (!strcmp(v->items[i], name))
            return true;
    return false;
}

static void collect_targets(Arena *a, const Node *n, PtrVec *out)
{
    if (!n)
        return;
    switch (n->kind) {
    case N_ASSIGN:
        if (n->a->kind == N_NAME)
            vec_push(a, out, (void *)n->a->name);
        else if (n->a->kind == N_INDEX && n->a->a->kind == N_NAME)
            vec_push(a, out, (void *)n->a->a->name);
        return;
    case N_IF:
        collect_targets(a, n->b, out);
        collect_targets(a, n->c, out);
        return;
    case N_BLOCK:
        for (int i = 0; i < n->list.len; i++)
            collect_targets(a, n->list.items[i], out);
        return;
    default:
        return;
    }
}

/* Suggestions for an unknown name in a declaration: its own names, then the globals and builtins. */
static void names_in_declaration(const void *ctx, Arena *a, PtrVec *out)
{
    const NameCheck *nc = ctx;
    for (int i = 0; i < nc->locals.len; i++)
        vec_push(a, out, nc->locals.items[i]);
    for (int i = 0; i < nc->scoped.len; i++)
        vec_push(a, out, nc->scoped.items[i]);
    push_scope_names(a, out, nc->sema->globals);
    push_builtin_names(a, out);
}

static void report_unknown(NameCheck *nc, Node *n)
{
    report_unknown_name(nc->sema->diag, nc->sema->arena, n->loc, n->name, names_in_declaration, nc);
    n->flags |= NODE_REPORTED;
}

static void check_expr(NameCheck *nc, Node *n);

static void check_name(NameCheck *nc, Node *n)
{
    if (has(&nc->scoped, n->name) || has(&nc->locals, n->name) || scope_lookup(nc->sema->globals, n->name) ||
        builtin_find(n->name))
        return;
    report_unknown(nc, n);
}

static void check_expr(NameCheck *nc, Node *n)
{
    if (!n || n->depth > 200)
        return;
    Arena *a = nc->sema->arena;
    switch (n->kind) {
    case N_NAME:
        check_name(nc, n);
        return;
    case N_ATTR:
        check_expr(nc, n->a);
        return;
    case N_KWARG:
        check_expr(nc, n->a);
        return;
    case N_REDUCE: {
        int mark = nc->scoped.len;
        for (int i = 0; i < n->list.len; i++) {
            check_expr(nc, n->list.items[i]->a);
            vec_push(a, &nc->scoped, (void *)n->list.items[i]->name);
        }
        check_expr(nc, n->a);
        nc->scoped.len = mark;
        return;
    }
    default:
        break;
    }
    check_expr(nc, n->a);
    check_expr(nc, n->b);
    check_expr(nc, n->c);
    for (int i = 0; i < n->list.len; i++)
        check_expr(nc, n->list.items[i]);
}

static void check_stmt(NameCheck *nc, Node *n)
{
    if (!n)
        return;
    Arena *a = nc->sema->arena;
    switch (n->kind) {
    case N_ASSIGN:
        if (n->a->kind == N_INDEX) {
            int mark = nc->scoped.len;
            check_expr(nc, n->b);
            for (int i = 0; i < n->a->list.len; i++)
                if (n->a->list.items[i]->kind == N_NAME)
                    vec_push(a, &nc->scoped, (void *)n->a->list.items[i]->name);
            check_expr(nc, n->c);
            nc->scoped.len = mark;
        } else {
            check_expr(nc, n->b);
            check_expr(nc, n->c);
        }
        return;
    case N_IF:
        check_expr(nc, n->a);
        check_stmt(nc, n->b);
        check_stmt(nc, n->c);
        return;
    case N_BLOCK:
        for (int i = 0; i < n->list.len; i++)
            check_stmt(nc, n->list.items[i]);
        return;
    case N_RETURN:
    case N_EXPR:
        check_expr(nc, n->a);
        return;
    default:
        return;
    }
}

static void check_layer_names(Sema *s, Node *cls)
{
    Arena *a = s->arena;
    NameCheck nc = {s, {0}, {0}};
    for (int i = 0; i < cls->list.len; i++) {
        vec_push(a, &nc.locals, (void *)cls->list.items[i]->name);
        check_expr(&nc, cls->list.items[i]->a); /* defaults see earlier hyperparameters and globals */
    }
    for (int i = 0; i < cls->list2.len; i++) {
        Node *m = cls->list2.items[i];
        if (!m)
            continue;
        if (m->kind == N_BUILD)
            for (int k = 0; k < m->list.len; k++) {
                Node *p = m->list.items[k];
                vec_push(a, &nc.locals, (void *)p->name);
                for (int d = 0; d < p->list.len; d++)
                    if (p->list.items[d]->kind == N_NAME)
                        vec_push(a, &nc.locals, (void *)p->list.items[d]->name);
            }
        if (m->kind == N_CALLDEF)
            for (int k = 0; k < m->list.len; k++)
                vec_push(a, &nc.locals, (void *)m->list.items[k]->name);
        collect_targets(a, m->a, &nc.locals);
    }
    for (int i = 0; i < cls->list2.len; i++)
        if (cls->list2.items[i])
            check_stmt(&nc, cls->list2.items[i]->a);
}

static void check_def_names(Sema *s, Node *def)
{
    NameCheck nc = {s, {0}, {0}};
    for (int i = 0; i < def->list.len; i++)
        vec_push(s->arena, &nc.locals, (void *)def->list.items[i]->name);
    check_expr(&nc, def->a);
}

/* ------------------------------------------------------------------------
 * Files, the prelude and imports
 * --------------------------------------------------------------------- */

static Node *load(Sema *s, SourceFile *f, int *errors)
{
    vec_push(s->arena, &s->program->files, f);
    return parse_file(s->arena, s->diag, f, errors);
}

static void declare(Sema *s, Node *item, bool user)
{
    Arena *a = s->arena;
    if (item->kind == N_LAYER || item->kind == N_DEF) {
        Value *old = scope_lookup_local(s->globals, item->name);
        if (old && user) {
            diag_error(s->diag, item->loc, "'%s' is already defined", item->name);
            SrcLoc prev = old->kind == V_CLASS || (old->kind == V_FN && old->def) ? old->def->loc : old->loc;
            if (prev.file)
                diag_note(s->diag, prev, "'%s' was defined here", item->name);
            return;
        }
        Value *v = v_new(a, item->kind == N_LAYER ? V_CLASS : V_FN, item->loc);
        v->def = item;
        v->s = item->name;
        scope_bind(a, s->globals, item->name, v);
    }
}

static void declare_file(Sema *s, Node *prog, int *errors, bool is_import);

static const char *dir_of(Arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    if (slash == path)
        return "/";
    return arena_strndup(a, path, (size_t)(slash - path));
}

/* The note under an error in an imported file: where it was imported. */
static const char *import_context(Sema *s, const Node *imp)
{
    return arena_printf(s->arena, "\"%s\" is imported here", imp->name);
}

static void do_import(Sema *s, Node *imp, int *errors)
{
    Arena *a = s->arena;
    const char *rel = imp->name;
    if (!rel[0]) {
        diag_error(s->diag, imp->loc, "import needs a file name");
        return;
    }
    const char *dir = dir_of(a, imp->loc.file->path);
    /* relative to the importing file; "lib/x.kl", not "./lib/x.kl", beside a bare file name */
    const char *path = rel[0] == '/' || !strcmp(dir, ".") ? rel : arena_printf(a, "%s/%s", dir, rel);
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        diag_error(s->diag, imp->loc, "cannot import \"%s\": %s", rel, strerror(errno));
        return;
    }
    char main_real[PATH_MAX];
    if (s->main_file && realpath(s->main_file->path, main_real) && !strcmp(real, main_real)) {
        diag_error(s->diag, imp->loc, "\"%s\" imports the main file itself", rel);
        return;
    }
    for (int i = 0; i < s->imported.len; i++)
        if (!strcmp(s->imported.items[i], real))
            return; /* already imported: importing twice (or in a cycle) is harmless */
    vec_push(a, &s->imported, arena_strdup(a, real));
    if (s->import_depth > 32) {
        diag_error(s->diag, imp->loc, "imports nested too deeply");
        return;
    }
    struct stat st;
    if (stat(real, &st) == 0 && !S_ISREG(st.st_mode)) { /* a directory, /dev/zero, a pipe that never ends */
        diag_error(s->diag, imp->loc, "cannot import \"%s\": not a regular file", rel);
        return;
    }
    SourceFile *f = source_read(a, path);
    if (!f) {
        diag_error(s->diag, imp->loc, "cannot read \"%s\": %s", rel, strerror(errno));
        return;
    }
    diag_push_context(s->diag, imp->loc, import_context(s, imp)); /* its syntax errors too */
    Node *prog = load(s, f, errors);
    vec_push(a, &s->import_progs, prog);
    vec_push(a, &s->import_sites, imp);
    s->import_depth++;
    declare_file(s, prog, errors, true);
    diag_pop_context(s->diag);
    s->import_depth--;
}

static void declare_file(Sema *s, Node *prog, int *errors, bool is_import)
{
    for (int i = 0; i < prog->list.len; i++) {
        Node *it = prog->list.items[i];
        if (!it)
            continue;
        if (it->kind == N_IMPORT)
            do_import(s, it, errors);
        else if (it->kind == N_LAYER || it->kind == N_DEF)
            declare(s, it, true);
        else if (is_import)
            diag_error(s->diag, it->loc, "an imported file may only declare layers and defs (and import others)");
    }
}

static void check_declarations(Sema *s, Node *prog)
{
    Elab e = {0};
    e.sema = s;
    e.arena = s->arena;
    e.diag = s->diag;
    for (int i = 0; i < prog->list.len; i++) {
        Node *it = prog->list.items[i];
        if (!it)
            continue;
        if (it->kind == N_LAYER) {
            layer_check_class(&e, it);
            check_layer_names(s, it);
        } else if (it->kind == N_DEF) {
            for (int p = 0; p < it->list.len; p++)
                for (int q = 0; q < p; q++)
                    if (!strcmp(it->list.items[p]->name, it->list.items[q]->name))
                        diag_error(s->diag, it->list.items[p]->loc, "parameter '%s' appears twice",
                                   it->list.items[p]->name);
            check_def_names(s, it);
        }
    }
}

/* ------------------------------------------------------------------------
 * Models
 * --------------------------------------------------------------------- */

static void fit_defaults(FitCfg *f)
{
    memset(f, 0, sizeof *f);
    f->epochs = 1;
    f->batch_size = 32;
    f->verbose = 1;
    f->shuffle = true;
}

static void optimizer_defaults(OptimizerCfg *o, OptKind kind)
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

/* The model's input, [N] + the shape of one sample. */
static void set_input_shape(Model *m, const Shape *sample, DType type)
{
    m->has_input = true;
    m->input_shape.rank = sample->rank + 1;
    m->input_shape.d[0] = dim_batch();
    for (int j = 0; j < sample->rank; j++)
        m->input_shape.d[j + 1] = sample->d[j];
    m->input_type = type;
}

/* The input value "x" of both functions, which are the identity until layers are added. */
static void make_input(Model *m)
{
    m->train->input = ir_new(m->train, IR_INPUT, &m->input_shape, m->input_type, m->loc);
    m->infer->input = ir_new(m->infer, IR_INPUT, &m->input_shape, m->input_type, m->loc);
    m->train->input->name = m->infer->input->name = "x";
    m->train->output = m->train->input;
    m->infer->output = m->infer->input;
    m->output_shape = m->input_shape;
    m->output_type = m->input_type;
}

Value *sema_sequential(Elab *e, Args *args, const Node *call)
{
    Sema *s = e->sema;
    Arena *a = e->arena;
    static const char *const names[] = {"layers", "name", "trainable"};
    Value *v[3];
    const Node *nd[3];
    if (!bind_args(e, args, "Sequential()", 3, names, v, nd))
        return v_err(a);
    if (v[0] && v[0]->kind != V_LIST && v[0]->kind != V_ERR) {
        /* Sequential(Input(...), Dense(...)): one message, not one per misplaced argument */
        diag_error(e->diag, nd[0]->loc, "Sequential takes a list of layers: Sequential([...])");
        return v_err(a);
    }
    if (e->fn || e->in_build) {
        diag_error(e->diag, call->loc, "models are declared at the top level of a file");
        return v_err(a);
    }
    if (!e->model_var) {
        diag_error(e->diag, call->loc, "give the model a name: model = Sequential([...]);");
        return v_err(a);
    }
    Model *m = arena_alloc(a, sizeof *m);
    m->var = e->model_var;
    m->loc = call->loc;
    fit_defaults(&m->fit);
    optimizer_defaults(&m->opt, OPT_RMSPROP);
    m->train = ir_func_new(a, "train", true);
    m->infer = ir_func_new(a, "infer", false);
    if (v[1] && v[1]->kind == V_STR && v[1]->s[0]) {
        m->keras_name = v[1]->s;
    } else if (v[1] && v[1]->kind != V_NONE) {
        diag_error(e->diag, nd[1]->loc, "a model's name must be a string");
        m->keras_name = "sequential";
    } else { /* as Keras' auto_name: only unnamed models take a number */
        m->keras_name = s->n_models ? arena_printf(a, "sequential_%d", s->n_models) : "sequential";
        s->n_models++;
    }
    for (int i = 0; i < s->program->models.len; i++) {
        Model *o = s->program->models.items[i];
        if (!strcmp(o->var, m->var))
            diag_error(e->diag, call->loc, "a model named '%s' already exists; give each model its own name", m->var);
    }
    vec_push(a, &s->program->models, m);
    if (v[2] && v[2]->kind != V_BOOL) {
        diag_error(e->diag, nd[2]->loc, "trainable must be a bool");
    }
    Value *mv = v_new(a, V_MODEL, call->loc);
    mv->model = m;
    if (!v[0]) {
        diag_error(e->diag, call->loc, "Sequential needs a list of layers: Sequential([Input(shape = [...]), ...])");
        m->broken = true;
        return mv;
    }
    if (v[0]->kind == V_ERR) { /* anything else but a list was refused above */
        m->broken = true;
        return mv;
    }
    const Node *list_node = nd[0]->kind == N_KWARG ? nd[0]->a : nd[0];
    for (int i = 0; i < v[0]->n; i++) {
        Value *item = v[0]->items[i];
        const Node *in = list_node->kind == N_LIST && i < list_node->list.len ? list_node->list.items[i] : call;
        if (item->kind == V_ERR) {
            m->broken = true;
            continue;
        }
        if (item->kind == V_INPUT) {
            if (i != 0) {
                diag_error(e->diag, in->loc, "Input(...) must be the first element of a Sequential model");
                m->broken = true;
                continue;
            }
            set_input_shape(m, &item->shape, item->dtype);
            continue;
        }
        if (item->kind == V_CLASS) {
            diag_error(e->diag, in->loc, "%s is a layer class; add an instance: %s(...)", item->def->name,
                       item->def->name);
            m->broken = true;
            continue;
        }
        if (item->kind == V_FN && !item->def) {
            diag_error(e->diag, in->loc, "'%s' is a function, not a layer%s", item->s,
                       builtin_is_activation(item->fn) ? arena_printf(a, "; did you mean Activation(%s)?", item->s)
                                                       : "");
            m->broken = true;
            continue;
        }
        if (item->kind != V_LAYER) {
            diag_error(e->diag, in->loc, "Sequential takes layers, not %s", v_describe(a, item));
            m->broken = true;
            continue;
        }
        if (!m->has_input && i == 0 && item->layer->has_input_shape)
            set_input_shape(m, &item->layer->input_shape, DT_F32);
        if (!m->has_input) {
            /* an Input later in the list is the mistake; after a broken Input, this is its echo */
            int later = -1;
            for (int j = i + 1; j < v[0]->n && later < 0; j++)
                if (v[0]->items[j]->kind == V_INPUT)
                    later = j;
            if (later >= 0 && list_node->kind == N_LIST && later < list_node->list.len)
                diag_error(e->diag, list_node->list.items[later]->loc,
                           "Input(...) must be the first element of a Sequential model");
            else if (!m->broken)
                diag_error(e->diag, in->loc,
                           "model '%s' has no Input: the shape reaching %s is unknown; start the list with "
                           "Input(shape = [...])",
                           m->var, item->layer->cls->name);
            m->broken = true;
            break;
        }
        if (m->broken)
            continue; /* a previous layer failed: the shape reaching this one is unknown */
        if (!m->train->input)
            make_input(m);
        layer_instantiate(s, m, item, i + 1);
    }
    if (!m->broken && !m->has_input) {
        diag_error(e->diag, call->loc, "model '%s' has no Input(shape = [...])", m->var);
        m->broken = true;
    }
    if (!m->broken && !m->train->input) /* Input alone */
        make_input(m);
    return mv;
}

/* ---- compile ---- */

static bool resolve_optimizer(Elab *e, Value *v, const Node *at, OptimizerCfg *o)
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

static bool resolve_loss(Elab *e, Value *v, const Node *at, LossCfg *l)
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

static bool resolve_metrics(Elab *e, Value *v, const Node *at, Model *m)
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
        {"mae", METRIC_MAE, false},
        {"mean_absolute_error", METRIC_MAE, false},
        {"MeanAbsoluteError", METRIC_MAE, false},
        {"mse", METRIC_MSE, false},
        {"mean_squared_error", METRIC_MSE, false},
        {"MeanSquaredError", METRIC_MSE, false},
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

static Value *method_compile(Elab *e, Model *m, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics",
                                        "run_eagerly", "steps_per_execution", "jit_compile"};
    Value *v[8];
    const Node *nd[8];
    if (!bind_args(e, args, "compile()", 8, names, v, nd))
        return v_err(a);
    for (int i = 3; i < 8; i++)
        if (v[i] && v[i]->kind != V_NONE && !(i >= 5 && v[i]->kind == V_BOOL)) {
            diag_error(e->diag, nd[i]->loc, "compile(%s = ...) is not supported by klc", names[i]);
            return v_err(a);
        }
    bool ok = true;
    OptimizerCfg opt;
    optimizer_defaults(&opt, OPT_RMSPROP); /* Keras' default optimizer */
    if (v[0] && v[0]->kind != V_ERR && !resolve_optimizer(e, v[0], nd[0], &opt))
        ok = false;
    LossCfg loss = {0};
    if (v[1] && v[1]->kind != V_ERR && !resolve_loss(e, v[1], nd[1], &loss))
        ok = false;
    if (!v[1])
        loss.loc = call->loc;
    if (v[2] && v[2]->kind != V_ERR && !resolve_metrics(e, v[2], nd[2], m))
        ok = false;
    for (int i = 0; i < 3; i++)
        if (v[i] && v[i]->kind == V_ERR)
            ok = false;
    m->compiled = true; /* even when broken: fit() after a failed compile() is no news */
    if (!ok) {
        m->broken = true;
        return v_err(a);
    }
    m->opt = opt;
    m->loss = loss;
    return v_new(a, V_NONE, call->loc);
}

static Value *method_fit(Elab *e, Model *m, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "y", "batch_size", "epochs", "verbose", "callbacks",
                                        "validation_split", "validation_data", "shuffle", "initial_epoch"};
    Value *v[10];
    const Node *nd[10];
    if (!bind_args(e, args, "fit()", 10, names, v, nd))
        return v_err(a);
    for (int i = 0; i < 10; i++)
        if (v[i] && v[i]->kind == V_ERR)
            return v_err(a);
    if (!m->compiled)
        diag_error(e->diag, call->loc, "call compile() before fit() (Keras: \"You must call compile() before using the model.\")");
    for (int i = 0; i < 2; i++)
        if (v[i] && v[i]->kind != V_NONE) {
            diag_error(e->diag, nd[i]->loc, "training data comes at run time: pass it to the trainer (--%s file.npy)",
                       names[i]);
            return v_err(a);
        }
    if (v[7] && v[7]->kind != V_NONE) {
        diag_error(e->diag, nd[7]->loc, "validation data comes at run time: --validation-x and --validation-y");
        return v_err(a);
    }
    if (v[9] && v[9]->kind != V_NONE) {
        diag_error(e->diag, nd[9]->loc, "initial_epoch comes at run time: --initial-epoch");
        return v_err(a);
    }
    FitCfg *f = &m->fit;
    int64_t x;
    if (v[2] && v[2]->kind != V_NONE) {
        if (!want_int(e, v[2], nd[2], "batch_size", &x))
            return v_err(a);
        if (x < 1 || x > 1 << 24) {
            diag_error(e->diag, nd[2]->loc, "batch_size must be between 1 and %d", 1 << 24);
            return v_err(a);
        }
        f->batch_size = (int)x;
    }
    if (v[3]) {
        if (!want_int(e, v[3], nd[3], "epochs", &x))
            return v_err(a);
        if (x < 1 || x > 1 << 24) {
            diag_error(e->diag, nd[3]->loc, "epochs must be at least 1");
            return v_err(a);
        }
        f->epochs = (int)x;
    }
    if (v[4]) {
        if (v[4]->kind == V_STR && !strcmp(v[4]->s, "auto"))
            f->verbose = 1;
        else if (!want_int(e, v[4], nd[4], "verbose", &x))
            return v_err(a);
        else if (x < 0 || x > 2) {
            diag_error(e->diag, nd[4]->loc, "verbose must be 0, 1, 2 or \"auto\"");
            return v_err(a);
        } else
            f->verbose = (int)x;
    }
    if (v[6]) {
        if (!want_float(e, v[6], nd[6], "validation_split", &f->validation_split))
            return v_err(a);
        if (f->validation_split < 0 || f->validation_split >= 1) {
            diag_error(e->diag, nd[6]->loc, "validation_split must be in [0, 1)");
            return v_err(a);
        }
    }
    if (v[8] && !want_bool(e, v[8], nd[8], "shuffle", &f->shuffle))
        return v_err(a);
    if (v[5] && v[5]->kind != V_NONE) {
        if (v[5]->kind != V_LIST) {
            diag_error(e->diag, nd[5]->loc, "callbacks must be a list: callbacks = [EarlyStopping(patience = 2)]");
            return v_err(a);
        }
        for (int i = 0; i < v[5]->n; i++) {
            Value *cb = v[5]->items[i];
            const char *name = cb->kind == V_CONFIG || cb->kind == V_STR ? cb->s : "";
            Args *ca = cb->kind == V_CONFIG ? cb->args : NULL;
            Args none = {0};
            if (!ca)
                ca = &none;
            if (!strcmp(name, "EarlyStopping")) {
                static const char *const k[] = {"monitor", "min_delta", "patience", "verbose", "mode",
                                                "restore_best_weights"};
                Value *cv[6];
                const Node *cn[6];
                if (!bind_args(e, ca, "EarlyStopping", 6, k, cv, cn))
                    return v_err(a);
                f->early_stopping = true;
                f->es_monitor = "val_loss";
                if (cv[0]) {
                    if (cv[0]->kind != V_STR) {
                        diag_error(e->diag, cn[0]->loc, "monitor must be a string like \"val_loss\"");
                        return v_err(a);
                    }
                    f->es_monitor = cv[0]->s;
                }
                if (cv[1] && !want_float(e, cv[1], cn[1], "min_delta", &f->es_min_delta))
                    return v_err(a);
                if (cv[2]) {
                    if (!want_int(e, cv[2], cn[2], "patience", &x))
                        return v_err(a);
                    f->es_patience = (int)x;
                }
                if (cv[4] && !(cv[4]->kind == V_STR && !strcmp(cv[4]->s, "auto"))) {
                    diag_error(e->diag, cn[4]->loc, "klc's EarlyStopping supports mode = \"auto\"");
                    return v_err(a);
                }
                if (cv[5] && !want_bool(e, cv[5], cn[5], "restore_best_weights", &f->es_restore_best))
                    return v_err(a);
            } else if (!strcmp(name, "ModelCheckpoint")) {
                static const char *const k[] = {"filepath", "monitor", "verbose", "save_best_only",
                                                "save_weights_only"};
                Value *cv[5];
                const Node *cn[5];
                if (!bind_args(e, ca, "ModelCheckpoint", 5, k, cv, cn))
                    return v_err(a);
                if (!cv[0] || cv[0]->kind != V_STR) {
                    diag_error(e->diag, nd[5]->loc, "ModelCheckpoint needs a filepath string");
                    return v_err(a);
                }
                f->checkpoint_path = cv[0]->s;
                f->checkpoint_monitor = "val_loss";
                if (cv[1]) {
                    if (cv[1]->kind != V_STR) {
                        diag_error(e->diag, cn[1]->loc, "monitor must be a string like \"val_loss\"");
                        return v_err(a);
                    }
                    f->checkpoint_monitor = cv[1]->s;
                }
                if (cv[3] && !want_bool(e, cv[3], cn[3], "save_best_only", &f->checkpoint_best_only))
                    return v_err(a);
            } else if (!strcmp(name, "TerminateOnNaN")) {
                f->terminate_on_nan = true;
            } else {
                diag_error(e->diag, nd[5]->loc, "unknown callback %s (klc has EarlyStopping, ModelCheckpoint and "
                           "TerminateOnNaN)", v_describe(a, cb));
                return v_err(a);
            }
        }
    }
    return v_new(a, V_NONE, call->loc);
}

Value *model_method(Elab *e, Value *method, Args *args, const Node *call)
{
    Model *m = method->model;
    const char *name = method->s;
    for (int i = 0; i < args->n_pos; i++)
        if (args->pos[i]->kind == V_ERR)
            return v_err(e->arena);
    if (!strcmp(name, "compile"))
        return method_compile(e, m, args, call);
    if (!strcmp(name, "fit"))
        return method_fit(e, m, args, call);
    if (!strcmp(name, "summary"))
        return v_new(e->arena, V_NONE, call->loc);
    /* add(layer) */
    if (args->n_pos != 1 || args->n_kw != 0) {
        diag_error(e->diag, call->loc, "add() takes one layer");
        return v_err(e->arena);
    }
    Value *l = args->pos[0];
    if (l->kind != V_LAYER) {
        diag_error(e->diag, args->pos_node[0]->loc, "add() takes a layer, not %s", v_describe(e->arena, l));
        return v_err(e->arena);
    }
    if (m->compiled)
        diag_warning(e->diag, call->loc, "a layer is added after compile()");
    if (!m->broken) {
        int position = m->layers.len + 2; /* Input is position 1 */
        layer_instantiate(e->sema, m, l, position);
    }
    return v_new(e->arena, V_NONE, call->loc);
}

/* ------------------------------------------------------------------------
 * Top level
 * --------------------------------------------------------------------- */

static void run_statements(Sema *s, Node *prog)
{
    Arena *a = s->arena;
    Elab e = {0};
    e.sema = s;
    e.arena = a;
    e.diag = s->diag;
    for (int i = 0; i < prog->list.len; i++) {
        Node *st = prog->list.items[i];
        if (!st || st->kind == N_LAYER || st->kind == N_DEF || st->kind == N_IMPORT)
            continue;
        if (st->kind == N_ASSIGN) {
            if (st->a->kind != N_NAME) {
                diag_error(s->diag, st->a->loc, "at the top level, assign to a name");
                continue;
            }
            const Value *old = scope_lookup_local(s->globals, st->a->name);
            if (old && (old->kind == V_CLASS || old->kind == V_MODEL)) {
                diag_error(s->diag, st->a->loc, "'%s' is already defined", st->a->name);
                continue;
            }
            e.model_var = st->a->name;
            Value *v = eval(&e, s->globals, st->c);
            e.model_var = NULL;
            scope_bind(a, s->globals, st->a->name, v);
            continue;
        }
        if (st->kind == N_EXPR) {
            Value *v = eval(&e, s->globals, st->a);
            if (v->kind != V_ERR && v->kind != V_NONE)
                diag_error(s->diag, st->a->loc, "the value of this expression is not used");
            continue;
        }
        diag_error(s->diag, st->loc, "this statement is only allowed inside a layer");
    }
}

bool sema_finish_model(Arena *a, Diag *d, Model *m)
{
    if (m->broken && diag_error_count(d) == 0) /* a wrong model must never pass as correct */
        klc_internal_fault(__FILE__, __LINE__, "model '%s' failed to check without a message", m->var);
    if (m->broken || !m->train->input)
        return false;
    IrValue *outs[2] = {m->train->output, m->infer->output};
    IrFunc *fs[2] = {m->train, m->infer};
    for (int t = 0; t < 2; t++) {
        IrValue *o = ir_new(fs[t], IR_OUTPUT, NULL, outs[t]->type, m->loc);
        ir_add_arg(fs[t], o, outs[t]);
    }
    if (m->compiled) {
        Sema s = {.arena = a, .diag = d}; /* all that building a loss reads */
        loss_build(&s, m, m->train);
        loss_build(&s, m, m->infer);
    }
    return !m->broken;
}

static Program *run(Arena *a, Diag *d, SourceFile *main_file, int *errors)
{
    Sema *s = arena_alloc(a, sizeof *s);
    s->arena = a;
    s->diag = d;
    s->program = arena_alloc(a, sizeof *s->program);
    Scope *prelude_scope = scope_new(a, NULL);
    s->globals = prelude_scope;
    int prelude_errors = 0;
    for (int i = 0; i < N_PRELUDE_FILES; i++) {
        SourceFile *pf = source_from_memory(a, prelude_files[i].name, (const char *)prelude_files[i].text,
                                            prelude_files[i].len);
        pf->is_prelude = true;
        s->prelude = pf;
        Node *prog = load(s, pf, &prelude_errors);
        for (int k = 0; k < prog->list.len; k++)
            if (prog->list.items[k])
                declare(s, prog->list.items[k], false);
        check_declarations(s, prog);
    }
    if (prelude_errors || diag_error_count(d)) {
        diag_plain_error(d, "internal error: the built-in prelude does not check");
        *errors += 1;
        return s->program;
    }
    s->globals = scope_new(a, prelude_scope);
    s->main_file = main_file;
    int before = diag_error_count(d);
    Node *prog = load(s, main_file, errors);
    declare_file(s, prog, errors, false);
    if (*errors) {
        /* syntax errors: what did not parse is missing, and checking the rest would
         * report its echoes (unknown names of dropped statements, missing layers) */
        *errors += diag_error_count(d) - before;
        return s->program;
    }
    /* top-level names, so layers may use global constants */
    for (int i = 0; i < prog->list.len; i++) {
        Node *st = prog->list.items[i];
        if (st && st->kind == N_ASSIGN && st->a->kind == N_NAME && !scope_lookup_local(s->globals, st->a->name))
            scope_bind(a, s->globals, st->a->name, v_new(a, V_NONE, st->loc));
    }
    check_declarations(s, prog);
    for (int i = 0; i < s->import_progs.len; i++) {
        const Node *site = s->import_sites.items[i];
        diag_push_context(d, site->loc, import_context(s, site));
        check_declarations(s, s->import_progs.items[i]);
        diag_pop_context(d);
    }
    run_statements(s, prog);
    *errors += diag_error_count(d) - before;
    return s->program;
}

Program *sema_run(Arena *a, Diag *d, const char *path, int *errors)
{
    SourceFile *f = source_read(a, path);
    if (!f) {
        diag_plain_error(d, "cannot read %s: %s", path, strerror(errno));
        *errors += 1;
        return NULL;
    }
    return run(a, d, f, errors);
}

Program *sema_run_source(Arena *a, Diag *d, const char *path, const char *text, size_t len, int *errors)
{
    return run(a, d, source_from_memory(a, path, text, len), errors);
}
