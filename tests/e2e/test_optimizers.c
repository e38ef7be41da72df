/*
 * test_optimizers.c — the generated optimizer updates against Keras' formulas.
 *
 * Every model of optimizers.kl is Dense(2) on three features with MSE.  Each
 * test sets known weights, trains on one fixed batch of four rows (batch =
 * all rows, no shuffling) one epoch at a time, and after every step compares
 * the loss, every weight and every optimizer slot with a reference computed
 * here from keras-semantics.md §3, in float32 where Keras is float32: the
 * gradient of the MSE is computed exactly (in double) and rounded, then
 * clipping, decoupled weight decay and the update step follow Keras' code
 * operation by operation.  The tolerances allow float rounding only.
 *
 * The data make every term count: the third feature is tiny (1e-5), so its
 * kernel gradients are of the order of Adam's and RMSprop's epsilon; the
 * clipping thresholds clip some tensors or elements and not others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "e2e_util.h"
#include "model.h" /* runtime internals: the slots slab and the iteration count */
#include "e2e_optimizers.h"

enum { SGD, ADAM, ADAMW, RMSPROP };
enum { ROWS = 4, IN = 3, OUT = 2, NW = 8, STEPS = 6 };

/* An optimizer configuration as written in optimizers.kl (Python floats). */
typedef struct Cfg {
    const klc_model_def *def;
    int kind;
    double lr, momentum, beta_1, beta_2, epsilon, rho, weight_decay;
    double clipnorm, clipvalue, global_clipnorm;
    bool nesterov, amsgrad, centered;
} Cfg;

/* Every value spelled out: Keras' defaults (keras-semantics §3) unless
 * optimizers.kl overrides them. */
static const Cfg cfgs[] = {
    /* SGD: lr 0.01, momentum 0, nesterov false */
    { &sgd_plain_def, SGD, .lr = 0.01 },
    { &sgd_momentum_def, SGD, .lr = 0.05, .momentum = 0.9 },
    { &sgd_nesterov_def, SGD, .lr = 0.05, .momentum = 0.8, .nesterov = true },
    { &sgd_decay_def, SGD, .lr = 0.1, .weight_decay = 0.2 },
    { &sgd_clipnorm_def, SGD, .lr = 0.1, .clipnorm = 0.5 },
    { &sgd_clipvalue_def, SGD, .lr = 0.1, .clipvalue = 0.3 },
    { &sgd_global_clipnorm_def, SGD, .lr = 0.1, .global_clipnorm = 0.5 },
    /* Adam: lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad false */
    { &adam_plain_def, ADAM, .lr = 0.001, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7 },
    { &adam_tuned_def, ADAM, .lr = 0.02, .beta_1 = 0.8, .beta_2 = 0.95, .epsilon = 0.001 },
    { &adam_amsgrad_def, ADAM, .lr = 0.01, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7,
      .amsgrad = true },
    /* AdamW: Adam's defaults and weight_decay 0.004 */
    { &adamw_plain_def, ADAMW, .lr = 0.001, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7,
      .weight_decay = 0.004 },
    { &adamw_tuned_def, ADAMW, .lr = 0.05, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7,
      .weight_decay = 0.5, .clipnorm = 0.5 },
    /* RMSprop: lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered false */
    { &rmsprop_plain_def, RMSPROP, .lr = 0.001, .rho = 0.9, .epsilon = 1e-7 },
    { &rmsprop_momentum_def, RMSPROP, .lr = 0.01, .rho = 0.9, .epsilon = 1e-7, .momentum = 0.7 },
    { &rmsprop_centered_def, RMSPROP, .lr = 0.01, .rho = 0.8, .epsilon = 1e-7, .centered = true },
    { &rmsprop_all_def, RMSPROP, .lr = 0.01, .rho = 0.9, .epsilon = 0.0001, .momentum = 0.5,
      .centered = true, .clipvalue = 0.2 },
};

/* The batch: the third feature is tiny, so its gradients are tiny. */
static float X[ROWS][IN] = {
    { 1.0f, -0.5f, 2e-5f },
    { 0.3f, 0.8f, -1e-5f },
    { -0.7f, 0.2f, 3e-5f },
    { 0.5f, -1.0f, 1e-5f },
};
static float Y[ROWS][OUT] = {
    { 0.9f, -0.4f },
    { -0.2f, 0.7f },
    { 0.1f, 0.3f },
    { -0.6f, 0.5f },
};
static const float W0[IN][OUT] = { { 0.5f, -0.3f }, { 0.2f, 0.4f }, { -0.1f, 0.6f } };
static const float B0[OUT] = { 0.05f, -0.02f };

