/*
 * elab.h — the checker's evaluator (internal to sema, elab, comp, layer,
 * builtins, loss).
 *
 * Checking a .kl program means running it at compile time: hyperparameters,
 * shapes and `if` conditions are values computed here, layers are
 * instantiated with the input shape that reaches them, and every tensor
 * expression of a call() is elaborated into KIR with its shape checked.
 * An error produces a diagnostic and the poison value V_ERR, which every
 * operation passes on silently, so one mistake is reported once.
 */
#ifndef KLC_ELAB_H
#define KLC_ELAB_H

#include <stdbool.h>

#include "front/ast.h"
#include "base/diag.h"
#include "ir/ir.h"
#include "ir/program.h"

typedef struct Value Value;
typedef struct Builtin Builtin;
typedef struct CompCtx CompCtx;

typedef enum VKind {
    V_ERR = 0, /* poison: an error was reported */
    V_NONE,
    V_INT,     /* i: c + k*N (k != 0 only for dimensions tied to the batch) */
    V_FLOAT,
    V_BOOL,
    V_STR,     /* s; `bare` when written as a name (initializer = uniform) */
    V_LIST,
    V_FN,      /* a function value: builtin or def, with bound keyword arguments */
    V_CONFIG,  /* a Keras object by name and arguments: adam(learning_rate = 0.01) */
    V_CLASS,   /* a layer class */
    V_LAYER,   /* a layer ready to be added to a model: Dense(10) */
    V_INPUT,   /* Input(shape = [...]) */
    V_MODEL,
    V_METHOD,  /* model.compile */
    V_WEIGHT,  /* a weight created by add_weight (becomes a tensor inside call) */
    V_TENSOR,  /* a run-time tensor: an IR value */
    V_INDEX,   /* inside an index expression: an affine function of index variables */
    V_SCALAR   /* inside an index expression: a scalar expression */
} VKind;

/* Arguments of a call, evaluated: positional then keyword. */
typedef struct Args {
    int n_pos, n_kw;
    Value **pos;
    const Node **pos_node;
    const char **kw_name;
    Value **kw;
    const Node **kw_node;
    SrcLoc loc;               /* the whole call */
    const Node *call;
} Args;

typedef struct LayerSpec {
    const Node *cls;          /* N_LAYER */
    struct Scope *hp;         /* bound hyperparameters */
    const char *name;         /* name = "..." or NULL */
    bool trainable;           /* trainable = false freezes the layer */
    double activity_l1, activity_l2;
    const Node *call;         /* the call expression */
    Shape input_shape;        /* input_shape = [...] given, if has_input_shape */
    bool has_input_shape;
} LayerSpec;

struct Value {
    VKind kind;
    SrcLoc loc;
    Dim i;
    double f;
    bool b;
    bool bare;
    const char *s;
    int n;                    /* V_LIST length */
    Value **items;            /* V_LIST */
    const Builtin *fn;        /* V_FN builtin, V_CONFIG kind */
    const Node *def;          /* V_FN user def, V_CLASS class */
    Args *args;               /* V_FN bound kwargs, V_CONFIG arguments */
    LayerSpec *layer;         /* V_LAYER */
    Shape shape;              /* V_INPUT */
    DType dtype;              /* V_INPUT */
    Model *model;             /* V_MODEL, V_METHOD */
    Weight *weight;           /* V_WEIGHT */
    IrValue *t;               /* V_TENSOR */
    const char *decl;         /* V_TENSOR from a weight: its declared shape text */
    Sub sub;                  /* V_INDEX */
    Scalar *sc;               /* V_SCALAR */
};

typedef struct Binding {
    const char *name;
    Value *val;
    struct Binding *next;
} Binding;

typedef struct Scope {
    Binding *head;
    struct Scope *parent;
    int n;                    /* bindings in head */
    Binding **index;          /* hash index of head once the scope is large, else NULL */
    int index_cap;            /* a power of two */
} Scope;

typedef struct Sema Sema;

