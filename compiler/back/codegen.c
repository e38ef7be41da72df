/* codegen.c — KIR instructions as C statements; see codegen.h. */
#include "back/codegen.h"

#include "back/conv.h"
#include "ir/ir_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Text helpers
 * --------------------------------------------------------------------- */

const char *cg_dim(Arena *a, Dim d)
{
    if (d.k == 0)
        return arena_printf(a, "%lld", (long long)d.c);
    const char *nk = d.k == 1 ? "n" : arena_printf(a, "%lld * n", (long long)d.k);
    if (d.c == 0)
        return d.k == 1 ? nk : arena_printf(a, "(%s)", nk);
    return arena_printf(a, "(%s %c %lld)", nk, d.c < 0 ? '-' : '+', (long long)(d.c < 0 ? -d.c : d.c));
}

/* An element count as a size_t operand of memset/memcpy: a count that
 * depends on the batch is int64_t, converted explicitly so that the file is
 * clean under -Wconversion where size_t is 32 bits. */
static const char *size_arg(Arena *a, Dim d)
{
    const char *s = cg_dim(a, d);
    if (!d.k)
        return s;
    return arena_printf(a, "(size_t)%s", s[0] == '(' || !strcmp(s, "n") ? s : arena_printf(a, "(%s)", s));
}

const char *cg_real(Arena *a, double x, bool f64)
{
    if (isnan(x))
        return f64 ? "(double)NAN" : "NAN";
    if (isinf(x))
        return x > 0 ? (f64 ? "(double)INFINITY" : "INFINITY") : (f64 ? "(-(double)INFINITY)" : "(-INFINITY)");
    char buf[64];
    snprintf(buf, sizeof buf, f64 ? "%.17g" : "%.9g", x);
    if (!strpbrk(buf, ".eEn"))
        strcat(buf, ".0");
    if (!f64)
        strcat(buf, "f");
    if (buf[0] == '-')
        return arena_printf(a, "(%s)", buf);
    return arena_strdup(a, buf);
}

/* Product of dims from axis j+1 on: the row-major stride of axis j. */
static Dim stride(const Shape *s, int j)
{
    Dim r = dim_const(1);
    for (int i = j + 1; i < s->rank; i++)
        if (!dim_mul(r, s->d[i], &r))
            KLC_UNREACHABLE();
    return r;
}

static Dim count(const Shape *s)
{
    Dim d;
    if (!shape_count(s, &d))
        KLC_UNREACHABLE();
    return d;
}

/* The elements of one step of a loop's value [trips, ...]. */
static Dim step_count(const Shape *s)
{
    Shape r = {0};
    r.rank = s->rank - 1;
    for (int j = 1; j < s->rank; j++)
        r.d[j - 1] = s->d[j];
    return count(&r);
}

static const char *fn(const Codegen *g, const char *name)
{
    return g->f64 ? name : arena_printf(g->a, "%sf", name);
}

/* ------------------------------------------------------------------------
 * Names
 * --------------------------------------------------------------------- */

static bool c_reserved(const char *s)
{
    static const char *const words[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
        "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
        "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
        "volatile", "while", "_Bool", "_Complex", "_Imaginary", "bool", "true", "false", "NULL",
        /* locals of generated functions */
        "n", "cap", "s", "work", "iwork", "acc", "best", "t", "lr", "step", "i", "x", "y", "main", "errno",
        "params", "state", "x_in", "y_out", "int32_t", "int64_t", "uint64_t", "size_t", "INFINITY", "NAN",
        "isfinite", "memcpy", "memset",
    };
    /* libm functions the code calls, also with the f suffix (expf) */
    static const char *const math[] = {"exp", "log", "log1p", "expm1", "sqrt", "pow", "sin", "cos", "tanh",
                                       "floor", "ceil", "erf", "fabs", "nearbyint"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(words[i], s))
            return true;
    for (size_t i = 0; i < sizeof math / sizeof math[0]; i++) {
        size_t m = strlen(math[i]);
        if (!strncmp(math[i], s, m) && (s[m] == '\0' || (s[m] == 'f' && s[m + 1] == '\0')))
            return true;
    }
    if (s[0] == 'i' && s[1] >= '0' && s[1] <= '9')
        return true; /* loop variables i0, i1, ... */
    if (!strncmp(s, "klc_", 4) || !strncmp(s, "cblas", 5) || !strncmp(s, "Cblas", 5))
        return true;
    return false;
}

/* Also taken for buffers: the locals of softmax, crossentropy and batched
 * GEMM code, which reads buffers inside their scope. */
static bool buffer_reserved(const char *s)
{
    static const char *const words[] = {"k", "b", "e", "l", "base", "mx", "sum", "lse", "zr"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(words[i], s))
            return true;
    return c_reserved(s);
}

static const char *sanitize(Arena *a, const char *s)
{
    char *r = arena_strdup(a, s);
    for (char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            *p = '_';
    if (r[0] >= '0' && r[0] <= '9')
        r = arena_printf(a, "v_%s", r);
    if (buffer_reserved(r))
        r = arena_printf(a, "%s_", r);
    return r;
}

/* The identifier the source text at loc starts with ("zeros" for
 * `zeros([N, left, C])`), or NULL. */
static const char *source_word(Arena *a, SrcLoc loc)
{
    if (!loc.file || loc.start < 0 || (size_t)loc.start >= loc.file->len)
        return NULL;
    const char *p = loc.file->text + loc.start, *q = p;
    if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_'))
        return NULL;
    while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_')
        q++;
    return arena_strndup(a, p, (size_t)(q - p));
}

/*
 * The name of v's buffer, from the source: "x" and "y" for the batch, a
 * weight's C name ("dense_1_kernel"), a gradient "d_" and the name of what
 * it is the gradient of ("d_conv_out", "d_dense_1_kernel"), anything else
 * its layer's name and its own ("temporal_conv_y"), its own alone when it
 * already starts with the layer's ("dense_out").  A value the source does
 * not name is called after what it computes ("crossentropy") or the
 * expression it comes from ("zeros"), else its operation.  Not yet unique,
 * nor checked against C's names (cg_prepare does both).
 */
static const char *source_name(Codegen *g, const IrValue *v)
{
    switch (v->op) {
    case IR_INPUT: return "x";
    case IR_LABELS: return "y";
    case IR_PARAM: case IR_STATE: return ((const Weight *)g->m->weights.items[v->index])->cname;
    default: break;
    }
    if (v->grad_of) { /* after the C name the forward value got, if it has one */
        const IrValue *x = v->grad_of;
        const char *fw = x->id < g->p->n_ids && g->names[x->id] ? g->names[x->id] : source_name(g, x);
        return arena_printf(g->a, "d_%s", fw);
    }
    const char *name = v->name;
    bool grad = name && !strncmp(name, "d_", 2); /* a weight's zero gradient: "d_dense_kernel" */
    const char *rest = name ? name + (grad ? 2 : 0) : NULL;
    if (!rest && v->op == IR_XENT) /* per example; its source is the loss argument */
        rest = "crossentropy";
    if (!rest)
        rest = source_word(g->a, v->loc);
    if (!rest)
        rest = irop_name(v->op);
    if (v->layer && strncmp(rest, v->layer, strlen(v->layer)) != 0)
        rest = arena_printf(g->a, "%s_%s", v->layer, rest);
    return grad ? arena_printf(g->a, "d_%s", rest) : rest;
}

void cg_init(Codegen *g, Arena *a, CBuf *b, const Model *m, const WeightLayout *wl, IrFunc *f, const Plan *p,
             bool f64)
{
    memset(g, 0, sizeof *g);
    g->a = a;
    g->b = b;
    g->m = m;
    g->wl = wl;
    g->f = f;
    g->p = p;
    g->f64 = f64;
    g->real = f64 ? "double" : "float";
    g->index = "int64_t";
    g->blas = true;
    g->work = "work";
    g->iwork = "iwork";
}

static void mark_used(Codegen *g, IrValue *v)
{
    g->used[plan_root(g->p, v)->id] = true;
}

/* Decide names and which roots are referenced. */
static void cg_prepare(Codegen *g)
{
    Arena *a = g->a;
    int n = g->f->insts.len;
    g->names = arena_alloc(a, sizeof(char *) * (size_t)(g->p->n_ids + 1));
    g->used = arena_alloc(a, sizeof(bool) * (size_t)(g->p->n_ids + 1));
    PtrVec taken = {0};
    for (int i = 0; i < n; i++) {
        IrValue *v = g->f->insts.items[i];
        for (int k = 0; k < v->nargs; k++)
            mark_used(g, v->args[k]);
        if (v->into)
            mark_used(g, v->into);
        if (g->p->st[v->id].kind != ST_NONE)
            mark_used(g, v);
    }
    for (int i = 0; i < n; i++) {
        IrValue *v = g->f->insts.items[i];
        if (plan_root(g->p, v) != v || g->p->st[v->id].kind == ST_NONE)
            continue;
        const char *base = source_name(g, v);
        if (v->op == IR_INPUT || v->op == IR_LABELS) {
            g->names[v->id] = base;
            continue;
        }
        base = sanitize(a, base);
        const char *name = base;
        for (int k = 2;; k++) {
            bool clash = false;
            for (int t = 0; t < taken.len && !clash; t++)
                clash = !strcmp(taken.items[t], name);
            if (!clash)
                break;
            name = arena_printf(a, "%s_%d", base, k);
        }
        vec_push(a, &taken, (void *)name);
        g->names[v->id] = name;
    }
}

static const char *name_of(const Codegen *g, IrValue *v)
{
    return g->names[plan_root(g->p, v)->id];
}

static const char *type_of(const Codegen *g, const IrValue *root)
{
    switch (g->p->st[root->id].kind) {
    case ST_INPUT: return root->type == DT_I32 ? "int32_t" : "float";
    case ST_LABELS: return root->type == DT_I32 ? "int32_t" : "float";
    case ST_IWORK: return "int32_t";
    default: return g->real;
    }
}

static void comment_loc(Codegen *g, const IrValue *v, const char *what)
{
    const char *where = "";
    if (v->loc.file) {
        int line, col;
        source_line_col(v->loc.file, v->loc.start, &line, &col);
        where = arena_printf(g->a, "  %s%s:%d", v->loc.file->is_prelude ? "compiler/prelude/" : "", v->loc.file->path,
                             line);
    }
    cb_line(g->b, "/* %s %s%s */", what, shape_str(g->a, &v->shape), where);
}

/* Pointer declarations for every referenced root. */
static void cg_declare(Codegen *g)
{
    Arena *a = g->a;
    for (int i = 0; i < g->f->insts.len; i++) {
        IrValue *v = g->f->insts.items[i];
        if (plan_root(g->p, v) != v || !g->used[v->id])
            continue;
        const Storage *st = &g->p->st[v->id];
        const char *ty = type_of(g, v);
        const char *nm = g->names[v->id];
        const char *sh = shape_str(a, &v->shape);
        switch (st->kind) {
        case ST_INPUT:
            cb_line(g->b, "const %s *const %s = (const %s *)%s; /* %s input */", ty, nm, ty, g->x, sh);
            break;
        case ST_LABELS:
            cb_line(g->b, "const %s *const %s = (const %s *)%s; /* %s labels */", ty, nm, ty, g->y, sh);
            break;
        case ST_PARAM: {
            const Weight *w = g->m->weights.items[v->index];
            cb_line(g->b, "const %s *const %s = %s + %lld; /* %s %s */", ty, nm, g->params, (long long)st->offset,
                    w->key, sh);
            break;
        }
        case ST_STATE: {
            const Weight *w = g->m->weights.items[v->index];
            cb_line(g->b, "const %s *const %s = %s + %lld; /* %s %s (state) */", ty, nm, g->state,
                    (long long)st->offset, w->key, sh);
            break;
        }
        case ST_GRAD:
            cb_line(g->b, "%s *const %s = %s + %lld; /* %s, computed in place in the gradients */", ty, nm, g->grads,
                    (long long)st->offset, sh);
            break;
        case ST_WORK:
        case ST_IWORK: {
            const char *base = st->kind == ST_WORK ? g->work : g->iwork;
            if (st->off_k == 0 && st->off_c == 0)
                cb_line(g->b, "%s *const %s = %s; /* %s */", ty, nm, base, sh);
            else if (st->off_k == 0)
                cb_line(g->b, "%s *const %s = %s + %lld; /* %s */", ty, nm, base, (long long)st->off_c, sh);
            else if (st->off_c == 0)
                cb_line(g->b, "%s *const %s = %s + %lld * cap; /* %s */", ty, nm, base, (long long)st->off_k, sh);
            else
                cb_line(g->b, "%s *const %s = %s + %lld + %lld * cap; /* %s */", ty, nm, base, (long long)st->off_c,
                        (long long)st->off_k, sh);
            break;
        }
        default:
            break;
        }
    }
}

/* ------------------------------------------------------------------------
 * Scalar expressions
 * --------------------------------------------------------------------- */

typedef struct Ctx {
    const IrValue *v;         /* the instruction whose operands reads refer to */
    int arg_base;             /* read arg k means v->args[k + arg_base] */
    const char *var[KLC_MAXVARS];
} Ctx;

static const char *expr(Codegen *g, const Ctx *c, const Scalar *s);

/* A variable the caller fixed to a number (the written-out cells of a
 * pooling window name their variables "0", "1", ...). */
static bool var_is_number(const char *name, int64_t *value)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    *value = strtoll(name, NULL, 10);
    return true;
}