/* The reference optimizer: weights w[0..5] = kernel, w[6..7] = bias, and the
 * slots by their Keras names. */
typedef struct Ref {
    float w[NW];
    float momentum[NW], velocity[NW], velocity_hat[NW], average_gradient[NW];
    int64_t iterations;
} Ref;

/* Loss (before the update) and the float32 gradient, exact then rounded. */
static double loss_and_grads(const float *w, float *g)
{
    double dk[IN][OUT] = { { 0 } }, db[OUT] = { 0 }, loss = 0;
    for (int n = 0; n < ROWS; n++) {
        for (int j = 0; j < OUT; j++) {
            double pred = w[6 + j];
            for (int k = 0; k < IN; k++)
                pred += (double)X[n][k] * w[k * OUT + j];
            pred = (float)pred;
            double e = pred - Y[n][j];
            loss += e * e / (ROWS * OUT);
            double d = 2.0 * e / (ROWS * OUT); /* d mean(e²) / d pred */
            db[j] += d;
            for (int k = 0; k < IN; k++)
                dk[k][j] += d * X[n][k];
        }
    }
    for (int k = 0; k < IN; k++)
        for (int j = 0; j < OUT; j++)
            g[k * OUT + j] = (float)dk[k][j];
    for (int j = 0; j < OUT; j++)
        g[6 + j] = (float)db[j];
    return loss;
}

/* Σ g² of a tensor in float32 (computed exactly, then rounded: Keras' reduce_sum). */
static float sum_sq(const float *g, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return (float)s;
}

/* One optimizer.apply(): clipping, weight decay, update_step, iterations += 1. */
static void ref_step(const Cfg *c, Ref *r, float *g)
{
    const float lr = (float)c->lr;
    /* 3. clipping */
    if (c->clipnorm > 0) { /* per tensor: g * c / max(|g|, c) */
        static const int begin[2] = { 0, 6 }, size[2] = { 6, 2 };
        for (int t = 0; t < 2; t++) {
            float l2sum = sum_sq(g + begin[t], size[t]);
            float l2norm = l2sum > 0 ? sqrtf(l2sum) : l2sum;
            float den = fmaxf(l2norm, (float)c->clipnorm);
            for (int i = begin[t]; i < begin[t] + size[t]; i++)
                g[i] = g[i] * (float)c->clipnorm / den;
        }
    }
    if (c->global_clipnorm > 0) { /* g * c * min(1 / N, 1 / c) */
        float norm = sqrtf((float)((double)sum_sq(g, 6) + (double)sum_sq(g + 6, 2)));
        float scale = (float)c->global_clipnorm * fminf(1.0f / norm, (float)(1.0 / c->global_clipnorm));
        for (int i = 0; i < NW; i++)
            g[i] = g[i] * scale;
    }
    if (c->clipvalue > 0)
        for (int i = 0; i < NW; i++)
            g[i] = fminf(fmaxf(g[i], (float)-c->clipvalue), (float)c->clipvalue);
    /* 4. decoupled weight decay: θ - θ·wd·lr, biases included */
    if (c->weight_decay > 0)
        for (int i = 0; i < NW; i++)
            r->w[i] = r->w[i] - r->w[i] * (float)c->weight_decay * lr;
    /* 5. update_step */
    const float t = (float)(r->iterations + 1);
    for (int i = 0; i < NW; i++) {
        float *w = &r->w[i];
        switch (c->kind) {
        case SGD:
            if (c->momentum > 0) {
                const float mu = (float)c->momentum;
                float *m = &r->momentum[i];
                *m = *m * mu - g[i] * lr;
                if (c->nesterov)
                    *w = *w + (*m * mu - g[i] * lr);
                else
                    *w = *w + *m;
            } else {
                *w = *w - g[i] * lr;
            }
            break;
        case ADAM:
        case ADAMW: {
            const float b1p = powf((float)c->beta_1, t), b2p = powf((float)c->beta_2, t);
            const float alpha = lr * sqrtf(1.0f - b2p) / (1.0f - b1p);
            float *m = &r->momentum[i], *v = &r->velocity[i];
            *m = *m + (g[i] - *m) * (float)(1.0 - c->beta_1);
            *v = *v + (g[i] * g[i] - *v) * (float)(1.0 - c->beta_2);
            float vv = *v;
            if (c->amsgrad) {
                r->velocity_hat[i] = fmaxf(r->velocity_hat[i], *v);
                vv = r->velocity_hat[i];
            }
            *w = *w - (*m * alpha) / (sqrtf(vv) + (float)c->epsilon);
            break;
        }
        case RMSPROP: {
            const float rho = (float)c->rho, one_rho = (float)(1.0 - c->rho);
            float *v = &r->velocity[i];
            *v = rho * *v + one_rho * (g[i] * g[i]);
            float den;
            if (c->centered) {
                float *a = &r->average_gradient[i];
                *a = rho * *a + one_rho * g[i];
                den = *v - *a * *a + (float)c->epsilon;
            } else {
                den = *v + (float)c->epsilon;
            }
            const float increment = (lr * g[i]) / sqrtf(den);
            if (c->momentum > 0) {
                float *m = &r->momentum[i];
                *m = (float)c->momentum * *m + increment;
                *w = *w - *m;
            } else {
                *w = *w - increment;
            }
            break;
        }
        }
    }
    r->iterations++;
}

