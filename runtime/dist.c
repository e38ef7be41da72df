/*
 * dist.c — the MPI calls of data-parallel training (dist.h).
 *
 * Only this file (and the klc_fit_mpi entry points of mpi_api.c) includes
 * <mpi.h>, and only when the runtime is built with KLC_WITH_MPI; without it
 * the functions are stubs that are never reached (klc_model.dist is NULL).
 */
#include "dist.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "klc/runtime.h"
#include "progbar.h"

void klc_dist_shard(int64_t n, int rank, int size, int64_t *begin, int64_t *end)
{
    int64_t base = n / size, extra = n % size;
    *begin = rank * base + (rank < extra ? rank : extra);
    *end = *begin + base + (rank < extra ? 1 : 0);
}

#ifdef KLC_WITH_MPI
#include <limits.h>
#include <mpi.h>

static int initialised_here;
static klc_dist world;
static MPI_Comm world_comm;

/* Whether an MPI launcher started this process (Open MPI, MPICH/Hydra, PMIx, Slurm's PMI). */
static int launched_by_mpi(void)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                        "MPI_LOCALNRANKS" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

klc_dist *klc_dist_world(int *argc, char ***argv)
{
    if (!launched_by_mpi())
        return NULL;
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
        if (MPI_Init(argc, argv) != MPI_SUCCESS)
            return NULL;
        initialised_here = 1;
    }
    world_comm = MPI_COMM_WORLD;
    memset(&world, 0, sizeof world);
    MPI_Comm_rank(world_comm, &world.rank);
    MPI_Comm_size(world_comm, &world.size);
    world.comm = &world_comm;
    return &world;
}

void klc_dist_finalize(void)
{
    if (initialised_here) {
        MPI_Finalize();
        initialised_here = 0;
    }
}

static MPI_Comm comm_of(const klc_dist *d)
{
    return *(const MPI_Comm *)d->comm;
}

/* MPI counts are ints: sums of more elements go in chunks. */
enum { CHUNK = INT_MAX / 2 };

void klc_dist_sum_f32(klc_dist *d, float *buf, int64_t n)
{
    double t0 = klc_now();
    for (int64_t at = 0; at < n; at += CHUNK) {
        int count = (int)(n - at < CHUNK ? n - at : CHUNK);
        MPI_Allreduce(MPI_IN_PLACE, buf + at, count, MPI_FLOAT, MPI_SUM, comm_of(d));
    }
    d->allreduce_seconds += klc_now() - t0;
}

void klc_dist_sum_f64(const klc_dist *d, double *buf, int64_t n)
{
    for (int64_t at = 0; at < n; at += CHUNK) {
        int count = (int)(n - at < CHUNK ? n - at : CHUNK);
        MPI_Allreduce(MPI_IN_PLACE, buf + at, count, MPI_DOUBLE, MPI_SUM, comm_of(d));
    }
}

void klc_dist_minmax(const klc_dist *d, int64_t v, int64_t *min, int64_t *max)
{
    long long lo = (long long)v, hi = (long long)v;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_LONG_LONG, MPI_MIN, comm_of(d));
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_LONG_LONG, MPI_MAX, comm_of(d));
    *min = (int64_t)lo;
    *max = (int64_t)hi;
}

int klc_dist_agree(const klc_dist *d, int failed)
{
    int first = failed ? d->rank : d->size; /* the lowest failed rank, or size */
    MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm_of(d));
    if (first == d->size)
        return 0;
    char msg[900];
    memset(msg, 0, sizeof msg);
    if (d->rank == first)
        snprintf(msg, sizeof msg, "%s", klc_last_error());
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm_of(d));
    msg[sizeof msg - 1] = '\0';
    return klc_seterr("rank %d: %s", first, msg);
}

/* FNV-1a over the bytes. */
static uint64_t hash_bytes(const void *p, size_t size)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

int klc_dist_check_same(const klc_dist *d, const float *buf, int64_t n, const char *what)
{
    unsigned long long h = hash_bytes(buf, (size_t)n * sizeof *buf), lo = h, hi = h;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm_of(d));
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm_of(d));
    if (lo != hi)
        return klc_seterr("data-parallel fit: the %s differ between ranks (they must stay "
                          "identical; the ranks were given different weights, data or options)",
                          what);
    return 0;
}

/* ---- the public entry points (klc/mpi.h) ---- */

#include "klc/mpi.h"
#include "model.h"

/* Run f with m->dist set to comm's group (its rank and size). */
static int with_group(klc_model *m, MPI_Comm comm, klc_dist *d, MPI_Comm *copy)
{
    memset(d, 0, sizeof *d);
    *copy = comm;
    if (MPI_Comm_rank(comm, &d->rank) != MPI_SUCCESS || MPI_Comm_size(comm, &d->size) != MPI_SUCCESS)
        return klc_seterr("not a valid MPI communicator");
    d->comm = copy;
    m->dist = d;
    return 0;
}

int klc_fit_mpi(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                const klc_fit_options *opt, klc_history *history, MPI_Comm comm)
{
    if (!m)
        return klc_seterr("fit: no model");
    klc_dist d;
    MPI_Comm copy;
    klc_dist *saved = m->dist;
    if (with_group(m, comm, &d, &copy))
        return -1;
    int rc = klc_fit(m, x, y, opt, history);
    m->dist = saved;
    return rc;
}

int klc_evaluate_mpi(klc_model *m, const klc_tensor *x, const klc_tensor *y,
                     const klc_eval_options *opt, klc_logs *logs, MPI_Comm comm)
{
    if (!m)
        return klc_seterr("evaluate: no model");
    klc_dist d;
    MPI_Comm copy;
    klc_dist *saved = m->dist;
    if (with_group(m, comm, &d, &copy))
        return -1;
    int rc = klc_evaluate_ex(m, x, y, opt, logs); /* agrees on its failures itself */
    m->dist = saved;
    return rc;
}

#else /* !KLC_WITH_MPI: no group; nothing below is reached (klc_model.dist stays NULL) */

klc_dist *klc_dist_world(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return NULL;
}

void klc_dist_finalize(void)
{
}

void klc_dist_sum_f32(klc_dist *d, float *buf, int64_t n)
{
    (void)d, (void)buf, (void)n;
    abort();
}

void klc_dist_sum_f64(const klc_dist *d, double *buf, int64_t n)
{
    (void)d, (void)buf, (void)n;
    abort();
}

void klc_dist_minmax(const klc_dist *d, int64_t v, int64_t *min, int64_t *max)
{
    (void)d;
    *min = *max = v;
}

int klc_dist_agree(const klc_dist *d, int failed)
{
    (void)d;
    return failed ? -1 : 0;
}

int klc_dist_check_same(const klc_dist *d, const float *buf, int64_t n, const char *what)
{
    (void)d, (void)buf, (void)n, (void)what;
    return 0;
}

#endif
