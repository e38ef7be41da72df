/* pipeline.c — simplify, differentiate, fuse; see pipeline.h. */
#include "opt/pipeline.h"

#include "ir/ir_util.h"
#include "opt/autodiff.h"
#include "opt/fuse.h"
#include "opt/simplify.h"

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
    ir_simplify(m->train);
    if (m->compiled)
        errors = ad_differentiate(m->train, m, d);
    ir_simplify(m->train);
    return errors;
}

void pipeline_fuse(Model *m)
{
    ir_fuse(m->train);
    ir_simplify(m->infer);
    ir_fuse(m->infer);
    m->predict = without_loss(m->train->arena, m->infer, "predict");
}
