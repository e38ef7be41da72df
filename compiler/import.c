/*
 * import.c — klc import: a Keras 3 .keras archive to a .kl program and
 * safetensors weights (import.h).
 *
 * config.json's Sequential becomes `model = Sequential([Input(...), ...])`:
 * each layer's class is looked up in the prelude (or --layers), and every
 * config argument that klc's layer declares is passed (null values and
 * serialized objects such as initializers are left at klc's defaults; an
 * argument klc's layer does not declare is dropped when it holds Keras'
 * default, refused otherwise).  compile_config gives model.compile(...).
 * The program is then checked in process and the archive's
 * model.weights.h5 loaded into a model laid out from it, exactly as the
 * runtime loads weights (keras_h5.c), and written as safetensors.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "import.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/cbuf.h"
#include "base/diag.h"
#include "check/layer.h"
#include "check/sema.h"
#include "ir/program.h"

#include "error.h"
#include "fileio.h"
#include "json.h"
#include "keras_h5.h"
#include "model.h"
#include "safetensors.h"

static int fail(const char *fmt, ...) KLC_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("klc import: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ---- the parameters a .kl layer declares ---- */

/* The parameter list of `layer <cls>(...)` in text, as "a,b,c," into buf
 * (empty list: ","); 0 when the text has no such layer. */
static int layer_params(const char *text, size_t len, const char *cls, char *buf, size_t size)
{
    size_t n = strlen(cls);
    for (size_t i = 0; i + 6 + n < len; i++) {
        if ((i > 0 && text[i - 1] != '\n') || strncmp(text + i, "layer ", 6) != 0 ||
            strncmp(text + i + 6, cls, n) != 0 || text[i + 6 + n] != '(')
            continue;
        size_t k = i + 7 + n, o = 0;
        int depth = 1, expect_name = 1;
        buf[o++] = ',';
        while (k < len && depth > 0) {
            char c = text[k];
            if (c == '"') { /* skip a string literal */
                for (k++; k < len && text[k] != '"'; k++)
                    if (text[k] == '\\')
                        k++;
                k++;
                continue;
            }
            if (c == '#') {
                while (k < len && text[k] != '\n')
                    k++;
                continue;
            }
            if (c == '(' || c == '[')
                depth++;
            else if (c == ')' || c == ']')
                depth--;
            else if (c == ',' && depth == 1)
                expect_name = 1;
            else if (expect_name && depth == 1 && (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
                while (k < len && (text[k] == '_' || (text[k] >= 'a' && text[k] <= 'z') ||
                                   (text[k] >= 'A' && text[k] <= 'Z') || (text[k] >= '0' && text[k] <= '9'))) {
                    if (o + 2 < size)
                        buf[o++] = text[k];
                    k++;
                }
                if (o + 2 < size)
                    buf[o++] = ',';
                expect_name = 0;
                continue;
            }
            k++;
        }
        buf[o] = '\0';
        return 1;
    }
    return 0;
}

static int declares(const char *params, const char *key)
{
    char pat[256];
    snprintf(pat, sizeof pat, ",%s,", key);
    return strstr(params, pat) != NULL;
}

/* ---- values ---- */

/* A JSON value as a .kl literal; -1 for what .kl has no literal for. */
static int emit_value(CBuf *b, const klc_json *v)
{
    switch (v->kind) {
    case KLC_JSON_NULL:
        cb_printf(b, "None");
        return 0;
    case KLC_JSON_TRUE:
        cb_printf(b, "true");
        return 0;
    case KLC_JSON_FALSE:
        cb_printf(b, "false");
        return 0;
    case KLC_JSON_NUMBER:
        if (v->is_int) {
            cb_printf(b, "%lld", (long long)v->integer);
        } else {
            if (!isfinite(v->number))
                return -1;
            char t[64]; /* the shortest digits that read back the same (Python's repr) */
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(t, sizeof t, "%.*g", prec, v->number);
                if (strtod(t, NULL) == v->number)
                    break;
            }
            cb_printf(b, "%s%s", t, strpbrk(t, ".e") ? "" : ".0");
        }
        return 0;
    case KLC_JSON_STRING:
        if (strlen(v->str) != v->len)
            return -1;
        cb_printf(b, "\"");
        for (const char *s = v->str; *s; s++) {
            if (*s == '"' || *s == '\\')
                cb_printf(b, "\\%c", *s);
            else if (*s == '\n')
                cb_printf(b, "\\n");
            else if (*s == '\t')
                cb_printf(b, "\\t");
            else
                cb_printf(b, "%c", *s);
        }
        cb_printf(b, "\"");
        return 0;
    case KLC_JSON_ARRAY:
        cb_printf(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                cb_printf(b, ", ");
            if (emit_value(b, &v->items[i]))
                return -1;
        }
        cb_printf(b, "]");
        return 0;
    case KLC_JSON_OBJECT:
        return -1;
    }
    return -1;
}

