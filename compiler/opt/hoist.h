/*
 * hoist.h — work that does not depend on a loop's carried state leaves the loop.
 *
 * In a loop (ir/ir.h's IrLoop, a scan), an instruction that depends on no
 * carry of its loop, directly or through other instructions of the loop,
 * computes the same slices whether it runs step by step or all at once: it
 * moves before the loop, as one instruction over all the steps.  The input
 * projections of a recurrent layer (x_t @ kernel for every t) become one
 * matrix product over [T·N, D], which BLAS computes in one call.  A carry's
 * new state stays in the loop.
 */
#ifndef KLC_HOIST_H
#define KLC_HOIST_H

#include "ir/ir.h"

void ir_hoist_loops(IrFunc *f);

#endif /* KLC_HOIST_H */
