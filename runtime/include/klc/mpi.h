/*
 * klc/mpi.h — data-parallel fit and evaluate over MPI (docs/distributed.md).
 *
 * Installed only when the runtime is built with -DKLC_WITH_MPI=ON; includes
 * <mpi.h>, so a program using it compiles with mpicc (or MPI::MPI_C).
 *
 * Every rank of `comm` calls the function with the same model (same .kl
 * file compiled with klc --data-parallel, same seed or loaded weights), the
 * same data and the same options.  batch_size is the global batch (Keras'
 * meaning under a distribution strategy): each global batch of the shared
 * shuffled order is split into contiguous per-rank shards, the gradients are
 * summed over the ranks (MPI_Allreduce) before the update, and every rank
 * applies the same update.  Loss, metrics and add_metric values are summed
 * over the ranks, so the logs, the history and the callbacks see what one
 * process training on the whole batch would.  Rank 0 alone prints (verbose)
 * and writes the ModelCheckpoint and CSVLogger files.  An error on any rank
 * (bad data, an unwritable checkpoint) makes the call fail on every rank,
 * with the failing rank's message ("rank 1: ...").  A communicator of one
 * rank is plain klc_fit.
 */
#ifndef KLC_MPI_H
#define KLC_MPI_H

#include <mpi.h>

#include "klc/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

int klc_fit_mpi(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                const klc_fit_options *opt, klc_history *history, MPI_Comm comm);
/* klc_evaluate_ex over the group: each rank evaluates its shard of every
 * batch and the sums are reduced, so every rank gets the logs of one
 * process (to float rounding); rank 0 alone shows the progress bar. */
int klc_evaluate_mpi(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                     const klc_eval_options *opt, klc_logs *logs, MPI_Comm comm);

#ifdef __cplusplus
}
#endif
#endif /* KLC_MPI_H */