/* What is being elaborated. */
typedef struct Elab {
    Sema *sema;
    Arena *arena;
    Diag *diag;
    Model *model;
    LayerInst *layer;
    IrFunc *fn;               /* tensor code goes here (call bodies) */
    bool in_build, in_call, training, returned;
    Value *result;            /* call(): the returned value */
    CompCtx *comp;            /* inside an index expression */
    int depth;                /* def inlining depth */
    const char *assign_target;/* name of the variable an add_weight result goes to */
    const char *model_var;    /* name of the variable a Sequential(...) goes to */
} Elab;

struct Sema {
    Arena *arena;
    Diag *diag;
    Scope *globals;
    Program *program;
    PtrVec imported;          /* const char* paths already imported */
    PtrVec import_progs;      /* Node*: the programs of imported files */
    PtrVec import_sites;      /* Node*: the import statement of each of import_progs */
    int import_depth;
    int n_models;             /* for Keras' "sequential", "sequential_1" */
    long steps;               /* eval() calls so far, against a budget (defs inline exponentially) */
    const SourceFile *prelude;
    const SourceFile *main_file;
};

/* ---- values ---- */
Value *v_new(Arena *a, VKind k, SrcLoc loc);
Value *v_err(Arena *a);
Value *v_int(Arena *a, int64_t i, SrcLoc loc);
Value *v_dim(Arena *a, Dim d, SrcLoc loc);
Value *v_float(Arena *a, double f, SrcLoc loc);
Value *v_bool(Arena *a, bool b, SrcLoc loc);
Value *v_str(Arena *a, const char *s, SrcLoc loc);
Value *v_tensor(Arena *a, IrValue *t, SrcLoc loc);
/* "int", "float", "str 'relu'", "tensor [N, 64]", ... for messages */
const char *v_describe(Arena *a, const Value *v);
const char *v_kind_name(VKind k);

/* ---- scopes ---- */
Scope *scope_new(Arena *a, Scope *parent);
void scope_bind(Arena *a, Scope *s, const char *name, Value *v);
Value *scope_lookup(const Scope *s, const char *name);
/* Only in s itself, not its parents. */
Value *scope_lookup_local(const Scope *s, const char *name);

/* ---- evaluation (elab.c) ---- */
Value *eval(Elab *e, Scope *s, const Node *n);
/* Run a block's statements, until a return (e->returned). */
void exec_block(Elab *e, Scope *s, const Node *block);
/* A value as a tensor: weights become their PARAM/STATE value in e->fn. */
Value *as_tensor(Elab *e, Value *v, const Node *at);
/* The PARAM (trainable) or STATE instruction of weight w in f: one per
 * weight and function, made on first use. */
IrValue *weight_value(IrFunc *f, Weight *w);
/* A shape as a compile-time list of ints: shape(x), x.shape. */
Value *shape_list(Elab *e, const Shape *sh, SrcLoc loc);
/* Elementwise op over tensors, compile-time numbers and (inside index
 * expressions) scalars, with NumPy broadcasting. */
typedef Scalar *(*ScalarBuilder)(Arena *a, Scalar **ops, const double *params);
Value *elementwise(Elab *e, SrcLoc loc, int n, Value **ops, const Node **nodes, ScalarBuilder build,
                   const double *params, const char *what);
/* Scalar builders of the operators, also those of keras.ops add, subtract,
 * multiply, divide (true division), power, negative and logical_not. */
Scalar *b_add(Arena *a, Scalar **o, const double *p);
Scalar *b_sub(Arena *a, Scalar **o, const double *p);
Scalar *b_mul(Arena *a, Scalar **o, const double *p);
Scalar *b_div(Arena *a, Scalar **o, const double *p);
Scalar *b_pow(Arena *a, Scalar **o, const double *p);
Scalar *b_neg(Arena *a, Scalar **o, const double *p);
Scalar *b_not(Arena *a, Scalar **o, const double *p);
/* x @ y (NumPy's matmul); nx, ny locate the operands for messages. */
Value *matmul(Elab *e, SrcLoc loc, Value *x, Value *y, const Node *nx, const Node *ny);
/* Source text of a node, whitespace collapsed, at most `max` characters. */
const char *node_text(Arena *a, const Node *n, int max);
/* For an unknown name a Keras user is likely to write (self, training, keras):
 * what to write instead, or NULL. */