/* A value Keras writes for an argument left at its default, that a klc layer
 * without the argument can drop. */
static int trivial(const klc_json *v)
{
    return v->kind == KLC_JSON_NULL || v->kind == KLC_JSON_FALSE ||
           (v->kind == KLC_JSON_STRING &&
            (!strcmp(v->str, "auto") || !strcmp(v->str, "channels_last") || !v->str[0])) ||
           (v->kind == KLC_JSON_NUMBER && v->number == 0);
}

static const char *str_of(const klc_json *obj, const char *key)
{
    const klc_json *v = obj ? klc_json_get(obj, key) : NULL;
    return v && v->kind == KLC_JSON_STRING ? v->str : NULL;
}

/* ---- the program ---- */

typedef struct Import {
    const char *archive;      /* for messages */
    const char *layers_path;  /* --layers, or NULL */
    char *layers_text;
    size_t layers_len;
    CBuf kl;
} Import;

/* The parameters of class cls (prelude first, then --layers) into buf; 1 if
 * from the prelude, 2 from --layers, 0 unknown. */
static int find_class(const Import *im, const char *cls, char *buf, size_t size)
{
    size_t len;
    const char *t;
    for (int i = 0; (t = sema_prelude_text(i, &len)) != NULL; i++)
        if (layer_params(t, len, cls, buf, size))
            return 1;
    if (im->layers_text && layer_params(im->layers_text, im->layers_len, cls, buf, size))
        return 2;
    return 0;
}

/* The arguments of one layer, "name = value" separated by ", ". */
static int emit_args(Import *im, const char *lname, const char *cls, const char *params,
                     const klc_json *cfg)
{
    int first = 1;
    for (size_t i = 0; cfg && cfg->kind == KLC_JSON_OBJECT && i < cfg->n; i++) {
        const char *key = cfg->keys[i].str;
        const klc_json *v = &cfg->items[i];
        if (!strcmp(key, "name") || !strcmp(key, "trainable") || !strcmp(key, "dtype"))
            continue;
        if (v->kind == KLC_JSON_NULL)
            continue;
        if (!declares(params, key)) {
            if (trivial(v))
                continue;
            return fail("%s: layer '%s' (%s) has '%s', an argument klc's %s does not take", im->archive,
                        lname, cls, key, cls);
        }
        if (v->kind == KLC_JSON_OBJECT) {
            /* initializers and regularizers as Keras serializes them: a klc
             * initializer by its snake_case name when it has no arguments */
            const char *mod = str_of(v, "module"), *c = str_of(v, "class_name");
            const klc_json *icfg = klc_json_get(v, "config");
            int bare = icfg && icfg->kind == KLC_JSON_OBJECT &&
                       (icfg->n == 0 || (icfg->n == 1 && !strcmp(icfg->keys[0].str, "seed") &&
                                         icfg->items[0].kind == KLC_JSON_NULL));
            if (mod && c && !strcmp(mod, "keras.initializers") && bare) {
                Arena *a = arena_new();
                cb_printf(&im->kl, "%s%s = \"%s\"", first ? "" : ", ", key, keras_snake_case(a, c));
                arena_free(a);
                first = 0;
                continue;
            }
            fprintf(stderr, "klc import: note: %s: layer '%s': '%s' (%s) is not carried over; klc's default is used\n",
                    im->archive, lname, key, c ? c : "an object");
            continue;
        }
        cb_printf(&im->kl, "%s%s = ", first ? "" : ", ", key);
        if (emit_value(&im->kl, v))
            return fail("%s: layer '%s': argument '%s' has a value .kl cannot write", im->archive, lname, key);
        first = 0;
    }
    return 0;
}

