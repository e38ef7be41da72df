/* emit_dot.c — Graphviz output; see emit_dot.h. */
#include "emit_dot.h"

#include <string.h>

#include "summary.h"

/* Text for a record label: the record syntax characters escaped. */
static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (strchr("{}|<>\"\\", *s))
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void node(FILE *out, const char *id, const char *name, const char *type, const char *in, const char *outs,
                 int64_t params, int64_t trainable)
{
    char count[64], tc[64];
    klc_format_thousands(count, sizeof count, params);
    klc_format_thousands(tc, sizeof tc, trainable);
    fprintf(out, "    %s [label=\"{", id);
    put_escaped(out, name);
    fputs(" (", out);
    put_escaped(out, type);
    fputs(")|{input:|output:}|{", out);
    put_escaped(out, in);
    fputc('|', out);
    put_escaped(out, outs);
    fprintf(out, "}|%s param%s", count, params == 1 ? "" : "s");
    if (params && trainable == 0)
        fputs(" (not trainable)", out);
    else if (trainable < params)
        fprintf(out, " (%s trainable)", tc);
    fputs("}\"];\n", out);
}

void emit_dot(FILE *out, Arena *a, const Model *m)
{
    fprintf(out, "digraph \"%s\" {\n", m->keras_name);
    int64_t total = 0, trainable = 0;
    for (int i = 0; i < m->layers.len; i++) {
        const LayerInst *li = m->layers.items[i];
        total += li->params;
        trainable += li->trainable_params;
    }
    char t1[64], t2[64];
    klc_format_thousands(t1, sizeof t1, total);
    klc_format_thousands(t2, sizeof t2, trainable);
    fprintf(out, "    graph [rankdir=TB, labelloc=t, label=\"Model '%s' (%s): %s params, %s trainable\"];\n",
            m->var, m->keras_name, t1, t2);
    fputs("    node [shape=record, fontname=\"Helvetica\", fontsize=11];\n", out);
    fputs("    edge [fontname=\"Helvetica\", fontsize=10];\n", out);
    const char *in = shape_keras(a, &m->input_shape);
    node(out, "input_layer", "input_layer", "InputLayer", in, in, 0, 0);
    const char *prev = "input_layer";
    for (int i = 0; i < m->layers.len; i++) {
        const LayerInst *li = m->layers.items[i];
        const char *id = arena_printf(a, "layer_%d", i);
        node(out, id, li->name, li->type, shape_keras(a, &li->in_shape), shape_keras(a, &li->out_shape), li->params,
             li->trainable_params);
        fprintf(out, "    %s -> %s;\n", prev, id);
        prev = id;
    }
    fputs("}\n", out);
}
