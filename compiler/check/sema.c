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
 *
 * Before all that, the builtin scope is filled: the natives of builtins.h,
 * layer.h (add_weight) and model_api.h (Sequential; the model methods in a
 * scope of their own), and comp.h's index forms are given to the evaluator.
 */
#define _XOPEN_SOURCE 700 /* realpath, PATH_MAX */
#include "check/sema.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check/builtins.h"
#include "check/comp.h"
#include "check/eval.h"
#include "check/layer.h"
#include "check/scan.h"
#include "check/loss.h"
#include "check/model_api.h"
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
    case N_SCAN: /* its targets, and the clauses' and body's names (visible in the body) */
        for (int i = 0; i < n->list.len; i++)
            if (n->list.items[i]->kind == N_NAME)
                vec_push(a, out, (void *)n->list.items[i]->name);
        for (int i = 0; i < n->list2.len; i++)
            vec_push(a, out, (void *)n->list2.items[i]->name);
        collect_targets(a, n->a, out);
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
    push_builtin_names(a, out, nc->sema->builtins, false);
}

static void report_unknown(NameCheck *nc, Node *n)
{
    report_unknown_name(nc->sema->diag, nc->sema->arena, n->loc, n->name, names_in_declaration, nc);
    n->flags |= NODE_REPORTED;
}

static void check_expr(NameCheck *nc, Node *n);

static void check_name(NameCheck *nc, Node *n)
{
    if (has(&nc->scoped, n->name) || has(&nc->locals, n->name) || scope_lookup(nc->sema->globals, n->name))
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
    case N_SCAN:
        for (int i = 0; i < n->list2.len; i++) {
            Node *c = n->list2.items[i];
            check_expr(nc, c->a);
            check_expr(nc, c->b);
            check_expr(nc, c->c);
        }
        check_stmt(nc, n->a);
        check_expr(nc, n->b);
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
    vec_push(a, &nc.locals, (void *)"trainable"); /* the layer's own flag, bound in build and call (layer.c) */
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
        if (item->kind == N_LAYER)
            v->native = &layer_class_native;
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
    const char *why;
    SourceFile *f = source_read(a, path, &why);
    if (!f) {
        diag_error(s->diag, imp->loc, "cannot read \"%s\": %s", rel, why);
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
        loss_build(a, d, m, m->train);
        loss_build(a, d, m, m->infer);
    }
    return !m->broken;
}

/* ------------------------------------------------------------------------
 * What the evaluator calls without knowing it
 * --------------------------------------------------------------------- */

static void register_builtin(Sema *s, const Native *n)
{
    Value *v = v_new(s->arena, V_BUILTIN, (SrcLoc){0});
    v->native = n;
    v->s = n->name;
    scope_bind(s->arena, s->builtins, n->name, v);
}

static void register_method(Sema *s, const Native *n)
{
    Value *v = v_new(s->arena, V_METHOD, (SrcLoc){0});
    v->native = n;
    v->s = n->name;
    scope_bind(s->arena, s->model_methods, n->name, v);
}

static const IndexForms index_forms = {comp_reduce, comp_read, comp_statement};

static void register_natives(Sema *s)
{
    s->builtins = scope_new(s->arena, NULL);
    for (int i = 0; i < builtin_count(); i++)
        register_builtin(s, builtin_native(i));
    register_builtin(s, &add_weight_native);
    register_builtin(s, &layer_name_native);
    register_builtin(s, &rename_native);
    register_builtin(s, &sequential_native);
    s->model_methods = scope_new(s->arena, NULL);
    register_method(s, &compile_native);
    register_method(s, &fit_native);
    register_method(s, &add_native);
    register_method(s, &summary_native);
    s->index_forms = &index_forms;
    s->scan = scan_statement;
}

/*
 * The prelude, parsed and checked once per process.  Its syntax trees are
 * never written after parsing (the checker marks only names it reports, and
 * the prelude has none), and checking its declarations finds nothing, so every
 * compile in a process shares them: a fuzzer or test_robust compiling
 * thousands of programs in one process spends its time on their programs.
 * The arena lives as long as the process.
 */
static struct {
    Arena *arena;
    SourceFile *files[N_PRELUDE_FILES];
    Node *progs[N_PRELUDE_FILES];
    bool checked;
} prelude_cache;

static Program *run(Arena *a, Diag *d, SourceFile *main_file, int *errors)
{
    Sema *s = arena_alloc(a, sizeof *s);
    s->arena = a;
    s->diag = d;
    s->program = arena_alloc(a, sizeof *s->program);
    register_natives(s);
    Scope *prelude_scope = scope_new(a, s->builtins);
    s->globals = prelude_scope;
    if (!prelude_cache.checked && !prelude_cache.arena)
        prelude_cache.arena = arena_new();
    int prelude_errors = 0;
    for (int i = 0; i < N_PRELUDE_FILES; i++) {
        if (!prelude_cache.checked) {
            SourceFile *pf = source_from_memory(prelude_cache.arena, prelude_files[i].name,
                                                (const char *)prelude_files[i].text, prelude_files[i].len);
            pf->is_prelude = true;
            prelude_cache.files[i] = pf;
            prelude_cache.progs[i] = parse_file(prelude_cache.arena, d, pf, &prelude_errors);
        }
        vec_push(a, &s->program->files, prelude_cache.files[i]);
        Node *prog = prelude_cache.progs[i];
        for (int k = 0; k < prog->list.len; k++)
            if (prog->list.items[k])
                declare(s, prog->list.items[k], false);
        if (!prelude_cache.checked)
            check_declarations(s, prog);
    }
    if (prelude_errors || diag_error_count(d)) {
        diag_plain_error(d, "internal error: the built-in prelude does not check");
        *errors += 1;
        return s->program;
    }
    prelude_cache.checked = true;
    s->globals = scope_new(a, prelude_scope);
    s->prelude = prelude_scope;
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
    const char *why;
    SourceFile *f = source_read(a, path, &why);
    if (!f) {
        diag_plain_error(d, "cannot read %s: %s", path, why);
        *errors += 1;
        return NULL;
    }
    return run(a, d, f, errors);
}

Program *sema_run_source(Arena *a, Diag *d, const char *path, const char *text, size_t len, int *errors)
{
    return run(a, d, source_from_memory(a, path, text, len), errors);
}

const char *sema_prelude_text(int i, size_t *len)
{
    if (i < 0 || i >= N_PRELUDE_FILES)
        return NULL;
    *len = prelude_files[i].len;
    return (const char *)prelude_files[i].text;
}
