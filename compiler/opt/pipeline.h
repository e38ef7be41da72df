/*
 * pipeline.h — from a checked model to the functions code is generated from.
 *
 * pipeline_prepare simplifies the model's functions, differentiates the
 * training one (autodiff.c), fuses elementwise chains (fuse.c) and derives
 * the predict function (the inference function without its loss).  Both the
 * emitters and --dump-ir use it, so the dump shows exactly what becomes C.
 */
#ifndef KLC_PIPELINE_H
#define KLC_PIPELINE_H

#include "base/diag.h"
#include "ir/program.h"

/* Returns the number of errors (non-differentiable uses of weights), reported
 * through d; idempotent (a second call does nothing and returns 0). */
int pipeline_prepare(Model *m, Diag *d);

#endif /* KLC_PIPELINE_H */
