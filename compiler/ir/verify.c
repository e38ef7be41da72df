/* verify.c — the IR verifier; see verify.h. */
#include "ir/verify.h"

#include "ir/ir_util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Verifier {
    const IrFunc *f;
    FILE *err;
    const IrValue *inst;      /* the instruction being checked (NULL: none yet) */
    bool dumpable;            /* inst is sound enough for ir_dump_inst */
    int *pos;                 /* by id: position in f->insts, -1 until defined */
    int *accumulated;         /* by id: position of the instruction accumulating into it, -1 if none */
} Verifier;

/* Report a violation (the first: the caller returns false at once). */
static bool bad(Verifier *vf, const char *fmt, ...)
{
    if (!vf->err)
        return false;
    va_list ap;
    fprintf(vf->err, "IR check failed in func %s: ", vf->f->name ? vf->f->name : "?");
    va_start(ap, fmt);
    vfprintf(vf->err, fmt, ap);
    va_end(ap);
    fputc('\n', vf->err);
    if (vf->inst && vf->dumpable) {
        ir_dump_inst(vf->err, vf->inst);
        fputc('\n', vf->err);
    } else if (vf->inst) {
        fprintf(vf->err, "  %%%d %s\n", vf->inst->id, irop_name(vf->inst->op));
    }
    return false;
}

/* Operand counts by opcode: [min, max], max -1 for no limit. */
static const int arg_range[IR__COUNT][2] = {
    [IR_INPUT] = {0, 0},       [IR_LABELS] = {0, 0},      [IR_PARAM] = {0, 0},
    [IR_STATE] = {0, 0},       [IR_MAP] = {0, -1},        [IR_SOFTMAX] = {1, 1},
    [IR_LOG_SOFTMAX] = {1, 1}, [IR_XENT] = {2, 2},        [IR_RESHAPE] = {1, 1},
    [IR_CONCAT] = {1, -1},     [IR_RANDOM] = {0, 0},      [IR_STOP_GRAD] = {1, 1},
    [IR_ZERO] = {0, 0},        [IR_ARGMAX_GRAD] = {1, -1}, [IR_ASSIGN] = {1, 1},
    [IR_ADD_LOSS] = {1, 1},    [IR_ADD_METRIC] = {1, 1},  [IR_OUTPUT] = {1, 1},
    [IR_LOSS] = {1, 1},        [IR_GRAD] = {1, 1},        [IR_CARRY] = {2, 2},
    [IR_CARRY_GRAD] = {1, 1},
};

/* A value defined by an earlier instruction, and not stale. */
static bool check_ref(Verifier *vf, const IrValue *r, int at, const char *what)
{
    if (!r)
        return bad(vf, "%s is missing", what);
    if (r->id < 0 || r->id >= vf->f->next_id || vf->pos[r->id] < 0 || vf->pos[r->id] >= at)
        return bad(vf, "%s %%%d is used before it is defined", what, r->id);
    if (vf->f->insts.items[vf->pos[r->id]] != r)
        return bad(vf, "%s %%%d is not the instruction of that id", what, r->id);
    return true;
}

static bool check_scalar(Verifier *vf, const Scalar *s, const Comp *c, bool guarded, int depth);

/* A subscript of a read of operand shape `sh` (or of a scatter's output),
 * axis j: variables of the map only, and, where provable, inside the axis. */
static bool check_sub(Verifier *vf, const Sub *sb, const Comp *c, const Shape *sh, int j, bool guarded, int depth)
{
    int nv = c->n_out + c->n_red;
    for (int k = nv; k < KLC_MAXVARS; k++)
        if (sb->coef[k])
            return bad(vf, "a subscript uses v%d, but the map has %d variables", k, nv);
    if (sb->ind && !check_scalar(vf, sb->ind, c, guarded, depth + 1))
        return false;
    Dim d = sh->d[j];
    if (guarded || sb->ind || sb->off_n || d.k != 0)
        return true;
    int64_t lo = sb->off, hi = sb->off;
    for (int k = 0; k < nv; k++) {
        if (!sb->coef[k])
            continue;
        if (c->ext[k].k != 0)
            return true; /* batch-sized: not provable at compile time */
        if (c->ext[k].c <= 0)
            return true; /* empty domain: nothing is read */
        int64_t span = sb->coef[k] * (c->ext[k].c - 1);
        if (span < 0)
            lo += span;
        else
            hi += span;
    }
    if (lo < 0 || hi >= d.c)
        return bad(vf, "subscript %d reaches %lld..%lld, outside the extent %lld", j, (long long)lo, (long long)hi,
                   (long long)d.c);
    return true;
}

