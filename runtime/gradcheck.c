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
 * Kinks.  ReLU, max pooling, abs and clipping make the loss piecewise
 * smooth: where a perturbation of ±2ε crosses a kink (a pre-activation
 * changing sign, a pooling window changing its maximum), finite differences
 * measure a mixture of two slopes and disagree with a correct gradient.
 * Such a direction is recognised from the loss values alone, never from the
 * gradient being checked: for a smooth loss the central differences at ε
 * and 2ε agree to O(ε²), and the second differences at ε and 2ε (divided by
 * ε², 4ε²) agree to O(ε²) too; one kink within 2ε of the point breaks at
 * least one of the two (whatever its position), by an amount of the order of
 * the error it would cause.  Such a direction is retried with ε / 10 and
 * ε / 100, then replaced by a new random direction; what could not be
 * checked is reported, and a weight none of whose directions is smooth makes
 * the check fail (it proves nothing there) instead of passing.
 *
 * The relative error discounts what rounding explains: the differences
 * divide loss values accurate to about GRADCHECK_ROUNDING ulps of the loss
 * by eps, so a derivative that is zero in exact arithmetic (a bias followed
 * by a batch normalisation, which subtracts it again) measures as a few
 * 1e-12, which must not count as a 100% error against the analytic 0.
 */
#include <float.h>
#include <stdbool.h>
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
/* a kink matters when it moves the differences by more than this, relative */
#define GRADCHECK_SMOOTH 1e-7
#define GRADCHECK_EPS_LEVELS 3       /* ε, ε / 10, ε / 100 */
#define GRADCHECK_MAX_DRAWS (4 * GRADCHECK_DIRECTIONS)

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

/* The loss along θ0 + s·dir for s = ±eps, ±2 eps (θ is the tensor's slot in
 * g->params, restored after).  If the loss is smooth there, sets *err to the
 * relative error of `analytic` against the Richardson-extrapolated central
 * difference and returns true; returns false where a kink lies within 2 eps
 * (see the file comment). */
static bool smooth_difference(gc *g, const float *theta0, double *theta, const double *dir, int64_t size,
                              double eps, double loss0, double analytic, double *err)
{
    double at[4];
    static const double steps[4] = {1, -1, 2, -2};
    for (int q = 0; q < 4; q++) {
        for (int64_t j = 0; j < size; j++)
            theta[j] = theta0[j] + steps[q] * eps * dir[j];
        at[q] = loss_at(g);
    }
    for (int64_t j = 0; j < size; j++)
        theta[j] = theta0[j];
    /* a loss that is not finite leaves no noise to discount: everything fails */
    double noise = isfinite(loss0) ? GRADCHECK_ROUNDING * DBL_EPSILON * fabs(loss0) / eps : 0.0;
    double d1 = (at[0] - at[1]) / (2.0 * eps);
    double d2 = (at[2] - at[3]) / (4.0 * eps);
    /* second differences, in the units of a derivative: both f''·eps when smooth */
    double c1 = (at[0] - 2.0 * loss0 + at[1]) / eps;
    double c2 = (at[2] - 2.0 * loss0 + at[3]) / (4.0 * eps);
    double scale = fmax(fmax(fabs(d1), fabs(d2)), 1e-8);
    double limit = 4.0 * noise + GRADCHECK_SMOOTH * scale;
    /* written so that NaN differences count as smooth: they then fail the check */
    if (fabs(d1 - d2) > limit || fabs(c1 - c2) > limit)
        return false;
    /* (4 d1 − d2) / 3 cancels the eps² truncation term: error O(eps⁴) + round-off / eps */
    *err = rel_error(analytic, (4.0 * d1 - d2) / 3.0, noise);
    return true;
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
    if (out)
        fprintf(out, "gradcheck of model '%s': loss %.10g on %lld rows, %d directions per "
                "weight, eps %g\n", def->name, loss0, (long long)n, GRADCHECK_DIRECTIONS,
                GRADCHECK_EPS);
    double worst = 0.0;
    int skipped = 0;                /* directions that crossed kinks */
    const char *unchecked = NULL;   /* a weight with no smooth direction */
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
        int checked = 0, kinked = 0, finer = 0;
        for (int draw = 0; draw < GRADCHECK_MAX_DRAWS && checked < GRADCHECK_DIRECTIONS; draw++) {
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
            bool ok = false;
            double eps = GRADCHECK_EPS;
            for (int level = 0; level < GRADCHECK_EPS_LEVELS && !ok; level++, eps /= 10.0) {
                double e;
                ok = smooth_difference(&g, m->params + t->offset, theta, dir, t->size, eps, loss0, analytic, &e);
                if (ok) {
                    tensor_worst = worse(tensor_worst, e);
                    checked++;
                    finer += level > 0;
                }
            }
            kinked += !ok;
        }
        free(dir);
        if (out) {
            char shape[256];
            klc_format_shape(shape, sizeof shape, t->rank, t->shape, 0);
            if (checked)
                fprintf(out, "  %-32s %-16s max relative error %.3e", t->name, shape, tensor_worst);
            else
                fprintf(out, "  %-32s %-16s not checked", t->name, shape);
            if (finer)
                fprintf(out, " (%d with eps / 10 or / 100: a kink within 2 eps)", finer);
            if (kinked)
                fprintf(out, " (%d direction%s skipped: a kink within 2 eps at every eps)", kinked,
                        kinked == 1 ? "" : "s");
            fputc('\n', out);
        }
        skipped += kinked;
        if (!checked && !unchecked)
            unchecked = t->name;
        worst = worse(worst, tensor_worst);
    }
    if (out)
        fprintf(out, "max relative error: %.3e\n", worst);
    if (out && skipped)
        fprintf(out, "%d direction%s skipped where the loss is not smooth (a relu kink or a max-pooling "
                "switch within 2 eps of the point)%s\n", skipped, skipped == 1 ? "" : "s",
                unchecked ? "" : "; other directions checked every weight");
    if (max_rel_err)
        *max_rel_err = worst;
    if (unchecked) {
        klc_seterr("gradcheck: the loss is not smooth around the weights of %s: every direction "
                   "tried crossed a kink (a relu or a max-pooling switch) within 2 eps, so "
                   "finite differences cannot check its gradient here; try another --seed", unchecked);
        goto done;
    }
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