static const char *sub_text(Codegen *g, const Ctx *c, const Sub *s)
{
    Arena *a = g->a;
    const char *t = NULL;
    int64_t off = s->off;
    for (int v = 0; v < KLC_MAXVARS; v++) {
        if (!s->coef[v])
            continue;
        int64_t fixed;
        if (var_is_number(c->var[v], &fixed)) { /* folds into the offset: no "+ 0" */
            off += s->coef[v] * fixed;
            continue;
        }
        const char *term = s->coef[v] == 1 ? c->var[v] : arena_printf(a, "%lld * %s", (long long)s->coef[v], c->var[v]);
        t = t ? arena_printf(a, "%s + %s", t, term) : term;
    }
    if (s->ind) {
        const char *ind = arena_printf(a, "(%s)%s", g->index, expr(g, c, s->ind));
        t = t ? arena_printf(a, "%s + %s", t, ind) : ind;
    }
    if (s->off_n) {
        const char *bn = s->off_n == 1 ? "n" : arena_printf(a, "%lld * n", (long long)s->off_n);
        t = t ? arena_printf(a, "%s + %s", t, bn) : bn;
    }
    if (off || !t)
        t = t ? arena_printf(a, "%s %c %lld", t, off < 0 ? '-' : '+', (long long)(off < 0 ? -off : off))
              : arena_printf(a, "%lld", (long long)off);
    return t;
}

/* Flat offset of subscripts into a tensor of shape sh. */
static const char *offset_text(Codegen *g, const Ctx *c, const Shape *sh, int rank, const Sub *subs)
{
    Arena *a = g->a;
    const char *t = NULL;
    for (int j = 0; j < rank; j++) {
        Dim st = stride(sh, j);
        const char *sj = sub_text(g, c, &subs[j]);
        bool simple = !strchr(sj, ' ');
        const char *term;
        if (dim_eq(st, dim_const(1)))
            term = sj;
        else if (!strcmp(sj, "0"))
            continue;
        else
            term = arena_printf(a, simple ? "%s * %s" : "(%s) * %s", sj, cg_dim(a, st));
        t = t ? arena_printf(a, "%s + %s", t, term) : term;
    }
    return t ? t : "0";
}

/* Gather subscripts are data: guard them against out-of-range ids. */
static const char *guard_text(Codegen *g, const Ctx *c, const Shape *sh, int rank, const Sub *subs)
{
    const char *t = NULL;
    for (int j = 0; j < rank; j++) {
        if (!subs[j].ind)
            continue;
        const char *cond = arena_printf(g->a, "(uint64_t)(%s) < (uint64_t)%s", sub_text(g, c, &subs[j]),
                                        cg_dim(g->a, sh->d[j]));
        t = t ? arena_printf(g->a, "%s && %s", t, cond) : cond;
    }
    return t;
}

static const char *read_text(Codegen *g, const Ctx *c, const Scalar *s)
{
    IrValue *x = c->v->args[s->arg + c->arg_base];
    const char *r = arena_printf(g->a, "%s[%s]", name_of(g, x), offset_text(g, c, &x->shape, s->rank, s->sub));
    const char *guard = guard_text(g, c, &x->shape, s->rank, s->sub);
    if (guard)
        r = arena_printf(g->a, "(%s ? %s : 0)", guard, r);
    return r;
}

/* The C spellings of the operations (ir/scalar_ops.def): for real or bool
 * results, and for integer ones (NULL: the same). */
static const struct {
    const char *real, *integer;
} sop_c[S__COUNT] = {
#define LEAF(name, text) [S_##name] = {NULL, NULL},
#define OP(name, arity, text, c_real, c_int, eval, deriv) [S_##name] = {c_real, c_int},
#include "ir/scalar_ops.def"
#undef LEAF
#undef OP
};

/* A spelling with its escapes replaced: $a $b $c by the operands' text
 * x y z, $f by the float functions' suffix, $r by the real type, $1 by the
 * real literal 1. */
static const char *spell(Codegen *g, const char *t, const char *x, const char *y, const char *z)
{
    const char *r = "";
    for (const char *p = t; *p; p++) {
        const char *piece = NULL;
        if (*p == '$') {
            switch (p[1]) {
            case 'a': piece = x; break;
            case 'b': piece = y; break;
            case 'c': piece = z; break;
            case 'f': piece = g->f64 ? "" : "f"; break;
            case 'r': piece = g->real; break;
            case '1': piece = cg_real(g->a, 1, g->f64); break;
            default: KLC_UNREACHABLE();
            }
            p++;
            r = arena_printf(g->a, "%s%s", r, piece);
        } else {
            size_t n = strcspn(p, "$");
            r = arena_printf(g->a, "%s%.*s", r, (int)n, p);
            p += n - 1;
        }
    }
    return r;
}

static const char *expr(Codegen *g, const Ctx *c, const Scalar *s)
{
    Arena *a = g->a;
    switch (s->op) {
    case S_CONST:
        if (s->type == DT_I32 || s->type == DT_BOOL)
            return arena_printf(a, "%lld", (long long)s->cval);
        return cg_real(a, s->cval, g->f64);
    case S_READ: return read_text(g, c, s);
    case S_VAR: return c->var[s->var];
    case S_DIM: return arena_printf(a, "(%s)%s", g->real, cg_dim(a, s->dim));
    default: break;
    }
    const char *x = s->a ? expr(g, c, s->a) : NULL;
    const char *y = s->b ? expr(g, c, s->b) : NULL;
    const char *z = s->c ? expr(g, c, s->c) : NULL;
    if (s->op == S_POW && s->b->op == S_CONST && s->b->cval == 2)
        return arena_printf(a, "klc_square%s(%s)", g->f64 ? "" : "f", x);
    const char *t = s->type == DT_I32 && sop_c[s->op].integer ? sop_c[s->op].integer : sop_c[s->op].real;
    return spell(g, t, x, y, z);
}

/* ------------------------------------------------------------------------
 * Loops
 * --------------------------------------------------------------------- */

/* May loop variable k of c be called `name`: no C word, local or helper of
 * the generated code (c_reserved: i0, i1, ... included; "i" is free, as no
 * loop nest of a map declares it), no argmax_grad index (b0, b1, ...), no
 * buffer of the function, no earlier variable? */
static bool var_name_free(const Codegen *g, const Ctx *c, int k, const char *name)
{
    if ((strcmp(name, "i") && c_reserved(name)) || (name[0] == 'b' && name[1] >= '0' && name[1] <= '9'))
        return false;
    for (int id = 0; id < g->p->n_ids; id++)
        if (g->names[id] && !strcmp(g->names[id], name))
            return false;
    for (int j = 0; j < k; j++)
        if (!strcmp(c->var[j], name))
            return false;
    return true;
}

/* Loop variables 0..count-1 of c: the source's index names where the map
 * has them (comp may be NULL), "n_" where the name is taken, else i0, i1, ... */
static void set_vars(Codegen *g, Ctx *c, const Comp *comp, int count)
{
    static const char *const names[KLC_MAXVARS] = {"i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7",
                                                    "i8", "i9", "i10", "i11", "i12", "i13", "i14", "i15"};
    for (int k = 0; k < count; k++) {
        if (k == 0 && g->step) { /* the loop's step: fixed by the loop around the instruction */
            c->var[0] = g->step;
            continue;
        }
        const char *src = comp ? comp->var_name[k] : NULL;
        const char *fixed = src ? arena_printf(g->a, "%s_", src) : NULL;
        if (src && var_name_free(g, c, k, src))
            c->var[k] = src;
        else if (src && var_name_free(g, c, k, fixed))
            c->var[k] = fixed;
        else
            c->var[k] = names[k];
    }
}

static void open_loop(Codegen *g, const char *var, Dim ext)
{
    if (g->step && var == g->step) { /* the step: one slice, a block so that close_loops matches */
        cb_line(g->b, "{");
        g->b->indent += 4;
        return;
    }
    cb_line(g->b, "for (%s %s = 0; %s < %s; %s++) {", g->index, var, var, cg_dim(g->a, ext), var);
    g->b->indent += 4;
}

/* The innermost loop of a map whose output never overlaps what it reads at
 * another point (guaranteed by the memory plan): tell the compiler, so it
 * vectorizes without run-time overlap checks (which -O2 does not add). */
static void open_loop_ivdep(Codegen *g, const char *var, Dim ext)
{
    if (g->step && var == g->step) {
        open_loop(g, var, ext);
        return;
    }
    cb_printf(g->b, "%*sKLC_IVDEP\n", g->b->indent, "");
    open_loop(g, var, ext);
}

static void close_loops(Codegen *g, int count)
{
    for (int i = 0; i < count; i++) {
        g->b->indent -= 4;
        cb_line(g->b, "}");
    }
}

static const char *store_cast(const Codegen *g, const IrValue *v, const char *e)
{
    if (v->type == DT_I32)
        return arena_printf(g->a, "(int32_t)%s", e);
    if (v->type == DT_BOOL)
        return arena_printf(g->a, "(%s)%s", g->real, e);
    return e;
}

static bool var_in(const Scalar *r, int var, int *axis)
{
    for (int j = 0; j < r->rank; j++) {
        int v;
        if (sub_is_var(&r->sub[j], &v) && v == var) {
            if (axis)
                *axis = j;
            return true;
        }
    }
    return false;
}

/* The axes of read r (in order) must be exactly `vars` (a list of variables), contiguous. */
static bool axes_are(const Scalar *r, int from, const int *vars, int nv)
{
    for (int k = 0; k < nv; k++) {
        int v;
        if (!sub_is_var(&r->sub[from + k], &v) || v != vars[k])
            return false;
    }
    return true;
}

