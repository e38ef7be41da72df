/* ir.c — KIR construction and its deterministic text form. */
#include "ir/ir.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    int arity;
} sop_info[] = {
#define LEAF(name, text) {text, 0},
#define OP(name, arity, text, c_real, c_int, eval, deriv) {text, arity},
#include "ir/scalar_ops.def"
#undef LEAF
#undef OP
};

static const char *const irop_names[] = {
#define X(name, text) text,
    KLC_IR_OPS(X)
#undef X
};

int sop_arity(SOp op)
{
    return sop_info[op].arity;
}

const char *sop_name(SOp op)
{
    return sop_info[op].name;
}

const char *irop_name(IrOp op)
{
    return irop_names[op];
}

double sop_apply(SOp op, double a, double b, double c)
{
    (void)b;
    (void)c;
    switch (op) {
#define LEAF(name, text)
#define OP(name, arity, text, c_real, c_int, eval, deriv) \
    case S_##name:                                        \
        return (double)(eval);
#include "ir/scalar_ops.def"
#undef LEAF
#undef OP
    default:
        KLC_UNREACHABLE();
    }
}

bool sop_eval(const Scalar *s, double *out)
{
    if (s->op == S_CONST) {
        *out = s->cval;
        return true;
    }
    if (sop_arity(s->op) == 0)
        return false;
    double x[3] = {0, 0, 0};
    const Scalar *ops[3] = {s->a, s->b, s->c};
    for (int i = 0; i < sop_arity(s->op); i++)
        if (!sop_eval(ops[i], &x[i]))
            return false;
    *out = sop_apply(s->op, x[0], x[1], x[2]);
    return true;
}

IrFunc *ir_func_new(Arena *a, const char *name, bool training)
{
    IrFunc *f = arena_alloc(a, sizeof *f);
    f->arena = a;
    f->name = name;
    f->training = training;
    return f;
}

IrValue *ir_new(IrFunc *f, IrOp op, const Shape *shape, DType type, SrcLoc loc)
{
    IrValue *v = arena_alloc(f->arena, sizeof *v);
    v->id = f->next_id++;
    v->op = op;
    if (shape)
        v->shape = *shape;
    v->type = type;
    v->loc = loc;
    v->index = -1;
    vec_push(f->arena, &f->insts, v);
    return v;
}

void ir_add_arg(IrFunc *f, IrValue *v, IrValue *arg)
{
    IrValue **args = arena_alloc(f->arena, sizeof(IrValue *) * (size_t)(v->nargs + 1));
    if (v->nargs)
        memcpy(args, v->args, sizeof(IrValue *) * (size_t)v->nargs);
    args[v->nargs++] = arg;
    v->args = args;
}

Comp *comp_new(Arena *a, int n_out, int n_red)
{
    KLC_ASSERT(n_out + n_red <= KLC_MAXVARS);
    Comp *c = arena_alloc(a, sizeof *c);
    c->n_out = n_out;
    c->n_red = n_red;
    return c;
}

IrValue *ir_map(IrFunc *f, const Shape *shape, DType type, Comp *c, SrcLoc loc)
{
    IrValue *v = ir_new(f, IR_MAP, shape, type, loc);
    v->comp = c;
    return v;
}

Comp *comp_over(Arena *a, const Shape *s, int n_out)
{
    KLC_ASSERT(n_out >= 0 && n_out <= s->rank);
    Comp *c = comp_new(a, n_out, s->rank - n_out);
    for (int j = 0; j < s->rank; j++)
        c->ext[j] = s->d[j];
    return c;
}

IrValue *ir_ew(IrFunc *f, const Shape *s, DType type, Scalar *body, int nargs, IrValue *const *args, SrcLoc loc)
{
    Comp *c = comp_over(f->arena, s, s->rank);
    c->body = body;
    IrValue *v = ir_map(f, s, type, c, loc);
    for (int i = 0; i < nargs; i++)
        ir_add_arg(f, v, args[i]);
    return v;
}

Dim comp_red_count(const Comp *c)
{
    Dim total = dim_const(1);
    for (int k = c->n_out; k < c->n_out + c->n_red; k++)
        if (!dim_mul(total, c->ext[k], &total))
            KLC_UNREACHABLE();
    return total;
}

