/*
 * fuse.h — elementwise fusion.
 *
 * A map that only transforms elements (no reduction) and is read exactly
 * once, by a map that visits each of its elements once, is inlined into
 * that reader: `relu(x @ w + b)` becomes the matrix product and one loop,
 * the adjoint chains of the backward pass collapse the same way, and the
 * intermediate buffers disappear.  Maps that feed a matrix product stay
 * materialised (BLAS reads memory), and nothing is inlined across a write
 * to the storage it reads.
 */
#ifndef KLC_FUSE_H
#define KLC_FUSE_H

#include "ir/ir.h"

void ir_fuse(IrFunc *f);

/* The gradient of a max/min window (ARGMAX_GRAD) whose windows do not
 * overlap writes its value instead of accumulating into zeros (the zero
 * fill shrinks to the elements no window reaches), and takes in its one
 * reader when that reader only multiplies it by a finite mask (ReLU's,
 * an activation's derivative at a kink): pooling's gradient and the
 * activation's before it become one pass, without the zeroed buffer. */
void ir_fuse_window_grads(IrFunc *f);

#endif /* KLC_FUSE_H */
