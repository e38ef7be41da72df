/*
 * emit_dot.h — the model as a Graphviz graph (klc --dot), like Keras'
 * plot_model(show_shapes = True): one box per layer with its name, class,
 * input and output shapes and parameter count, in order, from the Input.
 */
#ifndef KLC_EMIT_DOT_H
#define KLC_EMIT_DOT_H

#include "base/cbuf.h"
#include "ir/program.h"

/* Append m's graph to b. */
void emit_dot(CBuf *b, Arena *a, const Model *m);

#endif /* KLC_EMIT_DOT_H */
