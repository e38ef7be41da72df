/*
 * metrics.h — the epoch's running loss and metrics, and log sets (internal).
 *
 * Keras' trackers (keras-semantics §5): the loss is a mean weighted by
 * batch size; compiled metrics average per-sample values over every sample
 * seen (accuracy = correct / N); add_metric values are an unweighted running
 * mean over batches (Keras 2's Mean).  Updating allocates nothing.
 */
#ifndef KLC_METRICS_H
#define KLC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "klc/runtime.h"

typedef struct klc_tracker {
    const klc_model_def *def;
    double loss_sum;               /* Σ loss_b · n_b */
    int64_t rows;                  /* Σ n_b */
    double total[KLC_MAX_LOGS];    /* per compiled metric: Σ per-sample values */
    double added[KLC_MAX_LOGS];    /* per add_metric: Σ batch values */
    int64_t batches;
} klc_tracker;

/* Every log key of `def` (loss, metrics, add_metric names) fits in a klc_logs
 * twice (with val_ keys) and in KLC_MAX_NAME with its "val_" prefix. */
int klc_tracker_check(const klc_model_def *def);
void klc_tracker_reset(klc_tracker *t, const klc_model_def *def);
/* One batch: y_pred [n, output...], y labels (int32 [n, label...] or float
 * [n, output...], NULL without labels), the batch loss, the step's
 * add_metric values. */
void klc_tracker_update(klc_tracker *t, const float *y_pred, const void *y, int64_t n,
                        double loss, const double *added);
/* Current results, keys prefixed with `prefix` ("" or "val_"), merged into
 * `logs` (which the caller clears or keeps). */
void klc_tracker_logs(const klc_tracker *t, const char *prefix, klc_logs *logs);

/* Per-sample value of one compiled metric for one sample: pred [count]
 * (count = output elements), label: int32 [count / classes] or float [count]. */
double klc_metric_sample(klc_metric_kind kind, const float *pred, const void *label,
                         int64_t count, int64_t classes);

/* Set `name` (prefixed) to v, keeping the keys sorted; replaces an existing key. */
void klc_logs_set(klc_logs *logs, const char *prefix, const char *name, double v);
/* Whether logs has `name`. */
int klc_logs_has(const klc_logs *logs, const char *name);
/* Python's repr() of a float: the shortest text that reads back as v
 * ("0.1", "1e-05", "12.0", "nan"). */
void klc_repr_double(char *buf, size_t size, double v);

#endif /* KLC_METRICS_H */
