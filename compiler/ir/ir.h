/*
 * ir.h — KIR, the tensor IR checked programs lower to.
 *
 * A function is a list of instructions in SSA form, each defining one value
 * with a static shape (batch symbolic) and an element type.  Almost every
 * computation is an IR_MAP: a comprehension
 *
 *     out[v0..vp-1]  (= | +=)  RED_{vp..vq-1} body(v)
 *
 * whose body is a scalar expression tree over reads of its operands at
 * affine (or, for gathers, data-dependent) subscripts.  Elementwise
 * operations with broadcasting, `@` and other contractions, reductions,
 * transposes, slices, windows (convolution, pooling) and gathers are all
 * maps; the handful of other operations (softmax, the fused
 * softmax-crossentropy, concatenation, random numbers, state assignment,
 * loss and metric sinks) have their own opcodes because they need their own
 * numerics or gradient rules.
 *
 * Values written by several instructions (gradient accumulation) are
 * expressed in SSA as a chain: an instruction with `into` set updates the
 * storage of that value with `+=` and defines the updated version.
 */
#ifndef KLC_IR_H
#define KLC_IR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/arena.h"
#include "ir/shape.h"
#include "base/source.h"

#define KLC_MAXVARS 16 /* index variables of one map */

typedef enum DType {
    DT_F32 = 0, /* real numbers (float, or double in the f64 build) */
    DT_I32,     /* integer ids and labels */
    DT_BOOL     /* comparisons; stored as 0/1 reals when materialised */
} DType;

/* ---- scalar expressions (bodies of maps) ---- */

/* The operators of scalar bodies: one row each in ir/scalar_ops.def, which
 * holds every fact about an operation (arity, dump name, C spelling,
 * compile-time value, derivative). */
typedef enum SOp {
#define LEAF(name, text) S_##name,
#define OP(name, arity, text, c_real, c_int, eval, deriv) S_##name,
#include "ir/scalar_ops.def"
#undef LEAF
#undef OP
    S__COUNT
} SOp;

/* An affine subscript: sum_v coef[v] * v + off + off_n * n, plus an
 * optional data-dependent term (a gather: the value of an integer scalar).
 * off_n, a multiple of the run-time batch size, places a piece after others
 * whose extent is batch-sized (concatenation along such an axis). */
typedef struct Sub {
    int64_t coef[KLC_MAXVARS];
    int64_t off;
    int64_t off_n;
    struct Scalar *ind;
} Sub;

typedef struct Scalar {
    SOp op;
    DType type;
    double cval;              /* S_CONST */
    int arg;                  /* S_READ: operand index */
    int rank;                 /* S_READ: number of subscripts */
    Sub sub[KLC_MAXRANK];     /* S_READ */
    int var;                  /* S_VAR */
    Dim dim;                  /* S_DIM */
    struct Scalar *a, *b, *c; /* operands */
} Scalar;

/* RED_MEAN is RED_SUM divided by the number of reduced points (which may be
 * the run-time batch size). */
typedef enum RedOp { RED_NONE = 0, RED_SUM, RED_MEAN, RED_MAX, RED_MIN } RedOp;

/* The comprehension of an IR_MAP. */
typedef struct Comp {
    int n_out;                /* output variables 0..n_out-1, one per output axis */
    int n_red;                /* reduction variables n_out..n_out+n_red-1 */
    Dim ext[KLC_MAXVARS];     /* extents of all variables */
    const char *var_name[KLC_MAXVARS]; /* the source's index names ("n", "k"), NULL where none */
    RedOp red;
    Scalar *body;
    /* Scatter form (gradients of strided/gathered reads): the output element
     * written is out[scatter_sub(v)] for every point v of the domain, with
     * `+=`; requires `into`.  n_out then counts all domain variables. */
    bool scatter;
    Sub out_sub[KLC_MAXRANK];
} Comp;

/* ---- instructions ---- */