/* A body: each operation has its operands; reads and variables are in range.
 * `guarded`: evaluated only under a condition (a select's branch, the right
 * side of && and ||), where a window may reach past its operand. */
static bool check_scalar(Verifier *vf, const Scalar *s, const Comp *c, bool guarded, int depth)
{
    /* (a body ir_dump_inst cannot print is reported without it) */
    if (!s) {
        vf->dumpable = false;
        return bad(vf, "a scalar operand is missing");
    }
    if (depth > 10000) {
        vf->dumpable = false;
        return bad(vf, "a scalar body is too deep (a cycle?)");
    }
    if ((int)s->op < 0 || s->op >= S__COUNT || (s->op == S_READ && (s->rank < 0 || s->rank > KLC_MAXRANK))) {
        vf->dumpable = false;
        return bad(vf, "unknown scalar operation %d or rank %d", (int)s->op, s->rank);
    }
    const IrValue *v = vf->inst;
    int arity = sop_arity(s->op);
    const Scalar *ops[3] = {s->a, s->b, s->c};
    for (int k = 0; k < 3; k++)
        if ((k < arity) != (ops[k] != NULL)) {
            vf->dumpable = k >= arity; /* an extra operand prints; a missing one does not */
            return bad(vf, "%s has %s operand %d", sop_name(s->op), k < arity ? "no" : "an extra", k + 1);
        }
    int nv = c->n_out + c->n_red;
    if (s->op == S_VAR && (s->var < 0 || s->var >= nv))
        return bad(vf, "v%d is read, but the map has %d variables", s->var, nv);
    if (s->op == S_READ) {
        if (s->arg < 0 || s->arg >= v->nargs)
            return bad(vf, "a read of operand $%d, but the instruction has %d operands", s->arg, v->nargs);
        const Shape *sh = &v->args[s->arg]->shape;
        if (s->rank != sh->rank)
            return bad(vf, "a read of %%%d with %d subscripts, but its rank is %d", v->args[s->arg]->id, s->rank,
                       sh->rank);
        for (int j = 0; j < s->rank; j++)
            if (!check_sub(vf, &s->sub[j], c, sh, j, guarded, depth))
                return false;
    }
    bool cond = s->op == S_SELECT || s->op == S_AND || s->op == S_OR;
    for (int k = 0; k < arity; k++)
        if (!check_scalar(vf, ops[k], c, guarded || (cond && k > 0), depth + 1))
            return false;
    return true;
}

static bool check_comp(Verifier *vf, const IrValue *v)
{
    const Comp *c = v->comp;
    int nv = c->n_out + c->n_red;
    if (c->n_out < 0 || c->n_red < 0 || nv > KLC_MAXVARS)
        return bad(vf, "a map of %d + %d variables", c->n_out, c->n_red);
    if (c->n_red > 0 && c->red == RED_NONE)
        return bad(vf, "%d reduction variables but no reduction", c->n_red);
    if (v->op == IR_MAP && !c->scatter) {
        if (c->n_out != v->shape.rank)
            return bad(vf, "%d output variables for an output of rank %d", c->n_out, v->shape.rank);
        for (int j = 0; j < c->n_out; j++)
            if (!dim_eq(c->ext[j], v->shape.d[j]))
                return bad(vf, "the extent of v%d is not the output's extent %d", j, j);
    }
    if (c->scatter) {
        if (!v->into && v->op != IR_ARGMAX_GRAD)
            return bad(vf, "a scatter map must accumulate into a value");
        if (!v->into && ir_window_reach(v, (int64_t[KLC_MAXRANK]){0}, (int64_t[KLC_MAXRANK]){0}) == WINDOW_OVERLAP)
            return bad(vf, "a window gradient writes (no accumulation) but its windows may overlap");
        for (int j = 0; j < v->shape.rank; j++)
            if (!check_sub(vf, &c->out_sub[j], c, &v->shape, j, false, 0))
                return false;
    }
    if (v->scale && (v->op != IR_ARGMAX_GRAD || v->into))
        return bad(vf, "a scale on what is not a written window gradient");
    if (v->scale && !check_scalar(vf, v->scale, c, false, 0))
        return false;
    return check_scalar(vf, c->body, c, false, 0);
}

