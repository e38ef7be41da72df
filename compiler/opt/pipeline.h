/*
 * pipeline.h — from a checked model to the functions code is generated from.
 *
 * Two steps, run by the driver once per checked model, in this order:
 *   pipeline_differentiate  simplifies the training function and, for a
 *                           compiled model, appends its backward pass
 *                           (autodiff.c), then simplifies it again;
 *   pipeline_fuse           fuses elementwise chains of the training function
 *                           (fuse.c), simplifies and fuses the inference one,
 *                           and derives the predict function (the inference
 *                           function without its loss).
 * After them m->train ("train"), m->infer ("test") and m->predict are what
 * back/ plans and emits, and what --dump-ir shows.
 */
#ifndef KLC_PIPELINE_H
#define KLC_PIPELINE_H

#include "base/diag.h"
#include "ir/program.h"

/* Returns the number of errors (non-differentiable uses of weights), reported
 * through d with the warnings about weights that get no gradient. */
int pipeline_differentiate(Model *m, Diag *d);
/* After pipeline_differentiate. */
void pipeline_fuse(Model *m);

#endif /* KLC_PIPELINE_H */