static int emit_input(Import *im, const klc_json *shape, const char *dtype)
{
    if (!shape || shape->kind != KLC_JSON_ARRAY || shape->n < 2)
        return fail("%s: the model has no input shape (an InputLayer's batch_shape or a build_config)",
                    im->archive);
    cb_printf(&im->kl, "    Input(shape = [");
    for (size_t i = 1; i < shape->n; i++) {
        if (!shape->items[i].is_int || shape->items[i].integer <= 0)
            return fail("%s: input dimension %zu is not a fixed size; klc needs every dimension but the batch",
                        im->archive, i);
        cb_printf(&im->kl, "%s%lld", i > 1 ? ", " : "", (long long)shape->items[i].integer);
    }
    cb_printf(&im->kl, "]%s),\n", dtype && strstr(dtype, "int") ? ", dtype = \"int32\"" : "");
    return 0;
}

static int emit_layer(Import *im, const klc_json *layer)
{
    const char *cls = str_of(layer, "class_name");
    const klc_json *cfg = klc_json_get(layer, "config");
    const char *lname = str_of(cfg, "name");
    if (!cls || !cfg || cfg->kind != KLC_JSON_OBJECT)
        return fail("%s: config.json: a layer without class_name and config", im->archive);
    if (!lname)
        lname = cls;
    char params[4096];
    int where = str_of(layer, "registered_name") ? 0 : find_class(im, cls, params, sizeof params);
    if (where != 1) {
        /* a custom class: --layers must have a layer of its name */
        const char *reg = str_of(layer, "registered_name");
        const char *base = reg && strchr(reg, '>') ? strrchr(reg, '>') + 1 : cls;
        if (!im->layers_text)
            return fail("%s: layer '%s' is of class '%s', not a Keras layer klc has: give the .kl layer it is "
                        "(layer %s(...)) with --layers FILE.kl", im->archive, lname, reg ? reg : cls, base);
        if (!layer_params(im->layers_text, im->layers_len, base, params, sizeof params))
            return fail("%s: layer '%s' is of class '%s', but %s has no 'layer %s(...)'", im->archive, lname,
                        reg ? reg : cls, im->layers_path, base);
        cls = base;
    }
    cb_printf(&im->kl, "    %s(", cls);
    if (emit_args(im, lname, cls, params, cfg))
        return 1;
    cb_printf(&im->kl, "),\n");
    return 0;
}

