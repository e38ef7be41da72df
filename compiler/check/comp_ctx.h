/*
 * comp_ctx.h — the scalar mode of index expressions (comp.h): the map being
 * built while the right-hand side is evaluated (Elab.comp), and values as
 * scalar bodies of that map.  Below the evaluator, so that elementwise
 * operations (tensor_ops.h) can build scalars without reaching comp.c.
 */
#ifndef KLC_CHECK_COMP_CTX_H
#define KLC_CHECK_COMP_CTX_H

#include "check/value.h"

typedef struct CompStmt CompStmt; /* one index statement (comp.c) */

/* One map under construction: the statement itself or a reduction in it. */
struct CompCtx {
    CompStmt *st;
    CompCtx *parent;
    int n_binders;
    int binders[KLC_MAXVARS];     /* statement variable ids reduced here (or the LHS vars at top) */
    RedOp red;
    bool top;
    PtrVec args;                  /* CompArg* */
    Scalar *body;
    int n_out;                    /* out variables (statement ids), ascending; set when closed */
    int out[KLC_MAXVARS];
    IrValue *result;              /* materialised map */
    SrcLoc loc;
};

typedef struct CompArg {
    IrValue *t;                   /* a tensor, or */
    CompCtx *child;               /* a nested reduction */
} CompArg;

/* The argument slot of tensor t (or of the nested reduction `child`) in
 * c's map: an existing one when t is already read. */
int comp_add_arg(Elab *e, CompCtx *c, IrValue *t, CompCtx *child);
/* Scalar form of a value inside an index expression (NULL + error if impossible). */
Scalar *comp_scalar(Elab *e, Value *v, const Node *at);

#endif /* KLC_CHECK_COMP_CTX_H */