/* The checks of one opcode's operands and shape. */
static bool check_op(Verifier *vf, const IrValue *v)
{
    const Shape *s0 = v->nargs > 0 ? &v->args[0]->shape : NULL;
    switch (v->op) {
    case IR_MAP:
        return check_comp(vf, v);
    case IR_ARGMAX_GRAD:
        if (v->fwd->op != IR_MAP || (v->fwd->comp->red != RED_MAX && v->fwd->comp->red != RED_MIN))
            return bad(vf, "the forward value %%%d is not a max or min map", v->fwd->id);
        return check_comp(vf, v);
    case IR_SOFTMAX:
    case IR_LOG_SOFTMAX:
        if (!shape_eq(&v->shape, s0))
            return bad(vf, "the shape differs from the operand's");
        if (v->axis < 0 || v->axis >= v->shape.rank)
            return bad(vf, "axis %d of a rank %d value", v->axis, v->shape.rank);
        return true;
    case IR_STOP_GRAD:
        if (!shape_eq(&v->shape, s0))
            return bad(vf, "the shape differs from the operand's");
        return true;
    case IR_RESHAPE: {
        Dim n, m;
        if (!shape_count(&v->shape, &n) || !shape_count(s0, &m) || !dim_eq(n, m))
            return bad(vf, "a reshape must keep the number of elements");
        return true;
    }
    case IR_CONCAT: {
        if (v->axis < 0 || v->axis >= v->shape.rank)
            return bad(vf, "axis %d of a rank %d value", v->axis, v->shape.rank);
        Dim total = dim_const(0);
        for (int k = 0; k < v->nargs; k++) {
            const Shape *s = &v->args[k]->shape;
            if (s->rank != v->shape.rank)
                return bad(vf, "operand %d has rank %d, not %d", k + 1, s->rank, v->shape.rank);
            for (int j = 0; j < s->rank; j++)
                if (j != v->axis && !dim_eq(s->d[j], v->shape.d[j]))
                    return bad(vf, "operand %d differs from the result off the axis", k + 1);
            if (!dim_add(total, s->d[v->axis], &total))
                return bad(vf, "the extents along the axis overflow");
        }
        if (!dim_eq(total, v->shape.d[v->axis]))
            return bad(vf, "the operands' extents along the axis do not add up to the result's");
        return true;
    }
    case IR_CARRY:
    case IR_CARRY_GRAD: {
        if (!v->loop)
            return bad(vf, "%s outside a loop", irop_name(v->op));
        const IrValue *st = v->op == IR_CARRY ? v->args[0] : v->into;
        if (!st)
            return bad(vf, "carry_grad must accumulate into a value");
        Shape step = v->shape; /* [trips, S...] without the step axis */
        step.rank--;
        for (int j = 0; j < step.rank; j++)
            step.d[j] = v->shape.d[j + 1];
        if (v->op == IR_CARRY && !shape_eq(&step, &st->shape))
            return bad(vf, "the initial state's shape is not the step's");
        if (v->op == IR_CARRY_GRAD && !shape_eq(&v->args[0]->shape, &v->shape))
            return bad(vf, "the state's gradient differs in shape");
        return true;
    }
    default:
        return true;
    }
}

/* Loops: contiguous, every instruction a tensor [trips, ...]; a carry's new
 * state defined after it in its loop. */
static bool check_loops(Verifier *vf)
{
    const IrFunc *f = vf->f;
    for (int i = 0; i < f->insts.len; i++) {
        const IrValue *v = f->insts.items[i];
        vf->inst = v;
        vf->dumpable = true;
        if (!v->loop)
            continue;
        if (v->shape.rank < 1 || !dim_eq(v->shape.d[0], dim_const(v->loop->trips)))
            return bad(vf, "an instruction of loop L%d is not a tensor [%lld, ...]", v->loop->id,
                       (long long)v->loop->trips);
        if (v->op == IR_MAP && (v->comp->n_out < 1 || !dim_eq(v->comp->ext[0], v->shape.d[0])))
            return bad(vf, "a map of loop L%d whose v0 is not the step", v->loop->id);
        if (i > 0 && ((const IrValue *)f->insts.items[i - 1])->loop != v->loop)
            for (int j = 0; j < i - 1; j++)
                if (((const IrValue *)f->insts.items[j])->loop == v->loop)
                    return bad(vf, "loop L%d is not contiguous", v->loop->id);
        if (v->op == IR_CARRY) {
            const IrValue *nx = v->args[1];
            if (!nx || nx->id < 0 || nx->id >= f->next_id || vf->pos[nx->id] <= i || nx->loop != v->loop ||
                !shape_eq(&nx->shape, &v->shape))
                return bad(vf, "the new state of a carry is not a later value of its loop, of its shape");
        }
    }
    return true;
}

static bool is_sink(IrOp op)
{
    return op == IR_OUTPUT || op == IR_LOSS || op == IR_ADD_LOSS || op == IR_ADD_METRIC || op == IR_ASSIGN ||
           op == IR_GRAD;
}