/* The stride, in elements, of axis j of shape sh. */
static bool axis_stride(const Shape *sh, int j, Dim *out)
{
    *out = dim_const(1);
    for (int k = j + 1; k < sh->rank; k++)
        if (!dim_mul(*out, sh->d[k], out))
            return false;
    return true;
}

/* The variable of each axis of read r (all plain variables). */
static void read_vars(const Scalar *r, int *var)
{
    for (int j = 0; j < r->rank; j++)
        sub_is_var(&r->sub[j], &var[j]);
}

static int find_var(const int *vars, int n, int var)
{
    for (int k = 0; k < n; k++)
        if (vars[k] == var)
            return k;
    return -1;
}

/* A tensor of shape sh whose axis j holds variable var[j], for fixed batch
 * variables, as a row-major matrix [rows = outer vars, cols = inner vars]:
 * the inner variables must be its last axes in that order (unit stride),
 * the outer ones consecutive axes in order.  *ld: the rows' stride. */
static bool as_matrix(const Shape *sh, const int *var, const int *outer, int no, const int *inner, int ni, Dim *ld)
{
    int rank = sh->rank;
    for (int k = 0; k < ni; k++)
        if (var[rank - ni + k] != inner[k])
            return false;
    if (no == 0) {
        *ld = dim_const(1);
        for (int k = rank - ni; k < rank; k++)
            if (!dim_mul(*ld, sh->d[k], ld))
                return false;
        return true;
    }
    int p = find_var(var, rank, outer[0]);
    if (p < 0 || p + no > rank - ni)
        return false;
    for (int k = 0; k < no; k++)
        if (var[p + k] != outer[k])
            return false;
    return axis_stride(sh, p + no - 1, ld);
}

/* The strided form of cg_classify_gemm (see codegen.h): r1, r2 checked to be
 * plain reads of whole real buffers. */
static bool classify_strided(const Comp *c, const IrValue *v, const Scalar *r1, const Scalar *r2, Gemm *gm)
{
    int cvar[KLC_MAXRANK], avar[KLC_MAXRANK], bvar[KLC_MAXRANK];
    int m_vars[KLC_MAXVARS], n_vars[KLC_MAXVARS], k_vars[KLC_MAXVARS];
    int nm = 0, nn = 0, nk = 0;
    gm->n_bvar = 0;
    /* A holds the first non-batch output variable */
    for (int var = 0; var < c->n_out; var++) {
        bool in1 = var_in(r1, var, NULL), in2 = var_in(r2, var, NULL);
        if (!in1 && !in2)
            return false; /* a broadcast */
        if (in1 != in2) {
            if (in2) {
                const Scalar *t = r1;
                r1 = r2;
                r2 = t;
            }
            break;
        }
    }
    for (int var = 0; var < c->n_out; var++) {
        cvar[var] = var;
        bool in1 = var_in(r1, var, NULL), in2 = var_in(r2, var, NULL);
        if (in1 && in2)
            gm->bvar[gm->n_bvar++] = var;
        else if (in1)
            m_vars[nm++] = var;
        else if (in2)
            n_vars[nn++] = var;
        else
            return false;
    }
    read_vars(r1, avar);
    read_vars(r2, bvar);
    for (int j = 0; j < r1->rank; j++)
        if (avar[j] >= c->n_out)
            k_vars[nk++] = avar[j];
    if (nk != c->n_red || gm->n_bvar + nm + nk != r1->rank || gm->n_bvar + nn + nk != r2->rank)
        return false;
    for (int k = 0; k < nk; k++)
        if (!var_in(r2, k_vars[k], NULL))
            return false;
    const IrValue *ta = v->args[r1->arg], *tb = v->args[r2->arg];
    if (as_matrix(&ta->shape, avar, m_vars, nm, k_vars, nk, &gm->lda))
        gm->ta = false;
    else if (as_matrix(&ta->shape, avar, k_vars, nk, m_vars, nm, &gm->lda))
        gm->ta = true;
    else
        return false;
    if (as_matrix(&tb->shape, bvar, k_vars, nk, n_vars, nn, &gm->ldb))
        gm->tb = false;
    else if (as_matrix(&tb->shape, bvar, n_vars, nn, k_vars, nk, &gm->ldb))
        gm->tb = true;
    else
        return false;
    if (!as_matrix(&v->shape, cvar, m_vars, nm, n_vars, nn, &gm->ldc))
        return false;
    for (int k = 0; k < gm->n_bvar; k++) {
        int var = gm->bvar[k];
        if (!axis_stride(&ta->shape, find_var(avar, r1->rank, var), &gm->bstride[0][k]) ||
            !axis_stride(&tb->shape, find_var(bvar, r2->rank, var), &gm->bstride[1][k]) ||
            !axis_stride(&v->shape, var, &gm->bstride[2][k]))
            return false;
    }
    if (!comp_extent_product(c, m_vars, nm, &gm->M) || !comp_extent_product(c, n_vars, nn, &gm->N) ||
        !comp_extent_product(c, k_vars, nk, &gm->K))
        return false;
    gm->ra = r1;
    gm->rb = r2;
    gm->batch = dim_const(1);
    gm->step_a = gm->step_b = gm->step_c = dim_const(0);
    gm->strided = true;
    return true;
}