/* compile_config -> model.compile(...). */
static int emit_compile(Import *im, const klc_json *cc)
{
    if (!cc || cc->kind != KLC_JSON_OBJECT)
        return 0;
    cb_printf(&im->kl, "model.compile(");
    const klc_json *opt = klc_json_get(cc, "optimizer");
    int any = 0;
    if (opt && opt->kind == KLC_JSON_STRING) {
        cb_printf(&im->kl, "optimizer = \"%s\"", opt->str);
        any = 1;
    } else if (opt && opt->kind == KLC_JSON_OBJECT) {
        const char *c = str_of(opt, "class_name");
        const klc_json *ocfg = klc_json_get(opt, "config");
        static const char *const keys[] = {"learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad",
                                           "weight_decay", "momentum", "nesterov", "rho", "centered",
                                           "clipnorm", "clipvalue", "global_clipnorm"};
        if (!c || !ocfg || ocfg->kind != KLC_JSON_OBJECT)
            return fail("%s: config.json: compile_config's optimizer has no class_name and config", im->archive);
        cb_printf(&im->kl, "optimizer = %s(", c);
        int first = 1;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const klc_json *v = klc_json_get(ocfg, keys[k]);
            if (!v || v->kind == KLC_JSON_NULL)
                continue;
            if (v->kind == KLC_JSON_OBJECT)
                return fail("%s: the optimizer's %s is a %s; klc import takes numbers", im->archive, keys[k],
                            str_of(v, "class_name") ? str_of(v, "class_name") : "an object");
            if (!strcmp(c, "SGD") && !strcmp(keys[k], "weight_decay"))
                continue;
            cb_printf(&im->kl, "%s%s = ", first ? "" : ", ", keys[k]);
            if (emit_value(&im->kl, v))
                return fail("%s: the optimizer's %s has a value .kl cannot write", im->archive, keys[k]);
            first = 0;
        }
        cb_printf(&im->kl, ")");
        any = 1;
    }
    const klc_json *loss = klc_json_get(cc, "loss");
    if (loss && loss->kind == KLC_JSON_STRING) {
        cb_printf(&im->kl, "%sloss = \"%s\"", any ? ", " : "", loss->str);
        any = 1;
    } else if (loss && loss->kind == KLC_JSON_OBJECT) {
        const char *c = str_of(loss, "class_name");
        const klc_json *lcfg = klc_json_get(loss, "config");
        const klc_json *fl = lcfg ? klc_json_get(lcfg, "from_logits") : NULL;
        if (!c)
            return fail("%s: config.json: compile_config's loss has no class_name", im->archive);
        cb_printf(&im->kl, "%sloss = %s(%s)", any ? ", " : "", c,
                  fl && fl->kind == KLC_JSON_TRUE ? "from_logits = true" : "");
        any = 1;
    } else if (loss && loss->kind != KLC_JSON_NULL) {
        return fail("%s: compile_config's loss is %s; klc import takes one loss", im->archive,
                    klc_json_kind_name(loss->kind));
    }
    const klc_json *metrics = klc_json_get(cc, "metrics");
    if (metrics && metrics->kind == KLC_JSON_ARRAY && metrics->n > 0) {
        cb_printf(&im->kl, "%smetrics = [", any ? ", " : "");
        for (size_t i = 0; i < metrics->n; i++) {
            const klc_json *m = &metrics->items[i];
            const char *name = m->kind == KLC_JSON_STRING ? m->str : str_of(klc_json_get(m, "config"), "name");
            if (!name)
                return fail("%s: compile_config's metric %zu has no name", im->archive, i + 1);
            cb_printf(&im->kl, "%s\"%s\"", i ? ", " : "", name);
        }
        cb_printf(&im->kl, "]");
    }
    cb_printf(&im->kl, ");\n");
    return 0;
}

