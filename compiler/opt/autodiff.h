/*
 * autodiff.h — reverse-mode differentiation of KIR at compile time.
 *
 * ad_differentiate appends to a training function the instructions that
 * compute d loss / d w for every trainable weight w, ending each with an
 * IR_GRAD sink.  One rule per operation kind:
 *
 *   map      for each read of an active operand, the symbolic derivative of
 *            the body times the output's adjoint, summed over the map's
 *            domain: as a map over the operand's axes when the read's
 *            subscripts are plain variables (a gather, e.g. dW = xᵀ·dy, a
 *            broadcast's adjoint summed over the broadcast axes), else
 *            scattered with += (strided windows, gathers by id: repeated ids
 *            accumulate); max/min reductions route the adjoint to the first
 *            extremum; mean divides by the (run-time) count
 *   softmax  dx = y (dy - Σ dy y);   log_softmax  dx = dy - e^y Σ dy
 *   xent     dz = dl (softmax(z) Σ labels - labels)   (one-hot for ids)
 *   reshape, concat: the inverse movement
 *
 * Only values that depend on a weight and reach the loss get adjoints
 * (activity analysis), so the input batch, the labels, state, random masks
 * and stop_gradient'ed values cost nothing.  A value with several consumers
 * gets the sum of their contributions (first one defines, the rest +=).
 */
#ifndef KLC_AUTODIFF_H
#define KLC_AUTODIFF_H

#include "base/diag.h"
#include "ir/ir.h"
#include "ir/program.h"

/* Returns the number of errors reported: a trainable weight that reaches the
 * loss only through operations without a derivative (round, a comparison,
 * an integer cast, ...) is an error at that operation; a weight that does not
 * reach the loss at all is a warning (Keras: "Gradients do not exist"). */
int ad_differentiate(IrFunc *f, Model *m, Diag *d);

#endif /* KLC_AUTODIFF_H */
