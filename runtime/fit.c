/*
 * fit.c — klc_fit, klc_evaluate and klc_predict (keras-semantics §5–6).
 *
 * Data are checked and converted once, buffers are sized once at the start of
 * each call; a step then only gathers its rows into the model's batch
 * buffers, calls the generated step and updates the trackers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callbacks.h"
#include "cpu.h"
#include "dist.h"
#include "error.h"
#include "metrics.h"
#include "model.h"
#include "progbar.h"
#include "rng.h"

/* ---------------------------------------------------------------------------
 * Data checks
 * ------------------------------------------------------------------------- */

static klc_tensor view_of(const klc_tensor *t)
{
    klc_tensor v = *t;
    v.owns = 0;
    return v;
}

/* x must be [n, input_shape...] with n >= 1. */
static int check_x(const klc_model_def *def, const klc_tensor *x, const char *xname)
{
    int ok = x->rank == def->input_rank + 1;
    for (int i = 0; ok && i < def->input_rank; i++)
        ok = x->shape[i + 1] == def->input_shape[i];
    if (!ok) {
        char got[256], want[256];
        klc_format_shape(got, sizeof got, x->rank, x->shape, 0);
        klc_format_shape(want, sizeof want, def->input_rank, def->input_shape, 1);
        return klc_seterr("%s has shape %s but the model expects %s", xname, got, want);
    }
    if (x->shape[0] < 1)
        return klc_seterr("%s has no rows", xname);
    if (!x->data)
        return klc_seterr("%s has no data", xname);
    return 0;
}

/*
 * Sparse labels: the output's shape without its class axis, optionally with a
 * trailing 1 ([n] or [n, 1] for a [n, C] output).  Dense labels: the output's
 * shape; a [n] vector is accepted for a [n, 1] output (Keras aligns the ranks).
 */
static int check_y_shape(const klc_model_def *def, const klc_tensor *y, const char *yname)
{
    int sparse = def->labels == KLC_LABELS_SPARSE;
    int want_rank = sparse ? def->output_rank - 1 : def->output_rank;
    int trailing_one = sparse && y->rank == want_rank + 2 && y->shape[y->rank - 1] == 1;
    int ok = y->rank == want_rank + 1 || trailing_one;
    for (int i = 0; ok && i < want_rank; i++)
        ok = y->shape[i + 1] == def->output_shape[i];
    if (!ok && !sparse && def->output_rank == 1 && def->output_shape[0] == 1 && y->rank == 1)
        ok = 1;
    if (ok)
        return 0;
    char got[256], want[256];
    klc_format_shape(got, sizeof got, y->rank, y->shape, 0);
    klc_format_shape(want, sizeof want, want_rank, def->output_shape, 1);
    if (sparse)
        return klc_seterr("%s has shape %s but the model expects class ids of shape %s", yname,
                          got, want);
    return klc_seterr("%s has shape %s but the model expects %s", yname, got, want);
}

/* Index of the first of ids[0..count) outside [0, limit), or -1. */
static int64_t first_outside(const int32_t *ids, int64_t count, int64_t limit)
{
    for (int64_t i = 0; i < count; i++)
        if (ids[i] < 0 || ids[i] >= limit)
            return i;
    return -1;
}

/* How a message names a data tensor: "x (data/x.npy)" when it was loaded from
 * a file the name does not mention yet (the trainer's "--x data/x.npy" does). */
static const char *data_name(char *buf, size_t size, const char *name, const klc_tensor *t)
{
    if (!t || !t->source[0] || strstr(name, t->source))
        return name;
    snprintf(buf, size, "%s (%s)", name, t->source);
    return buf;
}

