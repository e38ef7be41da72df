/*
 * simplify.h — clean-ups on KIR, run before and after differentiation.
 *
 *   - scalar folding: x*1, x+0, 0*x, constant subtrees;
 *   - copy propagation: a map that only copies its operand (the `linear`
 *     activation, a reduction over nothing) is replaced by the operand;
 *   - common subexpressions for softmax of the same tensor;
 *   - dead code: instructions no sink depends on are removed.
 * Sinks are OUTPUT, LOSS, ADD_METRIC, ASSIGN and GRAD; ADD_LOSS markers are
 * dropped once the loss holds their terms.
 */
#ifndef KLC_SIMPLIFY_H
#define KLC_SIMPLIFY_H

#include "ir/ir.h"

Scalar *scalar_fold(Arena *a, Scalar *s);
void ir_simplify(IrFunc *f);

#endif /* KLC_SIMPLIFY_H */