/* The leading-batch form of cg_classify_gemm (see codegen.h). */
static bool classify_leading(const Codegen *g, const Comp *c, const Scalar *r1, const Scalar *r2, Gemm *gm)
{
    /* batch variables: leading output axes that both operands also lead with */
    int nb = 0;
    while (nb < c->n_out && nb < r1->rank && nb < r2->rank) {
        int v1, v2;
        if (!sub_is_var(&r1->sub[nb], &v1) || !sub_is_var(&r2->sub[nb], &v2) || v1 != nb || v2 != nb)
            break;
        nb++;
    }
    gm->batch = dim_const(1);
    for (int k = 0; k < nb; k++)
        if (!dim_mul(gm->batch, c->ext[k], &gm->batch))
            return false;
    /* A holds the first non-batch output variable (if any) */
    if (c->n_out > nb && !var_in(r1, nb, NULL)) {
        const Scalar *t = r1;
        r1 = r2;
        r2 = t;
    }
    int m_vars[KLC_MAXVARS], n_vars[KLC_MAXVARS], k_vars[KLC_MAXVARS];
    int nm = 0, nn = 0, nk = 0;
    for (int var = nb; var < c->n_out; var++) {
        bool in1 = var_in(r1, var, NULL), in2 = var_in(r2, var, NULL);
        if (in1 == in2)
            return false; /* a batch variable not leading, or a broadcast: not a plain GEMM */
        if (in1) {
            if (nn > 0)
                return false; /* out = [batch..., M..., N...] required */
            m_vars[nm++] = var;
        } else {
            n_vars[nn++] = var;
        }
    }
    /* K: reduction variables in both reads, in the same order */
    for (int j = nb; j < r1->rank; j++) {
        int var;
        sub_is_var(&r1->sub[j], &var);
        if (var >= c->n_out)
            k_vars[nk++] = var;
    }
    if (nk != c->n_red || nb + nm + nk != r1->rank || nb + nn + nk != r2->rank)
        return false;
    for (int k = 0; k < nk; k++)
        if (!var_in(r2, k_vars[k], NULL))
            return false;
    /* layouts after the batch axes */
    if (axes_are(r1, nb, m_vars, nm) && axes_are(r1, nb + nm, k_vars, nk))
        gm->ta = false;
    else if (axes_are(r1, nb, k_vars, nk) && axes_are(r1, nb + nk, m_vars, nm))
        gm->ta = true;
    else
        return false;
    if (axes_are(r2, nb, k_vars, nk) && axes_are(r2, nb + nk, n_vars, nn))
        gm->tb = false;
    else if (axes_are(r2, nb, n_vars, nn) && axes_are(r2, nb + nn, k_vars, nk))
        gm->tb = true;
    else
        return false;
    if (!comp_extent_product(c, m_vars, nm, &gm->M) || !comp_extent_product(c, n_vars, nn, &gm->N) || !comp_extent_product(c, k_vars, nk, &gm->K))
        return false;
    gm->ra = r1;
    gm->rb = r2;
    gm->step_a = gm->step_b = gm->step_c = dim_const(0);
    if (g->step) {
        /* one step's product: the step must be the leading axis of C and of
         * the operands that have it (a batch variable, or the first row
         * variable of an untransposed A) */
        Dim rows = dim_const(1), mk, kn, mn;
        if (nb >= 1) {
            for (int k = 1; k < nb; k++)
                if (!dim_mul(rows, c->ext[k], &rows))
                    return false;
            gm->batch = rows;
            if (!dim_mul(gm->M, gm->K, &mk) || !dim_mul(gm->K, gm->N, &kn) || !dim_mul(gm->M, gm->N, &mn) ||
                !dim_mul(mk, rows, &gm->step_a) || !dim_mul(kn, rows, &gm->step_b) ||
                !dim_mul(mn, rows, &gm->step_c))
                return false;
        } else if (nm >= 1 && m_vars[0] == 0 && !gm->ta) {
            if (!comp_extent_product(c, m_vars + 1, nm - 1, &gm->M) || !dim_mul(gm->M, gm->K, &gm->step_a) ||
                !dim_mul(gm->M, gm->N, &gm->step_c))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

bool cg_classify_gemm(const Codegen *g, const IrValue *v, Gemm *gm)
{
    const Comp *c = v->comp;
    if (!g->blas || v->op != IR_MAP || c->scatter || c->n_red < 1 || (c->red != RED_SUM && c->red != RED_MEAN))
        return false;
    const Scalar *b = c->body;
    if (b->op != S_MUL || b->a->op != S_READ || b->b->op != S_READ || b->a->type != DT_F32 || b->b->type != DT_F32)
        return false;
    const Scalar *r1 = b->a, *r2 = b->b;
    for (int pass = 0; pass < 2; pass++) {
        const Scalar *r = pass ? r2 : r1;
        IrValue *t = v->args[r->arg];
        for (int j = 0; j < r->rank; j++) {
            int var;
            if (!sub_is_var(&r->sub[j], &var) || !dim_eq(c->ext[var], t->shape.d[j]))
                return false;
            for (int k = 0; k < j; k++) {
                int w;
                if (sub_is_var(&r->sub[k], &w) && w == var)
                    return false;
            }
        }
        /* BLAS reads g->real: not float input data in double, nor integers */
        if (t->type != DT_F32 || strcmp(type_of(g, plan_root(g->p, t)), g->real) != 0)
            return false;
    }
    memset(gm, 0, sizeof *gm);
    bool ok = classify_leading(g, c, r1, r2, gm);
    if (!ok && !g->step) {
        memset(gm, 0, sizeof *gm);
        ok = classify_strided(c, v, r1, r2, gm);
    }
    /* one element per product: a dot product, cheaper as a loop than a call */
    return ok && !(dim_eq(gm->M, dim_const(1)) && dim_eq(gm->N, dim_const(1)));
}

/* The strided form: one cblas call per point of the batch variables. */
static void emit_gemm_strided(Codegen *g, IrValue *v, const Gemm *gm, const char *alpha)
{
    Arena *a = g->a;
    const char *A = name_of(g, v->args[gm->ra->arg]), *B = name_of(g, v->args[gm->rb->arg]), *C = name_of(g, v);
    for (int k = 0; k < gm->n_bvar; k++) {
        const char *bv = arena_printf(a, "b%d", k);
        open_loop(g, bv, v->comp->ext[gm->bvar[k]]);
        const char *base[3] = {A, B, C};
        for (int t = 0; t < 3; t++) {
            const Dim st = gm->bstride[t][k];
            base[t] = dim_eq(st, dim_const(1)) ? arena_printf(a, "%s + %s", base[t], bv)
                                               : arena_printf(a, "%s + %s * %s", base[t], bv, cg_dim(a, st));
        }
        A = base[0];
        B = base[1];
        C = base[2];
    }
    cb_line(g->b, "cblas_%cgemm(CblasRowMajor, %s, %s, (int)%s, (int)%s, (int)%s, %s, %s, (int)%s, %s, (int)%s, %s, %s, (int)%s);",
            g->f64 ? 'd' : 's', gm->ta ? "CblasTrans" : "CblasNoTrans", gm->tb ? "CblasTrans" : "CblasNoTrans",
            cg_dim(a, gm->M), cg_dim(a, gm->N), cg_dim(a, gm->K), alpha, A, cg_dim(a, gm->lda), B, cg_dim(a, gm->ldb),
            cg_real(a, v->into ? 1 : 0, g->f64), C, cg_dim(a, gm->ldc));
    close_loops(g, gm->n_bvar);
}

static void emit_gemm(Codegen *g, IrValue *v, const Gemm *gm)
{
    Arena *a = g->a;
    const Comp *c = v->comp;
    const char *M = cg_dim(a, gm->M), *N = cg_dim(a, gm->N), *K = cg_dim(a, gm->K);
    const char *alpha = cg_real(a, 1, g->f64);
    if (c->red == RED_MEAN)
        alpha = arena_printf(a, "(%s / (%s)%s)", cg_real(a, 1, g->f64), g->real, cg_dim(a, comp_red_count(c)));
    if (gm->strided) {
        emit_gemm_strided(g, v, gm, alpha);
        return;
    }
    const char *lda = gm->ta ? M : K, *ldb = gm->tb ? K : N;
    const char *A = name_of(g, v->args[gm->ra->arg]), *B = name_of(g, v->args[gm->rb->arg]), *C = name_of(g, v);
    if (!dim_eq(gm->step_a, dim_const(0)))
        A = arena_printf(a, "%s + step * %s", A, cg_dim(a, gm->step_a));
    if (!dim_eq(gm->step_b, dim_const(0)))
        B = arena_printf(a, "%s + step * %s", B, cg_dim(a, gm->step_b));
    if (!dim_eq(gm->step_c, dim_const(0)))
        C = arena_printf(a, "%s + step * %s", C, cg_dim(a, gm->step_c));
    bool batched = !dim_eq(gm->batch, dim_const(1));
    if (batched) { /* one product per batch index: operands are [batch, rows, cols] */
        Dim sa, sb, sc;
        if (!dim_mul(gm->M, gm->K, &sa) || !dim_mul(gm->K, gm->N, &sb) || !dim_mul(gm->M, gm->N, &sc))
            KLC_UNREACHABLE();
        open_loop(g, "b", gm->batch);
        A = arena_printf(a, "%s + b * %s", A, cg_dim(a, sa));
        B = arena_printf(a, "%s + b * %s", B, cg_dim(a, sb));
        C = arena_printf(a, "%s + b * %s", C, cg_dim(a, sc));
    }
    cb_line(g->b, "cblas_%cgemm(CblasRowMajor, %s, %s, (int)%s, (int)%s, (int)%s, %s, %s, (int)%s, %s, (int)%s, %s, %s, (int)%s);",
            g->f64 ? 'd' : 's', gm->ta ? "CblasTrans" : "CblasNoTrans", gm->tb ? "CblasTrans" : "CblasNoTrans", M, N,
            K, alpha, A, lda, B, ldb, cg_real(a, v->into ? 1 : 0, g->f64), C, N);
    if (batched)
        close_loops(g, 1);
}

/* ------------------------------------------------------------------------
 * Convolutions: im2col / col2im into the scratch region and one GEMM
 * --------------------------------------------------------------------- */

static bool real_buffer(const Codegen *g, IrValue *t)
{
    return t->type == DT_F32 && !strcmp(type_of(g, plan_root(g->p, t)), g->real);
}

/* Is map v a convolution (conv.h) that BLAS computes here: the operands the
 * GEMM reads and the output in g's real type, scratch planned? */
static bool classify_conv(const Codegen *g, const IrValue *v, ConvGemm *cv)
{
    if (!g->blas || !g->p || (!g->p->scratch_c && !g->p->scratch_k) || !conv_match(v, cv))
        return false;
    if (cv->ra && !real_buffer(g, v->args[cv->ra->arg]))
        return false;
    return real_buffer(g, v->args[cv->rb->arg]) && real_buffer(g, (IrValue *)v);
}

/* Loops over the column buffer's axes (the last one KLC_IVDEP); returns the
 * flat offset into it. */
static const char *open_col_loops(Codegen *g, const Ctx *cx, const Comp *c, const ConvGemm *cv)
{
    Dim d[KLC_MAXRANK];
    Sub subs[KLC_MAXRANK];
    for (int k = 0; k < cv->n_col; k++) {
        d[k] = c->ext[cv->col_var[k]];
        subs[k] = sub_var(cv->col_var[k]);
        if (k == cv->n_col - 1)
            open_loop_ivdep(g, cx->var[cv->col_var[k]], d[k]);
        else
            open_loop(g, cx->var[cv->col_var[k]], d[k]);
    }
    Shape sh = shape_make(cv->n_col, d);
    return offset_text(g, cx, &sh, cv->n_col, subs);
}

static void emit_conv(Codegen *g, IrValue *v, const ConvGemm *cv)
{
    Arena *a = g->a;
    const Comp *c = v->comp;
    Ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.v = v;
    set_vars(g, &cx, c, c->n_out + c->n_red);
    const char *M = cg_dim(a, cv->M), *N = cg_dim(a, cv->N), *K = cg_dim(a, cv->K);
    const char *lda = cv->ta ? M : K, *ldb = cv->tb ? K : N;
    const char *trans_a = cv->ta ? "CblasTrans" : "CblasNoTrans", *trans_b = cv->tb ? "CblasTrans" : "CblasNoTrans";
    const char *col = "klc_col", *out = name_of(g, v), *B = name_of(g, v->args[cv->rb->arg]);
    long long sc = (long long)g->p->scratch_c, sk = (long long)g->p->scratch_k;
    const char *base = sk == 0   ? arena_printf(a, "%s + %lld", g->work, sc)
                     : sc == 0 ? arena_printf(a, "%s + %lld * cap", g->work, sk)
                               : arena_printf(a, "%s + %lld + %lld * cap", g->work, sc, sk);
    char gemm = g->f64 ? 'd' : 's';
    cb_line(g->b, "{");
    g->b->indent += 4;
    if (cv->kind == CONV_IM2COL) {
        IrValue *x = v->args[cv->rx->arg];
        cb_line(g->b, "%s *const %s = %s; /* the windows of %s, [%s, %s] (im2col) */", g->real, col, base,
                name_of(g, x), cv->ta ? K : M, cv->ta ? M : K);
        const char *off = open_col_loops(g, &cx, c, cv);
        cb_line(g->b, "%s[%s] = %s;", col, off, read_text(g, &cx, cv->rx));
        close_loops(g, cv->n_col);
        const char *alpha = cg_real(a, 1, g->f64);
        if (c->red == RED_MEAN)
            alpha = arena_printf(a, "(%s / (%s)%s)", cg_real(a, 1, g->f64), g->real, cg_dim(a, comp_red_count(c)));
        cb_line(g->b, "cblas_%cgemm(CblasRowMajor, %s, %s, (int)%s, (int)%s, (int)%s, %s, %s, (int)%s, %s, (int)%s, %s, %s, (int)%s);",
                gemm, trans_a, trans_b, M, N, K, alpha, col, lda, B, ldb, cg_real(a, v->into ? 1 : 0, g->f64), out, N);
    } else {
        const char *A = name_of(g, v->args[cv->ra->arg]);
        cb_line(g->b, "%s *const %s = %s; /* %s x %s per window, [%s, %s] */", g->real, col, base, A, B, M, N);
        cb_line(g->b, "cblas_%cgemm(CblasRowMajor, %s, %s, (int)%s, (int)%s, (int)%s, %s, %s, (int)%s, %s, (int)%s, %s, %s, (int)%s);",
                gemm, trans_a, trans_b, M, N, K, cg_real(a, 1, g->f64), A, lda, B, ldb, cg_real(a, 0, g->f64), col, N);
        cb_line(g->b, "/* col2im: each window added back where it was read */");
        const char *off = open_col_loops(g, &cx, c, cv);
        cb_line(g->b, "%s[%s] += %s[%s];", out, offset_text(g, &cx, &v->shape, v->shape.rank, c->out_sub), col, off);
        close_loops(g, cv->n_col);
    }
    g->b->indent -= 4;
    cb_line(g->b, "}");
}

/* The first read, in scalar_visit's order and outside gather indices, whose
 * last subscript is the plain variable `var`; and whether that read also
 * has a reduction variable (>= n_out) in an outer subscript. */
typedef struct LastRead {
    int var, n_out;
    bool found, red_outer;
} LastRead;

static void find_last_read(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth;
    LastRead *r = ctx;
    int v;
    if (r->found || in_index || s->op != S_READ || s->rank == 0 || !sub_is_var(&s->sub[s->rank - 1], &v) ||
        v != r->var)
        return;
    r->found = true;
    for (int j = 0; j < s->rank - 1; j++)
        for (int k = r->n_out; k < KLC_MAXVARS; k++)
            if (s->sub[j].coef[k])
                r->red_outer = true;
}

/* Does the sum run over outer axes of what it reads, with the last output
 * variable indexing the innermost axis?  Then reduction loops go outermost. */
static bool reduce_outer(const Comp *c, const IrValue *v)
{
    if (c->red != RED_SUM || c->n_out == 0 || v->type != DT_F32)
        return false;
    LastRead r = {.var = c->n_out - 1, .n_out = c->n_out};
    scalar_visit(c->body, find_last_read, &r);
    return r.found && r.red_outer;
}

/* A max or min (a pooling window) whose last output variable indexes the
 * innermost axis of what it reads, with reduction variables outside it:
 * then the reduction loops go just outside the last output loop, which
 * runs contiguously and vectorizes.  Each output element compares the same
 * terms in the same order as the plain nest would. */
static bool extremum_inner(const Comp *c, const IrValue *v)
{
    if ((c->red != RED_MAX && c->red != RED_MIN) || c->n_out == 0 || v->type != DT_F32 || v->into)
        return false;
    LastRead r = {.var = c->n_out - 1, .n_out = c->n_out};
    scalar_visit(c->body, find_last_read, &r);
    return r.found && r.red_outer;
}

/* Lanes of the long-row reductions (softmax's rows, row sums): fixed, so
 * that the order of a sum does not depend on the machine's vector width. */
#define SOFTMAX_LANES 16

/* Does every read of the body index its last axis by `var`, plainly and
 * outside gather indices (so that the reads of consecutive values of var
 * are contiguous)? */
typedef struct InnerVar {
    int var;
    bool ok, any;
} InnerVar;

static void check_inner_var(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth;
    InnerVar *r = ctx;
    if (s->op != S_READ)
        return;
    int v;
    if (in_index || s->rank == 0 || !sub_is_var(&s->sub[s->rank - 1], &v) || v != r->var)
        r->ok = false;
    for (int j = 0; j < s->rank - 1; j++)
        if (s->sub[j].coef[r->var])
            r->ok = false;
    r->any = true;
}

/* A float sum over one contiguous axis of constant length at least
 * 2 * SOFTMAX_LANES (softmax's and layer normalization's backward row
 * dots): summed in SOFTMAX_LANES lanes, so the loop vectorizes; the order
 * of the additions is fixed by the generated code, the same on every vector
 * width. */
static bool sum_in_lanes(const Codegen *g, const Comp *c, const IrValue *v)
{
    if ((c->red != RED_SUM && c->red != RED_MEAN) || c->n_red != 1 || v->type != DT_F32 || g->f64 ||
        strcmp(g->real, "float") != 0)
        return false;
    const Dim e = c->ext[c->n_out];
    if (!dim_is_const(e) || e.c < 2 * SOFTMAX_LANES)
        return false;
    InnerVar r = {.var = c->n_out, .ok = true};
    scalar_visit(c->body, check_inner_var, &r);
    return r.ok && r.any;
}

static void emit_sum_lanes(Codegen *g, const Ctx *cx, const Comp *c)
{
    const int L = SOFTMAX_LANES;
    const char *var = cx->var[c->n_out], *ix = g->index;
    const long long len = (long long)c->ext[c->n_out].c, full = len / L * L;
    const char *body = expr(g, cx, c->body);
    cb_line(g->b, "float lane[%d], acc = 0;", L);
    cb_line(g->b, "for (%s lane_i = 0; lane_i < %d; lane_i++)", ix, L);
    cb_line(g->b, "    lane[lane_i] = 0;");
    cb_line(g->b, "for (%s lane_k = 0; lane_k < %lld; lane_k += %d) {", ix, full, L);
    cb_line(g->b, "    for (%s lane_i = 0; lane_i < %d; lane_i++) {", ix, L);
    cb_line(g->b, "        const %s %s = lane_k + lane_i;", ix, var);
    cb_line(g->b, "        lane[lane_i] += %s;", body);
    cb_line(g->b, "    }");
    cb_line(g->b, "}");
    cb_line(g->b, "for (%s lane_i = 0; lane_i < %d; lane_i++)", ix, L);
    cb_line(g->b, "    acc += lane[lane_i];");
    if (full < len) {
        cb_line(g->b, "for (%s %s = %lld; %s < %lld; %s++)", ix, var, full, var, len, var);
        cb_line(g->b, "    acc += %s;", body);
    }
}

static void emit_reduction(Codegen *g, const Ctx *cx, const Comp *c, const IrValue *v);

static void emit_map(Codegen *g, IrValue *v)
{
    Arena *a = g->a;
    const Comp *c = v->comp;
    Ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.v = v;
    int nv = c->n_out + c->n_red;
    set_vars(g, &cx, c, nv);
    const char *out = name_of(g, v);
    if (c->scatter) { /* out[out_sub(v)] += body over the whole domain */
        for (int k = 0; k < nv; k++)
            open_loop(g, cx.var[k], c->ext[k]);
        const char *off = offset_text(g, &cx, &v->shape, v->shape.rank, c->out_sub);
        const char *guard = guard_text(g, &cx, &v->shape, v->shape.rank, c->out_sub);
        const char *val = expr(g, &cx, c->body);
        if (guard)
            cb_line(g->b, "if (%s)", guard);
        cb_line(g->b, "%s%s[%s] += %s;", guard ? "    " : "", out, off, val);
        close_loops(g, nv);
        return;
    }
    Sub osub[KLC_MAXRANK];
    for (int j = 0; j < c->n_out; j++)
        osub[j] = sub_var(j);
    const char *off = offset_text(g, &cx, &v->shape, c->n_out, osub);
    const char *op = v->into ? "+=" : "=";
    if (reduce_outer(c, v)) {
        /* Sums over a leading axis (a bias gradient, mean over the batch):
         * reduction loops outermost, so each pass streams contiguous rows into
         * the output.  Each output element adds the same terms in the same
         * order as the plain nest would. */
        if (!v->into) {
            for (int k = 0; k < c->n_out; k++)
                open_loop(g, cx.var[k], c->ext[k]);
            cb_line(g->b, "%s[%s] = 0;", out, off);
            close_loops(g, c->n_out);
        }
        for (int k = c->n_out; k < nv; k++)
            open_loop(g, cx.var[k], c->ext[k]);
        for (int k = 0; k < c->n_out; k++) {
            if (k == c->n_out - 1)
                open_loop_ivdep(g, cx.var[k], c->ext[k]);
            else
                open_loop(g, cx.var[k], c->ext[k]);
        }
        cb_line(g->b, "%s[%s] += %s;", out, off, expr(g, &cx, c->body));
        close_loops(g, nv);
        return;
    }
    if (extremum_inner(c, v)) {
        int last = c->n_out - 1;
        for (int k = 0; k < last; k++)
            open_loop(g, cx.var[k], c->ext[k]);
        open_loop_ivdep(g, cx.var[last], c->ext[last]);
        cb_line(g->b, "%s[%s] = %s(%s)INFINITY;", out, off, c->red == RED_MAX ? "-" : "", g->real);
        close_loops(g, 1);
        for (int k = c->n_out; k < nv; k++)
            open_loop(g, cx.var[k], c->ext[k]);
        open_loop_ivdep(g, cx.var[last], c->ext[last]);
        cb_line(g->b, "const %s t = %s;", g->real, expr(g, &cx, c->body));
        cb_line(g->b, "%s[%s] = t %s %s[%s] ? t : %s[%s];", out, off, c->red == RED_MAX ? ">" : "<", out, off, out, off);
        close_loops(g, c->n_red + c->n_out);
        return;
    }
    for (int k = 0; k < c->n_out; k++) {
        if (k == c->n_out - 1 && c->red == RED_NONE)
            open_loop_ivdep(g, cx.var[k], c->ext[k]);
        else
            open_loop(g, cx.var[k], c->ext[k]);
    }
    if (c->red == RED_NONE) {
        cb_line(g->b, "%s[%s] %s %s;", out, off, op, store_cast(g, v, expr(g, &cx, c->body)));
        close_loops(g, c->n_out);
        return;
    }
    if (sum_in_lanes(g, c, v)) {
        emit_sum_lanes(g, &cx, c);
    } else {
        emit_reduction(g, &cx, c, v);
    }
    if (c->red == RED_MEAN) {
        cb_line(g->b, "%s[%s] %s %s;", out, off, op,
                store_cast(g, v, arena_printf(a, "acc / (%s)%s", g->real, cg_dim(a, comp_red_count(c)))));
    } else {
        cb_line(g->b, "%s[%s] %s %s;", out, off, op, store_cast(g, v, "acc"));
    }
    close_loops(g, c->n_out);
}

/* A reduction's loops, leaving the result in acc. */
static void emit_reduction(Codegen *g, const Ctx *cx, const Comp *c, const IrValue *v)
{
    Arena *a = g->a;
    int nv = c->n_out + c->n_red;
    const char *acc_type = v->type == DT_I32 ? "int64_t" : g->real;
    const char *init = c->red == RED_MAX ? (v->type == DT_I32 ? "INT32_MIN" : arena_printf(a, "-(%s)INFINITY", g->real))
                     : c->red == RED_MIN ? (v->type == DT_I32 ? "INT32_MAX" : arena_printf(a, "(%s)INFINITY", g->real))
                     : "0";
    cb_line(g->b, "%s acc = %s;", acc_type, init);
    for (int k = c->n_out; k < nv; k++)
        open_loop(g, cx->var[k], c->ext[k]);
    const char *body = expr(g, cx, c->body);
    if (c->red == RED_SUM || c->red == RED_MEAN)
        cb_line(g->b, "acc += %s;", body);
    else {
        cb_line(g->b, "const %s t = %s;", acc_type, body);
        cb_line(g->b, "if (t %s acc) acc = t;", c->red == RED_MAX ? ">" : "<");
    }
    close_loops(g, c->n_red);
}

/* The gradient of a pooling window (extremum_inner) over at most 16
 * constant positions, routed to plain affine positions, the reads of dy and
 * of the window not gathers: the branch-free form of emit_argmax_grad
 * applies. */
static bool window_small(const Comp *fc, const Comp *c, const IrValue *v)
{
    const IrValue *fw = v->fwd;
    if (!extremum_inner(fc, fw) || fc->body->op != S_READ || c->body->op != S_READ || v->type != DT_F32)
        return false;
    int64_t cells = 1;
    for (int k = fc->n_out; k < fc->n_out + fc->n_red; k++) {
        if (!dim_is_const(fc->ext[k]))
            return false;
        cells *= fc->ext[k].c;
    }
    for (int j = 0; j < v->shape.rank; j++)
        if (c->out_sub[j].ind)
            return false;
    for (int j = 0; j < fc->body->rank; j++)
        if (fc->body->sub[j].ind)
            return false;
    for (int j = 0; j < c->body->rank; j++)
        if (c->body->sub[j].ind)
            return false;
    return cells <= 16;
}

/* Zero the elements of v outside the box lo <= index < hi (hi < 0: the
 * whole axis), as one loop nest per axis: the axes before it inside the
 * box, that axis outside it (below lo, then from hi), the axes after it
 * whole. */
static void zero_outside_box(Codegen *g, IrValue *v, const int64_t *lo, const int64_t *hi)
{
    const Shape *s = &v->shape;
    int r = s->rank;
    for (int j = 0; j < r; j++) {
        if (hi[j] < 0)
            continue;
        int64_t from[2] = {0, hi[j]}, to[2] = {lo[j], s->d[j].c};
        for (int part = 0; part < 2; part++) {
            if (from[part] >= to[part])
                continue;
            const char *off = NULL;
            for (int k = 0; k < r; k++) {
                const char *var = arena_printf(g->a, "z%d", k);
                const char *start = k == j ? arena_printf(g->a, "%lld", (long long)from[part])
                                  : k < j && hi[k] >= 0 ? arena_printf(g->a, "%lld", (long long)lo[k]) : "0";
                const char *end = k == j ? arena_printf(g->a, "%lld", (long long)to[part])
                                : k < j && hi[k] >= 0 ? arena_printf(g->a, "%lld", (long long)hi[k])
                                : cg_dim(g->a, s->d[k]);
                if (k == r - 1)
                    cb_printf(g->b, "%*sKLC_IVDEP\n", g->b->indent, "");
                cb_line(g->b, "for (%s %s = %s; %s < %s; %s++) {", g->index, var, start, var, end, var);
                g->b->indent += 4;
                Dim st = stride(s, k);
                const char *term = dim_eq(st, dim_const(1)) ? var : arena_printf(g->a, "%s * %s", var, cg_dim(g->a, st));
                off = off ? arena_printf(g->a, "%s + %s", off, term) : term;
            }
            cb_line(g->b, "%s[%s] = 0;", name_of(g, v), off);
            close_loops(g, r);
        }
    }
}

/* d forward-operand at the first extremum of each reduction (max/min).
 * Accumulated (+=) into the value's storage, or, without `into` (windows
 * that do not overlap, opt/fuse.h), written: every element the windows
 * reach gets its value in the one pass, the rest is zeroed first; a scale
 * (a mask) multiplies what is routed. */
static void emit_argmax_grad(Codegen *g, IrValue *v)
{
    const IrValue *fw = v->fwd;
    const Comp *fc = fw->comp;
    const Comp *c = v->comp;
    Ctx fx, cx;
    memset(&fx, 0, sizeof fx);
    memset(&cx, 0, sizeof cx);
    fx.v = v;
    fx.arg_base = 1; /* operand 0 is dy; the forward operands follow */
    cx.v = v;
    int nv = fc->n_out + fc->n_red;
    set_vars(g, &fx, fc, nv);
    set_vars(g, &cx, fc, nv);
    static const char *const best_names[KLC_MAXVARS] = {"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7",
                                                        "b8", "b9", "b10", "b11", "b12", "b13", "b14", "b15"};
    for (int k = fc->n_out; k < nv; k++)
        cx.var[k] = best_names[k];
    bool write = !v->into;
    int64_t lo[KLC_MAXRANK], hi[KLC_MAXRANK];
    WindowReach reach = write ? ir_window_reach(v, lo, hi) : WINDOW_OVERLAP;
    bool small = window_small(fc, c, v);
    if (write && (!small || reach != WINDOW_BOX))
        cb_line(g->b, "memset(%s, 0, sizeof(%s) * %s);", name_of(g, v), g->real, size_arg(g->a, count(&v->shape)));
    else if (write)
        zero_outside_box(g, v, lo, hi);
    if (small) {
        /* a pooling window: the same search as below without branches, so
         * the loop along the contiguous last axis vectorizes; then the
         * gradient goes to the first extremum, 0 added (or written)
         * everywhere else */
        int last = fc->n_out - 1;
        for (int k = 0; k < last; k++)
            open_loop(g, fx.var[k], fc->ext[k]);
        open_loop_ivdep(g, fx.var[last], fc->ext[last]);
        cb_line(g->b, "%s best = %s(%s)INFINITY;", g->real, fc->red == RED_MAX ? "-" : "", g->real);
        for (int k = fc->n_out; k < nv; k++)
            cb_line(g->b, "int %s = 0;", best_names[k]);
        /* the window's positions written out (at most 16), in loop order */
        int64_t cells = 1;
        for (int k = fc->n_out; k < nv; k++)
            cells *= fc->ext[k].c;
        const char *cmp = fc->red == RED_MAX ? ">" : "<";
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1)
                cb_line(g->b, "const %s acc = %s;", g->real, expr(g, &cx, c->body));
            for (int64_t cell = 0; cell < cells; cell++) {
                int64_t rest = cell;
                const char *hit = NULL;
                for (int k = nv - 1; k >= fc->n_out; k--) {
                    int64_t at = rest % fc->ext[k].c;
                    rest /= fc->ext[k].c;
                    fx.var[k] = arena_printf(g->a, "%lld", (long long)at);
                    const char *eq = arena_printf(g->a, "%s == %lld", best_names[k], (long long)at);
                    hit = hit ? arena_printf(g->a, "%s && %s", eq, hit) : eq;
                }
                if (pass == 0) {
                    const char *t = expr(g, &fx, fc->body);
                    cb_line(g->b, "{");
                    g->b->indent += 4;
                    cb_line(g->b, "const %s t = %s;", g->real, t);
                    for (int k = fc->n_out; k < nv; k++)
                        cb_line(g->b, "%s = t %s best ? %s : %s;", best_names[k], cmp, fx.var[k], best_names[k]);
                    cb_line(g->b, "best = t %s best ? t : best;", cmp);
                    g->b->indent -= 4;
                    cb_line(g->b, "}");
                } else {
                    Ctx sx = fx; /* the scale reads v's operands as numbered */
                    sx.arg_base = 0;
                    const char *val = v->scale ? arena_printf(g->a, "acc * %s", expr(g, &sx, v->scale)) : "acc";
                    cb_line(g->b, "%s[%s] %s %s ? %s : 0;", name_of(g, v),
                            offset_text(g, &fx, &v->shape, v->shape.rank, c->out_sub), write ? "=" : "+=", hit, val);
                }
            }
        }
        close_loops(g, fc->n_out);
        return;
    }
    for (int k = 0; k < fc->n_out; k++)
        open_loop(g, fx.var[k], fc->ext[k]);
    cb_line(g->b, "%s best = %s(%s)INFINITY;", g->real, fc->red == RED_MAX ? "-" : "", g->real);
    for (int k = fc->n_out; k < nv; k++)
        cb_line(g->b, "%s %s = 0;", g->index, best_names[k]);
    for (int k = fc->n_out; k < nv; k++)
        open_loop(g, fx.var[k], fc->ext[k]);
    cb_line(g->b, "const %s t = %s;", g->real, expr(g, &fx, fc->body));
    cb_line(g->b, "if (t %s best) {", fc->red == RED_MAX ? ">" : "<");
    cb_line(g->b, "    best = t;");
    for (int k = fc->n_out; k < nv; k++)
        cb_line(g->b, "    %s = %s;", best_names[k], fx.var[k]);
    cb_line(g->b, "}");
    close_loops(g, fc->n_red);
    const char *off = offset_text(g, &cx, &v->shape, v->shape.rank, c->out_sub);
    const char *guard = guard_text(g, &cx, &v->shape, v->shape.rank, c->out_sub);
    if (guard)
        cb_line(g->b, "if (%s)", guard);
    const char *val = expr(g, &cx, c->body);
    if (v->scale)
        val = arena_printf(g->a, "%s * %s", val, expr(g, &cx, v->scale));
    cb_line(g->b, "%s%s[%s] %s %s;", guard ? "    " : "", name_of(g, v), off, write ? "=" : "+=", val);
    close_loops(g, fc->n_out);
}

/* Loop over all positions of `s` except `axis`; inside, element k of the
 * axis is at base + k * inner. */
static void open_rows(Codegen *g, const Shape *s, int axis, const char **outer, const char **inner, const char **len)
{
    Arena *a = g->a;
    Dim o = dim_const(1);
    for (int j = 0; j < axis; j++)
        if (!dim_mul(o, s->d[j], &o))
            KLC_UNREACHABLE();
    *outer = cg_dim(a, o);
    *inner = cg_dim(a, stride(s, axis));
    *len = cg_dim(a, s->d[axis]);
    open_loop(g, "i0", o);
    if (dim_eq(stride(s, axis), dim_const(1))) {
        cb_line(g->b, "const %s base = i0 * %s;", g->index, *len);
        *inner = NULL;
        return;
    }
    open_loop(g, "i1", stride(s, axis));
    cb_line(g->b, "const %s base = i0 * %s * %s + i1;", g->index, *len, *inner);
}

/* The crossentropy's tail, per row i0 (zr, mx and sum of the row in scope):
 * log Σ e^z - z[label]  (sparse), or Σ_c y_c (log Σ e^z - z_c)  (dense). */
static void emit_xent_loss(Codegen *g, IrValue *v)
{
    IrValue *z = v->args[0], *lab = v->args[1];
    const char *ln = name_of(g, lab), *out = name_of(g, v);
    const char *C = cg_dim(g->a, z->shape.d[z->shape.rank - 1]);
    cb_line(g->b, "const %s lse = mx + %s(sum);", g->real, fn(g, "log"));
    if (v->index) {
        cb_line(g->b, "%s l = 0;", g->real);
        cb_line(g->b, "for (%s k = 0; k < %s; k++)", g->index, C);
        cb_line(g->b, "    l += %s[i0 * %s + k] * (lse - zr[k]);", ln, C);
        cb_line(g->b, "%s[i0] = l;", out);
    } else {
        cb_line(g->b, "%s[i0] = lse - zr[%s[i0]];", out, ln);
    }
}

/* The softmax v, and with it the crossentropy xe (or NULL) of the same
 * logits along the last axis: its row maximum and exponentials are the
 * softmax's, so the row loop computes them once for both (the same
 * operations in the same order: bit-identical to two loops). */
/* A float softmax over contiguous rows of a constant length of at least
 * 2 * SOFTMAX_LANES (attention's scores), per row base: the maximum and the
 * sum of the exponentials in SOFTMAX_LANES lanes (the maximum is exact in
 * any order; the sum's order is fixed here, the same on every vector
 * width), the exponentials by klc_expvf: every loop vectorizes. */
static void emit_softmax_lanes(Codegen *g, const char *x, const char *y, int64_t len)
{
    const int L = SOFTMAX_LANES;
    const long long full = (long long)(len / L * L);
    const char *ix = g->index;
    cb_line(g->b, "float lane[%d], mx, sum = 0;", L);
    cb_line(g->b, "for (%s l = 0; l < %d; l++)", ix, L);
    cb_line(g->b, "    lane[l] = %s[base + l];", x);
    cb_line(g->b, "for (%s k = %d; k < %lld; k += %d)", ix, L, full, L);
    cb_line(g->b, "    for (%s l = 0; l < %d; l++)", ix, L);
    cb_line(g->b, "        lane[l] = %s[base + k + l] > lane[l] ? %s[base + k + l] : lane[l];", x, x);
    cb_line(g->b, "mx = lane[0];");
    cb_line(g->b, "for (%s l = 1; l < %d; l++)", ix, L);
    cb_line(g->b, "    mx = lane[l] > mx ? lane[l] : mx;");
    if (full < len) {
        cb_line(g->b, "for (%s k = %lld; k < %lld; k++)", ix, full, (long long)len);
        cb_line(g->b, "    mx = %s[base + k] > mx ? %s[base + k] : mx;", x, x);
    }
    cb_line(g->b, "for (%s l = 0; l < %d; l++)", ix, L);
    cb_line(g->b, "    lane[l] = 0;");
    cb_line(g->b, "for (%s k = 0; k < %lld; k += %d) {", ix, full, L);
    cb_line(g->b, "    KLC_IVDEP");
    cb_line(g->b, "    for (%s l = 0; l < %d; l++) {", ix, L);
    cb_line(g->b, "        const float e = klc_expvf(%s[base + k + l] - mx);", x);
    cb_line(g->b, "        %s[base + k + l] = e;", y);
    cb_line(g->b, "        lane[l] += e;");
    cb_line(g->b, "    }");
    cb_line(g->b, "}");
    cb_line(g->b, "for (%s l = 0; l < %d; l++)", ix, L);
    cb_line(g->b, "    sum += lane[l];");
    if (full < len) {
        cb_line(g->b, "for (%s k = %lld; k < %lld; k++) {", ix, full, (long long)len);
        cb_line(g->b, "    %s[base + k] = klc_expvf(%s[base + k] - mx);", y, x);
        cb_line(g->b, "    sum += %s[base + k];", y);
        cb_line(g->b, "}");
    }
    cb_line(g->b, "KLC_IVDEP");
    cb_line(g->b, "for (%s k = 0; k < %lld; k++)", ix, (long long)len);
    cb_line(g->b, "    %s[base + k] /= sum;", y);
}

static void emit_softmax(Codegen *g, IrValue *v, IrValue *xe)
{
    const char *outer, *inner, *len;
    const char *x = name_of(g, v->args[0]), *y = name_of(g, v);
    const char *ex = fn(g, "exp"), *lg = fn(g, "log");
    open_rows(g, &v->shape, v->axis, &outer, &inner, &len);
    const Dim row = v->shape.d[v->axis];
    if (v->op == IR_SOFTMAX && !xe && !inner && !g->f64 && !strcmp(g->real, "float") && dim_is_const(row) &&
        row.c >= 2 * SOFTMAX_LANES && !strcmp(type_of(g, plan_root(g->p, v->args[0])), "float")) {
        emit_softmax_lanes(g, x, y, row.c);
        close_loops(g, 1);
        return;
    }
    int loops = inner ? 2 : 1;
    const char *k = inner ? arena_printf(g->a, "k * %s", inner) : "k";
    inner = k;
    cb_line(g->b, "%s mx = -(%s)INFINITY, sum = 0;", g->real, g->real);
    cb_line(g->b, "for (%s k = 0; k < %s; k++)", g->index, len);
    cb_line(g->b, "    if (%s[base + %s] > mx) mx = %s[base + %s];", x, inner, x, inner);
    if (v->op == IR_SOFTMAX) {
        cb_line(g->b, "for (%s k = 0; k < %s; k++) {", g->index, len);
        cb_line(g->b, "    const %s e = %s(%s[base + %s] - mx);", g->real, ex, x, inner);
        cb_line(g->b, "    %s[base + %s] = e;", y, inner);
        cb_line(g->b, "    sum += e;");
        cb_line(g->b, "}");
        if (xe) {
            cb_line(g->b, "const %s *zr = %s + base;", type_of(g, plan_root(g->p, v->args[0])), x);
            emit_xent_loss(g, xe);
        }
        cb_line(g->b, "for (%s k = 0; k < %s; k++)", g->index, len);
        cb_line(g->b, "    %s[base + %s] /= sum;", y, inner);
    } else {
        cb_line(g->b, "for (%s k = 0; k < %s; k++)", g->index, len);
        cb_line(g->b, "    sum += %s(%s[base + %s] - mx);", ex, x, inner);
        cb_line(g->b, "const %s lse = mx + %s(sum);", g->real, lg);
        cb_line(g->b, "for (%s k = 0; k < %s; k++)", g->index, len);
        cb_line(g->b, "    %s[base + %s] = %s[base + %s] - lse;", y, inner, x, inner);
    }
    close_loops(g, loops);
}

/* Per row: the maximum and Σ e^(z - max) of the logits, then the loss. */
static void emit_xent(Codegen *g, IrValue *v)
{
    IrValue *z = v->args[0];
    const Shape *s = &z->shape;
    const char *zn = name_of(g, z);
    Dim rows = count(&v->shape);
    const char *C = cg_dim(g->a, s->d[s->rank - 1]);
    open_loop(g, "i0", rows);
    cb_line(g->b, "const %s *zr = %s + i0 * %s;", type_of(g, plan_root(g->p, z)), zn, C);
    cb_line(g->b, "%s mx = -(%s)INFINITY, sum = 0;", g->real, g->real);
    cb_line(g->b, "for (%s k = 0; k < %s; k++)", g->index, C);
    cb_line(g->b, "    if ((%s)zr[k] > mx) mx = (%s)zr[k];", g->real, g->real);
    cb_line(g->b, "for (%s k = 0; k < %s; k++)", g->index, C);
    cb_line(g->b, "    sum += %s(zr[k] - mx);", fn(g, "exp"));
    emit_xent_loss(g, v);
    close_loops(g, 1);
}

/*
 * The crossentropy that the last-axis softmax at position i can compute in
 * its row loop: the first XENT after it of the same logits, or NULL.  The
 * XENT then runs earlier than planned, so between the two there may be
 * nothing with code but sinks, and its result must share no memory with the
 * softmax's nor with what those sinks read.  (The logits and labels are
 * live at the XENT, so the plan keeps them apart from both results.)
 */
static IrValue *xent_with_softmax(const Codegen *g, int i)
{
    IrValue *v = g->f->insts.items[i];
    if (v->op != IR_SOFTMAX || v->axis != v->shape.rank - 1)
        return NULL;
    for (int j = i + 1; j < g->f->insts.len; j++) {
        IrValue *w = g->f->insts.items[j];
        switch (w->op) {
        case IR_INPUT: case IR_LABELS: case IR_PARAM: case IR_STATE: case IR_RESHAPE: case IR_STOP_GRAD:
        case IR_ADD_LOSS: case IR_ASSIGN: case IR_OUTPUT: case IR_LOSS: case IR_ADD_METRIC:
            continue; /* no code, or sinks that only read */
        case IR_XENT:
            if (plan_root(g->p, w->args[0]) != plan_root(g->p, v->args[0]) ||
                !shape_eq(&w->args[0]->shape, &v->shape) || !plan_disjoint(g->p, w, v))
                return NULL;
            for (int k = i + 1; k < j; k++) {
                const IrValue *u = g->f->insts.items[k];
                for (int t = 0; t < u->nargs; t++)
                    if (!plan_disjoint(g->p, w, u->args[t]))
                        return NULL;
            }
            return w;
        default:
            return NULL;
        }
    }
    return NULL;
}

static void emit_concat(Codegen *g, IrValue *v)
{
    Dim off = dim_const(0);
    for (int i = 0; i < v->nargs; i++) {
        IrValue *x = v->args[i];
        Ctx cx;
        memset(&cx, 0, sizeof cx);
        cx.v = v;
        set_vars(g, &cx, NULL, x->shape.rank);
        Sub in[KLC_MAXRANK], out[KLC_MAXRANK];
        for (int j = 0; j < x->shape.rank; j++) {
            in[j] = out[j] = sub_var(j);
            if (j == v->axis) {
                out[j].off = off.c;
                out[j].off_n = off.k;
            }
        }
        for (int j = 0; j < x->shape.rank; j++)
            open_loop(g, cx.var[j], x->shape.d[j]);
        cb_line(g->b, "%s[%s] = %s[%s];", name_of(g, v), offset_text(g, &cx, &v->shape, v->shape.rank, out),
                name_of(g, x), offset_text(g, &cx, &x->shape, x->shape.rank, in));
        close_loops(g, x->shape.rank);
        if (!dim_add(off, x->shape.d[v->axis], &off))
            KLC_UNREACHABLE();
    }
}

static const char *describe(Codegen *g, IrValue *v)
{
    const char *nm = name_of(g, v);
    switch (v->op) {
    case IR_MAP:
        if (v->comp->scatter)
            return arena_printf(g->a, "%s += scatter", nm);
        return arena_printf(g->a, "%s %s", nm, v->into ? "+=" : "=");
    default:
        return arena_printf(g->a, "%s = %s", nm, irop_name(v->op));
    }
}

/* The position of f's first backward instruction (f->insts.len if none):
 * the first one made by autodiff, or the lowered values (the column maps)
 * just before it, which belong to the instruction after them. */
static int backward_start(const IrFunc *f)
{
    int n = f->insts.len, i = 0;
    if (f->grad_start_id <= 0)
        return n;
    for (; i < n; i++) {
        const IrValue *v = f->insts.items[i];
        if (v->id >= f->grad_start_id && !(f->lowered_id > 0 && v->id >= f->lowered_id))
            break;
    }
    while (i > 0 && f->lowered_id > 0 && ((const IrValue *)f->insts.items[i - 1])->id >= f->lowered_id)
        i--;
    return i;
}

/* The statements of the whole function, in order. */
static void cg_body(Codegen *g)
{
    Arena *a = g->a;
    bool in_backward = false;
    const IrValue *done = NULL; /* an XENT already computed with its softmax */
    const IrLoop *open = NULL;
    int backward = backward_start(g->f);
    for (int i = 0; i < g->f->insts.len; i++) {
        IrValue *v = g->f->insts.items[i];
        if (v->loop != open) {
            if (open)
                close_loops(g, 1);
            g->step = NULL;
            open = v->loop;
        }
        if (!in_backward && i == backward) {
            in_backward = true;
            if (g->stop_before_grads)
                cb_line(g->b, "%s", g->stop_before_grads);
            cb_printf(g->b, "\n");
            cb_line(g->b, "/* ---- backward ---- */");
        }
        if (v->loop && !g->step) {
            const IrLoop *l = v->loop;
            cb_line(g->b, "/* loop L%d: %lld steps%s (a scan) */", l->id, (long long)l->trips,
                    l->reverse ? ", the last first" : "");
            if (l->reverse)
                cb_line(g->b, "for (%s step = %lld; step >= 0; step--) {", g->index, (long long)(l->trips - 1));
            else
                cb_line(g->b, "for (%s step = 0; step < %lld; step++) {", g->index, (long long)l->trips);
            g->b->indent += 4;
            g->step = "step";
        }
        switch (v->op) {
        case IR_INPUT: case IR_LABELS: case IR_PARAM: case IR_STATE: case IR_RESHAPE: case IR_STOP_GRAD:
        case IR_ADD_LOSS: case IR_ASSIGN:
            continue;
        case IR_MAP: {
            Gemm gm;
            ConvGemm cv;
            bool gemm = cg_classify_gemm(g, v, &gm);
            bool conv = !gemm && !v->loop && classify_conv(g, v, &cv);
            comment_loc(g, v, describe(g, v));
            if (conv) {
                if (g->blas_optional)
                    cb_printf(g->b, "#ifndef KLC_NO_BLAS\n");
                emit_conv(g, v, &cv);
                if (g->blas_optional) {
                    cb_printf(g->b, "#else\n");
                    cb_line(g->b, "{");
                    g->b->indent += 4;
                    emit_map(g, v);
                    g->b->indent -= 4;
                    cb_line(g->b, "}");
                    cb_printf(g->b, "#endif\n");
                }
            } else if (gemm && g->blas_optional) {
                cb_printf(g->b, "#ifndef KLC_NO_BLAS\n");
                emit_gemm(g, v, &gm);
                cb_printf(g->b, "#else\n");
                emit_map(g, v);
                cb_printf(g->b, "#endif\n");
            } else if (gemm) {
                emit_gemm(g, v, &gm);
            } else if (v->comp->n_out == 0 || v->comp->scatter) { /* no loop of its own: keep locals local */
                cb_line(g->b, "{");
                g->b->indent += 4;
                emit_map(g, v);
                g->b->indent -= 4;
                cb_line(g->b, "}");
            } else {
                emit_map(g, v);
            }
            break;
        }
        case IR_ARGMAX_GRAD:
            comment_loc(g, v, arena_printf(a, "%s %s routed to the first extremum%s", name_of(g, v), v->into ? "+=" : "=",
                                           v->scale ? ", times the mask of the map it replaces" : ""));
            cb_line(g->b, "{");
            g->b->indent += 4;
            emit_argmax_grad(g, v);
            g->b->indent -= 4;
            cb_line(g->b, "}");
            break;
        case IR_SOFTMAX: case IR_LOG_SOFTMAX: {
            IrValue *xe = xent_with_softmax(g, i);
            comment_loc(g, v, describe(g, v));
            if (xe)
                comment_loc(g, xe, arena_printf(a, "%s = softmax crossentropy from the logits, in the same loop",
                                                name_of(g, xe)));
            emit_softmax(g, v, xe);
            done = xe;
            break;
        }
        case IR_XENT:
            if (v == done)
                break;
            comment_loc(g, v, arena_printf(a, "%s = softmax crossentropy from the logits", name_of(g, v)));
            emit_xent(g, v);
            break;
        case IR_CONCAT:
            comment_loc(g, v, describe(g, v));
            emit_concat(g, v);
            break;
        case IR_ZERO:
            comment_loc(g, v, describe(g, v));
            if (v->loop) {
                const char *slice = cg_dim(a, step_count(&v->shape));
                cb_line(g->b, "memset(%s + step * %s, 0, sizeof(%s) * (size_t)%s);", name_of(g, v), slice, g->real,
                        slice);
            } else {
                cb_line(g->b, "memset(%s, 0, sizeof(%s) * %s);", name_of(g, v), g->real, size_arg(a, count(&v->shape)));
            }
            break;
        case IR_CARRY: { /* step 0 starts from args[0], step t from args[1] at t - 1 */
            comment_loc(g, v, arena_printf(a, "%s = carried state", name_of(g, v)));
            const char *slice = cg_dim(a, step_count(&v->shape));
            const char *prev = v->loop->reverse ? "step + 1" : "step - 1";
            cb_line(g->b, "if (step == %lld) {", v->loop->reverse ? (long long)(v->loop->trips - 1) : 0LL);
            g->b->indent += 4;
            open_loop(g, "i0", step_count(&v->shape));
            cb_line(g->b, "%s[step * %s + i0] = %s[i0];", name_of(g, v), slice, name_of(g, v->args[0]));
            close_loops(g, 1);
            g->b->indent -= 4;
            cb_line(g->b, "} else {");
            g->b->indent += 4;
            open_loop(g, "i0", step_count(&v->shape));
            cb_line(g->b, "%s[step * %s + i0] = %s[(%s) * %s + i0];", name_of(g, v), slice, name_of(g, v->args[1]),
                    prev, slice);
            close_loops(g, 1);
            g->b->indent -= 4;
            cb_line(g->b, "}");
            break;
        }
        case IR_CARRY_GRAD: { /* the state's gradient at step t goes to the new state's at the step before */
            comment_loc(g, v, arena_printf(a, "%s += carried state's gradient, one step back", name_of(g, v)));
            const char *slice = cg_dim(a, step_count(&v->shape));
            bool fwd_forward = v->loop->reverse; /* the backward of a forward loop runs in reverse */
            cb_line(g->b, "if (%s) {", fwd_forward ? "step > 0" : arena_printf(a, "step < %lld", (long long)(v->loop->trips - 1)));
            g->b->indent += 4;
            open_loop(g, "i0", step_count(&v->shape));
            cb_line(g->b, "%s[(%s) * %s + i0] += %s[step * %s + i0];", name_of(g, v), fwd_forward ? "step - 1" : "step + 1",
                    slice, name_of(g, v->args[0]), slice);
            close_loops(g, 1);
            g->b->indent -= 4;
            cb_line(g->b, "}");
            break;
        }
        case IR_RANDOM:
            comment_loc(g, v, arena_printf(a, "%s = uniform [0, 1), stream %d", name_of(g, v), v->index));
            open_loop(g, "i0", count(&v->shape));
            cb_line(g->b, "%s[i0] = (%s)klc_uniform(%s, %d, (uint64_t)i0);", name_of(g, v), g->real, g->seed,
                    v->index);
            close_loops(g, 1);
            break;
        case IR_OUTPUT:
            if (g->y_pred) {
                IrValue *x = v->args[0];
                cb_line(g->b, "/* the model's output %s */", shape_str(a, &x->shape));
                if (x->type == DT_F32 && !g->f64)
                    cb_line(g->b, "memcpy(%s, %s, sizeof(float) * %s);", g->y_pred, name_of(g, x),
                            size_arg(a, count(&x->shape)));
                else {
                    open_loop(g, "i0", count(&x->shape));
                    cb_line(g->b, "%s[i0] = (float)%s[i0];", g->y_pred, name_of(g, x));
                    close_loops(g, 1);
                }
            }
            break;
        case IR_LOSS:
            if (g->loss)
                cb_line(g->b, "%s = %s[0];", g->loss, name_of(g, v->args[0]));
            break;
        case IR_ADD_METRIC:
            if (g->metrics)
                cb_line(g->b, "if (%s) %s[%d] = %s[0];", g->metrics, g->metrics, v->index, name_of(g, v->args[0]));
            break;
        case IR_GRAD: {
            IrValue *root = plan_root(g->p, v->args[0]);
            const Weight *w = g->m->weights.items[v->index];
            if (g->p->st[root->id].kind == ST_GRAD && g->p->st[root->id].offset == g->wl->offset[v->index])
                cb_line(g->b, "/* d %s is complete (computed in place) */", w->key);
            else if (g->grads_out)
                cb_line(g->b, "memcpy(%s + %lld, %s, sizeof(%s) * %lld); /* d %s */", g->grads,
                        (long long)g->wl->offset[v->index], name_of(g, v->args[0]), g->real, (long long)w->size,
                        w->key);
            break;
        }
        default:
            KLC_UNREACHABLE();
        }
    }
    if (open)
        close_loops(g, 1);
    g->step = NULL;
}

const char *cg_function(Codegen *g)
{
    CBuf *out = g->b;
    CBuf code;
    cb_init(&code);
    code.indent = out->indent;
    g->b = &code;
    cg_prepare(g);
    cg_declare(g);
    cb_printf(g->b, "\n");
    cg_body(g);
    g->b = out;
    const char *r = arena_strndup(g->a, code.data ? code.data : "", code.len);
    cb_free(&code);
    return r;
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Identifiers outside comments and string literals, not after -> or . */
bool cg_uses(const char *code, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = code; *p;) {
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p)
                p++;
        } else if (ident_char(*p)) {
            const char *q = p;
            while (ident_char(*q))
                q++;
            bool member = p > code && (p[-1] == '.' || p[-1] == '>');
            if (!member && (size_t)(q - p) == n && !strncmp(p, name, n))
                return true;
            p = q;
        } else {
            p++;
        }
    }
    return false;
}