int klc_dataset_prepare(klc_dataset *d, const klc_model_def *def, const klc_tensor *x,
                        const klc_tensor *y, int need_y, const char *x_name, const char *y_name)
{
    memset(d, 0, sizeof *d);
    char xbuf[KLC_SOURCE_MAX + 64], ybuf[KLC_SOURCE_MAX + 64];
    const char *xname = data_name(xbuf, sizeof xbuf, x_name, x);
    const char *yname = data_name(ybuf, sizeof ybuf, y_name, y);
    if (!x)
        return klc_seterr("no %s given", xname);
    if (check_x(def, x, xname))
        return -1;
    d->n = x->shape[0]; /* >= 1 */
    if (x->dtype == def->input_dtype) {
        d->x = view_of(x);
    } else {
        if (klc_tensor_convert(&d->xconv, x, def->input_dtype))
            return klc_seterr_prefix(xname);
        d->x = view_of(&d->xconv);
    }
    if (def->input_dtype == KLC_I32 && def->input_id_limit > 0) {
        /* ids index a table: out of range is an error (TensorFlow raises), not a silent zero */
        const int32_t *ids = d->x.data;
        int64_t count = klc_tensor_count(&d->x);
        int64_t i = first_outside(ids, count, def->input_id_limit);
        if (i >= 0) {
            klc_seterr("%s: id %d (row %lld) is out of range: model '%s' looks ids up in a table "
                       "of %lld rows", xname, ids[i], (long long)(i / (count / d->n)), def->name,
                       (long long)def->input_id_limit);
            goto fail;
        }
    }
    if (def->labels == KLC_LABELS_NONE || (!y && !need_y))
        return 0;
    if (!y) {
        klc_seterr("no %s given: the model's loss %s needs labels", yname,
                   def->loss_name ? def->loss_name : "");
        goto fail;
    }
    if (y->rank < 1 || y->shape[0] != d->n) {
        klc_seterr("%s has %lld rows but %s has %lld", xname, (long long)d->n, yname,
                   (long long)(y->rank < 1 ? 0 : y->shape[0]));
        goto fail;
    }
    if (!y->data) {
        klc_seterr("%s has no data", yname);
        goto fail;
    }
    if (check_y_shape(def, y, yname))
        goto fail;
    klc_dtype want = def->labels == KLC_LABELS_SPARSE ? KLC_I32 : KLC_F32;
    if (y->dtype == want) {
        d->y = view_of(y);
    } else {
        if (klc_tensor_convert(&d->yconv, y, want)) {
            klc_seterr_prefix(yname);
            goto fail;
        }
        d->y = view_of(&d->yconv);
    }
    d->has_y = 1;
    if (def->labels == KLC_LABELS_SPARSE) {
        const int32_t *ids = d->y.data;
        int64_t count = klc_tensor_count(&d->y);
        int64_t i = first_outside(ids, count, klc_def_classes(def));
        if (i >= 0) {
            klc_seterr("%s: label %d in row %lld is not a class id in [0, %lld)", yname,
                       (int)ids[i], (long long)(i / (count / d->n)),
                       (long long)klc_def_classes(def));
            goto fail;
        }
    }
    return 0;
fail:
    klc_dataset_free(d);
    return -1;
}

void klc_dataset_free(klc_dataset *d)
{
    klc_tensor_free(&d->xconv);
    klc_tensor_free(&d->yconv);
    memset(d, 0, sizeof *d);
}

/* Bytes of one row of a dataset tensor. */
static size_t row_bytes(const klc_tensor *t)
{
    size_t b = klc_dtype_size(t->dtype);
    for (int i = 1; i < t->rank; i++)
        b *= (size_t)t->shape[i];
    return b;
}

/* Rows of the batch that starts at row `begin` of `total`: bs, or what is left. */
static int64_t batch_rows(int64_t total, int64_t begin, int64_t bs)
{
    return total - begin < bs ? total - begin : bs;
}

klc_dataset klc_dataset_slice(const klc_dataset *d, int64_t begin, int64_t end)
{
    klc_dataset s;
    memset(&s, 0, sizeof s);
    s.n = end - begin;
    s.has_y = d->has_y;
    s.x = d->x;
    s.x.shape[0] = s.n;
    s.x.data = (char *)d->x.data + (size_t)begin * row_bytes(&d->x);
    if (d->has_y) {
        s.y = d->y;
        s.y.shape[0] = s.n;
        s.y.data = (char *)d->y.data + (size_t)begin * row_bytes(&d->y);
    }
    return s;
}

/* ---------------------------------------------------------------------------
 * Steps
 * ------------------------------------------------------------------------- */

