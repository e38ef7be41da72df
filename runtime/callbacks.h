/*
 * callbacks.h — Keras' EarlyStopping, ModelCheckpoint, TerminateOnNaN,
 * ReduceLROnPlateau, CSVLogger and LearningRateScheduler as fit runs them
 * (internal; keras-semantics §8).
 *
 * Order of a fit: klc_callbacks_begin (checks the monitored keys against the
 * logs fit will produce, allocates the best-weights copy, opens the CSV
 * file), then per epoch klc_callbacks_epoch_begin, per batch
 * klc_callbacks_batch_end, klc_callbacks_epoch_end, and finally
 * klc_callbacks_end (messages, restoring the best weights, closing the CSV
 * file).  Within an event the callbacks run in one fixed order:
 * LearningRateScheduler, ReduceLROnPlateau, EarlyStopping, ModelCheckpoint,
 * TerminateOnNaN, CSVLogger (so the CSV file sees the learning_rate key the
 * learning-rate callbacks add), where Keras follows the user's list.
 */
#ifndef KLC_CALLBACKS_H
#define KLC_CALLBACKS_H

#include <stddef.h>
#include <stdio.h>

#include "klc/runtime.h"

typedef struct klc_callbacks {
    FILE *out;
    int stop_training;          /* set by EarlyStopping or TerminateOnNaN */
    int stopped_on_nan;         /* TerminateOnNaN stopped it */

    klc_early_stopping es;      /* es.enabled: EarlyStopping is on */
    const char *es_monitor;
    int es_maximize;
    int es_has_best;
    double es_best;
    int es_wait, es_stopped_epoch, es_best_epoch;
    int es_has_weights;         /* best_params/best_state hold a copy */
    float *best_params, *best_state;

    klc_model_checkpoint ck;    /* ck.path: ModelCheckpoint is on */
    const char *ck_monitor;
    int ck_maximize;
    int ck_has_best;
    double ck_best;

    int terminate_on_nan;

    klc_reduce_lr_on_plateau rl; /* rl.enabled: ReduceLROnPlateau is on */
    const char *rl_monitor;
    int rl_maximize;
    int rl_has_best;
    double rl_best;
    int rl_wait, rl_cooldown_counter;

    klc_lr_scheduler lrs;       /* lrs.schedule: LearningRateScheduler is on */

    klc_csv_logger csv;         /* csv.path: CSVLogger is on */
    FILE *csv_fp;
    int csv_header;             /* the header is still to be written (the file was empty) */
    int csv_has_keys;
    klc_logs csv_keys;          /* the columns after "epoch", fixed by the first epoch */
} klc_callbacks;

/* `keys` holds every key the epoch logs will have (values unused). */
int klc_callbacks_begin(klc_callbacks *cb, klc_model *m, const klc_fit_options *opt,
                        const klc_logs *keys, FILE *out);
/* Before epoch `epoch` (0-based): LearningRateScheduler sets the learning rate. */
int klc_callbacks_epoch_begin(klc_callbacks *cb, klc_model *m, int epoch);
/* Whether klc_callbacks_batch_end reads its logs (else they may be stale or empty). */
int klc_callbacks_need_batch_logs(const klc_callbacks *cb);
/* After batch `batch` (0-based within the epoch) with the running logs. */
void klc_callbacks_batch_end(klc_callbacks *cb, int batch, const klc_logs *logs);
/* After epoch `epoch` (0-based) with its logs, to which the learning-rate
 * callbacks add "learning_rate" (before a reduction), as Keras' do; -1 if a
 * checkpoint or the CSV row could not be written. */
int klc_callbacks_epoch_end(klc_callbacks *cb, klc_model *m, int epoch, klc_logs *logs);
/* -1 if the CSV file could not be closed. */
int klc_callbacks_end(klc_callbacks *cb, klc_model *m);
void klc_callbacks_free(klc_callbacks *cb);

/* ModelCheckpoint's file name: "{epoch:02d}" (epoch is 1-based), "{loss:.2f}",
 * "{val_loss}" (Python's str) ... filled from `logs`.  Unknown keys and
 * format specs other than [0][width][.prec](d|f|e|g) fail. */
int klc_format_checkpoint_path(char *buf, size_t size, const char *pattern, int epoch,
                               const klc_logs *logs);

#endif /* KLC_CALLBACKS_H */