bool comp_extent_product(const Comp *c, const int *vars, int nv, Dim *out)
{
    Dim r = dim_const(1);
    for (int k = 0; k < nv; k++)
        if (!dim_mul(r, c->ext[vars[k]], &r))
            return false;
    *out = r;
    return true;
}

/* ---- scalars ---- */

static Scalar *s_new(Arena *a, SOp op, DType type)
{
    Scalar *s = arena_alloc(a, sizeof *s);
    s->op = op;
    s->type = type;
    return s;
}

Scalar *s_const(Arena *a, double c)
{
    Scalar *s = s_new(a, S_CONST, DT_F32);
    s->cval = c;
    return s;
}

Scalar *s_var(Arena *a, int var)
{
    Scalar *s = s_new(a, S_VAR, DT_I32);
    s->var = var;
    return s;
}

Scalar *s_dim(Arena *a, Dim d)
{
    Scalar *s = s_new(a, S_DIM, DT_F32);
    s->dim = d;
    return s;
}

Scalar *s_read(Arena *a, int arg, int rank, const Sub *sub, DType type)
{
    Scalar *s = s_new(a, S_READ, type);
    s->arg = arg;
    s->rank = rank;
    for (int i = 0; i < rank; i++)
        s->sub[i] = sub[i];
    return s;
}

Scalar *s_read_all(Arena *a, int arg, const Shape *shape, DType type)
{
    Sub subs[KLC_MAXRANK];
    for (int j = 0; j < shape->rank; j++)
        subs[j] = sub_var(j);
    return s_read(a, arg, shape->rank, subs, type);
}

static DType result_type(SOp op, const Scalar *x, const Scalar *y)
{
    switch (op) {
    case S_EQ: case S_NE: case S_LT: case S_LE: case S_GT: case S_GE:
    case S_AND: case S_OR: case S_NOT:
        return DT_BOOL;
    case S_ADD: case S_SUB: case S_MUL: case S_MOD: case S_MAX2: case S_MIN2: case S_NEG: case S_ABS:
        /* integer arithmetic stays integer (index expressions, ids) */
        if (x->type == DT_I32 && (!y || y->type == DT_I32))
            return DT_I32;
        return DT_F32;
    default:
        return DT_F32;
    }
}

Scalar *s_un(Arena *a, SOp op, Scalar *x)
{
    Scalar *s = s_new(a, op, result_type(op, x, NULL));
    s->a = x;
    return s;
}

Scalar *s_bin(Arena *a, SOp op, Scalar *x, Scalar *y)
{
    Scalar *s = s_new(a, op, result_type(op, x, y));
    s->a = x;
    s->b = y;
    return s;
}

Scalar *s_truth(Arena *a, Scalar *x)
{
    return x->type == DT_BOOL ? x : s_bin(a, S_NE, x, s_const(a, 0));
}

Scalar *s_select(Arena *a, Scalar *c, Scalar *x, Scalar *y)
{
    Scalar *s = s_new(a, S_SELECT, x->type == DT_I32 && y->type == DT_I32 ? DT_I32 : DT_F32);
    s->a = c;
    s->b = x;
    s->c = y;
    return s;
}

Sub sub_var(int var)
{
    Sub s;
    memset(&s, 0, sizeof s);
    s.coef[var] = 1;
    return s;
}

Sub sub_const(int64_t c)
{
    Sub s;
    memset(&s, 0, sizeof s);
    s.off = c;
    return s;
}

bool sub_is_var(const Sub *s, int *var)
{
    if (s->ind || s->off != 0 || s->off_n != 0)
        return false;
    int found = -1;
    for (int v = 0; v < KLC_MAXVARS; v++) {
        if (s->coef[v] == 0)
            continue;
        if (s->coef[v] != 1 || found >= 0)
            return false;
        found = v;
    }
    if (found < 0)
        return false;
    *var = found;
    return true;
}

bool sub_is_const(const Sub *s)
{
    if (s->ind)
        return false;
    for (int v = 0; v < KLC_MAXVARS; v++)
        if (s->coef[v] != 0)
            return false;
    return true;
}

Scalar *s_copy(Arena *a, const Scalar *s)
{
    return scalar_remap(a, s, NULL);
}

/* ---- walking scalar trees ---- */

