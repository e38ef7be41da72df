/*
 * value.h — the checker's values, scopes and checking context.
 *
 * Checking a .kl program means running it at compile time: hyperparameters,
 * shapes and `if` conditions are values computed here, layers are
 * instantiated with the input shape that reaches them, and every tensor
 * expression of a call() is elaborated into KIR with its shape checked.
 * An error produces a diagnostic and the poison value V_ERR, which every
 * operation passes on silently, so one mistake is reported once.
 *
 * Everything the evaluator does not know itself — builtin functions, Keras
 * names, layer classes, model methods — is a value with a Native: a handler
 * the evaluator calls without knowing what it does (registered by sema.c).
 */
#ifndef KLC_CHECK_VALUE_H
#define KLC_CHECK_VALUE_H

#include <stdbool.h>

#include "front/ast.h"
#include "base/diag.h"
#include "ir/ir.h"
#include "ir/program.h"

typedef struct Value Value;
typedef struct Native Native;
typedef struct CompCtx CompCtx;
typedef struct Elab Elab;
typedef struct Sema Sema;
typedef struct IndexForms IndexForms;

typedef enum VKind {
    V_ERR = 0, /* poison: an error was reported */
    V_NONE,
    V_INT,     /* i: c + k*N (k != 0 only for dimensions tied to the batch) */
    V_FLOAT,
    V_BOOL,
    V_STR,     /* s; `bare` when written as a name (initializer = uniform) */
    V_LIST,
    V_FN,      /* a function value: a builtin (native) or a def */
    V_CONFIG,  /* a Keras object by name and arguments: adam(learning_rate = 0.01) */
    V_CLASS,   /* a layer class */
    V_LAYER,   /* a layer ready to be added to a model: Dense(10) */
    V_INPUT,   /* Input(shape = [...]) */
    V_MODEL,
    V_METHOD,  /* model.compile */
    V_WEIGHT,  /* a weight created by add_weight (becomes a tensor inside call) */
    V_TENSOR,  /* a run-time tensor: an IR value */
    V_INDEX,   /* inside an index expression: an affine function of index variables */
    V_SCALAR,  /* inside an index expression: a scalar expression */
    V_BUILTIN, /* a name of the builtin scope (native): called by name, or made a value by as_value */
    V_BUILD_INPUT /* build()'s parameter: the input's shape (with N) and dtype, no value (shape(x), x.ndim) */
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

/* A function implemented in C by a module of the checker, held by the values
 * that stand for it (V_BUILTIN, V_FN, V_CLASS, V_METHOD): the evaluator calls
 * it through `call` and knows nothing else of it. */
struct Native {
    const char *name;
    /* The call, callee->native == this; args evaluated (poisoned ones included). */
    Value *(*call)(Elab *e, Value *callee, Args *args, const Node *call);
    /* Before the arguments are evaluated: false, with an error, refuses the call
     * (add_weight outside build()).  NULL: always allowed. */
    bool (*check_call)(Elab *e, const Value *callee, const Node *call);
    /* V_BUILTIN: what the name is when not called (at = the name).  NULL: a V_FN. */
    Value *(*as_value)(Elab *e, const Value *self, const Node *at);
    bool activation;          /* usable as an activation (a fn hyperparameter) by name */
};

typedef struct LayerSpec {
    const Node *cls;          /* N_LAYER */
    struct Scope *hp;         /* bound hyperparameters */
    const char *name;         /* name = "..." or NULL */
    bool trainable;           /* trainable = false freezes the layer */
    double activity_l1, activity_l2;
    const Node *call;         /* the call expression */
    Shape input_shape;        /* input_shape = [...] given, if has_input_shape */
    bool has_input_shape;
    /* A sub-layer (created in a layer's build(), or a layer hyperparameter of
     * one): its value has native sublayer_native and is built on its first call. */
    LayerInst *inst;          /* its name, type and own weights; NULL for a model's layer */
    const char *path;         /* within the model's layer: "dense", "block.dense" */
    const char *owner_path;   /* Keras' object path within the model's layer: "proj", "block/proj" */
    struct Scope *build_scope;/* after build(): the pattern's dimensions, build()'s names */
    bool built;
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
    const Native *native;     /* V_BUILTIN, V_FN builtin, V_CLASS, V_METHOD: its handler */
    const Node *def;          /* V_FN user def, V_CLASS class */
    Args *args;               /* V_CONFIG arguments */
    LayerSpec *layer;         /* V_LAYER */
    Shape shape;              /* V_INPUT, V_BUILD_INPUT */
    DType dtype;              /* V_INPUT, V_BUILD_INPUT */
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
    Binding *head;            /* the latest binding first */
    struct Scope *parent;
    int n;                    /* bindings in head */
    Binding **index;          /* hash index of head once the scope is large, else NULL */
    int index_cap;            /* a power of two */
} Scope;

/* What is being elaborated. */
struct Elab {
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
    /* build(): `bind_target = <bind_call>` is being evaluated (a sub-layer created by
     * that call is the attribute bind_target of its parent, as Keras' self.<name>) */
    const char *bind_target;
    const Node *bind_call;
    const char *model_var;    /* name of the variable a Sequential(...) goes to */
    /* In a sub-layer (layer is then the sub-layer): the model's layer holding
     * its weights, and the sub-layer's path in it ("block.dense"); else NULL. */
    LayerInst *root;
    const char *path;
    const char *owner_path;   /* Keras' object path of `layer` in the model's layer (NULL: it is it) */
    bool frozen;              /* a layer around this one has trainable = false */
};

/* The program being checked. */
struct Sema {
    Arena *arena;
    Diag *diag;
    Scope *builtins;          /* the root scope: V_BUILTIN values, registered by sema_run */
    Scope *globals;           /* user and imported declarations, top-level names; parent: the prelude's */
    Scope *prelude;           /* the prelude's declarations; parent: builtins */
    Scope *model_methods;     /* V_METHOD values without a model (compile, fit, ...), registered by sema_run */
    const IndexForms *index_forms; /* the evaluator's index-expression handlers (eval.h) */
    /* The scan statement (scan.h), run by the evaluator through this hook. */
    void (*scan)(Elab *e, Scope *s, const Node *st);
    Program *program;
    PtrVec imported;          /* const char* paths already imported */
    PtrVec import_progs;      /* Node*: the programs of imported files */
    PtrVec import_sites;      /* Node*: the import statement of each of import_progs */
    int import_depth;
    int n_models;             /* for Keras' "sequential", "sequential_1" */
    long steps;               /* eval() calls so far, against a budget (defs inline exponentially) */
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
/* True when an argument is poison (its error was reported). */
bool args_poisoned(const Args *args);

/* ---- scopes ---- */
Scope *scope_new(Arena *a, Scope *parent);
/* The scope a layer or def's body sees names in: the prelude's own for a prelude declaration
 * (so user declarations cannot change what the prelude computes), else the globals. */
Scope *decl_scope(const Sema *s, const Node *decl);
void scope_bind(Arena *a, Scope *s, const char *name, Value *v);
Value *scope_lookup(const Scope *s, const char *name);
/* Only in s itself, not its parents. */
Value *scope_lookup_local(const Scope *s, const char *name);

/* ---- messages ---- */
/* Source text of a node, whitespace collapsed, at most `max` characters. */
const char *node_text(Arena *a, const Node *n, int max);
/* "did you mean 'units'?" or "" */
const char *suggest(Arena *a, const char *name, const char *const *candidates, int n);
/* Report an unknown name at loc: a hint for a name a Keras user is likely to
 * write, else the closest of the candidates `collect` adds to `out` (called
 * only when a suggestion is printed: not past the error limit). */
typedef void (*NameCollector)(const void *ctx, Arena *a, PtrVec *out);
void report_unknown_name(Diag *d, Arena *a, SrcLoc loc, const char *name, NameCollector collect, const void *ctx);
/* Candidates for report_unknown_name: the names of the builtin scope in the
 * order they were registered (only the activations if asked); every name
 * bound in s and its parents but the builtin ones. */
void push_builtin_names(Arena *a, PtrVec *out, const Scope *builtins, bool only_activations);
void push_scope_names(Arena *a, PtrVec *out, const Scope *s);

/* ---- compile-time conversions, with errors at `at` ---- */
bool want_int(Elab *e, Value *v, const Node *at, const char *what, int64_t *out);
bool want_dim(Elab *e, Value *v, const Node *at, const char *what, Dim *out);
bool want_float(Elab *e, Value *v, const Node *at, const char *what, double *out);
bool want_bool(Elab *e, Value *v, const Node *at, const char *what, bool *out);
bool want_shape(Elab *e, Value *v, const Node *at, const char *what, Shape *out, bool allow_batch);
/* A shape as a compile-time list of ints: shape(x), x.shape. */
Value *shape_list(Elab *e, const Shape *sh, SrcLoc loc);
/* Keyword/positional binding against a parameter list: names[i] gets
 * out[i] (NULL when absent).  Errors for unknown or repeated names and
 * extra positionals name `what`.  Returns false on error. */
bool bind_args(Elab *e, const Args *args, const char *what, int n, const char *const *names, Value **out,
               const Node **out_node);

/* ---- tensors ---- */
/* The PARAM (trainable) or STATE instruction of weight w in f: one per
 * weight and function, made on first use. */
IrValue *weight_value(IrFunc *f, Weight *w);
/* A value as a tensor: weights become their PARAM/STATE value in e->fn. */
Value *as_tensor(Elab *e, Value *v, const Node *at);

#endif /* KLC_CHECK_VALUE_H */
