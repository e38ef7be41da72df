/*
 * tensor_ops.h — the operations on tensors the operators and builtins share:
 * elementwise with NumPy broadcasting and NumPy's matmul.  Over tensors they
 * add maps to e->fn; over compile-time numbers they fold; inside an index
 * expression (e->comp) they build scalar bodies.
 */
#ifndef KLC_CHECK_TENSOR_OPS_H
#define KLC_CHECK_TENSOR_OPS_H

#include "check/value.h"

/* The scalar body of an elementwise op from its operands' scalars and its
 * keyword parameters' values. */
typedef Scalar *(*ScalarBuilder)(Arena *a, Scalar **ops, const double *params);
/* Elementwise op over tensors, compile-time numbers and (inside index
 * expressions) scalars, with NumPy broadcasting; nodes locate the operands,
 * `what` names the op in messages. */
Value *elementwise(Elab *e, SrcLoc loc, int n, Value **ops, const Node **nodes, ScalarBuilder build,
                   const double *params, const char *what);
/* x @ y (NumPy's matmul); nx, ny locate the operands for messages. */
Value *matmul(Elab *e, SrcLoc loc, Value *x, Value *y, const Node *nx, const Node *ny);

#endif /* KLC_CHECK_TENSOR_OPS_H */
