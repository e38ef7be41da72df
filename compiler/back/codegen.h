/*
 * codegen.h — C for the body of one KIR function (internal to the emitters).
 *
 * The training emitter (emit_c.c) and the inference emitter (emit_infer.c)
 * both turn planned KIR into C statements: one loop nest per map (or a
 * cblas_?gemm call for contractions), softmax and the fused crossentropy,
 * random masks, copies.  They differ in where buffers come from and in what
 * the sinks do, which a Codegen describes.  The C reads like the source:
 * buffers are named after what they hold (a weight, a layer's value,
 * d_<value> for a gradient), loops of a comprehension after its index
 * names, and each block's comment points at its .kl line (built-in layers:
 * compiler/prelude/core.kl).
 */
#ifndef KLC_CODEGEN_H
#define KLC_CODEGEN_H

#include <stdbool.h>

#include "base/cbuf.h"
#include "ir/ir.h"
#include "ir/program.h"
#include "back/plan.h"

typedef struct Codegen {
    Arena *a;
    CBuf *b;
    const Model *m;
    const WeightLayout *wl;
    IrFunc *f;
    const Plan *p;
    bool f64;                 /* double instead of float */
    bool blas;                /* contractions through cblas_sgemm / cblas_dgemm */
    bool blas_optional;       /* both paths, chosen by the KLC_NO_BLAS macro (inference files) */
    const char *real;         /* "float" or "double" */
    const char *index;        /* type of loop variables and subscripts: "int64_t" (cg_init's), or
                               * "int32_t" when the caller has bounded every extent and offset */
    /* C expressions of the buffers */
    const char *x, *y;        /* input and labels (typed pointers) */
    const char *params, *state, *grads, *work, *iwork;
    /* sinks */
    const char *y_pred;       /* OUTPUT copies here (NULL: skip) */
    const char *loss;         /* LOSS stores here (NULL: skip) */
    const char *metrics;      /* ADD_METRIC stores here (NULL: skip) */
    bool grads_out;           /* GRAD copies into `grads` unless computed in place */
    const char *seed;         /* RANDOM: the step's seed expression */
    const char *stop_before_grads; /* if set, emitted before the backward pass (e.g. "if (!s->compute_grads) return;") */
    /* filled by cg_function */
    const char **names;       /* by value id: C name of the value's storage root */
    const char *step;         /* inside a loop (ir.h's IrLoop): "step", the C variable of map variable 0 */
    bool *used;               /* by value id: root referenced by the code */
} Codegen;

/* Zero g, then fill what both emitters share: the function, its plan and
 * model, the output buffer, the precision (f64, real), int64_t indices, blas on, and the
 * workspace pointers "work" and "iwork".  The caller sets the rest. */
void cg_init(Codegen *g, Arena *a, CBuf *b, const Model *m, const WeightLayout *wl, IrFunc *f, const Plan *p,
             bool f64);
/* The code of the whole function after its locals, as both emitters write
 * it (call after cg_init and the caller's settings): names decided, the
 * pointer declarations of every referenced root, a blank line, the
 * statements in order; indented by g->b->indent.  Not written to g->b but
 * returned, so the caller declares only the locals it uses (cg_uses). */
const char *cg_function(Codegen *g);
/* Does C text `code` use the identifier `name` ("n", "work"), outside
 * comments and string literals and not as a member (s->n)? */
bool cg_uses(const char *code, const char *name);
/* A contraction that BLAS computes: C[M, N] (+)= alpha A·B with A, B possibly transposed. */
typedef struct Gemm {
    const Scalar *ra, *rb;    /* the reads of A and B */
    bool ta, tb;
    Dim M, N, K;
    Dim batch;                /* independent products (leading axes common to A, B, C); 1 if none */
    /* inside a loop: the elements A, B, C advance per step (0: read whole) */
    Dim step_a, step_b, step_c;
    /* strided form (batch variables anywhere, e.g. attention's heads): one
     * product per point of the batch variables bvar[], whose element strides
     * in A, B, C are bstride[0..2][]; leading dimensions explicit */
    bool strided;
    int n_bvar;
    int bvar[KLC_MAXVARS];
    Dim bstride[3][KLC_MAXVARS];
    Dim lda, ldb, ldc;
} Gemm;

/* Is map v a matrix product (batched or not) that cblas_?gemm computes:
 * a sum or mean of A[..] * B[..] whose subscripts are plain variables laid
 * out as [batch, M, K] or [batch, K, M] (transposed) and [batch, K, N] or
 * [batch, N, K], over buffers of g's real type?  Outside a loop the batch
 * variables may also sit between the matrix axes (strided form: per batch
 * point, each operand a matrix with a leading dimension), as attention's
 * s[n,h,t,u] = sum[c] q[n,t,h,c] * k[n,u,h,c].  A product of one element
 * (M = N = 1, a dot product per point) is left to the loops.  Needs g->blas
 * and g->p. */
bool cg_classify_gemm(const Codegen *g, const IrValue *v, Gemm *gm);
/* C text of a dimension at run time: "64", "n", "(49 * n)". */
const char *cg_dim(Arena *a, Dim d);
/* A real literal in the target type: "0.5f", "1e-07f", "0.5". */
const char *cg_real(Arena *a, double x, bool f64);
/* The static helpers (klc_sigmoidf, klc_uniform, KLC_IVDEP, ...) that `code`
 * uses, to be written before it. */
void cg_helpers(CBuf *b, const char *code);

#endif /* KLC_CODEGEN_H */