static bool check_inst(Verifier *vf, const IrValue *v, int i)
{
    const IrFunc *f = vf->f;
    vf->dumpable = false;
    vf->inst = NULL;
    if (!v)
        return bad(vf, "instruction %d is missing", i);
    vf->inst = v;
    if ((int)v->op < 0 || v->op >= IR__COUNT)
        return bad(vf, "unknown opcode %d", (int)v->op);
    if (v->id < 0 || v->id >= f->next_id)
        return bad(vf, "id %d is not below next_id %d", v->id, f->next_id);
    if (vf->pos[v->id] >= 0)
        return bad(vf, "id %d is defined twice", v->id);
    if (v->nargs < 0 || (v->nargs > 0 && !v->args))
        return bad(vf, "no operand array");
    int lo = arg_range[v->op][0], hi = arg_range[v->op][1];
    if (v->nargs < lo || (hi >= 0 && v->nargs > hi))
        return bad(vf, "%s takes %d%s operands, not %d", irop_name(v->op), lo, hi < 0 ? " or more" : "", v->nargs);
    for (int k = 0; k < v->nargs; k++) {
        if (v->op == IR_CARRY && k == 1)
            continue;
        if (!check_ref(vf, v->args[k], i, "an operand"))
            return false;
        if (v->op == IR_CARRY && k == 1)
            continue; /* the step's new state: defined later in the loop (checked at the end) */
        int acc = vf->accumulated[v->args[k]->id];
        if (acc >= 0)
            return bad(vf, "operand %%%d is read after %%%d accumulated into it", v->args[k]->id,
                       ((const IrValue *)f->insts.items[acc])->id);
    }
    if ((v->op == IR_MAP || v->op == IR_ARGMAX_GRAD) && (!v->comp || !v->comp->body))
        return bad(vf, "no comprehension");
    if (v->op == IR_ARGMAX_GRAD && !check_ref(vf, v->fwd, i, "the forward value"))
        return false;
    if (v->into && !check_ref(vf, v->into, i, "the accumulated value"))
        return false;
    vf->dumpable = true;
    if (v->into) {
        const IrValue *t = v->into;
        if (is_sink(t->op))
            return bad(vf, "accumulates into a sink");
        if (vf->accumulated[t->id] >= 0)
            return bad(vf, "%%%d is accumulated into twice (by %%%d too)", t->id,
                       ((const IrValue *)f->insts.items[vf->accumulated[t->id]])->id);
        if (!shape_eq(&t->shape, &v->shape) || t->type != v->type)
            return bad(vf, "the shape or type differs from the accumulated value's");
    }
    if (!check_op(vf, v))
        return false;
    vf->pos[v->id] = i;
    if (v->into)
        vf->accumulated[v->into->id] = i;
    return true;
}

bool ir_verify(const IrFunc *f, FILE *err)
{
    Verifier vf = {.f = f, .err = err};
    if (f->next_id < 0)
        return bad(&vf, "next_id is negative");
    size_t n = (size_t)f->next_id + 1;
    vf.pos = malloc(n * sizeof(int));
    vf.accumulated = malloc(n * sizeof(int));
    if (!vf.pos || !vf.accumulated)
        klc_internal_fault(__FILE__, __LINE__, "out of memory");
    for (size_t k = 0; k < n; k++)
        vf.pos[k] = vf.accumulated[k] = -1;
    bool ok = true;
    for (int i = 0; i < f->insts.len && ok; i++)
        ok = check_inst(&vf, f->insts.items[i], i);
    if (ok)
        ok = check_loops(&vf);
    vf.inst = NULL;
    const IrValue *named[] = {f->input, f->labels, f->output, f->loss};
    for (int k = 0; k < 4 && ok; k++)
        if (named[k] && (named[k]->id < 0 || named[k]->id >= f->next_id || vf.pos[named[k]->id] < 0))
            ok = bad(&vf, "the function's %s %%%d is not one of its instructions",
                     (const char *[]){"input", "labels", "output", "loss"}[k], named[k]->id);
    free(vf.pos);
    free(vf.accumulated);
    return ok;
}

bool ir_verify_enabled(void)
{
#ifndef NDEBUG
    return true;
#else
    const char *e = getenv("KLC_VERIFY_IR");
    return e && *e && strcmp(e, "0") != 0;
#endif
}

_Noreturn void ir_verify_fail(const char *what, const char *after)
{
    fprintf(stderr, "klc: internal error: %s is broken after %s\n", what, after);
#ifndef NDEBUG
    abort();
#else
    exit(2);
#endif
}

void ir_verify_pass(const IrFunc *f, const char *after)
{
    if (ir_verify_enabled() && !ir_verify(f, stderr))
        ir_verify_fail("the IR", after);
}