static klc_step make_step(klc_model *m, int64_t n, const void *x, const void *y, float *y_pred)
{
    klc_step s;
    memset(&s, 0, sizeof s);
    s.n = n;
    s.cap = m->cap;
    s.x = x;
    s.y = y;
    s.params = m->params;
    s.grads = m->grads;
    s.state = m->state;
    s.slots = m->slots;
    s.work = m->work;
    s.iwork = m->iwork;
    s.iteration = m->iteration;
    s.learning_rate = klc_model_step_learning_rate(m);
    s.seed = klc_rng_derive(m->seed, KLC_RNG_STEP, (uint64_t)m->iteration);
    s.y_pred = y_pred;
    s.added_metrics = m->def->n_added_metrics > 0 ? m->added : NULL;
    return s;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static void merge_step(klc_tracker *t, const klc_tracker *local, const double *added, double w,
                       const klc_dist *d);

/*
 * Loss and metrics of a whole data set in inference mode, in order, in
 * batches of bs (the model's buffers must hold bs rows).  Shows a bar when
 * pb is not NULL.  Rows are contiguous, so steps read the data in place.
 * With a group `dist`, each rank runs its shard of every batch and the
 * trackers are summed over the ranks (collective: every rank calls it).
 */
static void run_eval(klc_model *m, const klc_dataset *d, int64_t bs, klc_tracker *t,
                     klc_progbar *pb, const klc_dist *dist)
{
    const klc_model_def *def = m->def;
    size_t xrow = row_bytes(&d->x), yrow = d->has_y ? row_bytes(&d->y) : 0;
    int64_t steps = ceil_div(d->n, bs);
    klc_tracker_reset(t, def);
    for (int64_t step = 0; step < steps; step++) {
        int64_t begin = step * bs;
        int64_t n = batch_rows(d->n, begin, bs), total = n;
        if (dist) {
            int64_t b0, b1;
            klc_dist_shard(total, dist->rank, dist->size, &b0, &b1);
            begin += b0;
            n = b1 - b0;
        }
        const char *x = (const char *)d->x.data + (size_t)begin * xrow;
        const char *y = d->has_y ? (const char *)d->y.data + (size_t)begin * yrow : NULL;
        if (dist) {
            klc_tracker local;
            klc_tracker_reset(&local, def);
            if (n > 0) { /* an empty shard has nothing to run */
                klc_step s = make_step(m, n, x, y, m->ypred);
                def->test_step(&s);
                klc_tracker_update(&local, m->ypred, y, n, s.loss, m->added);
            }
            merge_step(t, &local, m->added, (double)n / (double)total, dist);
        } else {
            klc_step s = make_step(m, n, x, y, m->ypred);
            def->test_step(&s);
            klc_tracker_update(t, m->ypred, y, n, s.loss, m->added);
        }
        if (pb) {
            int final = step + 1 == steps;
            double now = klc_now();
            klc_logs logs = { 0 };
            int show = klc_progbar_wants_logs(pb, final, now); /* same keys every step */
            if (show)
                klc_tracker_logs(t, "", &logs);
            klc_progbar_update(pb, step + 1, show ? &logs : NULL, final, now);
        }
    }
}

/* ---------------------------------------------------------------------------
 * fit
 * ------------------------------------------------------------------------- */

static int check_steps(const klc_model_def *def, int train)
{
    if (train && !def->train_step)
        return klc_seterr("model '%s' has no train step", def->name);
    if (!def->test_step || !def->predict_step)
        return klc_seterr("model '%s' has no test or predict step", def->name);
    return 0;
}

/* The options actually used, Keras' defaults filled in. */
typedef struct fit_plan {
    int epochs, initial_epoch, verbose, shuffle;
    int64_t batch;
    FILE *out;
} fit_plan;

static int plan_fit(fit_plan *p, const klc_model_def *def, const klc_fit_options *opt)
{
    if (opt->epochs < 0 || opt->batch_size < 0 || opt->initial_epoch < 0)
        return klc_seterr("fit: epochs (%d), batch_size (%d) and initial_epoch (%d) must not be "
                          "negative", opt->epochs, opt->batch_size, opt->initial_epoch);
    if (opt->verbose < 0 || opt->verbose > 2)
        return klc_seterr("fit: verbose must be 0, 1 or 2, not %d", opt->verbose);
    if (!(opt->validation_split >= 0.0 && opt->validation_split < 1.0))
        return klc_seterr("fit: validation_split must be in [0, 1), not %g", opt->validation_split);
    p->epochs = opt->epochs > 0 ? opt->epochs : def->fit.epochs > 0 ? def->fit.epochs : 1;
    p->batch = opt->batch_size > 0 ? opt->batch_size
               : def->fit.batch_size > 0 ? def->fit.batch_size : 32;
    p->initial_epoch = opt->initial_epoch;
    p->verbose = opt->verbose;
    p->shuffle = !opt->no_shuffle;
    p->out = opt->out ? opt->out : stdout;
    return 0;
}

/* Training rows and validation rows, per validation_x/y or else validation_split. */
static int split_data(const klc_model_def *def, const klc_fit_options *opt, klc_dataset *all,
                      klc_dataset *train, klc_dataset *val, int *has_val,
                      const klc_data_names *names)
{
    *has_val = 0;
    *train = klc_dataset_slice(all, 0, all->n);
    if (opt->validation_x) {
        if (klc_dataset_prepare(val, def, opt->validation_x, opt->validation_y, 1,
                                names->validation_x, names->validation_y))
            return -1;
        *has_val = 1;
    } else if (opt->validation_split > 0.0) {
        int64_t split_at = (int64_t)floor((double)all->n * (1.0 - opt->validation_split));
        if (split_at <= 0 || split_at >= all->n)
            return klc_seterr("Training data contains %lld samples, which is not sufficient to "
                              "split it into a validation and training set as specified by "
                              "validation_split=%g. Either provide more data, or a different "
                              "value for validation_split.",
                              (long long)all->n, opt->validation_split);
        *train = klc_dataset_slice(all, 0, split_at);
        *val = klc_dataset_slice(all, split_at, all->n);
        *has_val = 1;
    }
    return 0;
}

/* A fresh permutation of [0, n) for `epoch`: a function of (seed, epoch) only. */
static void shuffle_rows(int64_t *perm, int64_t n, uint64_t seed, int epoch, int shuffle)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    if (!shuffle)
        return;
    klc_rng r;
    klc_rng_init(&r, seed, KLC_RNG_SHUFFLE, (uint64_t)epoch);
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher–Yates */
        int64_t j = (int64_t)klc_rng_below(&r, (uint64_t)i + 1);
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* Copy rows perm[0..n) of d into the model's batch buffers. */
static void gather(klc_model *m, const klc_dataset *d, const int64_t *perm, int64_t n)
{
    size_t xrow = row_bytes(&d->x);
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)m->xb + (size_t)i * xrow, (const char *)d->x.data + (size_t)perm[i] * xrow,
               xrow);
    if (!d->has_y)
        return;
    size_t yrow = row_bytes(&d->y);
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)m->yb + (size_t)i * yrow, (const char *)d->y.data + (size_t)perm[i] * yrow,
               yrow);
}

