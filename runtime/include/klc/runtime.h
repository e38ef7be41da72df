/*
 * klc/runtime.h — the klc runtime: Keras' Sequential training workflow for
 * models compiled by klc.
 *
 *     #include "model.h"            generated: declares model_def
 *     #include <klc/runtime.h>
 *
 *     klc_model *m = klc_model_new(&model_def, 42);
 *     klc_fit(m, &x, &y, &(klc_fit_options){ .epochs = 3, .batch_size = 32 }, &history);
 *     klc_evaluate(m, &x_test, &y_test, &logs);
 *     klc_predict(m, &x_new, &y_out);
 *     klc_save_weights(m, "trained.safetensors");
 *     klc_model_free(m);
 *
 * Conventions.  Every function that can fail returns 0 on success and -1 on
 * failure, with a readable message in klc_last_error().  The runtime never
 * aborts on bad input and never calls exit(); it allocates when a model is
 * created, when data is loaded and when fit starts, never inside a step.
 * All public symbols start with klc_.
 */
#ifndef KLC_RUNTIME_H
#define KLC_RUNTIME_H

#include <stdint.h>
#include <stdio.h>

#include "klc/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------- */

/* The message of the last failure in this thread ("" if none). */
const char *klc_last_error(void);

/* ----------------------------------------------------------------------------
 * Tensors and data files
 * ------------------------------------------------------------------------- */

/* A dense C-order array.  `data` is freed by klc_tensor_free when `owns`. */
/* Room for a tensor's source path; a longer path keeps its last part, "...dir/x.npy". */
#define KLC_SOURCE_MAX 256

typedef struct klc_tensor {
    klc_dtype dtype;
    int rank;
    int64_t shape[KLC_MAX_RANK];
    void *data;
    int owns;
    /* The file it was loaded from ("" if none): fit, evaluate, predict and
     * gradcheck name it in their messages, "x (data/x.npy) has 64 rows ...". */
    char source[KLC_SOURCE_MAX];
} klc_tensor;

size_t klc_dtype_size(klc_dtype dt);
const char *klc_dtype_name(klc_dtype dt); /* "float32", "int32", ... */
int64_t klc_tensor_count(const klc_tensor *t);
/* Allocate a zeroed tensor. */
int klc_tensor_alloc(klc_tensor *t, klc_dtype dt, int rank, const int64_t *shape);
/* A view of caller-owned memory (not freed by klc_tensor_free). */
klc_tensor klc_tensor_wrap(klc_dtype dt, int rank, const int64_t *shape, void *data);
void klc_tensor_free(klc_tensor *t);
/* Record the file a tensor came from (the loaders do; NULL or "" clears it). */
void klc_tensor_set_source(klc_tensor *t, const char *path);
/* dst = src converted to dtype `dt` (integers to floats exactly, floats to
 * integers only when every value is integral; otherwise an error). */
int klc_tensor_convert(klc_tensor *dst, const klc_tensor *src, klc_dtype dt);

/* Loaders.  Every malformed file is refused with a message naming the file. */
int klc_npy_load(klc_tensor *t, const char *path);  /* f4 f8 i4 i8 u1, C order, little endian */
int klc_npy_save(const klc_tensor *t, const char *path); /* written to a temp file, then renamed */
int klc_csv_load(klc_tensor *t, const char *path);  /* numbers; optional header row; float32 */
/* A row per sample (the first axis; the others flattened), numbers that read
 * back exactly; written to a temp file, then renamed. */
int klc_csv_save(const klc_tensor *t, const char *path);
int klc_idx_load(klc_tensor *t, const char *path);  /* MNIST IDX: u8/i8/i16/i32/f32/f64 */
/* By extension: .npy, .csv, IDX (".idx", "-ubyte", ".idx1-ubyte", ...). */
int klc_data_load(klc_tensor *t, const char *path);
/* By extension: .npy or .csv; any other name is refused (nothing written). */
int klc_data_save(const klc_tensor *t, const char *path);

/* ----------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------- */

typedef struct klc_model klc_model;

/* Allocate the slabs and initialise the weights with Keras' initializers,
 * drawn from `seed`.  Returns NULL (see klc_last_error) if `def` was built for
 * another ABI version or memory is short. */