static int emit_program(Import *im, const klc_json *root, const char *layers_rel)
{
    const char *cls = str_of(root, "class_name");
    const klc_json *cfg = klc_json_get(root, "config");
    if (!cls || strcmp(cls, "Sequential") != 0)
        return fail("%s: the model is a %s; klc import takes a Sequential", im->archive, cls ? cls : "?");
    const klc_json *layers = cfg ? klc_json_get(cfg, "layers") : NULL;
    if (!layers || layers->kind != KLC_JSON_ARRAY)
        return fail("%s: config.json: the Sequential has no layers list", im->archive);
    cb_printf(&im->kl, "# Imported by klc from %s (Keras' config.json).\n", im->archive);
    if (layers_rel)
        cb_printf(&im->kl, "import \"%s\";\n", layers_rel);
    cb_printf(&im->kl, "\nmodel = Sequential([\n");
    size_t start = 0;
    if (layers->n > 0 && str_of(&layers->items[0], "class_name") &&
        !strcmp(str_of(&layers->items[0], "class_name"), "InputLayer")) {
        const klc_json *icfg = klc_json_get(&layers->items[0], "config");
        const klc_json *shape = icfg ? klc_json_get(icfg, "batch_shape") : NULL;
        if (!shape && icfg)
            shape = klc_json_get(icfg, "batch_input_shape");
        if (emit_input(im, shape, str_of(icfg, "dtype")))
            return 1;
        start = 1;
    } else {
        const klc_json *bc = klc_json_get(root, "build_config");
        if (emit_input(im, bc ? klc_json_get(bc, "input_shape") : NULL, NULL))
            return 1;
    }
    for (size_t i = start; i < layers->n; i++)
        if (emit_layer(im, &layers->items[i]))
            return 1;
    const char *name = str_of(cfg, "name");
    cb_printf(&im->kl, "]%s%s%s);\n", name ? ", name = \"" : "", name ? name : "", name ? "\"" : "");
    return emit_compile(im, klc_json_get(root, "compile_config"));
}

/* ---- the weights ---- */

/* Check the program (named out_path), lay out its model's weights, load
 * the archive's weights into them and write them as safetensors. */
static int convert_weights(Import *im, const char *out_path, const unsigned char *archive, size_t size,
                           const char *st_path)
{
    Arena *a = arena_new();
    Diag *d = diag_new(a, stderr);
    int errors = 0, rc = 1;
    Program *p = sema_run_source(a, d, out_path, im->kl.data, im->kl.len, &errors);
    diag_finish(d);
    if (!p || errors || diag_error_count(d) || p->models.len != 1) {
        fail("%s: the program made from its config.json does not check (above)", im->archive);
        arena_free(a);
        return 1;
    }
    Model *m = p->models.items[0];
    int n = m->weights.len;
    klc_tensor_def *ts = calloc((size_t)(n ? n : 1), sizeof *ts);
    klc_st_tensor *st = calloc((size_t)(n ? n : 1), sizeof *st);
    klc_model_def def;
    memset(&def, 0, sizeof def);
    def.name = m->var;
    def.keras_name = m->keras_name;
    def.n_tensors = n;
    def.tensors = ts;
    for (int i = 0; ts && i < n; i++) {
        const Weight *w = m->weights.items[i];
        klc_tensor_def *t = &ts[i];
        t->name = w->key;
        t->layer = w->layer;
        t->weight = w->name;
        t->kind = w->trainable ? KLC_TENSOR_PARAM : KLC_TENSOR_STATE;
        t->rank = w->shape.rank;
        for (int k = 0; k < t->rank; k++)
            t->shape[k] = w->shape.d[k].c;
        t->size = w->size;
        t->offset = w->trainable ? def.n_params : def.n_state;
        t->keras_path = w->keras_path;
        if (w->trainable)
            def.n_params += w->size;
        else
            def.n_state += w->size;
    }
    klc_model model;
    memset(&model, 0, sizeof model);
    model.def = &def;
    model.params = calloc((size_t)(def.n_params ? def.n_params : 1), sizeof(float));
    model.state = calloc((size_t)(def.n_state ? def.n_state : 1), sizeof(float));
    if (!ts || !st || !model.params || !model.state) {
        fail("out of memory");
        goto out;
    }
    if (klc_keras_load_image(&model, im->archive, archive, size)) {
        fail("%s", klc_last_error());
        goto out;
    }
    for (int i = 0; i < n; i++) {
        st[i].name = (char *)ts[i].name;
        st[i].dtype = KLC_F32;
        st[i].rank = ts[i].rank;
        memcpy(st[i].shape, ts[i].shape, sizeof st[i].shape);
        st[i].data = (ts[i].kind == KLC_TENSOR_PARAM ? model.params : model.state) + ts[i].offset;
        st[i].nbytes = (size_t)ts[i].size * sizeof(float);
    }
    klc_st_meta meta[2] = {{"format", "klc"}, {"model", (char *)def.name}};
    if (klc_st_write(st_path, st, n, meta, 2)) {
        fail("%s", klc_last_error());
        goto out;
    }
    rc = 0;
out:
    free(ts);
    free(st);
    free(model.params);
    free(model.state);
    arena_free(a);
    return rc;
}

