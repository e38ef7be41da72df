/* emit_dot.c — Graphviz output; see emit_dot.h. */
#include "back/emit_dot.h"

#include <string.h>

#include "summary.h"

/* Text for a record label: the record syntax characters escaped. */
static void put_escaped(CBuf *b, const char *s)
{
    for (; *s; s++)
        cb_printf(b, strchr("{}|<>\"\\", *s) ? "\\%c" : "%c", *s);
}

static void node(CBuf *b, const char *id, const char *name, const char *type, const char *in, const char *outs,
                 int64_t params, int64_t trainable)
{
    char count[64], tc[64];
    klc_format_thousands(count, sizeof count, params);
    klc_format_thousands(tc, sizeof tc, trainable);
    cb_printf(b, "    %s [label=\"{", id);
    put_escaped(b, name);
    cb_printf(b, " (");
    put_escaped(b, type);
    cb_printf(b, ")|{input:|output:}|{");
    put_escaped(b, in);
    cb_printf(b, "|");
    put_escaped(b, outs);
    cb_printf(b, "}|%s param%s", count, params == 1 ? "" : "s");
    if (params && trainable == 0)
        cb_printf(b, " (not trainable)");
    else if (trainable < params)
        cb_printf(b, " (%s trainable)", tc);
    cb_printf(b, "}\"];\n");
}

void emit_dot(CBuf *out, Arena *a, const Model *m)
{
    cb_printf(out, "digraph \"%s\" {\n", m->keras_name);
    int64_t total = 0, trainable = 0;
    for (int i = 0; i < m->layers.len; i++) {
        const LayerInst *li = m->layers.items[i];
        total += li->params;
        trainable += li->trainable_params;
    }
    char t1[64], t2[64];
    klc_format_thousands(t1, sizeof t1, total);
    klc_format_thousands(t2, sizeof t2, trainable);
    cb_printf(out, "    graph [rankdir=TB, labelloc=t, label=\"Model '%s' (%s): %s params, %s trainable\"];\n",
              m->var, m->keras_name, t1, t2);
    cb_printf(out, "    node [shape=record, fontname=\"Helvetica\", fontsize=11];\n");
    cb_printf(out, "    edge [fontname=\"Helvetica\", fontsize=10];\n");
    const char *in = shape_keras(a, &m->input_shape);
    node(out, "input_layer", "input_layer", "InputLayer", in, in, 0, 0);
    const char *prev = "input_layer";
    for (int i = 0; i < m->layers.len; i++) {
        const LayerInst *li = m->layers.items[i];
        const char *id = arena_printf(a, "layer_%d", i);
        node(out, id, li->name, li->type, shape_keras(a, &li->in_shape), shape_keras(a, &li->out_shape), li->params,
             li->trainable_params);
        cb_printf(out, "    %s -> %s;\n", prev, id);
        prev = id;
    }
    cb_printf(out, "}\n");
}