/* Ask the cache for rows perm[0..n) of d, which the next step will gather:
 * the loads then overlap the current step's arithmetic instead of stalling
 * the gather (a shuffled batch's rows are scattered over the whole data set,
 * where the hardware prefetcher cannot guess them). The first few lines of
 * each input row are enough to start the hardware's stream; asking for every
 * line fills the CPU's miss buffers and stalls here instead. A hint only: no
 * effect on results, and nothing where the compiler has no prefetch. */
static void prefetch_rows(const klc_dataset *d, const int64_t *perm, int64_t n)
{
#if defined(__GNUC__) || defined(__clang__)
    enum { LINE = 64, HEAD = 4 * LINE };
    size_t xrow = row_bytes(&d->x);
    size_t yrow = d->has_y ? row_bytes(&d->y) : 0;
    for (int64_t i = 0; i < n; i++) {
        const char *row = (const char *)d->x.data + (size_t)perm[i] * xrow;
        for (size_t off = 0; off < xrow && off < HEAD; off += LINE)
            __builtin_prefetch(row + off, 0, 3);
        if (yrow)
            __builtin_prefetch((const char *)d->y.data + (size_t)perm[i] * yrow, 0, 3);
    }
#else
    (void)d, (void)perm, (void)n;
#endif
}

/* ---------------------------------------------------------------------------
 * Data-parallel steps (dist.h): each rank runs the step on its shard of the
 * global batch; the step's gradients are weighted by the shard's share of
 * the batch and summed over the ranks before the update, so every rank
 * applies the update one process would make from the whole batch.
 * ------------------------------------------------------------------------- */

/* klc_step.grads_ready: grads <- Σ over ranks of (rows_r / rows) · grads_r.
 * A mean loss over the shard weighted by its share is the mean over the
 * global batch; per-batch terms (add_loss) come out once. */
static void sum_grads(klc_step *s)
{
    klc_dist *d = s->grads_ready_ctx;
    int64_t n = d->n_grads;
    float w = (float)d->step_weight;
    if (w == 0.0f) /* an empty shard ran one stand-in row: it contributes nothing */
        memset(s->grads, 0, (size_t)n * sizeof *s->grads);
    else if (w != 1.0f)
        for (int64_t i = 0; i < n; i++)
            s->grads[i] *= w;
    klc_dist_sum_f32(d, s->grads, n);
}

