/*
 * verify.h — the IR verifier: the invariants every pass keeps.
 *
 * ir_verify checks a function's instructions in order:
 *   - every operand, `into` and `fwd` is an instruction defined earlier;
 *     ids are distinct and below next_id;
 *   - each opcode has its number of operands (and its comprehension, for
 *     MAP and ARGMAX_GRAD);
 *   - shapes: a map's output extents are its comprehension's; reshapes keep
 *     the element count; softmax keeps its operand's shape, concatenation
 *     adds the extents along its axis; a value accumulated into has the
 *     accumulator's shape and type;
 *   - scalar bodies: each operation has its operands (ir/scalar_ops.def's
 *     arity); a read names an operand (arg < nargs) with that operand's
 *     rank; subscripts and S_VAR use only the map's variables
 *     (< n_out + n_red); an affine subscript over constant extents stays
 *     inside the operand's constant extent, unless the read sits in a branch
 *     of a select (a guarded window: padding);
 *   - `into` chains: each version of a value is accumulated into at most
 *     once, and never read after it was (its storage then holds the newer
 *     version).
 *
 * On the first violation it writes, to `err` (if not NULL), what is wrong
 * and the instruction in ir_dump's notation, and returns false.
 */
#ifndef KLC_VERIFY_H
#define KLC_VERIFY_H

#include <stdbool.h>
#include <stdio.h>

#include "ir/ir.h"

bool ir_verify(const IrFunc *f, FILE *err);

/* Is verification on?  Always in debug builds (NDEBUG not defined); in
 * others when the environment variable KLC_VERIFY_IR is set to anything but
 * "" or "0" (the test suite sets it). */
bool ir_verify_enabled(void);

/* If verification is on and f breaks an invariant: report it (naming the
 * pass `after` ran) on stderr and stop — abort() in debug builds, an
 * internal error (exit status 2) otherwise. */
void ir_verify_pass(const IrFunc *f, const char *after);

/* Report a broken invariant found by another verifier (back/plan.c's) the
 * way ir_verify_pass does, and stop. */
_Noreturn void ir_verify_fail(const char *what, const char *after);

#endif /* KLC_VERIFY_H */
