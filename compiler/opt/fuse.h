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

#endif /* KLC_FUSE_H */
