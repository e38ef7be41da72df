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
/* Replace every use of `from` by `to` in f. */
void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to);
/* Remove instructions no sink depends on. */
void ir_dce(IrFunc *f);
/* Recount v->n_uses for every instruction. */
void ir_count_uses(IrFunc *f);
/* The value whose storage v lives in: through accumulations (into) and
 * views (reshape, stop_gradient). */
const IrValue *ir_storage_of(const IrValue *v);

#endif /* KLC_SIMPLIFY_H */
