/*
 * mpi_bench.c — data-parallel training throughput (docs/distributed.md).
 *
 *     mpirun -np R mpi_bench mlp|cnn EPOCHS ROWS
 *
 * The models of bench/models.kl compiled with --data-parallel, trained on
 * ROWS synthetic samples (klc_bench.c's generator) with their compiled
 * optimizer and global batch through klc_fit_mpi; rank 0 prints one line
 * per epoch, "mpi <model> <ranks> <samples/s> <allreduce share>": the
 * share of the epoch rank 0 spent in MPI_Allreduce calls of the gradient
 * slab (timed through MPI's profiling interface: this file's MPI_Allreduce
 * wraps PMPI_Allreduce), waiting for the other ranks included; then the time
 * of one MPI_Allreduce of the slab alone (the median of 20),
 * "allreduce <model> <ranks> <floats> <ms>".
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <klc/mpi.h>

#include "bench_data.h"
#include "bench_models_dp.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Seconds in MPI_Allreduce calls of at least 1024 elements (the gradient
 * slab; the per-step sums of the logs are a few doubles). */
static double slab_seconds;

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                  MPI_Comm comm)
{
    double t0 = now();
    int rc = PMPI_Allreduce(sendbuf, recvbuf, count, type, op, comm);
    if (count >= 1024)
        slab_seconds += now() - t0;
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const klc_model_def *def = NULL;
    for (int i = 0; argc == 4 && i < bench_models_dp_n_models; i++)
        if (!strcmp(bench_models_dp_models[i]->name, argv[1]))
            def = bench_models_dp_models[i];
    int epochs = argc == 4 ? atoi(argv[2]) : 0;
    int64_t rows = argc == 4 ? atoll(argv[3]) : 0;
    if (!def || epochs < 1 || rows < 1) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np R %s seed|mlp|cnn EPOCHS ROWS\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    klc_tensor x, y;
    if (bench_data(def, rows, &x, &y)) {
        fprintf(stderr, "%s\n", klc_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    klc_model *m = klc_model_new(def, 1);
    if (!m) {
        fprintf(stderr, "%s\n", klc_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int e = 0; e < epochs; e++) {
        klc_fit_options o = {0};
        o.epochs = 1;
        MPI_Barrier(MPI_COMM_WORLD);
        slab_seconds = 0;
        double t0 = now();
        if (klc_fit_mpi(m, &x, &y, &o, NULL, MPI_COMM_WORLD) != 0) {
            fprintf(stderr, "%s\n", klc_last_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        double t = now() - t0;
        if (rank == 0)
            printf("mpi %s %d %.0f %.1f%%\n", def->name, size, (double)rows / t,
                   100.0 * slab_seconds / t);
        fflush(stdout);
    }
    /* the step's sum alone: the gradient slab, as fit sums it */
    enum { REPS = 20 };
    double times[REPS];
    float *slab = calloc((size_t)def->n_params, sizeof *slab);
    for (int r = 0; r < REPS && slab; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        PMPI_Allreduce(MPI_IN_PLACE, slab, (int)def->n_params, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        times[r] = now() - t0;
    }
    if (slab && rank == 0) {
        qsort(times, REPS, sizeof times[0], cmp_double);
        printf("allreduce %s %d %lld %.3f\n", def->name, size, (long long)def->n_params,
               1e3 * times[REPS / 2]);
    }
    free(slab);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    MPI_Finalize();
    return 0;
}