/* Emit only what `code` uses, so the file compiles warning-free everywhere
 * (clang warns about unused static inline functions). */
static bool uses(const char *code, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(code, name); p; p = strstr(p + 1, name))
        if (p[n] == '(' && (p == code || !((p[-1] >= 'a' && p[-1] <= 'z') || p[-1] == '_')))
            return true;
    return false;
}

/* The float sigmoid and tanh of the generated code, in plain arithmetic so
 * that their loops vectorize (libm's expf and tanhf are a call per element:
 * half of an LSTM's step went to tanhf).  klc_expvf: x = k ln 2 + r with
 * |r| <= ln 2 / 2 (ln 2 in two parts), e^r by its Taylor polynomial to r^7,
 * times 2^k made from exponent bits in two halves (so 2^-126 .. 2^128 stay
 * normal); below -87.3365 (results under FLT_MIN) 0, above 88.7228
 * infinity, NaN stays NaN.  klc_tanhf: below 0.5 the odd Taylor series of
 * tanh to x^15, above 1 - 2 / (e^2|x| + 1), which is 1 in float from 9 on.
 * exp and tanh within 2 ulp of the exact values, sigmoid within 2.5
 * (tests/infer/activations_check.c sweeps every exponent); the double
 * versions stay libm's. */
static const char EXPVF_TEXT[] =
    "static inline float klc_expvf(float x)\n"
    "{\n"
    "    const float c = x > -87.3365479f ? (x < 88.7228394f ? x : 88.7228394f) : -87.3365479f; /* NaN: the low end */\n"
    "    const float k = (c * 1.44269502f + 12582912.0f) - 12582912.0f; /* c / ln 2 rounded */\n"
    "    const float r = (c - k * 0.693145752f) - k * 1.42860677e-6f;\n"
    "    const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f +\n"
    "                    r * (8.33333377e-3f + r * (1.38888892e-3f + r * 1.98412701e-4f))))));\n"
    "    const int32_t ki = (int32_t)k, k1 = ki / 2, k2 = ki - k1;\n"
    "    union { uint32_t u; float f; } s1, s2;\n"
    "    s1.u = (uint32_t)(k1 + 127) << 23;\n"
    "    s2.u = (uint32_t)(k2 + 127) << 23;\n"
    "    const float y = p * s1.f * s2.f;\n"
    "    return x != x ? x : x > 88.7228394f ? (float)INFINITY : x < -87.3365479f ? 0.0f : y;\n"
    "}\n";
