/* pipeline.c — simplify, differentiate, fuse; see pipeline.h. */
#include "opt/pipeline.h"

#include "ir/ir_util.h"
#include "opt/autodiff.h"
#include "opt/fuse.h"
#include "opt/hoist.h"
#include "opt/simplify.h"
#include "ir/verify.h"

/* A copy of f without the loss (and the labels it reads), dead code removed. */
static IrFunc *without_loss(Arena *a, const IrFunc *f, const char *name)
{
    IrFunc *r = ir_func_new(a, name, f->training);
    *r = *f;
    r->name = name;
    r->insts.items = arena_alloc(a, sizeof(void *) * (size_t)(f->insts.len + 1));
    r->insts.cap = f->insts.len + 1;
    r->insts.len = 0;
    for (int i = 0; i < f->insts.len; i++) {
        IrValue *v = f->insts.items[i];
        if (v->op == IR_LOSS || v->op == IR_ADD_METRIC || v->op == IR_LABELS)
            continue;
        r->insts.items[r->insts.len++] = v;
    }
    r->labels = NULL;
    r->loss = NULL;
    ir_dce(r);
    ir_count_uses(r);
    return r;
}

int pipeline_differentiate(Model *m, Diag *d)
{
    int errors = 0;
    m->train->name = "train";
    m->infer->name = "test";
    /* each pass keeps the IR's invariants (ir/verify.h; on in debug builds) */
    ir_verify_pass(m->train, "lowering");
    ir_verify_pass(m->infer, "lowering");
    ir_hoist_loops(m->train);
    ir_verify_pass(m->train, "hoisting");
    ir_simplify(m->train);
    ir_verify_pass(m->train, "simplify");
    if (m->compiled) {
        errors = ad_differentiate(m->train, m, d);
        if (!errors)
            ir_verify_pass(m->train, "autodiff");
    }
    ir_simplify(m->train);
    if (!errors)
        ir_verify_pass(m->train, "simplify");
    return errors;
}

/* Runs only on models that differentiated without an error (the driver's rule). */
void pipeline_fuse(Model *m)
{
    ir_fuse(m->train);
    ir_verify_pass(m->train, "fuse");
    ir_fuse_window_grads(m->train);
    ir_verify_pass(m->train, "window gradients");
    ir_hoist_loops(m->infer);
    ir_verify_pass(m->infer, "hoisting");
    ir_simplify(m->infer);
    ir_verify_pass(m->infer, "simplify");
    ir_fuse(m->infer);
    ir_verify_pass(m->infer, "fuse");
    m->predict = without_loss(m->train->arena, m->infer, "predict");
    ir_verify_pass(m->predict, "dead code removal");
}
