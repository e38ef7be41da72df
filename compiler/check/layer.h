/*
 * layer.h — layer classes: hyperparameters, build() and call().
 *
 * A class is a V_CLASS value whose native (layer_class_native) binds the
 * class's hyperparameters when it is called: Dense(10) is a V_LAYER.
 * layer_instantiate then matches build()'s pattern against the input shape
 * that reaches the layer, runs build() (add_weight creates the weights) and
 * elaborates call() into the model's two functions.
 */
#ifndef KLC_CHECK_LAYER_H
#define KLC_CHECK_LAYER_H

#include "check/value.h"

/* The native of every V_CLASS value (sema_run sets it when it declares a class). */
extern const Native layer_class_native;
/* add_weight(...): allowed in build() only (a builtin, registered by sema_run). */
extern const Native add_weight_native;
/* layer_name(l), rename(l, name): a sub-layer's name, read or set in build() */
extern const Native layer_name_native, rename_native;
/* Check a class's declaration (parameter types, members); once per class. */
bool layer_check_class(Elab *e, const Node *cls);
/* Instantiate the V_LAYER `spec` as layer `position` of `m` (1-based; Input
 * counts) on the model's current output shape; updates m. */
void layer_instantiate(Sema *sema, Model *m, Value *spec, int position);
/* Keras' snake_case of a class name: MyCustomLayer -> my_custom_layer. */
const char *keras_snake_case(Arena *a, const char *name);

#endif /* KLC_CHECK_LAYER_H */
