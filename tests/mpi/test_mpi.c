/*
 * test_mpi.c — data-parallel fit over MPI against one process (tests/mpi.cmake).
 *
 * Run under mpirun with 2 or 3 ranks; every rank runs the same checks and
 * the program exits non-zero on any rank where one fails.  Modes:
 *   test_mpi api DIR        klc_fit_mpi against klc_fit: the loss, metrics and
 *                           add_metric value of every step and the final
 *                           weights, per step and over whole shuffled fits
 *                           (with validation), klc_evaluate_mpi against
 *                           klc_evaluate_ex; checkpoint and resume across
 *                           ranks (exact); BatchNormalization's state
 *   test_mpi fail DIR       one rank's bad data, unequal data, different
 *                           initial weights, or a checkpoint rank 0 cannot
 *                           write fail fit (and evaluate) on every rank, with
 *                           the message, without hanging
 *   test_mpi data DIR       (one process) writes DIR/x.npy and DIR/y.npy
 *   test_mpi same A B TOL   (one process) weight files A and B agree to TOL
 *
 * Tolerance.  One process sums the per-sample gradients of a batch in one
 * sgemm; the group sums per-shard sums, each weighted by its share of the
 * batch, then adds the shards (MPI_Allreduce).  The results differ by the
 * rounding of that different order: a few float32 ulps per step (2^-24 ~
 * 6e-8 relative), growing slowly over the steps of a fit: at most 1.2e-7
 * (2 ulps) was measured over these fits.  TOL = 2e-6 relative (to
 * max(1, |value|)), ~34 ulps, leaves room for that drift and is far below
 * what a wrong reduction gives (the negative control below: one process on
 * the per-rank batch; unweighted shard gradients fail ~100 checks).
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "klc/mpi.h"
#include "klc/runtime.h"
#include "model.h"

#define TOL 2e-6
#define N_ROWS 97
#define N_FEATURES 6
#define N_CLASSES 3

static int rank, size, failures;

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s: ", rank, __FILE__, __LINE__, \
                    #cond);                                                                  \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

static float xs[N_ROWS * N_FEATURES];
static int32_t ys[N_ROWS];

/* A learnable task: the class is the argmax of three fixed sums of the features. */
static void make_data(void)
{
    uint64_t s = 12345;
    for (int i = 0; i < N_ROWS * N_FEATURES; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        xs[i] = (float)((double)(s >> 40) / 16777216.0 * 2.0 - 1.0);
    }
    for (int i = 0; i < N_ROWS; i++) {
        const float *r = xs + i * N_FEATURES;
        float a = r[0] + r[1] - r[5], b = r[2] - r[3], c = r[4] + 0.5f * r[0];
        ys[i] = a > b && a > c ? 0 : b > c ? 1 : 2;
    }
}

/* Rows [begin, begin + n) as views. */
static void rows(klc_tensor *x, klc_tensor *y, int begin, int n)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    x->dtype = KLC_F32;
    x->rank = 2;
    x->shape[0] = n;
    x->shape[1] = N_FEATURES;
    x->data = xs + begin * N_FEATURES;
    y->dtype = KLC_I32;
    y->rank = 1;
    y->shape[0] = n;
    y->data = ys + begin;
}

static int close_to(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* Largest |a - b| / max(1, |a|, |b|) over the trainable weights. */
static double weights_diff(const klc_model *a, const klc_model *b)
{
    double worst = 0;
    for (int64_t i = 0; i < a->def->n_params; i++) {
        double d = fabs((double)a->params[i] - b->params[i]) /
                   fmax(1.0, fmax(fabs(a->params[i]), fabs(b->params[i])));
        worst = fmax(worst, d);
    }
    return worst;
}

/* Every key of `want` is in `got`, to TOL. */
static void check_logs(const klc_logs *want, const klc_logs *got, const char *what)
{
    CHECK(want->n == got->n, "%s: %d keys against %d", what, got->n, want->n);
    for (int i = 0; i < want->n; i++) {
        double v = klc_logs_get(got, want->names[i]);
        CHECK(close_to(want->values[i], v, TOL), "%s: %s is %.9g, one process %.9g", what,
              want->names[i], v, want->values[i]);
    }
}

/* One step at a time: batches of these sizes, so shards are uneven and,
 * with 3 ranks, some are empty (1 and 2 rows). */
static void per_step(const klc_model_def *def)
{
    static const int sizes[] = { 16, 16, 7, 1, 2, 5, 3, 13 };
    klc_model *one = klc_model_new(def, 7), *group = klc_model_new(def, 7);
    klc_fit_options opt = { 0 };
    opt.epochs = 1;
    opt.no_shuffle = 1;
    int begin = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        klc_tensor x, y;
        rows(&x, &y, begin, sizes[k]);
        begin += sizes[k];
        opt.batch_size = sizes[k];
        klc_history h1 = { 0 }, h2 = { 0 };
        CHECK(klc_fit(one, &x, &y, &opt, &h1) == 0, "%s", klc_last_error());
        CHECK(klc_fit_mpi(group, &x, &y, &opt, &h2, MPI_COMM_WORLD) == 0, "%s", klc_last_error());
        char what[96];
        snprintf(what, sizeof what, "%s step %zu (%d rows)", def->name, k, sizes[k]);
        if (h1.n_epochs == 1 && h2.n_epochs == 1)
            check_logs(&h1.logs[0], &h2.logs[0], what);
        double d = weights_diff(one, group);
        CHECK(d <= TOL, "%s: weights differ by %g", what, d);
        klc_history_free(&h1);
        klc_history_free(&h2);
    }
    CHECK(group->iteration == one->iteration, "iterations %lld and %lld",
          (long long)group->iteration, (long long)one->iteration);
    klc_model_free(one);
    klc_model_free(group);
}