/* X(name, text).  ORDER IROP. */
#define KLC_IR_OPS(X)                                                          \
    X(INPUT, "input")           /* the batch x */                              \
    X(LABELS, "labels")         /* the batch y */                              \
    X(PARAM, "param")           /* trainable weight `index` */                 \
    X(STATE, "state")           /* non-trainable weight `index` */             \
    X(MAP, "map")               /* comprehension */                            \
    X(SOFTMAX, "softmax")       /* along `axis` */                             \
    X(LOG_SOFTMAX, "log_softmax")                                              \
    X(XENT, "softmax_xent")     /* per-row -log softmax(logits)[label]; `index` 1 = dense labels */ \
    X(RESHAPE, "reshape")       /* same elements, new shape */                 \
    X(CONCAT, "concat")         /* along `axis` */                             \
    X(RANDOM, "random")         /* uniform [0,1) of stream `index` */          \
    X(STOP_GRAD, "stop_gradient")                                              \
    X(ZERO, "zeros")            /* a zero-filled buffer (gradient seeds) */    \
    X(ARGMAX_GRAD, "argmax_grad") /* max/min map's gradient routed to the first extremum */ \
    X(ASSIGN, "assign")         /* state `index` := args[0] after the step */  \
    X(ADD_LOSS, "add_loss")     /* objective += args[0] */                     \
    X(ADD_METRIC, "add_metric") /* added metric `index` = args[0] */           \
    X(OUTPUT, "output")         /* y_pred = args[0] */                         \
    X(LOSS, "loss")             /* the total objective args[0] */              \
    X(GRAD, "grad")             /* gradient of param `index` is args[0] */ \
    X(CARRY, "carry")           /* in a loop, step t: args[0] (t first) else args[1] at t-1 */ \
    X(CARRY_GRAD, "carry_grad") /* in a loop, step t > 0: into[t-1] += args[0][t] */

typedef enum IrOp {
#define X(name, text) IR_##name,
    KLC_IR_OPS(X)
#undef X
    IR__COUNT
} IrOp;

typedef struct IrValue IrValue;

/* A loop over steps (a scan, ../../grammar/REFERENCE.md §6.1).  The
 * instructions of one loop are contiguous in their function and all have
 * `loop` set to it; each is a whole tensor [trips, ...] whose leading axis
 * is the step: at step t the instruction computes its slice t only, its map
 * variable 0 being t (operands of the same loop are read at [t, ...],
 * everything else is read whole).  A forward loop runs t = 0, 1, ...;
 * a reverse one (the backward pass of a forward loop) t = trips - 1, ..., 0. */
typedef struct IrLoop {
    int id;                   /* for dumps and names */
    int64_t trips;
    bool reverse;
} IrLoop;

struct IrValue {
    int id;
    IrOp op;
    Shape shape;
    DType type;
    const char *name;         /* from the source: "dense_1_kernel", "h"; may be NULL */
    const char *layer;        /* the layer whose call() made it: "dense_1"; may be NULL */
    SrcLoc loc;               /* the .kl expression it comes from */
    int nargs;
    IrValue **args;
    Comp *comp;               /* IR_MAP */
    int index;                /* weight / metric / stream number, XENT dense flag */
    int axis;                 /* SOFTMAX, LOG_SOFTMAX, CONCAT */
    IrValue *into;            /* accumulate (+=) into this value's storage */
    IrValue *fwd;             /* ARGMAX_GRAD: the forward max/min map */
    int fwd_read;             /* ARGMAX_GRAD: which read of the forward body */
    Scalar *scale;            /* ARGMAX_GRAD: the routed gradient is multiplied by this
                               * (a 0/1 mask or a constant, over the forward's variables,
                               * reads numbered as the comprehension's); NULL: by 1 */
    IrLoop *loop;             /* the loop the instruction is in, or NULL */
    /* filled in by later passes */
    bool active;              /* depends on a parameter and reaches the loss */
    const IrValue *grad_of;   /* autodiff: the forward value whose gradient this is (or starts) */
    int n_uses;
    void *aux;
};

typedef struct IrFunc {
    Arena *arena;
    const char *name;
    bool training;
    PtrVec insts;             /* IrValue*, in execution order */
    IrValue *input, *labels, *output, *loss;
    int grad_start_id;        /* values with id >= this belong to the backward pass (0: none) */
    int lowered_id;           /* values with id >= this (0: none) were added by the back end's
                               * lowering (back/conv.h) just before the instruction that first
                               * reads them, and belong to that instruction's pass */
    int next_id;
    int n_loops;              /* loops made so far (their ids) */
} IrFunc;

IrFunc *ir_func_new(Arena *a, const char *name, bool training);
IrValue *ir_new(IrFunc *f, IrOp op, const Shape *shape, DType type, SrcLoc loc);
void ir_add_arg(IrFunc *f, IrValue *v, IrValue *arg);

