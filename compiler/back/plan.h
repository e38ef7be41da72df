/*
 * plan.h — where every value of a function lives.
 *
 * Inputs, labels, weights and gradients live in the runtime's buffers;
 * reshapes, stop_gradients and accumulations (`into`) share the storage of
 * the value they refer to; everything else gets a slot in the workspace.
 * Workspace slots are packed by liveness over the function's instruction
 * order: two values share memory only if their lifetimes are disjoint.  All
 * sizes are c + k·cap (cap = the batch capacity), so every offset is such a
 * linear function too, fixed at compile time; the generated code computes
 * addresses from `cap` and allocates nothing.
 */
#ifndef KLC_PLAN_H
#define KLC_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ir/ir.h"
#include "ir/program.h"

typedef enum StorageKind {
    ST_NONE = 0,   /* sinks: no storage */
    ST_INPUT,      /* s->x */
    ST_LABELS,     /* s->y */
    ST_PARAM,      /* s->params + offset */
    ST_STATE,      /* s->state + offset */
    ST_GRAD,       /* s->grads + offset (a trainable weight's gradient, pinned) */
    ST_WORK,       /* s->work + off_c + off_k * cap */
    ST_IWORK,      /* s->iwork + off_c + off_k * cap */
    ST_ALIAS       /* the storage of `alias` */
} StorageKind;

typedef struct Storage {
    StorageKind kind;
    int64_t offset;        /* ST_PARAM, ST_STATE, ST_GRAD: element offset */
    int64_t off_c, off_k;  /* ST_WORK, ST_IWORK */
    IrValue *alias;        /* ST_ALIAS: the value whose storage this is (a root) */
} Storage;

typedef struct Plan {
    int n_ids;
    Storage *st;           /* by value id */
    int64_t work_c, work_k;
    int64_t iwork_c, iwork_k;
    /* the scratch region at the end of the workspace, work + scratch_c +
     * scratch_k * cap: the column buffer of the largest convolution
     * (back/conv.h), shared by all, live during one instruction only;
     * none (both 0) when the function has no convolution */
    int64_t scratch_c, scratch_k;
} Plan;

/* n rounded up to a multiple of 16: sizes of weights, optimizer slots and
 * workspace slots, so every tensor starts on a 64-byte boundary. */
static inline int64_t pad16(int64_t n)
{
    return (n + 15) / 16 * 16;
}

/* Weight offsets in their slabs (params or state), in Keras order. */
typedef struct WeightLayout {
    int64_t *offset;       /* by weight index */
    int64_t n_params, n_state;
} WeightLayout;

WeightLayout plan_weights(Arena *a, const Model *m);
/* Storage for every value of f.  With `columns`, a scratch region for the
 * column buffers of the convolutions that go to BLAS follows the slots;
 * code that computes convolutions as plain loops (--no-blas) needs none. */
Plan *plan_function(Arena *a, IrFunc *f, const WeightLayout *wl, bool columns);
/* A prepared model (opt/pipeline.h) with its weights laid out and its three
 * functions planned: what the emitters receive. */
typedef struct PlannedModel {
    Model *m;
    WeightLayout wl;
    Plan *train, *test, *predict;   /* of m->train, m->infer, m->predict */
} PlannedModel;

PlannedModel *plan_model(Arena *a, Model *m);
/* The model's functions as ir_dump prints them, each followed by its plan:
 * the workspace sizes and, per value that owns storage, where it lives and
 * how many elements it holds (c + k*cap, padded). */
void plan_dump(FILE *out, const PlannedModel *pm);

/* Check a plan of f: every instruction has its storage (sinks none, every
 * other value a buffer, views and accumulations an alias of a root that owns
 * one), workspace slots lie inside the workspace, and buffers alive at the
 * same time never overlap.  On the first violation, writes it (and the
 * instruction) to `err` if not NULL and returns false.  plan_function runs
 * it when ir_verify_enabled(). */
bool plan_verify(const Plan *p, const IrFunc *f, FILE *err);
/* The value whose storage v uses (v itself if it owns storage). */
IrValue *plan_root(const Plan *p, IrValue *v);
/* Do the storages of x and y never overlap, whatever the batch capacity?
 * (false when unsure) */
bool plan_disjoint(const Plan *p, IrValue *x, IrValue *y);

#endif /* KLC_PLAN_H */