/* Whole fits: shuffled epochs of global batch 16 (the last one 97 - 80 -
 * validation rows), validation_split. */
static void whole_fit(const klc_model_def *def)
{
    klc_model *one = klc_model_new(def, 3), *group = klc_model_new(def, 3);
    klc_model *per_rank = klc_model_new(def, 3);
    klc_fit_options opt = { 0 };
    opt.epochs = 4;
    opt.batch_size = 16;
    opt.validation_split = 0.1;
    klc_tensor x, y;
    rows(&x, &y, 0, N_ROWS);
    klc_history h1 = { 0 }, h2 = { 0 };
    CHECK(klc_fit(one, &x, &y, &opt, &h1) == 0, "%s", klc_last_error());
    CHECK(klc_fit_mpi(group, &x, &y, &opt, &h2, MPI_COMM_WORLD) == 0, "%s", klc_last_error());
    CHECK(h1.n_epochs == 4 && h2.n_epochs == 4, "%d and %d epochs", h1.n_epochs, h2.n_epochs);
    for (int e = 0; e < h1.n_epochs && e < h2.n_epochs; e++) {
        char what[64];
        snprintf(what, sizeof what, "%s epoch %d", def->name, e);
        check_logs(&h1.logs[e], &h2.logs[e], what);
    }
    double d = weights_diff(one, group);
    CHECK(d <= TOL, "%s: final weights differ by %g", def->name, d);
    /* evaluate, sharded over the ranks: batches of 10, the last one 7 rows */
    klc_eval_options eo = { 0 };
    eo.batch_size = 10;
    klc_logs l1, l2;
    CHECK(klc_evaluate_ex(one, &x, &y, &eo, &l1) == 0, "%s", klc_last_error());
    CHECK(klc_evaluate_mpi(group, &x, &y, &eo, &l2, MPI_COMM_WORLD) == 0, "%s", klc_last_error());
    check_logs(&l1, &l2, "evaluate");
    /* negative control: one process on the per-rank batch size is a different
     * training, and the comparison sees it */
    opt.batch_size = 16 / size;
    CHECK(klc_fit(per_rank, &x, &y, &opt, NULL) == 0, "%s", klc_last_error());
    double control = weights_diff(one, per_rank);
    CHECK(control > 100 * TOL, "%s: a per-rank batch gives weights only %g away", def->name,
          control);
    klc_history_free(&h1);
    klc_history_free(&h2);
    klc_model_free(one);
    klc_model_free(group);
    klc_model_free(per_rank);
}

/* ModelCheckpoint on rank 0 after each epoch; every rank loads epoch 1's file
 * and trains epoch 2: the same weights and optimizer state, bit for bit. */
