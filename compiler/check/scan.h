/*
 * scan.h — the scan statement: a loop over an axis with carried state.
 *
 *     hs, h = scan (xt in x along 1, h = h0) { h = tanh(xt @ k + h @ r); } yield h;
 *
 * The body is evaluated once, on one step's tensors (xt is [N, D] for x of
 * [N, T, D]), like any call() code; then every instruction it made that
 * depends on a step is lifted to the whole sequence — a tensor [T, ...]
 * whose leading axis is the step — and placed in one IrLoop (ir/ir.h), run
 * as one loop over the steps.  Instructions that depend on no step (weights,
 * products of weights) stay before the loop.  The targets get the per-step
 * outputs stacked along the scanned axis, then the final carried states.
 * Rules and messages: grammar/REFERENCE.md §6.1.
 */
#ifndef KLC_CHECK_SCAN_H
#define KLC_CHECK_SCAN_H

#include "check/value.h"

/* Run the N_SCAN statement st in scope s: binds its targets in s. */
void scan_statement(Elab *e, Scope *s, const Node *st);

#endif /* KLC_CHECK_SCAN_H */