/* "dir/x.kl" -> "dir/x.safetensors" (malloc'd). */
static char *weights_path(const char *kl)
{
    size_t n = strlen(kl);
    if (n > 3 && !strcmp(kl + n - 3, ".kl"))
        n -= 3;
    char *s = malloc(n + 13);
    if (s)
        snprintf(s, n + 13, "%.*s.safetensors", (int)n, kl);
    return s;
}

/* How the program at `from` imports `target`: its base name when both are in
 * one directory, else its absolute path. */
static const char *relative_to(Arena *a, const char *from, const char *target)
{
    char *t = realpath(target, NULL);
    if (!t)
        return target;
    const char *fs = strrchr(from, '/');
    char *fdir = realpath(fs ? arena_printf(a, "%.*s", (int)(fs - from), from) : ".", NULL);
    const char *ts = strrchr(t, '/');
    const char *r = arena_printf(a, "%s", t);
    if (fdir && ts && (size_t)(ts - t) == strlen(fdir) && !strncmp(t, fdir, strlen(fdir)))
        r = arena_printf(a, "%s", ts + 1);
    free(t);
    free(fdir);
    return r;
}

int klc_import_main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *layers = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc)
            layers = argv[++i];
        else if (argv[i][0] != '-' && !in)
            in = argv[i];
        else {
            fprintf(stderr, "klc import: unexpected argument '%s'\nusage: klc import MODEL.keras -o MODEL.kl [--layers LAYERS.kl]\n",
                    argv[i]);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "usage: klc import MODEL.keras -o MODEL.kl [--layers LAYERS.kl]\n");
        return 2;
    }
    Import im;
    memset(&im, 0, sizeof im);
    im.archive = in;
    im.layers_path = layers;
    cb_init(&im.kl);
    unsigned char *buf = NULL, *cfg_text = NULL;
    size_t size = 0, cfg_len = 0;
    klc_json root;
    memset(&root, 0, sizeof root);
    int rc = 1;
    char *st_path = weights_path(out);
    Arena *a = arena_new();
    if (layers && klc_read_file(layers, (unsigned char **)&im.layers_text, &im.layers_len)) {
        fail("%s", klc_last_error());
        goto out;
    }
    if (klc_read_file(in, &buf, &size) || klc_keras_member(in, buf, size, "config.json", &cfg_text, &cfg_len)) {
        fail("%s", klc_last_error());
        goto out;
    }
    if (klc_json_parse(&root, (const char *)cfg_text, cfg_len)) {
        fail("%s: config.json: %s", in, klc_last_error());
        goto out;
    }
    if (emit_program(&im, &root, layers ? relative_to(a, out, layers) : NULL))
        goto out;
    /* the weights first: the program is written only when they converted */
    if (!st_path || convert_weights(&im, out, buf, size, st_path))
        goto out;
    if (cb_write_file(&im.kl, out)) {
        fail("cannot write %s", out);
        remove(st_path);
        goto out;
    }
    printf("wrote %s and %s\n", out, st_path);
    rc = 0;
out:
    klc_json_free(&root);
    free(buf);
    free(cfg_text);
    free(im.layers_text);
    free(st_path);
    cb_free(&im.kl);
    arena_free(a);
    return rc;
}
