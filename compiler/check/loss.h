/*
 * loss.h — a compiled model's objective, in KIR (loss.c's header comment
 * has the formulas).
 */
#ifndef KLC_CHECK_LOSS_H
#define KLC_CHECK_LOSS_H

#include "check/value.h"

/* Add m's compiled loss, its add_loss terms and its regularizer penalties to
 * f (m->train or m->infer), after the forward pass and its IR_OUTPUT. */
void loss_build(Arena *a, Diag *d, Model *m, IrFunc *f);

#endif /* KLC_CHECK_LOSS_H */