static void visit(const Scalar *s, ScalarVisitFn *fn, void *ctx, int depth, bool in_index)
{
    if (!s)
        return;
    fn(s, depth, in_index, ctx);
    if (s->op == S_READ)
        for (int j = 0; j < s->rank; j++)
            visit(s->sub[j].ind, fn, ctx, depth + 1, true);
    visit(s->a, fn, ctx, depth + 1, in_index);
    visit(s->b, fn, ctx, depth + 1, in_index);
    visit(s->c, fn, ctx, depth + 1, in_index);
}

void scalar_visit(const Scalar *s, ScalarVisitFn *fn, void *ctx)
{
    visit(s, fn, ctx, 0, false);
}

Sub sub_remap(Arena *a, const Sub *s, const ScalarMap *m)
{
    Sub r = *s;
    if (m && m->var) {
        memset(r.coef, 0, sizeof r.coef);
        for (int v = 0; v < KLC_MAXVARS; v++)
            if (s->coef[v])
                r.coef[m->var[v]] += s->coef[v];
    }
    r.ind = scalar_remap(a, s->ind, m);
    return r;
}

Scalar *scalar_remap(Arena *a, const Scalar *s, const ScalarMap *m)
{
    if (!s)
        return NULL;
    if (m && m->subst) {
        Scalar *t = m->subst(a, s, m->ctx);
        if (t)
            return t;
    }
    Scalar *r = arena_alloc(a, sizeof *r);
    *r = *s;
    if (s->op == S_VAR && m && m->var)
        r->var = m->var[s->var];
    if (s->op == S_READ && m)
        r->arg = (m->arg ? m->arg[s->arg] : s->arg) + m->arg_shift;
    for (int j = 0; j < s->rank; j++)
        r->sub[j] = sub_remap(a, &s->sub[j], m);
    r->a = scalar_remap(a, s->a, m);
    r->b = scalar_remap(a, s->b, m);
    r->c = scalar_remap(a, s->c, m);
    return r;
}

/* ---- dump ---- */

static void dump_sub(FILE *out, const Sub *s, const IrValue *v)
{
    bool any = false;
    for (int k = 0; k < KLC_MAXVARS; k++) {
        if (!s->coef[k])
            continue;
        if (any)
            fputs(s->coef[k] < 0 ? " - " : " + ", out);
        else if (s->coef[k] < 0)
            fputc('-', out);
        long long c = s->coef[k] < 0 ? -s->coef[k] : s->coef[k];
        if (c != 1)
            fprintf(out, "%lld*", c);
        fprintf(out, "v%d", k);
        any = true;
    }
    if (s->ind) {
        if (any)
            fputs(" + ", out);
        scalar_dump(out, s->ind, v);
        any = true;
    }
    if (s->off_n) {
        long long c = s->off_n < 0 ? -s->off_n : s->off_n;
        fputs(any ? (s->off_n < 0 ? " - " : " + ") : (s->off_n < 0 ? "-" : ""), out);
        if (c != 1)
            fprintf(out, "%lld*", c);
        fputs("n", out);
        any = true;
    }
    if (s->off || !any) {
        if (any)
            fprintf(out, " %c %lld", s->off < 0 ? '-' : '+', (long long)(s->off < 0 ? -s->off : s->off));
        else
            fprintf(out, "%lld", (long long)s->off);
    }
}

void scalar_dump(FILE *out, const Scalar *s, const IrValue *v)
{
    switch (s->op) {
    case S_CONST:
        if (s->cval == floor(s->cval) && fabs(s->cval) < 1e15)
            fprintf(out, "%.1f", s->cval);
        else
            fprintf(out, "%.9g", s->cval);
        return;
    case S_VAR:
        fprintf(out, "v%d", s->var);
        return;
    case S_DIM:
        fprintf(out, "dim(%lld + %lld*n)", (long long)s->dim.c, (long long)s->dim.k);
        return;
    case S_READ:
        if (v && s->arg < v->nargs)
            fprintf(out, "%%%d", v->args[s->arg]->id);
        else
            fprintf(out, "$%d", s->arg);
        fputc('[', out);
        for (int i = 0; i < s->rank; i++) {
            if (i)
                fputs(", ", out);
            dump_sub(out, &s->sub[i], v);
        }
        fputc(']', out);
        return;
    default:
        break;
    }
    fprintf(out, "%s(", sop_name(s->op));
    scalar_dump(out, s->a, v);
    if (s->b) {
        fputs(", ", out);
        scalar_dump(out, s->b, v);
    }
    if (s->c) {
        fputs(", ", out);
        scalar_dump(out, s->c, v);
    }
    fputc(')', out);
}