/* After a step: the state every rank assign()ed from its shard (moving
 * statistics) becomes the shard-weighted mean, summed in double so that
 * equal values stay exactly equal. acc holds n_state doubles. */
static void mean_state(klc_model *m, klc_dist *d, double *acc)
{
    int64_t n = m->def->n_state;
    for (int64_t i = 0; i < n; i++)
        acc[i] = d->step_weight * (double)m->state[i];
    klc_dist_sum_f64(d, acc, n);
    for (int64_t i = 0; i < n; i++)
        m->state[i] = (float)acc[i];
}

/* Numbers of a step's trackers summed over the ranks, then added to the
 * epoch's tracker t: what one process would have added for the whole batch.
 * `local` is this rank's tracker of the step (zero when its shard is empty);
 * `added` its add_metric values, weighted like the gradients. */
static void merge_step(klc_tracker *t, const klc_tracker *local, const double *added, double w,
                       const klc_dist *d)
{
    const klc_model_def *def = t->def;
    double v[2 + 2 * KLC_MAX_LOGS];
    int k = 0;
    v[k++] = local->loss_sum;
    v[k++] = (double)local->rows;
    for (int i = 0; i < def->n_metrics; i++)
        v[k++] = local->total[i];
    for (int i = 0; i < def->n_added_metrics; i++)
        v[k++] = w > 0 ? w * added[i] : 0.0; /* an empty shard's values are not this step's */
    klc_dist_sum_f64(d, v, k);
    k = 0;
    t->loss_sum += v[k++];
    t->rows += (int64_t)v[k++];
    for (int i = 0; i < def->n_metrics; i++)
        t->total[i] += v[k++];
    for (int i = 0; i < def->n_added_metrics; i++)
        t->added[i] += v[k++];
    t->batches++;
}

/* One data-parallel step on rows perm[0..n) of the global batch; the
 * tracker gets the whole batch's numbers. */
static void train_step_dist(klc_model *m, klc_dist *d, const klc_dataset *train,
                            const int64_t *perm, int64_t n, klc_tracker *t, double *state_acc)
{
    const klc_model_def *def = m->def;
    int64_t b0, b1;
    klc_dist_shard(n, d->rank, d->size, &b0, &b1);
    int64_t rows = b1 - b0;
    /* an empty shard still runs the step (the update is collective) on one
     * stand-in row whose weight is 0 */
    gather(m, train, perm + (rows > 0 ? b0 : 0), rows > 0 ? rows : 1);
    const void *y = train->has_y ? m->yb : NULL;
    klc_step s = make_step(m, rows > 0 ? rows : 1, m->xb, y, m->ypred);
    s.seed = klc_rng_derive(s.seed, KLC_RNG_RANK, (uint64_t)d->rank); /* each shard its own masks */
    d->step_weight = (double)rows / (double)n;
    d->n_grads = def->n_params;
    s.grads_ready = sum_grads;
    s.grads_ready_ctx = d;
    def->train_step(&s);
    if (def->n_state > 0)
        mean_state(m, d, state_acc);
    klc_tracker local;
    klc_tracker_reset(&local, def);
    if (rows > 0)
        klc_tracker_update(&local, m->ypred, y, rows, s.loss, m->added);
    merge_step(t, &local, m->added, d->step_weight, d);
}

/* One epoch of training steps; the epoch's logs (without val_ keys) in *logs.
 * With a group d, each step is data-parallel (state_acc: n_state doubles). */
static void train_epoch(klc_model *m, const klc_dataset *train, const int64_t *perm,
                        const fit_plan *p, klc_callbacks *cb, klc_progbar *pb, klc_logs *logs,
                        klc_dist *d, double *state_acc)
{
    const klc_model_def *def = m->def;
    int64_t steps = ceil_div(train->n, p->batch);
    int callbacks_read = klc_callbacks_need_batch_logs(cb);
    klc_tracker t;
    klc_tracker_reset(&t, def);
    for (int64_t step = 0; step < steps; step++) {
        int64_t begin = step * p->batch;
        int64_t n = batch_rows(train->n, begin, p->batch);
        if (d) {
            train_step_dist(m, d, train, perm + begin, n, &t, state_acc);
            m->iteration++;
        } else {
            gather(m, train, perm + begin, n);
            if (step + 1 < steps) {
                int64_t next = begin + n;
                prefetch_rows(train, perm + next, batch_rows(train->n, next, p->batch));
            }
            const void *y = train->has_y ? m->yb : NULL;
            klc_step s = make_step(m, n, m->xb, y, m->ypred);
            def->train_step(&s);
            m->iteration++;
            klc_tracker_update(&t, m->ypred, y, n, s.loss, m->added);
        }
        /* The running logs only when something reads them: the bar when it
         * uses them (every step has the same keys, so a bar that skips some
         * shows the same), or a callback that looks at batches. */
        double now = p->verbose ? klc_now() : 0.0;
        int bar_reads = p->verbose && klc_progbar_wants_logs(pb, 0, now);
        if (bar_reads || callbacks_read) {
            logs->n = 0;
            klc_tracker_logs(&t, "", logs);
        }
        if (p->verbose)
            klc_progbar_update(pb, step + 1, bar_reads ? logs : NULL, 0, now);
        klc_callbacks_batch_end(cb, (int)step, logs);
        if (cb->stop_training)
            break;
    }
    logs->n = 0;
    klc_tracker_logs(&t, "", logs);
}