klc_model *klc_model_new(const klc_model_def *def, uint64_t seed);
void klc_model_free(klc_model *m);
const klc_model_def *klc_model_def_of(const klc_model *m);

/* Direct access to a weight's values (float32, shape from its klc_tensor_def).
 * `name` is the file key, "dense.kernel".  NULL if unknown. */
float *klc_model_weight(klc_model *m, const char *name);

/* The learning rate the next step uses (the schedule's value at the current
 * iteration, or the optimizer's variable). */
double klc_model_learning_rate(const klc_model *m);
/* Set the optimizer's learning rate (stored as float32, as Keras' variable).
 * Fails when the optimizer has a schedule, as Keras refuses it. */
int klc_model_set_learning_rate(klc_model *m, double lr);
/* A schedule's value at optimizer step `step`, in float32 as Keras computes it. */
float klc_schedule_learning_rate(const klc_lr_schedule_def *s, int64_t step);

/* Keras' model.summary() table, to `out`.  width 0 = Keras' choice
 * (min(88, terminal columns - 4), 76 when not a terminal). */
void klc_model_summary(const klc_model *m, FILE *out, int width);

/* ----------------------------------------------------------------------------
 * Logs and history
 * ------------------------------------------------------------------------- */

#define KLC_MAX_LOGS 32
#define KLC_MAX_NAME 64

/* A set of named values ("accuracy", "loss", "val_loss"), sorted by name. */
typedef struct klc_logs {
    int n;
    char names[KLC_MAX_LOGS][KLC_MAX_NAME];
    double values[KLC_MAX_LOGS];
} klc_logs;

/* Value of `name`, or NaN when absent. */
double klc_logs_get(const klc_logs *logs, const char *name);

/* Per-epoch logs of a fit (Keras' History). */
typedef struct klc_history {
    int n_epochs;
    int *epochs;             /* epoch indices (0-based, from initial_epoch) */
    klc_logs *logs;          /* one per epoch */
    int stopped_on_nan;      /* TerminateOnNaN stopped the training (a NaN or infinite loss) */
} klc_history;

void klc_history_free(klc_history *h);
/* CSV: a header "epoch,<key>,...", one row per epoch (keys sorted). */
int klc_history_write_csv(const klc_history *h, const char *path);

/* ----------------------------------------------------------------------------
 * fit / evaluate / predict
 * ------------------------------------------------------------------------- */

/* Callbacks, as Keras' EarlyStopping / ModelCheckpoint / TerminateOnNaN. */
typedef struct klc_early_stopping {
    int enabled;
    const char *monitor;     /* NULL = "val_loss" */
    double min_delta;
    int patience;
    int mode;                /* 0 auto, 1 min, 2 max */
    int restore_best_weights;
    int start_from_epoch;
    int verbose;             /* 1: print "Epoch N: early stopping" and the restore line */
} klc_early_stopping;

typedef struct klc_model_checkpoint {
    const char *path;        /* NULL = off; "{epoch:02d}" and "{<key>:.2f}" placeholders */
    const char *monitor;     /* NULL = "val_loss" */
    int save_best_only;
    int mode;                /* 0 auto, 1 min, 2 max */
    int verbose;
} klc_model_checkpoint;

/* Keras' ReduceLROnPlateau: multiply the learning rate by `factor` when the
 * monitored value has not improved for `patience` epochs. */
typedef struct klc_reduce_lr_on_plateau {
    int enabled;
    const char *monitor;     /* NULL = "val_loss" */
    double factor;           /* 0 = Keras' 0.1; must be < 1 */
    int patience;            /* Keras' default is 10: set it (0 reduces after any epoch without improvement) */
    int verbose;             /* 1: "Epoch N: ReduceLROnPlateau reducing learning rate to X." */
    int mode;                /* 0 auto, 1 min, 2 max */
    double min_delta;        /* Keras' default is 1e-4: set it */
    int cooldown;
    double min_lr;
} klc_reduce_lr_on_plateau;

/* Keras' CSVLogger: one row per epoch ("epoch,<sorted keys>"), flushed each epoch. */
typedef struct klc_csv_logger {
    const char *path;        /* NULL = off */
    const char *separator;   /* NULL = "," */
    int append;              /* append to an existing file (header only if it is empty) */
} klc_csv_logger;