static void resume(const klc_model_def *def, const char *dir)
{
    char pattern[4096], ck1[4096];
    snprintf(pattern, sizeof pattern, "%s/%s-{epoch:02d}.safetensors", dir, def->name);
    snprintf(ck1, sizeof ck1, "%s/%s-01.safetensors", dir, def->name);
    klc_model *a = klc_model_new(def, 5), *b = klc_model_new(def, 5);
    klc_fit_options opt = { 0 };
    opt.epochs = 2;
    opt.batch_size = 16;
    opt.checkpoint.path = pattern;
    klc_tensor x, y;
    rows(&x, &y, 0, N_ROWS);
    CHECK(klc_fit_mpi(a, &x, &y, &opt, NULL, MPI_COMM_WORLD) == 0, "%s", klc_last_error());
    MPI_Barrier(MPI_COMM_WORLD); /* the files are written (fit returned on rank 0) */
    CHECK(klc_load_weights(b, ck1) == 0, "%s", klc_last_error());
    CHECK(b->epoch == 1, "the checkpoint is of epoch %d", b->epoch);
    opt.initial_epoch = b->epoch;
    opt.checkpoint.path = NULL;
    CHECK(klc_fit_mpi(b, &x, &y, &opt, NULL, MPI_COMM_WORLD) == 0, "%s", klc_last_error());
    CHECK(a->iteration == b->iteration, "iterations %lld and %lld", (long long)a->iteration,
          (long long)b->iteration);
    CHECK(!memcmp(a->params, b->params, (size_t)def->n_params * sizeof(float)),
          "%s: resumed weights differ", def->name);
    CHECK(!memcmp(a->slots, b->slots, (size_t)def->n_slots * sizeof(float)),
          "%s: resumed optimizer slots differ", def->name);
    klc_model_free(a);
    klc_model_free(b);
}

/* BatchNormalization: after one step from the same weights, the moving mean
 * (the shard-weighted mean of each rank's update) is the one process' (its
 * update is linear in the batch mean); the moving variance averages the
 * shards' variances, so it is not.  Whole fits then run with the state kept
 * identical on every rank (fit checks it after each epoch). */
static void batchnorm_state(void)
{
    const klc_model_def *def = &dp_bn_def;
    klc_model *one = klc_model_new(def, 9), *group = klc_model_new(def, 9);
    klc_fit_options opt = { 0 };
    opt.epochs = 1;
    opt.batch_size = 32;
    opt.no_shuffle = 1;
    klc_tensor x, y;
    rows(&x, &y, 0, 32);
    CHECK(klc_fit(one, &x, &y, &opt, NULL) == 0, "%s", klc_last_error());
    CHECK(klc_fit_mpi(group, &x, &y, &opt, NULL, MPI_COMM_WORLD) == 0, "%s", klc_last_error());
    const float *m1 = klc_model_weight(one, "batch_normalization.moving_mean");
    const float *m2 = klc_model_weight(group, "batch_normalization.moving_mean");
    CHECK(m1 && m2, "no batch_normalization.moving_mean");
    double worst = 0, moved = 0;
    for (int i = 0; m1 && m2 && i < 8; i++) {
        worst = fmax(worst, fabs((double)m1[i] - m2[i]));
        moved = fmax(moved, fabs((double)m1[i]));
    }
    CHECK(worst <= TOL, "moving_mean differs from one process' by %g", worst);
    CHECK(moved > 1e-3, "the moving mean did not move (%g)", moved);
    rows(&x, &y, 0, N_ROWS);
    opt.epochs = 3;
    opt.batch_size = 16;
    opt.no_shuffle = 0;
    opt.initial_epoch = 1;
    klc_history h = { 0 };
    CHECK(klc_fit_mpi(group, &x, &y, &opt, &h, MPI_COMM_WORLD) == 0, "%s", klc_last_error());
    CHECK(h.n_epochs == 2 && isfinite(klc_logs_get(&h.logs[1], "loss")), "%d epochs", h.n_epochs);
    klc_history_free(&h);
    klc_model_free(one);
    klc_model_free(group);
}