const klc_data_names klc_api_names = { "x", "y", "validation_x", "validation_y" };

int klc_fit(klc_model *m, const klc_tensor *x, const klc_tensor *y, const klc_fit_options *opt,
            klc_history *history)
{
    return klc_fit_named(m, x, y, opt, history, &klc_api_names);
}

int klc_fit_named(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                  const klc_fit_options *opt, klc_history *history, const klc_data_names *names)
{
    static const klc_fit_options defaults;
    if (history)
        memset(history, 0, sizeof *history);
    if (!m)
        return klc_seterr("fit: no model");
    const klc_model_def *def = m->def;
    if (!opt)
        opt = &defaults;
    fit_plan p = { 0 };
    klc_dist *d = m->dist && m->dist->size > 1 ? m->dist : NULL;
    if (check_steps(def, 1) || klc_tracker_check(def) || plan_fit(&p, def, opt))
        return -1;
    if (d && !def->data_parallel)
        return klc_seterr("fit: model '%s' was compiled without --data-parallel, so it cannot "
                          "train on %d ranks (compile it with klc --data-parallel)", def->name,
                          d->size);
    /* Other ranks than 0 print nothing and write no files (ModelCheckpoint,
     * CSVLogger): rank 0 does for the group. */
    klc_fit_options quiet;
    FILE *null_out = NULL;
    if (d && d->rank != 0) {
        quiet = *opt;
        quiet.verbose = 0;
        quiet.checkpoint.path = NULL;
        quiet.csv_logger.path = NULL;
        opt = &quiet;
        p.verbose = 0;
        null_out = fopen("/dev/null", "w");
        if (!null_out)
            return klc_seterr("fit: rank %d cannot open /dev/null for its silenced output",
                              d->rank);
        p.out = null_out;
    }
    if (opt->verbose)
        klc_blas_check(); /* a note when OpenBLAS runs old kernels on a newer CPU */

    klc_dataset all, train, val;
    int has_val = 0;
    memset(&val, 0, sizeof val);
    memset(&all, 0, sizeof all);
    int64_t *perm = NULL;
    double *state_acc = NULL;
    klc_callbacks cb;
    memset(&cb, 0, sizeof cb);
    int rc = -1;
    int bad = klc_dataset_prepare(&all, def, x, y, 1, names->x, names->y) != 0;
    if (!bad)
        bad = split_data(def, opt, &all, &train, &val, &has_val, names) != 0;
    if (d && klc_dist_agree(d, bad)) /* one rank's bad data stops every rank */
        goto done;
    if (bad)
        goto done;
    if (d) {
        int64_t lo, hi;
        klc_dist_minmax(d, all.n, &lo, &hi);
        if (lo != hi) {
            klc_seterr("fit: the ranks were given different data (%lld to %lld rows); every "
                       "rank must read the same data", (long long)lo, (long long)hi);
            goto done;
        }
        if (klc_dist_check_same(d, m->params, def->n_params, "initial weights") ||
            klc_dist_check_same(d, m->state, def->n_state, "initial non-trainable weights"))
            goto done;
    }

    /* The keys of the epoch logs, for the callbacks' monitors. */
    klc_logs keys = { 0 };
    klc_tracker t0;
    klc_tracker_reset(&t0, def);
    klc_tracker_logs(&t0, "", &keys);
    if (has_val)
        klc_tracker_logs(&t0, "val_", &keys);
    bad = klc_callbacks_begin(&cb, m, opt, &keys, p.out) != 0;
    if ((d && klc_dist_agree(d, bad)) || bad)
        goto done;

    int n_epochs = p.epochs > p.initial_epoch ? p.epochs - p.initial_epoch : 0;
    perm = malloc((size_t)train.n * sizeof *perm);
    bad = !perm && klc_seterr("fit: out of memory for %lld rows", (long long)train.n);
    if (!bad && history && n_epochs > 0) {
        history->epochs = calloc((size_t)n_epochs, sizeof *history->epochs);
        history->logs = calloc((size_t)n_epochs, sizeof *history->logs);
        if (!history->epochs || !history->logs) {
            klc_history_free(history);
            bad = klc_seterr("fit: out of memory for the history");
        }
    }
    if (!bad && d && def->n_state > 0) {
        state_acc = malloc((size_t)def->n_state * sizeof *state_acc);
        bad = !state_acc && klc_seterr("fit: out of memory for the state sums");
    }
    if (!bad)
        bad = klc_model_reserve(m, p.batch) != 0;
    if ((d && klc_dist_agree(d, bad)) || bad) /* every rank stops when one is out of memory */
        goto done;
    m->optimizer_built = 1;

    int64_t steps = ceil_div(train.n, p.batch);
    int dynamic = klc_is_terminal(p.out);
    for (int epoch = p.initial_epoch; epoch < p.epochs; epoch++) {
        bad = klc_callbacks_epoch_begin(&cb, m, epoch) != 0;
        if ((d && klc_dist_agree(d, bad)) || bad)
            goto done;
        if (p.verbose)
            klc_progbar_epoch(p.out, epoch, p.epochs); /* a line only when epochs > 1 */
        klc_progbar pb;
        if (p.verbose)
            klc_progbar_init(&pb, p.out, steps, p.verbose, dynamic, klc_now());
        shuffle_rows(perm, train.n, m->seed, epoch, p.shuffle);
        klc_logs logs = { 0 };
        train_epoch(m, &train, perm, &p, &cb, &pb, &logs, d, state_acc);
        /* the weights must still be the same on every rank (each applied the same update) */
        if (d && (klc_dist_check_same(d, m->params, def->n_params, "weights") ||
                  klc_dist_check_same(d, m->state, def->n_state, "non-trainable weights")))
            goto done;
        if (has_val) {
            klc_tracker vt;
            run_eval(m, &val, p.batch, &vt, NULL, d);
            klc_tracker_logs(&vt, "val_", &logs);
        }
        m->epoch = epoch + 1;
        /* Keras' order: the user's callbacks, then History and the progress bar
         * (which so show the learning_rate the learning-rate callbacks add). */
        int cb_failed = klc_callbacks_epoch_end(&cb, m, epoch, &logs);
        if (d) /* a checkpoint rank 0 could not write stops every rank */
            cb_failed = klc_dist_agree(d, cb_failed != 0);
        if (p.verbose)
            klc_progbar_update(&pb, steps, &logs, 1, klc_now());
        if (history) {
            history->epochs[history->n_epochs] = epoch;
            history->logs[history->n_epochs] = logs;
            history->n_epochs++;
        }
        if (cb_failed)
            goto done;
        if (cb.stop_training)
            break;
    }
    bad = klc_callbacks_end(&cb, m) != 0;
    if ((d && klc_dist_agree(d, bad)) || bad)
        goto done;
    if (history)
        history->stopped_on_nan = cb.stopped_on_nan;
    rc = 0;
done:
    if (rc && history)
        klc_history_free(history);
    klc_callbacks_free(&cb);
    free(perm);
    free(state_acc);
    if (null_out)
        fclose(null_out);
    klc_dataset_free(&val);
    klc_dataset_free(&all);
    return rc;
}