/* Keras' LearningRateScheduler: at the start of every epoch the learning rate
 * becomes schedule(epoch, current learning rate). */
typedef struct klc_lr_scheduler {
    klc_lr_fn schedule;      /* NULL = off */
    int verbose;             /* 1: "Epoch N: LearningRateScheduler setting learning rate to X." */
} klc_lr_scheduler;

/*
 * Options of klc_fit.  A zero-initialised struct means Keras' defaults except
 * `verbose` (0 = silent, as Keras' verbose=0; the trainer program defaults to 1):
 * epochs and batch_size 0 take the model's `fit` settings from the .kl file
 * (Keras: 1 and 32).
 */
typedef struct klc_fit_options {
    int epochs;
    int batch_size;
    int verbose;                      /* 0 silent, 1 progress bar, 2 one line per epoch */
    double validation_split;          /* the last rows, taken before shuffling */
    const klc_tensor *validation_x;   /* overrides validation_split */
    const klc_tensor *validation_y;
    int no_shuffle;
    int initial_epoch;
    klc_early_stopping early_stopping;
    klc_model_checkpoint checkpoint;
    int terminate_on_nan;
    klc_reduce_lr_on_plateau reduce_lr;
    klc_csv_logger csv_logger;
    klc_lr_scheduler lr_scheduler;
    FILE *out;                        /* NULL = stdout */
} klc_fit_options;

/* Train.  `history` may be NULL; otherwise it receives the per-epoch logs
 * (free with klc_history_free). */
int klc_fit(klc_model *m, const klc_tensor *x, const klc_tensor *y,
            const klc_fit_options *opt, klc_history *history);

typedef struct klc_eval_options {
    int batch_size;                   /* 0 = 32 */
    int verbose;                      /* 0 silent, 1 progress bar, 2 one line */
    FILE *out;
} klc_eval_options;

/* Loss and metrics over the whole data set (training = false).  opt may be NULL. */
int klc_evaluate(klc_model *m, const klc_tensor *x, const klc_tensor *y, klc_logs *logs);
int klc_evaluate_ex(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                    const klc_eval_options *opt, klc_logs *logs);

/* Forward pass (training = false) for every row of x; y_out is allocated
 * (float32, [rows, output...]) and must be freed with klc_tensor_free. */
int klc_predict(klc_model *m, const klc_tensor *x, klc_tensor *y_out);
/* The same with a batch size and Keras' progress bar (`1/1 ━━━━ 0s 40ms/step`)
 * at verbose 1 or 2; opt may be NULL (batch 32, silent). */
int klc_predict_ex(klc_model *m, const klc_tensor *x, const klc_eval_options *opt,
                   klc_tensor *y_out);

/* Derived gradients against central finite differences in double
 * (Richardson-extrapolated), along random directions, per weight, on up to 32
 * rows.  Writes one line per weight to `out` (may be NULL) and returns the
 * largest relative error in *max_rel_err, measured beyond the differences'
 * own rounding noise (so an exactly zero gradient reports 0). */
int klc_gradcheck(klc_model *m, const klc_tensor *x, const klc_tensor *y, FILE *out,
                  double *max_rel_err);

/* ----------------------------------------------------------------------------
 * Weights and checkpoints (safetensors)
 * ------------------------------------------------------------------------- */

/* Weights only ("<layer>.<weight>" keys, float32). */
int klc_save_weights(klc_model *m, const char *path);
/* Weights and optimizer state ("optimizer.iterations", slots), for resuming. */
int klc_save_checkpoint(klc_model *m, const char *path);
/* Loads weights, and the optimizer state when the file has it.  A file made
 * for another model fails naming the first mismatching tensor. */
int klc_load_weights(klc_model *m, const char *path);

/* ----------------------------------------------------------------------------
 * The trainer program
 * ------------------------------------------------------------------------- */

/* main() of `klc model.kl --main`: the fit / evaluate / predict / summary /
 * gradcheck subcommands.  Returns the process exit status. */
int klc_main(const klc_model_def *def, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* KLC_RUNTIME_H */
