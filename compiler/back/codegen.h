/*
 * codegen.h — C for the body of one KIR function (internal to the emitters).
 *
 * The training emitter (emit_c.c) and the inference emitter (emit_infer.c)
 * both turn planned KIR into C statements: one loop nest per map (or a
 * cblas_?gemm call for contractions), softmax and the fused crossentropy,
 * random masks, copies.  They differ in where buffers come from and in what
 * the sinks do, which a Codegen describes.
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
    /* filled by cg_prepare */
    const char **names;       /* by value id: C name of the value's storage root */
    bool *used;               /* by value id: root referenced by the code */
} Codegen;

/* Zero g, then fill what both emitters share: the function, its plan and
 * model, the output buffer, the precision (f64, real), blas on, and the
 * workspace pointers "work" and "iwork".  The caller sets the rest. */
void cg_init(Codegen *g, Arena *a, CBuf *b, const Model *m, const WeightLayout *wl, IrFunc *f, const Plan *p,
             bool f64);
/* Decide names and which roots are referenced; call after cg_init and the caller's settings. */
void cg_prepare(Codegen *g);
/* Pointer declarations for every referenced root. */
void cg_declare(Codegen *g);
/* The statements of the whole function, in order. */
void cg_body(Codegen *g);
/* A contraction that BLAS computes: C[M, N] (+)= alpha A·B with A, B possibly transposed. */
typedef struct Gemm {
    const Scalar *ra, *rb;    /* the reads of A and B */
    bool ta, tb;
    Dim M, N, K;
    Dim batch;                /* independent products (leading axes common to A, B, C); 1 if none */
} Gemm;

/* Is map v a matrix product (batched or not) that cblas_?gemm computes:
 * a sum or mean of A[..] * B[..] whose subscripts are plain variables laid
 * out as [batch, M, K] or [batch, K, M] (transposed) and [batch, K, N] or
 * [batch, N, K], over buffers of g's real type?  Needs g->blas and g->p. */
bool cg_classify_gemm(const Codegen *g, const IrValue *v, Gemm *gm);
/* C text of a dimension at run time: "64", "n", "(49 * n)". */
const char *cg_dim(Arena *a, Dim d);
/* A real literal in the target type: "0.5f", "1e-07f", "0.5". */
const char *cg_real(Arena *a, double x, bool f64);
/* The static helpers (klc_sigmoidf, klc_uniform, KLC_IVDEP, ...) that `code`
 * uses, to be written before it. */
void cg_helpers(CBuf *b, const char *code);

#endif /* KLC_CODEGEN_H */