/* ---------------------------------------------------------------------------
 * evaluate / predict
 * ------------------------------------------------------------------------- */

static int eval_batch(const klc_eval_options *opt)
{
    return opt && opt->batch_size > 0 ? opt->batch_size : 32;
}

int klc_evaluate_ex(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                    const klc_eval_options *opt, klc_logs *logs)
{
    return klc_evaluate_named(m, x, y, opt, logs, &klc_api_names);
}

int klc_evaluate_named(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                       const klc_eval_options *opt, klc_logs *logs, const klc_data_names *names)
{
    if (logs)
        memset(logs, 0, sizeof *logs);
    if (!m)
        return klc_seterr("evaluate: no model");
    const klc_model_def *def = m->def;
    int verbose = opt ? opt->verbose : 0;
    if ((opt && opt->batch_size < 0) || verbose < 0 || verbose > 2)
        return klc_seterr("evaluate: batch_size must not be negative and verbose must be 0, 1 "
                          "or 2");
    if (check_steps(def, 0) || klc_tracker_check(def))
        return -1;
    klc_dist *dist = m->dist && m->dist->size > 1 ? m->dist : NULL;
    if (dist && dist->rank != 0)
        verbose = 0; /* rank 0 shows the group's bar */
    klc_dataset d;
    memset(&d, 0, sizeof d);
    int64_t bs = eval_batch(opt);
    int bad = klc_dataset_prepare(&d, def, x, y, 1, names->x, names->y) != 0;
    if (!bad)
        bad = klc_model_reserve(m, bs) != 0;
    if (dist) { /* a failure on one rank stops every rank; all must have the same rows */
        bad = klc_dist_agree(dist, bad) != 0;
        int64_t lo = 0, hi = 0;
        if (!bad)
            klc_dist_minmax(dist, d.n, &lo, &hi);
        if (lo != hi)
            bad = klc_seterr("evaluate: the ranks were given different data (%lld to %lld "
                             "rows); every rank must read the same data",
                             (long long)lo, (long long)hi) != 0;
    }
    if (bad) {
        klc_dataset_free(&d);
        return -1;
    }
    FILE *out = opt && opt->out ? opt->out : stdout;
    klc_progbar pb;
    if (verbose)
        klc_progbar_init(&pb, out, ceil_div(d.n, bs), verbose, klc_is_terminal(out), klc_now());
    klc_tracker t;
    run_eval(m, &d, bs, &t, verbose ? &pb : NULL, dist);
    if (logs)
        klc_tracker_logs(&t, "", logs);
    klc_dataset_free(&d);
    return 0;
}

