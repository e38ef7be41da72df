/*
 * model.h — the runtime's model object and what its files share (internal).
 *
 * A klc_model owns every buffer the generated step functions touch: the
 * weight slabs (allocated once by klc_model_new) and the batch-sized buffers
 * (workspace, the gathered batch, y_pred), which klc_model_reserve grows at
 * the start of fit / evaluate / predict, never inside a step.
 */
#ifndef KLC_MODEL_H
#define KLC_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "klc/runtime.h"

struct klc_model {
    const klc_model_def *def;
    uint64_t seed;          /* init, shuffles and step seeds derive from it */
    float *params;          /* [n_params] trainable weights */
    float *grads;           /* [n_params] their gradients (written by train_step) */
    float *state;           /* [n_state] non-trainable weights */
    float *slots;           /* [n_slots] optimizer slots */

    int64_t cap;            /* batch capacity of everything below */
    float *work;            /* [work_c + work_k * cap] */
    int32_t *iwork;         /* [iwork_c + iwork_k * cap] */
    void *xb;               /* [cap, input...] gathered inputs (def->input_dtype) */
    void *yb;               /* [cap, label...] gathered labels (int32 or float) */
    float *ypred;           /* [cap, output...] */
    double *added;          /* [n_added_metrics] add_metric values of a step */

    int64_t iteration;      /* optimizer iterations done */
    float learning_rate;    /* current learning rate passed to each step */
    int epoch;              /* epochs completed, recorded in checkpoints */
    int optimizer_built;    /* fit has started (or optimizer state was loaded) */
    struct klc_dist *dist;  /* data-parallel group of fit/evaluate (dist.h); NULL: one process */
};

/* The learning rate of the next step: the schedule at m->iteration, or
 * m->learning_rate (schedule.c). */
float klc_model_step_learning_rate(const klc_model *m);

/* Grow the batch buffers to hold `cap` rows (no-op when they already do). */
int klc_model_reserve(klc_model *m, int64_t cap);

/* calloc that never returns NULL for a zero (or negative) count. */
void *klc_zalloc(int64_t count, size_t size);
/* Where weight `t` of m lives: its params or state slab at its offset. */
float *klc_weight_data(klc_model *m, const klc_tensor_def *t);

/* Per-sample element counts. */
/* klc_load_weights on a safetensors file's bytes (not kept; name stands for
 * the file in messages): what the fuzz harness of the loader calls. */
int klc_load_weights_bytes(klc_model *m, const char *name, const unsigned char *buf, size_t size);

int64_t klc_def_input_count(const klc_model_def *def);
int64_t klc_def_output_count(const klc_model_def *def);
/* Label elements per sample: output_count / classes for sparse labels,
 * output_count for dense ones, 0 without labels. */
int64_t klc_def_label_count(const klc_model_def *def);
/* Number of classes of sparse labels: the output's last dimension. */
int64_t klc_def_classes(const klc_model_def *def);

/* "[1000, 784]" or, with `batch_none`, "[None, 784]" for per-sample shapes. */
void klc_format_shape(char *buf, size_t size, int rank, const int64_t *shape, int batch_none);

/*
 * Data checked against the model and converted to the dtypes the steps take
 * (x: def->input_dtype; y: int32 class ids or float32).  `x`/`y` point either
 * at the caller's tensors or at owned conversions in xconv/yconv.
 */
typedef struct klc_dataset {
    klc_tensor x, y;        /* views (owns = 0) */
    klc_tensor xconv, yconv;/* owned conversions, when needed */
    int64_t n;              /* rows */
    int has_y;
} klc_dataset;

/* Check `x` (and `y` unless the model has no labels, or `y` is NULL and
 * need_y is 0) against the model; `xname`/`yname` name them in messages. */
int klc_dataset_prepare(klc_dataset *d, const klc_model_def *def, const klc_tensor *x,
                        const klc_tensor *y, int need_y, const char *xname, const char *yname);
void klc_dataset_free(klc_dataset *d);
/* Rows [begin, end) of d as a view. */
klc_dataset klc_dataset_slice(const klc_dataset *d, int64_t begin, int64_t end);

/*
 * What messages call the data tensors.  The public klc_fit, klc_evaluate_ex,
 * klc_predict_ex and klc_gradcheck use klc_api_names ("x", "y",
 * "validation_x", "validation_y"); the trainer names its files
 * ("--y y.npy"), so a data error says which file is wrong.
 */
typedef struct klc_data_names {
    const char *x, *y, *validation_x, *validation_y;
} klc_data_names;
extern const klc_data_names klc_api_names;

int klc_fit_named(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                  const klc_fit_options *opt, klc_history *history, const klc_data_names *names);
int klc_evaluate_named(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                       const klc_eval_options *opt, klc_logs *logs, const klc_data_names *names);
int klc_predict_named(klc_model *m, const klc_tensor *x, const klc_eval_options *opt,
                      klc_tensor *y_out, const klc_data_names *names);
int klc_gradcheck_named(klc_model *m, const klc_tensor *x, const klc_tensor *y, FILE *out,
                        double *max_rel_err, const klc_data_names *names);

#endif /* KLC_MODEL_H */