static const char TANHF_TEXT[] =
    "static inline float klc_tanhf(float x)\n"
    "{\n"
    "    const float a = x < 0 ? -x : x, x2 = x * x;\n"
    "    const float small = x + x * x2 * (-3.33333343e-1f + x2 * (1.33333340e-1f + x2 * (-5.39682545e-2f +\n"
    "                        x2 * (2.18694881e-2f + x2 * (-8.86323582e-3f + x2 * (3.59212793e-3f +\n"
    "                        x2 * -1.45583437e-3f))))));\n"
    "    const float q = 1.0f - 2.0f / (klc_expvf(2.0f * (a < 9.0f ? a : 9.0f)) + 1.0f);\n"
    "    return x != x ? x : a < 0.5f ? small : x < 0 ? -q : q;\n"
    "}\n";

void cg_helpers(CBuf *b, const char *code)
{
    if (strstr(code, "KLC_IVDEP"))
        cb_printf(b, "/* Loops whose iterations never overlap in memory.  (A hint: clang reports the loops\n"
                     " * it does not vectorize, at -O1 all of them, as warnings; they are not errors.) */\n"
                     "#if defined(__clang__)\n#define KLC_IVDEP _Pragma(\"clang loop vectorize(assume_safety)\")\n"
                     "#pragma clang diagnostic ignored \"-Wpass-failed\"\n"
                     "#elif defined(__GNUC__)\n#define KLC_IVDEP _Pragma(\"GCC ivdep\")\n"
                     "#else\n#define KLC_IVDEP\n#endif\n\n");
    if (uses(code, "klc_sigmoidf") || uses(code, "klc_tanhf") || uses(code, "klc_expvf"))
        cb_printf(b, "%s", EXPVF_TEXT);
    for (int f64 = 0; f64 < 2; f64++) {
        const char *t = f64 ? "double" : "float", *s = f64 ? "" : "f";
        char name[32];
#define HELPER(base, ...)                                                                                     \
    do {                                                                                                      \
        snprintf(name, sizeof name, "klc_%s%s", base, s);                                                      \
        if (uses(code, name))                                                                                 \
            cb_printf(b, __VA_ARGS__);                                                                         \
    } while (0)
        if (f64) {
            HELPER("sigmoid", "static inline double klc_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }\n");
            HELPER("tanh", "static inline double klc_tanh(double x) { return tanh(x); }\n");
        } else {
            HELPER("sigmoid", "static inline float klc_sigmoidf(float x) { return 1.0f / (1.0f + klc_expvf(-x)); }\n");
            HELPER("tanh", "%s", TANHF_TEXT);
        }
        HELPER("softplus", "static inline %s klc_softplus%s(%s x) { return x > 0 ? x + log1p%s(exp%s(-x)) : log1p%s(exp%s(x)); }\n",
               t, s, t, s, s, s, s);
        /* NaN passes, as in TensorFlow: NaN in the data must reach the loss (TerminateOnNaN) */
        HELPER("relu", "static inline %s klc_relu%s(%s x) { return x <= 0 ? 0 : x; }\n", t, s, t);
        HELPER("sign", "static inline %s klc_sign%s(%s x) { return (%s)((x > 0) - (x < 0)); }\n", t, s, t, t);
        HELPER("square", "static inline %s klc_square%s(%s x) { return x * x; }\n", t, s, t);
        HELPER("max", "static inline %s klc_max%s(%s a, %s b) { return a >= b ? a : b; }\n", t, s, t, t);
        HELPER("min", "static inline %s klc_min%s(%s a, %s b) { return a <= b ? a : b; }\n", t, s, t, t);
        HELPER("mod", "static inline %s klc_mod%s(%s a, %s b) { return a - b * floor%s(a / b); }\n", t, s, t, t, s);
#undef HELPER
    }
    if (uses(code, "klc_imod"))
        cb_printf(b, "static inline int64_t klc_imod(int64_t a, int64_t b) { return b ? ((a %% b) + b) %% b : 0; }\n");
    if (uses(code, "klc_uniform")) {
        cb_printf(b, "/* Counter-based uniform [0, 1) numbers: a hash of (seed, stream, index), so masks\n"
                     " * are reproducible and the same in every pass that asks for them. */\n");
        cb_printf(b, "static inline double klc_uniform(uint64_t seed, uint64_t stream, uint64_t i)\n{\n"
                     "    uint64_t z = seed ^ (stream + 1) * 0x9E3779B97F4A7C15u ^ (i + 1) * 0xD1B54A32D192ED03u;\n"
                     "    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;\n"
                     "    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;\n"
                     "    z ^= z >> 31;\n"
                     "    return (double)(z >> 40) * (1.0 / 16777216.0);\n}\n");
    }
}