const char *unknown_name_hint(const char *name);
/* "did you mean 'units'?" or "" */
const char *suggest(Arena *a, const char *name, const char *const *candidates, int n);
/* Report an unknown name at loc: a hint for a name a Keras user is likely to
 * write, else the closest of the candidates `collect` adds to `out` (called
 * only when a suggestion is printed: not past the error limit). */
typedef void (*NameCollector)(const void *ctx, Arena *a, PtrVec *out);
void report_unknown_name(Diag *d, Arena *a, SrcLoc loc, const char *name, NameCollector collect, const void *ctx);
/* Candidates for report_unknown_name: every builtin; every name bound in s and its parents. */
void push_builtin_names(Arena *a, PtrVec *out);
void push_scope_names(Arena *a, PtrVec *out, const Scope *s);

/* Compile-time conversions with errors at `at`. */
bool want_int(Elab *e, Value *v, const Node *at, const char *what, int64_t *out);
bool want_dim(Elab *e, Value *v, const Node *at, const char *what, Dim *out);
bool want_float(Elab *e, Value *v, const Node *at, const char *what, double *out);
bool want_bool(Elab *e, Value *v, const Node *at, const char *what, bool *out);
bool want_shape(Elab *e, Value *v, const Node *at, const char *what, Shape *out, bool allow_batch);

/* ---- calls ---- */
Args *eval_args(Elab *e, Scope *s, const Node *call);
Value *call_value(Elab *e, Value *callee, Args *args, const Node *call);
/* Keyword/positional binding against a parameter list: names[i] gets
 * out[i] (NULL when absent).  Errors for unknown or repeated names and
 * extra positionals name `what`.  Returns false on error. */
bool bind_args(Elab *e, const Args *args, const char *what, int n, const char *const *names, Value **out,
               const Node **out_node);

/* ---- index expressions (comp.c) ---- */
/* `target[i, j] (: shape) = value;` inside call(). */
Value *comp_statement(Elab *e, Scope *s, const Node *assign);
/* `sum[i, j](body)` anywhere. */
Value *comp_reduce(Elab *e, Scope *s, const Node *n);
/* A subscripted tensor read inside an index expression. */
Value *comp_read(Elab *e, Scope *s, const Node *n);
/* Scalar form of a value inside an index expression (NULL + error if impossible). */
Scalar *comp_scalar(Elab *e, Value *v, const Node *at);
/* The reduction a name stands for: sum, mean, max, min. */
RedOp red_of(const char *name);

/* ---- layers (layer.c) ---- */
Value *layer_spec(Elab *e, const Node *cls, Args *args, const Node *call);
/* Check a class's declaration (parameter types, members); once per class. */
bool layer_check_class(Elab *e, const Node *cls);
/* Sequential([...]) (sema.c). */
Value *sema_sequential(Elab *e, Args *args, const Node *call);
/* Instantiate a layer of `model` on input shape `in` (updates model). */
void layer_instantiate(Sema *sema, Model *m, Value *spec, int position);
Value *builtin_add_weight(Elab *e, Args *args);

/* ---- builtins (builtins.c) ---- */
const Builtin *builtin_find(const char *name);
/* False, with an error, for add_weight outside build() and add_loss, add_metric,
 * assign outside call(): checked before the arguments are evaluated. */
bool builtin_usable_here(Elab *e, const Builtin *b, const Node *call);
bool builtin_is_activation(const Builtin *b);
Value *builtin_call(Elab *e, const Builtin *b, Args *args, const Node *call);
/* Apply an activation (fn value or name) to a tensor. */
Value *apply_fn(Elab *e, Value *fn, Value *x, const Node *at);
/* All builtin names, for suggestions. */
int builtin_names(const char ***out);
/* Keras initializer from a value (str, config, None); false + error if bad. */
bool resolve_initializer(Elab *e, Value *v, const Node *at, InitSpec *out);
bool resolve_regularizer(Elab *e, Value *v, const Node *at, double *l1, double *l2);

/* ---- models (sema.c, loss.c) ---- */
Value *model_method(Elab *e, Value *method, Args *args, const Node *call);
void loss_build(Sema *sema, Model *m, IrFunc *f);

/* Keras' snake_case of a class name: MyCustomLayer -> my_custom_layer. */
const char *keras_snake_case(Arena *a, const char *name);

#endif /* KLC_ELAB_H */
