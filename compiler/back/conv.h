/*
 * conv.h — convolutions as one matrix product (internal to back).
 *
 * A convolution comprehension
 *     y[n, i, j, f] = sum[a, b, c](x[n, i*s + a*d, j*s + b*d, c] * kernel[a, b, c, f])
 * is a product of the kernel, viewed as [kh*kw*C, F], with the matrix of
 * the input's windows ("im2col"): col[n, i, j | a, b, c] = x[n, i*s + a*d,
 * j*s + b*d, c], [N*Ho*Wo, kh*kw*C].  Its kernel gradient
 *     dkernel[a, b, c, f] = sum[n, i, j](dy[n, i, j, f] * x[n, i*s + a*d, j*s + b*d, c])
 * is the same matrix transposed times dy; its input gradient, the scatter
 *     dx[n, i*s + a*d, j*s + b*d, c] += dy[n, i, j, f] * kernel[a, b, c, f]
 * is dy · kernelᵀ into a column buffer [N*Ho*Wo, kh*kw*C], then added back
 * to the windows it came from ("col2im").  The patterns are matched on the
 * map alone, whatever the layer: any sum of a product of two reads where one
 * read is a plain [K.., N..] / [N.., K..] tensor and the other has affine
 * subscripts (IM2COL), or any scatter of a product of two plain reads
 * contracted over a variable the target does not use (COL2IM).  The column
 * buffer lives in the function's scratch region of the workspace (plan.h).
 */
#ifndef KLC_CONV_H
#define KLC_CONV_H

#include <stdbool.h>

#include "ir/ir.h"

typedef enum ConvKind { CONV_IM2COL = 1, CONV_COL2IM } ConvKind;

typedef struct ConvGemm {
    ConvKind kind;
    /* IM2COL: out[M.., N..] (+)= op(col) · op(rb), col[..] = rx[..];
     * COL2IM: col = op(ra) · op(rb), then out[out_sub] += col[..] */
    const Scalar *rx, *ra, *rb;
    int col_var[KLC_MAXVARS]; /* the column buffer's axes: comprehension variables, outermost first */
    int n_col;
    bool ta, tb;
    Dim M, N, K;
    Dim size;                 /* elements of the column buffer */
} ConvGemm;

/* Is map v such a convolution (by structure only: the emitter also needs
 * BLAS and buffers of its real type)?  Fills cv. */
bool conv_match(const IrValue *v, ConvGemm *cv);

/* The column buffers of f's IM2COL convolutions (outside loops) as values
 * of their own, so that the memory plan gives each a workspace slot alive
 * up to its last reader: each such map
 *     out = sum(x[affine windows] * p)
 * becomes  cols = x[windows]  (a map over the column buffer's axes,
 * cv.col_var, named "cols" in the convolution's layer), inserted just
 * before it, and  out = sum(cols[plain] * p),  a plain GEMM.  A
 * convolution whose windows an earlier column map already holds (same
 * operand, not accumulated into since, same subscripts over the same axes:
 * a kernel gradient, dW = colsᵀ · dy, after its forward product) reads that
 * map instead of gathering them again.  Sets f->lowered_id; idempotent (a
 * lowered product is no convolution any more).  Returns the number of
 * convolutions rewritten. */
int conv_lower_columns(IrFunc *f);

#endif /* KLC_CONV_H */