/* Scalar constructors. */
Scalar *s_const(Arena *a, double c);
Scalar *s_var(Arena *a, int var);
Scalar *s_dim(Arena *a, Dim d);
Scalar *s_read(Arena *a, int arg, int rank, const Sub *sub, DType type);
/* args[arg][v0, ..., v(rank-1)]: a read of the whole tensor at the identity subscripts. */
Scalar *s_read_all(Arena *a, int arg, const Shape *shape, DType type);
Scalar *s_un(Arena *a, SOp op, Scalar *x);
Scalar *s_bin(Arena *a, SOp op, Scalar *x, Scalar *y);
Scalar *s_select(Arena *a, Scalar *c, Scalar *x, Scalar *y);
/* x as a bool: itself if it is one, else x != 0. */
Scalar *s_truth(Arena *a, Scalar *x);
Sub sub_var(int var);
Sub sub_const(int64_t c);
bool sub_is_var(const Sub *s, int *var);  /* exactly one variable, coefficient 1, offset 0 */
bool sub_is_const(const Sub *s);
/* A deep copy of s (NULL for NULL): scalar_remap with no renaming. */
Scalar *s_copy(Arena *a, const Scalar *s);
/* The number of operands of op (0 for the leaves CONST, READ, VAR, DIM). */
int sop_arity(SOp op);
const char *sop_name(SOp op);
/* The value of a scalar tree made only of constants, evaluated in double
 * with the table's `eval` column; false if it reads, or uses an index
 * variable or an extent.  (The type of the result is s->type's.) */
bool sop_eval(const Scalar *s, double *out);
/* op (an operation, not a leaf) applied to a, b, c: the `eval` column of
 * scalar_ops.def, in double. */
double sop_apply(SOp op, double a, double b, double c);
const char *irop_name(IrOp op);

/* ---- walking scalar trees ---- */

/* Called by scalar_visit on one node.  depth: edges from the root visited
 * (0 for the root); in_index: the node lies inside the gather index of a
 * subscript (Sub.ind) of some read above it. */
typedef void ScalarVisitFn(const Scalar *s, int depth, bool in_index, void *ctx);

/* Call fn on every node of the tree s (none when s is NULL), in pre-order:
 * a node, then the gather indices of its subscripts (S_READ, subscripts in
 * order), then its operands a, b, c. */
void scalar_visit(const Scalar *s, ScalarVisitFn *fn, void *ctx);

/* A renaming applied by scalar_remap.  Every field may be left zero. */
typedef struct ScalarMap {
    /* Index variable u becomes var[u]: in S_VAR and in subscript
     * coefficients (coefficients of variables that merge add up); NULL
     * keeps every variable. */
    const int *var;
    /* A read of operand k becomes a read of operand (arg ? arg[k] : k) +
     * arg_shift; arg, when given, covers every operand the tree reads. */
    const int *arg;
    int arg_shift;
    /* Asked first about every node of the original tree: a non-NULL result
     * takes the node's place as it is (neither copied nor renamed, so it
     * must be a tree of its own); NULL remaps the node as above. */
    Scalar *(*subst)(Arena *a, const Scalar *s, void *ctx);
    void *ctx;
} ScalarMap;

/* A fresh copy of the tree s (NULL for NULL) renamed by m (NULL: a plain
 * copy); s itself is not changed. */
Scalar *scalar_remap(Arena *a, const Scalar *s, const ScalarMap *m);
/* s renamed by m: coefficients moved to the new variables, the gather
 * index copied and remapped. */
Sub sub_remap(Arena *a, const Sub *s, const ScalarMap *m);

/* An elementwise map over `shape` whose body reads args identically:
 * out[v] = body(args[0][v], ...) — the common case, built by the checker. */
IrValue *ir_map(IrFunc *f, const Shape *shape, DType type, Comp *c, SrcLoc loc);
Comp *comp_new(Arena *a, int n_out, int n_red);
/* A comprehension over the axes of `s`: the first n_out are output
 * variables, the rest reduction variables (extents from s, no body yet). */
Comp *comp_over(Arena *a, const Shape *s, int n_out);
/* out[v] = body over shape s (n_out = rank, no reduction), reading args in order. */
IrValue *ir_ew(IrFunc *f, const Shape *s, DType type, Scalar *body, int nargs, IrValue *const *args, SrcLoc loc);
/* The number of points a map reduces over (the divisor of RED_MEAN). */
Dim comp_red_count(const Comp *c);
/* The product of the extents of variables vars[0..nv) of c (1 for none);
 * false if it overflows or is not of the form c + k*N. */
bool comp_extent_product(const Comp *c, const int *vars, int nv, Dim *out);

/* Deterministic textual dump (--dump-ir). */
void ir_dump(FILE *out, const IrFunc *f);
/* One instruction as ir_dump writes it, without the newline. */
void ir_dump_inst(FILE *out, const IrValue *v);
void scalar_dump(FILE *out, const Scalar *s, const IrValue *v);

#endif /* KLC_IR_H */