static const char *type_name(DType t)
{
    return t == DT_I32 ? "i32" : t == DT_BOOL ? "bool" : "f32";
}

/* An extent: 64, N, 2*N, 2*N+1. */
static void dump_dim(FILE *out, Dim d)
{
    if (d.k == 0)
        fprintf(out, "%lld", (long long)d.c);
    else if (d.c == 0 && d.k == 1)
        fputs("N", out);
    else if (d.c == 0)
        fprintf(out, "%lld*N", (long long)d.k);
    else
        fprintf(out, "%lld*N%+lld", (long long)d.k, (long long)d.c);
}

static void dump_shape(FILE *out, const Shape *s)
{
    fputc('[', out);
    for (int i = 0; i < s->rank; i++) {
        if (i)
            fputs(", ", out);
        dump_dim(out, s->d[i]);
    }
    fputc(']', out);
}

void ir_dump_inst(FILE *out, const IrValue *v)
{
    fprintf(out, "  %%%d", v->id);
    if (v->name)
        fprintf(out, " \"%s\"", v->name);
    bool sink = v->op == IR_OUTPUT || v->op == IR_LOSS || v->op == IR_ADD_LOSS || v->op == IR_ADD_METRIC ||
                v->op == IR_ASSIGN || v->op == IR_GRAD;
    if (!sink) {
        fprintf(out, " : %s", type_name(v->type));
        dump_shape(out, &v->shape);
        fputs(" =", out);
    }
    fprintf(out, " %s", irop_name(v->op));
    if (v->into)
        fprintf(out, " into %%%d", v->into->id);
    if (v->op == IR_MAP) {
        const Comp *c = v->comp;
        fputs(" [", out);
        for (int k = 0; k < c->n_out + c->n_red; k++) {
            if (k == c->n_out)
                fprintf(out, " | %s", c->red == RED_SUM ? "sum" : c->red == RED_MEAN ? "mean" : c->red == RED_MAX ? "max" : "min");
            fprintf(out, "%sv%d:", k && k != c->n_out ? ", " : " ", k);
            dump_dim(out, c->ext[k]);
        }
        fputs(" ]", out);
        if (c->scatter) {
            fputs(" at [", out);
            for (int k = 0; k < v->shape.rank; k++) {
                if (k)
                    fputs(", ", out);
                dump_sub(out, &c->out_sub[k], v);
            }
            fputc(']', out);
        }
        fputc(' ', out);
        scalar_dump(out, c->body, v);
    } else {
        for (int k = 0; k < v->nargs; k++)
            fprintf(out, "%s%%%d", k ? ", " : " ", v->args[k]->id);
        if (v->index >= 0)
            fprintf(out, " #%d", v->index);
        if (v->op == IR_SOFTMAX || v->op == IR_LOG_SOFTMAX || v->op == IR_CONCAT)
            fprintf(out, " axis=%d", v->axis);
        if (v->op == IR_ARGMAX_GRAD) {
            fprintf(out, " of %%%d read %d", v->fwd->id, v->fwd_read);
            if (v->scale) {
                fputs(" times ", out);
                scalar_dump(out, v->scale, v);
            }
        }
    }
    if (v->loc.file) {
        int line, col;
        source_line_col(v->loc.file, v->loc.start, &line, &col);
        fprintf(out, "    # %s:%d:%d", v->loc.file->is_prelude ? "<prelude>" : v->loc.file->path,
                line, col);
    }
}

void ir_dump(FILE *out, const IrFunc *f)
{
    fprintf(out, "func %s {\n", f->name);
    const IrLoop *open = NULL;
    for (int i = 0; i < f->insts.len; i++) {
        const IrValue *v = f->insts.items[i];
        if (v->loop != open) {
            if (open)
                fputs("  }\n", out);
            if (v->loop)
                fprintf(out, "  loop L%d over %lld steps%s {\n", v->loop->id, (long long)v->loop->trips,
                        v->loop->reverse ? ", last first" : "");
            open = v->loop;
        }
        ir_dump_inst(out, v);
        fputc('\n', out);
    }
    if (open)
        fputs("  }\n", out);
    fputs("}\n", out);
}
