/*
 * gradcheck.c — the generated gradients against central differences.
 *
 * Everything in double: the weights, the state (read only), the workspace.
 * For each trainable weight and each of a few random unit directions d
 * (nonzero only on that weight), the analytic directional derivative ⟨g, d⟩
 * from grad_f64 is compared with (L(θ + εd) − L(θ − εd)) / 2ε.  The same
 * step seed is used for every evaluation, so dropout masks agree.  At most
 * GRADCHECK_ROWS rows of the data are used (one batch).
 *
 * The relative error discounts what rounding explains: the differences
 * divide loss values accurate to about GRADCHECK_ROUNDING ulps of the loss
 * by eps, so a derivative that is zero in exact arithmetic (a bias followed
 * by a batch normalisation, which subtracts it again) measures as a few
 * 1e-12, which must not count as a 100% error against the analytic 0.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "rng.h"

#define GRADCHECK_ROWS 32
#define GRADCHECK_DIRECTIONS 3
#define GRADCHECK_EPS 1e-4
#define GRADCHECK_ROUNDING 1024.0

typedef struct gc {
    const klc_model_def *def;
    klc_step_f64 s;
    double *params;  /* [n_params] θ (perturbed in place) */
} gc;

static double loss_at(gc *g)
{
    g->s.compute_grads = 0;
    g->s.params = g->params;
    g->def->grad_f64(&g->s);
    return g->s.loss;
}

/* (|a − n| − noise) / max(|a|, |n|), 0 when the difference is within the
 * rounding noise of the numeric value; a floor keeps tiny values apart from
 * dividing by zero.  NaN stays NaN. */
static double rel_error(double a, double n, double noise)
{
    double diff = fabs(a - n) - noise;
    if (diff <= 0.0)
        return 0.0;
    double scale = fmax(fmax(fabs(a), fabs(n)), 1e-8);
    return diff / scale;
}

/* The larger of two errors; NaN, once seen, stays (a comparison with NaN is
 * false, so "keep the larger" written with < or <= would drop it). */
static double worse(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    return a > b ? a : b;
}

int klc_gradcheck(klc_model *m, const klc_tensor *x, const klc_tensor *y, FILE *out,
                  double *max_rel_err)
{
    return klc_gradcheck_named(m, x, y, out, max_rel_err, &klc_api_names);
}

int klc_gradcheck_named(klc_model *m, const klc_tensor *x, const klc_tensor *y, FILE *out,
                        double *max_rel_err, const klc_data_names *names)
{
    if (max_rel_err)
        *max_rel_err = 0.0;
    if (!m)
        return klc_seterr("gradcheck: no model");
    const klc_model_def *def = m->def;
    if (!def->grad_f64)
        return klc_seterr("model '%s' has no double-precision gradient", def->name);
    klc_dataset d;
    if (klc_dataset_prepare(&d, def, x, y, 1, names->x, names->y))
        return -1;
    int64_t n = d.n < GRADCHECK_ROWS ? d.n : GRADCHECK_ROWS;
    gc g;
    memset(&g, 0, sizeof g);
    g.def = def;
    size_t np = def->n_params > 0 ? (size_t)def->n_params : 1;
    size_t ns = def->n_state > 0 ? (size_t)def->n_state : 1;
    size_t nw = (size_t)(def->work_c + def->work_k * n);
    size_t ni = (size_t)(def->iwork_c + def->iwork_k * n);
    g.params = malloc(np * sizeof(double));
    double *grads = calloc(np, sizeof(double));
    double *state = malloc(ns * sizeof(double));
    double *work = calloc(nw ? nw : 1, sizeof(double));
    int32_t *iwork = calloc(ni ? ni : 1, sizeof(int32_t));
    int rc = -1;
    if (!g.params || !grads || !state || !work || !iwork) {
        klc_seterr("gradcheck: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < def->n_params; i++)
        g.params[i] = m->params[i];
    for (int64_t i = 0; i < def->n_state; i++)
        state[i] = m->state[i];
    g.s.n = n;
    g.s.cap = n;
    g.s.x = d.x.data;
    g.s.y = d.has_y ? d.y.data : NULL;
    g.s.grads = grads;
    g.s.state = state;
    g.s.work = work;
    g.s.iwork = iwork;
    g.s.seed = klc_rng_derive(m->seed, KLC_RNG_STEP, (uint64_t)m->iteration);

    /* Analytic gradient at θ. */
    g.s.compute_grads = 1;
    g.s.params = g.params;
    def->grad_f64(&g.s);
    double loss0 = g.s.loss;
    /* a loss that is not finite leaves no noise to discount: everything fails */
    double noise = isfinite(loss0) ? GRADCHECK_ROUNDING * DBL_EPSILON * fabs(loss0) / GRADCHECK_EPS : 0.0;
    if (out)
        fprintf(out, "gradcheck of model '%s': loss %.10g on %lld rows, %d directions per "
                "weight, eps %g\n", def->name, loss0, (long long)n, GRADCHECK_DIRECTIONS,
                GRADCHECK_EPS);
    double worst = 0.0;
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        if (t->kind != KLC_TENSOR_PARAM || t->size == 0)
            continue;
        double *theta = g.params + t->offset;
        const double *grad = grads + t->offset;
        double *dir = malloc((size_t)t->size * sizeof *dir);
        if (!dir) {
            klc_seterr("gradcheck: out of memory");
            goto done;
        }
        klc_rng r;
        klc_rng_init(&r, m->seed, KLC_RNG_GRADCHECK, (uint64_t)i);
        double tensor_worst = 0.0;
        for (int k = 0; k < GRADCHECK_DIRECTIONS; k++) {
            double norm = 0.0;
            for (int64_t j = 0; j < t->size; j++) {
                dir[j] = klc_rng_normal(&r);
                norm += dir[j] * dir[j];
            }
            norm = sqrt(norm);
            double analytic = 0.0;
            for (int64_t j = 0; j < t->size; j++) {
                dir[j] /= norm;
                analytic += grad[j] * dir[j];
            }
            /* central differences at eps and 2 eps, combined (Richardson) so the
             * eps² truncation term cancels: error O(eps⁴) + round-off / eps */
            double at[4];
            static const double steps[4] = {1, -1, 2, -2};
            for (int q = 0; q < 4; q++) {
                for (int64_t j = 0; j < t->size; j++)
                    theta[j] = m->params[t->offset + j] + steps[q] * GRADCHECK_EPS * dir[j];
                at[q] = loss_at(&g);
            }
            for (int64_t j = 0; j < t->size; j++)
                theta[j] = m->params[t->offset + j];
            double d1 = (at[0] - at[1]) / (2.0 * GRADCHECK_EPS);
            double d2 = (at[2] - at[3]) / (4.0 * GRADCHECK_EPS);
            double numeric = (4.0 * d1 - d2) / 3.0;
            double e = rel_error(analytic, numeric, noise);
            tensor_worst = worse(tensor_worst, e);
        }
        free(dir);
        if (out) {
            char shape[256];
            klc_format_shape(shape, sizeof shape, t->rank, t->shape, 0);
            fprintf(out, "  %-32s %-16s max relative error %.3e\n", t->name, shape, tensor_worst);
        }
        worst = worse(worst, tensor_worst);
    }
    if (out)
        fprintf(out, "max relative error: %.3e\n", worst);
    if (max_rel_err)
        *max_rel_err = worst;
    rc = 0;
done:
    free(g.params);
    free(grads);
    free(state);
    free(work);
    free(iwork);
    klc_dataset_free(&d);
    return rc;
}