/* The reference slot array for a slot file key "optimizer.dense.kernel.<slot>". */
static float *ref_slot(Ref *r, const char *key)
{
    const char *slot = strrchr(key, '.') + 1;
    if (!strcmp(slot, "momentum"))
        return r->momentum;
    if (!strcmp(slot, "velocity"))
        return r->velocity;
    if (!strcmp(slot, "velocity_hat"))
        return r->velocity_hat;
    if (!strcmp(slot, "average_gradient"))
        return r->average_gradient;
    fail_msg("unexpected optimizer slot %s", key);
    return NULL;
}

/* The slots Keras creates for this configuration, in its order. */
static int expected_slots(const Cfg *c, const char **names)
{
    int n = 0;
    switch (c->kind) {
    case SGD:
        if (c->momentum > 0)
            names[n++] = "momentum";
        break;
    case ADAM:
    case ADAMW:
        names[n++] = "momentum";
        names[n++] = "velocity";
        if (c->amsgrad)
            names[n++] = "velocity_hat";
        break;
    case RMSPROP:
        names[n++] = "velocity";
        if (c->momentum > 0)
            names[n++] = "momentum";
        if (c->centered)
            names[n++] = "average_gradient";
        break;
    }
    return n;
}

static klc_model *new_model(const Cfg *c)
{
    klc_model *m = klc_model_new(c->def, 7);
    assert_non_null(m);
    float *kernel = klc_model_weight(m, "dense.kernel");
    float *bias = klc_model_weight(m, "dense.bias");
    assert_non_null(kernel);
    assert_non_null(bias);
    memcpy(kernel, W0, sizeof W0);
    memcpy(bias, B0, sizeof B0);
    return m;
}

/* Weight i of the model, in the reference's order. */
static float model_w(klc_model *m, int i)
{
    return i < 6 ? klc_model_weight(m, "dense.kernel")[i] : klc_model_weight(m, "dense.bias")[i - 6];
}

/* Float rounding only: the model's gradient comes from sgemm in float32, so
 * the two trajectories may differ by a few units in the last place. */
#define REL 1e-6
#define ABS 1e-9