int klc_evaluate(klc_model *m, const klc_tensor *x, const klc_tensor *y, klc_logs *logs)
{
    return klc_evaluate_ex(m, x, y, NULL, logs);
}

int klc_predict_ex(klc_model *m, const klc_tensor *x, const klc_eval_options *opt,
                   klc_tensor *y_out)
{
    return klc_predict_named(m, x, opt, y_out, &klc_api_names);
}

int klc_predict_named(klc_model *m, const klc_tensor *x, const klc_eval_options *opt,
                      klc_tensor *y_out, const klc_data_names *names)
{
    if (y_out)
        memset(y_out, 0, sizeof *y_out);
    if (!m || !y_out)
        return klc_seterr("predict: no model or no output tensor");
    const klc_model_def *def = m->def;
    int verbose = opt ? opt->verbose : 0;
    if ((opt && opt->batch_size < 0) || verbose < 0 || verbose > 2)
        return klc_seterr("predict: batch_size must not be negative and verbose must be 0, 1 "
                          "or 2");
    if (check_steps(def, 0))
        return -1;
    klc_dataset d;
    if (klc_dataset_prepare(&d, def, x, NULL, 0, names->x, names->y))
        return -1;
    int64_t bs = eval_batch(opt);
    int64_t shape[KLC_MAX_RANK];
    shape[0] = d.n;
    for (int i = 0; i < def->output_rank; i++)
        shape[i + 1] = def->output_shape[i];
    if (klc_model_reserve(m, bs) || klc_tensor_alloc(y_out, KLC_F32, def->output_rank + 1, shape)) {
        klc_dataset_free(&d);
        return -1;
    }
    FILE *out = opt && opt->out ? opt->out : stdout;
    int64_t steps = ceil_div(d.n, bs);
    klc_progbar pb;
    if (verbose)
        klc_progbar_init(&pb, out, steps, verbose, klc_is_terminal(out), klc_now());
    size_t xrow = row_bytes(&d.x);
    int64_t count = klc_def_output_count(def);
    for (int64_t step = 0; step < steps; step++) {
        int64_t begin = step * bs;
        int64_t n = batch_rows(d.n, begin, bs);
        float *y_pred = (float *)y_out->data + begin * count; /* written in place */
        klc_step s = make_step(m, n, (const char *)d.x.data + (size_t)begin * xrow, NULL, y_pred);
        def->predict_step(&s);
        if (verbose) {
            klc_logs none = { 0 };
            klc_progbar_update(&pb, step + 1, &none, step + 1 == steps, klc_now());
        }
    }
    klc_dataset_free(&d);
    return 0;
}

int klc_predict(klc_model *m, const klc_tensor *x, klc_tensor *y_out)
{
    return klc_predict_ex(m, x, NULL, y_out);
}
