/*
 * keras.h — Keras' settings resolved by name: initializers and regularizers
 * (add_weight, layer hyperparameters), optimizers, losses and metrics
 * (compile).  Each takes the value as written — a bare name (a string), a
 * configuration (adam(learning_rate = 0.01)) or None — and fills what the
 * program records; false, with an error at `at`, when it is not one.
 */
#ifndef KLC_CHECK_KERAS_H
#define KLC_CHECK_KERAS_H

#include "check/value.h"

/* An initializer: "glorot_uniform", RandomNormal(stddev = 0.1), ... */
bool resolve_initializer(Elab *e, Value *v, const Node *at, InitSpec *out);
/* A regularizer's factors (0 = none): l2(0.01), l1_l2(l1 = ..., l2 = ...), None. */
bool resolve_regularizer(Elab *e, Value *v, const Node *at, double *l1, double *l2);
/* Keras' defaults of an optimizer kind (name, learning rate, betas, ...). */
void optimizer_defaults(OptimizerCfg *o, OptKind kind);
bool resolve_optimizer(Elab *e, Value *v, const Node *at, OptimizerCfg *o);
bool resolve_loss(Elab *e, Value *v, const Node *at, LossCfg *l);
/* compile(metrics = ...): m's metrics ("accuracy" is resolved later, from the shapes). */
bool resolve_metrics(Elab *e, Value *v, const Node *at, Model *m);

#endif /* KLC_CHECK_KERAS_H */