static void check_against_reference(void **state)
{
    const Cfg *c = *state;
    const klc_model_def *def = c->def;

    /* The compiled optimizer and its slots are Keras'. */
    assert_int_equal(def->optimizer.kind, c->kind);
    assert_true(e2e_close(def->optimizer.learning_rate, c->lr, 1e-12, 0));
    const char *want[3];
    int n_want = expected_slots(c, want);
    assert_int_equal(def->optimizer.n_slots, 2 * n_want);
    for (int s = 0; s < def->optimizer.n_slots; s++) {
        char key[128];
        snprintf(key, sizeof key, "optimizer.dense.%s.%s", s < n_want ? "kernel" : "bias",
                 want[s % n_want]);
        assert_string_equal(def->optimizer.slots[s].name, key);
    }

    klc_model *m = new_model(c);
    Ref r;
    memset(&r, 0, sizeof r);
    memcpy(r.w, W0, sizeof W0);
    memcpy(r.w + 6, B0, sizeof B0);

    int64_t xs[2] = { ROWS, IN }, ys[2] = { ROWS, OUT };
    klc_tensor x = klc_tensor_wrap(KLC_F32, 2, xs, X);
    klc_tensor y = klc_tensor_wrap(KLC_F32, 2, ys, Y);
    klc_fit_options opt = { .epochs = 1, .batch_size = ROWS, .no_shuffle = 1 };
    for (int step = 0; step < STEPS; step++) {
        float g[NW];
        float before[NW];
        for (int i = 0; i < NW; i++)
            before[i] = model_w(m, i);
        double want_loss = loss_and_grads(r.w, g);
        ref_step(c, &r, g);

        klc_history h;
        assert_int_equal(klc_fit(m, &x, &y, &opt, &h), 0);
        assert_int_equal(h.n_epochs, 1);
        double loss = klc_logs_get(&h.logs[0], "loss");
        klc_history_free(&h);
        if (!e2e_close(loss, want_loss, 1e-5, 0))
            fail_msg("%s step %d: loss %.9g, Keras %.9g", def->name, step + 1, loss, want_loss);
        assert_int_equal(m->iteration, step + 1);

        for (int i = 0; i < NW; i++) {
            float got = model_w(m, i);
            /* the weight, and its change in this step */
            double dgot = (double)got - before[i], dwant = (double)r.w[i] - before[i];
            /* a weight that crosses zero keeps the rounding of the larger operand */
            float mag = fmaxf(fabsf(r.w[i]), fabsf(before[i]));
            double ulp = (double)nextafterf(mag, INFINITY) - mag;
            if (!(fabs(got - r.w[i]) <= ABS + REL * mag) || !e2e_close(dgot, dwant, 1e-3, 4 * ulp))
                fail_msg("%s step %d: weight %d is %.9g (changed by %.6g), Keras %.9g (by %.6g)",
                         def->name, step + 1, i, got, dgot, r.w[i], dwant);
        }
        for (int s = 0; s < def->optimizer.n_slots; s++) {
            const klc_slot_def *sd = &def->optimizer.slots[s];
            const float *got = m->slots + sd->offset;
            const float *ref = ref_slot(&r, sd->name) + (sd->param == 0 ? 0 : 6);
            int n = sd->param == 0 ? 6 : 2;
            /* A gradient summed over rows of both signs carries rounding
             * relative to its terms, not to itself.  Velocities (sums of
             * squares) get a looser relative bound; momenta and average
             * gradients (sums of signed terms that may cancel) a bound
             * relative to the slot's largest element. */
            const char *kind = strrchr(sd->name, '.') + 1;
            bool squares = !strcmp(kind, "velocity") || !strcmp(kind, "velocity_hat");
            const float *all = ref_slot(&r, sd->name);
            double scale = 0;
            for (int i = 0; i < NW && !squares; i++)
                scale = fmax(scale, fabs(all[i]));
            for (int i = 0; i < n; i++)
                if (!e2e_close(got[i], ref[i], squares ? 10 * REL : REL, 1e-30 + REL * scale))
                    fail_msg("%s step %d: %s[%d] is %.9g, Keras %.9g", def->name, step + 1,
                             sd->name, i, got[i], ref[i]);
        }
    }

    /* The same epochs in one fit: bit for bit what the six fits did. */
    klc_model *m2 = new_model(c);
    opt.epochs = STEPS;
    assert_int_equal(klc_fit(m2, &x, &y, &opt, NULL), 0);
    assert_memory_equal(m2->params, m->params, sizeof(float) * (size_t)def->n_params);
    assert_memory_equal(m2->slots, m->slots, sizeof(float) * (size_t)def->n_slots);
    klc_model_free(m2);
    klc_model_free(m);
}

/* The reference must be able to fail: a wrong formula is caught.  Here Adam's
 * epsilon inside the bias correction (textbook Adam) must not pass. */
static void test_reference_discriminates(void **state)
{
    (void)state;
    Cfg c = cfgs[7]; /* adam_plain */
    assert_ptr_equal(c.def, &adam_plain_def);
    Ref a, b;
    memset(&a, 0, sizeof a);
    memcpy(a.w, W0, sizeof W0);
    memcpy(a.w + 6, B0, sizeof B0);
    b = a;
    float g[NW], g2[NW];
    loss_and_grads(a.w, g);
    memcpy(g2, g, sizeof g);
    ref_step(&c, &a, g);
    c.epsilon = 1e-7 * sqrt(1 - 0.999); /* ε / sqrt(1 - β2^t) at t = 1: textbook Adam */
    ref_step(&c, &b, g2);
    int differ = 0;
    for (int i = 0; i < NW; i++)
        differ += !e2e_close(a.w[i], b.w[i], REL, ABS);
    assert_true(differ > 0);
}

int main(void)
{
    enum { N = sizeof cfgs / sizeof cfgs[0] };
    struct CMUnitTest tests[N + 1];
    for (int i = 0; i < N; i++) {
        struct CMUnitTest t = { cfgs[i].def->name, check_against_reference, NULL, NULL,
                                (void *)&cfgs[i] };
        tests[i] = t;
    }
    struct CMUnitTest d = cmocka_unit_test(test_reference_discriminates);
    tests[N] = d;
    return _cmocka_run_group_tests("optimizers", tests, N + 1, NULL, NULL);
}
