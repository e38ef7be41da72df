/* hoist.c — loop-invariant (carry-independent) instructions before their loop; see hoist.h. */
#include "opt/hoist.h"

#include <string.h>

void ir_hoist_loops(IrFunc *f)
{
    bool *dep = arena_alloc(f->arena, sizeof(bool) * (size_t)(f->next_id + 1));
    void **tmp = arena_alloc(f->arena, sizeof(void *) * (size_t)(f->insts.len + 1));
    for (int j0 = 0; j0 < f->insts.len;) {
        IrLoop *l = ((IrValue *)f->insts.items[j0])->loop;
        if (!l) {
            j0++;
            continue;
        }
        int j1 = j0;
        while (j1 < f->insts.len && ((IrValue *)f->insts.items[j1])->loop == l)
            j1++;
        for (int i = j0; i < j1; i++) {
            IrValue *v = f->insts.items[i];
            dep[v->id] = v->op == IR_CARRY;
            for (int k = 0; k < v->nargs && !dep[v->id]; k++)
                dep[v->id] = v->args[k]->loop == l && dep[v->args[k]->id];
        }
        for (int i = j0; i < j1; i++) {
            IrValue *v = f->insts.items[i];
            if (v->op == IR_CARRY)
                dep[v->args[1]->id] = true;
        }
        int o = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int i = j0; i < j1; i++) {
                IrValue *v = f->insts.items[i];
                if (dep[v->id] == (pass == 1))
                    tmp[o++] = v;
            }
        memcpy(f->insts.items + j0, tmp, sizeof(void *) * (size_t)o);
        for (int i = j0; i < j1; i++) {
            IrValue *v = f->insts.items[i];
            if (!dep[v->id])
                v->loop = NULL;
        }
        j0 = j1;
    }
}
