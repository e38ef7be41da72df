/*
 * ir_util.h — whole-function utilities on KIR shared by the passes: use
 * counts, dead code removal, storage roots, replacing a value, pruning the
 * operands a map no longer reads.
 *
 * Sinks, the instructions kept for their effect, are OUTPUT, LOSS,
 * ADD_METRIC, ASSIGN and GRAD.  A value is used by an instruction that has
 * it as an operand (args), accumulates into it (into) or recomputes it
 * (fwd of ARGMAX_GRAD).
 */
#ifndef KLC_IR_UTIL_H
#define KLC_IR_UTIL_H

#include "ir/ir.h"

/* Set v->n_uses of every instruction of f to the number of its uses by the
 * instructions of f (an instruction using a value twice counts twice). */
void ir_count_uses(IrFunc *f);

/* Remove the instructions no sink depends on, keeping the order of the
 * rest; f->input and f->labels are always kept.  Uses (and clears) the aux
 * field of every instruction. */
void ir_dce(IrFunc *f);

/* Replace every use of `from` in f by `to`: operands, into, fwd, and the
 * function's output, loss and input.  `from` itself stays in the list. */
void ir_replace_uses(IrFunc *f, IrValue *from, IrValue *to);

/* The value whose storage v lives in: followed through accumulations
 * (into) and views (RESHAPE, STOP_GRAD of args[0]). */
const IrValue *ir_storage_of(const IrValue *v);

/* Drop the operands a map no longer reads (in its body or, for a scatter,
 * its output subscripts), renumbering its reads; the remaining operands
 * keep their order. */
void ir_prune_args(IrFunc *f);

/* How the output subscripts of a scatter (ARGMAX_GRAD's, a window
 * gradient's) reach its value v: WINDOW_OVERLAP when two points of the
 * domain may reach the same element (or the reach cannot be shown to stay
 * in bounds), WINDOW_DISJOINT when every element is reached at most once,
 * WINDOW_BOX when moreover the reached elements are exactly the box
 * lo[j] <= index_j < hi[j] (hi[j] < 0: the whole axis j). */
typedef enum WindowReach { WINDOW_OVERLAP = 0, WINDOW_DISJOINT, WINDOW_BOX } WindowReach;
WindowReach ir_window_reach(const IrValue *v, int64_t lo[KLC_MAXRANK], int64_t hi[KLC_MAXRANK]);

#endif /* KLC_IR_UTIL_H */
