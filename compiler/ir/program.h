/*
 * program.h — a checked program: its models, their layers and weights, and
 * their compile and fit settings.  Produced by sema_run(), consumed by the
 * summary, the gradient derivation and the C emitter.
 */
#ifndef KLC_PROGRAM_H
#define KLC_PROGRAM_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "ir/ir.h"
#include "ir/shape.h"
#include "base/source.h"

/* Keras initializers, lowered to the runtime's kinds (klc/abi.h klc_init_kind). */
typedef struct InitSpec {
    int kind;                 /* klc_init_kind */
    double args[3];
    const char *text;         /* as written, for messages and the dump */
} InitSpec;

typedef struct Weight {
    const char *layer;        /* Keras layer name, "dense_1": the model's layer that holds it */
    const char *name;         /* weight name, "kernel"; in a sub-layer its path, "dense.kernel" */
    const char *key;          /* file key, "dense_1.kernel", "residual.dense.kernel" */
    const char *cname;        /* C identifier, "dense_1_kernel", "residual_dense_kernel" (unique) */
    Shape shape;              /* constant dims */
    int64_t size;
    bool trainable;
    InitSpec init;
    int64_t fan_in, fan_out;
    SrcLoc loc;               /* the add_weight call */
    const char *decl;         /* the shape as written, "[D, units]" */
    int index;                /* position in Model.weights */
    double l1, l2;            /* regularizer factors (0 = none) */
    bool no_grad;             /* trainable but the loss gives it no gradient: the optimizer skips it */
    /* Keras' object path of the layer object owning it, below the model's layer, as
     * Keras' saving code walks it (attribute names, "cell" of an RNN): "" for the
     * model's layer itself, "proj", "forward_layer/cell" (.weights.h5 files) */
    const char *owner_path;
    /* Its dataset in a .weights.h5 file: "layers/dense/vars/0", "layers/lstm/cell/vars/1" */
    const char *keras_path;
} Weight;

typedef struct LayerInst {
    const char *type;         /* class name, "Dense" */
    const char *name;         /* Keras name, "dense_1" */
    SrcLoc loc;               /* where it is instantiated */
    int position;             /* 1-based position in the Sequential list (Input counts) */
    Shape in_shape, out_shape;
    int64_t params, trainable_params;
    PtrVec weights;           /* Weight*: its own (a sub-layer's are the model layer's, in Model.weights) */
    PtrVec sublayers;         /* LayerInst*: the layers its build() created, in creation order */
    bool is_input;
} LayerInst;

/* The runtime's kinds (klc/kinds.def, the list klc/abi.h's klc_*_kind enums come
 * from): same values, the compiler's names.  OPT_ADAM == KLC_OPT_ADAM, ... */
typedef enum OptKind {
#define KLC_OPT_KIND(name) OPT_##name,
#include <klc/kinds.def>
} OptKind;

/* A learning-rate schedule (Keras' optimizers.schedules); the order of
 * klc/abi.h's klc_lr_schedule_kind. */
typedef enum LrKind {
    LR_CONSTANT, LR_EXPONENTIAL_DECAY, LR_PIECEWISE_CONSTANT_DECAY, LR_POLYNOMIAL_DECAY,
    LR_INVERSE_TIME_DECAY, LR_COSINE_DECAY
} LrKind;

typedef struct LrScheduleCfg {
    LrKind kind;              /* LR_CONSTANT: none */
    const char *name;         /* "ExponentialDecay" */
    double initial, decay_steps, decay_rate, end_lr, power, alpha, warmup_target, warmup_steps;
    bool staircase, cycle, has_warmup;
    int n_boundaries;         /* PiecewiseConstantDecay: boundaries[n], values[n + 1] */
    int64_t *boundaries;
    double *values;
} LrScheduleCfg;

typedef struct OptimizerCfg {
    OptKind kind;
    const char *name;         /* "adam" */
    double learning_rate, beta_1, beta_2, epsilon, momentum, rho, weight_decay;
    bool amsgrad, nesterov, centered;
    double clipnorm, clipvalue, global_clipnorm; /* 0 = off */
    LrScheduleCfg schedule;   /* learning_rate = ExponentialDecay(...) */
} OptimizerCfg;

typedef enum LossKind {
#define KLC_LOSS_KIND(name) LOSS_##name,
#include <klc/kinds.def>
} LossKind;

typedef struct LossCfg {
    LossKind kind;
    const char *name;         /* as written */
    bool from_logits;
    double label_smoothing;
    double delta;             /* huber */
    SrcLoc loc;
} LossCfg;

typedef enum MetricKind {
#define KLC_METRIC_KIND(name) METRIC_##name,
#include <klc/kinds.def>
} MetricKind;

typedef struct MetricCfg {
    const char *name;         /* log key as written */
    MetricKind kind;
    bool resolve_accuracy;    /* "accuracy"/"acc": kind decided from the shapes */
    SrcLoc loc;
} MetricCfg;

typedef struct FitCfg {
    int epochs, batch_size, verbose;
    double validation_split;
    bool shuffle;
    /* callbacks */
    bool early_stopping;
    const char *es_monitor;
    double es_min_delta;
    int es_patience;
    bool es_restore_best;
    const char *checkpoint_path;
    const char *checkpoint_monitor;
    bool checkpoint_best_only;
    bool terminate_on_nan;
    int es_verbose, checkpoint_verbose;
    bool reduce_lr;           /* ReduceLROnPlateau(...) */
    const char *rl_monitor;
    double rl_factor, rl_min_delta, rl_min_lr;
    int rl_patience, rl_cooldown, rl_mode, rl_verbose;
    const char *csv_path;     /* CSVLogger(filename, separator, append) */
    const char *csv_separator;
    bool csv_append;
    /* LearningRateScheduler(schedule, verbose): the def compiled to the C
     * expression of a function of (int64_t epoch, double lr), or NULL */
    const char *lr_fn_expr;
    const char *lr_fn_name;   /* the def's name */
    SrcLoc lr_fn_loc;
    int lr_fn_verbose;
} FitCfg;

typedef struct Model {
    const char *var;          /* the .kl variable: C symbol prefix */
    const char *keras_name;   /* "sequential" */
    SrcLoc loc;
    PtrVec layers;            /* LayerInst*, without the Input */
    PtrVec weights;           /* Weight*, Keras order: per layer trainable then state */
    int n_layer_names;        /* for Keras' automatic names */
    PtrVec used_names;        /* const char*: layer names taken */
    Shape input_shape;        /* [N, ...] */
    DType input_type;
    Shape output_shape;        /* of the last layer checked so far, then of the model */
    DType output_type;
    bool has_input;
    bool compiled;
    OptimizerCfg opt;
    LossCfg loss;
    PtrVec metrics;           /* MetricCfg* */
    FitCfg fit;
    PtrVec added_metrics;     /* const char*: add_metric names, first appearance order */
    IrFunc *train;            /* forward (training), loss */
    IrFunc *infer;            /* forward (inference), loss */
    IrFunc *predict;          /* forward (inference) only: made by pipeline_fuse */
    bool broken;              /* a layer failed to check: later layers are not checked */
} Model;

typedef struct Program {
    PtrVec models;            /* Model* */
    PtrVec files;             /* SourceFile* read (main first) */
} Program;

#endif /* KLC_PROGRAM_H */