/* Failures on some ranks fail the call on every rank, with the message. */
static void failures_agree(const char *dir)
{
    klc_tensor x, y;
    klc_fit_options opt = { 0 };
    opt.epochs = 1;
    opt.batch_size = 16;

    /* rank 1's labels have a row too few */
    klc_model *m = klc_model_new(&dp_sgd_def, 1);
    rows(&x, &y, 0, N_ROWS);
    if (rank == 1)
        y.shape[0] = N_ROWS - 1;
    CHECK(klc_fit_mpi(m, &x, &y, &opt, NULL, MPI_COMM_WORLD) != 0, "fit with bad data succeeded");
    CHECK(strstr(klc_last_error(), "rank 1: ") && strstr(klc_last_error(), "rows"),
          "message: %s", klc_last_error());

    klc_eval_options eo = { 0 };
    klc_logs logs;
    CHECK(klc_evaluate_mpi(m, &x, &y, &eo, &logs, MPI_COMM_WORLD) != 0,
          "evaluate with bad data succeeded");
    CHECK(strstr(klc_last_error(), "rank 1: ") && strstr(klc_last_error(), "rows"),
          "message: %s", klc_last_error());

    /* the ranks were given different data */
    rows(&x, &y, 0, rank == size - 1 ? N_ROWS - 2 : N_ROWS);
    CHECK(klc_fit_mpi(m, &x, &y, &opt, NULL, MPI_COMM_WORLD) != 0, "fit with unequal data succeeded");
    CHECK(strstr(klc_last_error(), "different data") != NULL, "message: %s", klc_last_error());
    CHECK(klc_evaluate_mpi(m, &x, &y, &eo, &logs, MPI_COMM_WORLD) != 0,
          "evaluate with unequal data succeeded");
    CHECK(strstr(klc_last_error(), "different data") != NULL, "message: %s", klc_last_error());

    /* the ranks start from different weights */
    klc_model *other = klc_model_new(&dp_sgd_def, (uint64_t)(1 + rank));
    rows(&x, &y, 0, N_ROWS);
    CHECK(klc_fit_mpi(other, &x, &y, &opt, NULL, MPI_COMM_WORLD) != 0,
          "fit from different weights succeeded");
    CHECK(strstr(klc_last_error(), "initial weights differ") != NULL, "message: %s",
          klc_last_error());
    klc_model_free(other);

    /* rank 0 cannot write the checkpoint (its directory is a file) */
    char blocker[4096], path[4200];
    snprintf(blocker, sizeof blocker, "%s/not-a-dir", dir);
    if (rank == 0) {
        FILE *f = fopen(blocker, "w");
        CHECK(f != NULL, "cannot create %s", blocker);
        if (f)
            fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/ck.safetensors", blocker);
    opt.checkpoint.path = path;
    opt.epochs = 3;
    klc_history h = { 0 };
    CHECK(klc_fit_mpi(m, &x, &y, &opt, &h, MPI_COMM_WORLD) != 0,
          "fit with an unwritable checkpoint succeeded");
    CHECK(strstr(klc_last_error(), "rank 0: ") != NULL, "message: %s", klc_last_error());
    klc_model_free(m);

    /* after all these failures the group still trains (a model compiled
     * without --data-parallel is refused: trainer_test.sh) */
    m = klc_model_new(&dp_sgd_def, 1);
    opt.checkpoint.path = NULL;
    opt.epochs = 1;
    CHECK(klc_fit_mpi(m, &x, &y, &opt, NULL, MPI_COMM_WORLD) == 0, "%s", klc_last_error());
    klc_model_free(m);
}

static int write_data(const char *dir)
{
    char px[4096], py[4096];
    snprintf(px, sizeof px, "%s/x.npy", dir);
    snprintf(py, sizeof py, "%s/y.npy", dir);
    klc_tensor x, y;
    rows(&x, &y, 0, N_ROWS);
    if (klc_npy_save(&x, px) || klc_npy_save(&y, py)) {
        fprintf(stderr, "test_mpi data: %s\n", klc_last_error());
        return 1;
    }
    return 0;
}

/* Weight files a and b (of dp_sgd) agree to tol (0: bit for bit). */
static int same_weights(const char *a, const char *b, double tol)
{
    klc_model *ma = klc_model_new(&dp_sgd_def, 1), *mb = klc_model_new(&dp_sgd_def, 2);
    int status = 1;
    if (klc_load_weights(ma, a) || klc_load_weights(mb, b)) {
        fprintf(stderr, "test_mpi same: %s\n", klc_last_error());
    } else {
        double d = weights_diff(ma, mb);
        int exact = !memcmp(ma->params, mb->params, (size_t)dp_sgd_def.n_params * sizeof(float));
        status = tol == 0 ? !exact : !(d <= tol);
        if (status)
            fprintf(stderr, "test_mpi same: %s and %s differ by %g (tolerance %g)\n", a, b, d, tol);
    }
    klc_model_free(ma);
    klc_model_free(mb);
    return status;
}

int main(int argc, char **argv)
{
    make_data();
    if (argc == 3 && !strcmp(argv[1], "data"))
        return write_data(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "same"))
        return same_weights(argv[2], argv[3], atof(argv[4]));
    if (argc != 3 || (strcmp(argv[1], "api") && strcmp(argv[1], "fail"))) {
        fprintf(stderr, "usage: test_mpi api|fail DIR | data DIR | same A B TOL\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
        fprintf(stderr, "test_mpi %s: run it under mpirun with 2 or more ranks\n", argv[1]);
        failures++;
    } else if (!strcmp(argv[1], "api")) {
        per_step(&dp_sgd_def);
        per_step(&dp_adam_def);
        whole_fit(&dp_sgd_def);
        whole_fit(&dp_adam_def);
        resume(&dp_sgd_def, argv[2]);
        resume(&dp_adam_def, argv[2]);
        batchnorm_state();
    } else {
        failures_agree(argv[2]);
    }
    int any = failures;
    MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_mpi %s on %d ranks: %s\n", argv[1], size, any ? "FAILED" : "ok");
    MPI_Finalize();
    return failures ? 1 : 0;
}
