/*
 * dist.h — data-parallel training over MPI (internal; docs/distributed.md).
 *
 * A klc_dist is one process' place in a group of ranks that train the same
 * model: every rank holds the same weights, takes its shard of each global
 * batch, and the gradients, losses and metrics are summed over the group.
 * fit, evaluate and the trainer read it from klc_model.dist (NULL: one
 * process, nothing here is called).
 *
 * Every function below is collective: all ranks of the group call it, in the
 * same order.  Without KLC_WITH_MPI there is no group: klc_dist_world gives
 * NULL and the others are never reached (they fail if they are).
 */
#ifndef KLC_DIST_H
#define KLC_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct klc_dist {
    int rank, size;
    void *comm;           /* the MPI_Comm (a copy owned by the caller of klc_fit_mpi) */
    double step_weight;   /* this rank's rows / the global batch's rows, in the current step */
    int64_t n_grads;      /* floats in the gradient slab of the model being trained */
    double allreduce_seconds; /* time spent in gradient sums (for the benchmarks) */
} klc_dist;

/* Rows [*begin, *end) of a global batch of n rows that `rank` of `size` takes:
 * contiguous shards in rank order, balanced (the first n % size ranks get
 * one row more), empty when rank >= n. */
void klc_dist_shard(int64_t n, int rank, int size, int64_t *begin, int64_t *end);

/* The trainer's group: MPI_COMM_WORLD when the program was started by an MPI
 * launcher (mpirun sets its environment) and the runtime has MPI, after
 * MPI_Init; NULL otherwise (one process, MPI not initialised). */
klc_dist *klc_dist_world(int *argc, char ***argv);
/* MPI_Finalize, when klc_dist_world initialised MPI. */
void klc_dist_finalize(void);

/* Sum buf[0..n) over the ranks in place (every rank gets the sum). */
void klc_dist_sum_f32(klc_dist *d, float *buf, int64_t n);
void klc_dist_sum_f64(const klc_dist *d, double *buf, int64_t n);
/* Smallest and largest of v over the ranks. */
void klc_dist_minmax(const klc_dist *d, int64_t v, int64_t *min, int64_t *max);

/*
 * Agreement after a step that may fail on some ranks only: `failed` is this
 * rank's outcome (its message in klc_last_error()).  Returns 0 when every rank
 * succeeded; else -1 on every rank, with the message of the lowest failed
 * rank as the error: "rank 1: --x x.npy: ...".  This is what keeps one rank's
 * failure from leaving the others waiting in a sum.
 */
int klc_dist_agree(const klc_dist *d, int failed);

/* 0 when buf[0..n) is bit-identical on every rank; else -1 with a message
 * naming `what`. */
int klc_dist_check_same(const klc_dist *d, const float *buf, int64_t n, const char *what);

#endif /* KLC_DIST_H */
