/*
 * builtins.h — the functions and Keras names klc knows without a
 * declaration (keras.ops, the layer-API statements add_loss, add_metric and
 * assign, compile-time helpers, Input, configuration names): a table of
 * Natives that sema_run binds in the builtin scope.
 */
#ifndef KLC_CHECK_BUILTINS_H
#define KLC_CHECK_BUILTINS_H

#include "check/value.h"

/* The table, in the order its names are suggested. */
int builtin_count(void);
const Native *builtin_native(int i);
/* The activation builtin `name` as a function value called as an activation
 * (keras.activations defaults), or NULL if there is none. */
Value *builtin_activation(Elab *e, const char *name, const Node *at);

#endif /* KLC_CHECK_BUILTINS_H */
