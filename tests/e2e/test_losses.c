/*
 * test_losses.c — compiled losses and metrics against Keras' formulas.
 *
 * The models of losses.kl pass their input through a Dense layer whose
 * kernel is set to the identity and bias to zero, so the rows given to
 * klc_evaluate are exactly the logits or probabilities the loss sees.  Each
 * test works the expected loss and metrics out here, in double, from
 * keras-semantics.md §4–5 (TensorFlow's formulas where backends differ), and
 * a few totals are also written down as numbers computed by hand.
 *
 * klc_evaluate runs in batches of 2 over 5 rows (2, 2, 1): the epoch loss
 * must be the batch losses weighted by batch size, which for a mean loss is
 * the mean over all rows; the tests check that the unweighted mean of the
 * batch losses would differ, so the weighting is really exercised.
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

#include "e2e_losses.h"
#include "e2e_util.h"
#include "model.h" /* runtime internals: the learning rate */

#define ROWS 5
#define BATCH 2
#define EPS 1e-7

/* Keras' clip bounds, in float32 as TensorFlow computes them. */
static const double LO = (double)1e-7f;
static const double HI = (double)(1.0f - 1e-7f);

static double clip(double p)
{
    return p < LO ? LO : p > HI ? HI : p;
}

/* ---- running a model on known rows ---- */

/* Identity kernel, zero bias: the output is the input (then the activation). */
static klc_model *identity_model(const klc_model_def *def)
{
    klc_model *m = klc_model_new(def, 1);
    assert_non_null(m);
    int64_t d = def->output_shape[def->output_rank - 1];
    float *k = klc_model_weight(m, "dense.kernel"), *b = klc_model_weight(m, "dense.bias");
    assert_non_null(k);
    assert_non_null(b);
    for (int64_t i = 0; i < d; i++) {
        for (int64_t j = 0; j < d; j++)
            k[i * d + j] = i == j ? 1.0f : 0.0f;
        b[i] = 0.0f;
    }
    return m;
}

/* klc_evaluate over rows of `cols` floats, labels int32 ids (ycols 0) or floats. */
static void evaluate(klc_model *m, const float *x, int cols, const void *y, int ycols, int batch,
                     klc_logs *logs)
{
    int64_t xs[2] = { ROWS, cols }, ys[2] = { ROWS, ycols };
    klc_tensor xt = klc_tensor_wrap(KLC_F32, 2, xs, (void *)x);
    klc_tensor yt = ycols ? klc_tensor_wrap(KLC_F32, 2, ys, (void *)y)
                          : klc_tensor_wrap(KLC_I32, 1, ys, (void *)y);
    klc_eval_options opt = { .batch_size = batch };
    if (klc_evaluate_ex(m, &xt, &yt, &opt, logs) != 0)
        fail_msg("evaluate: %s", klc_last_error());
}

static void expect_log(const klc_logs *logs, const char *key, double want, double rel)
{
    double got = klc_logs_get(logs, key);
    if (!e2e_close(got, want, rel, 1e-7))
        fail_msg("%s is %.9g, expected %.9g", key, got, want);
}

/* The epoch loss over batches of 2 is the mean of the per-row losses; check
 * that an unweighted mean of batch means would not be. */
static double weighted_mean(const double *per_row)
{
    double all = 0, b1 = (per_row[0] + per_row[1]) / 2, b2 = (per_row[2] + per_row[3]) / 2,
           b3 = per_row[4];
    for (int i = 0; i < ROWS; i++)
        all += per_row[i];
    all /= ROWS;
    assert_false(e2e_close((b1 + b2 + b3) / 3, all, 1e-3, 0));
    return all;
}

/* The loss of a fit step is the training loss before the update: with one
 * batch of all rows and one epoch it must equal evaluate's. */
static void expect_train_loss(const klc_model_def *def, const float *x, int cols, const void *y,
                              int ycols, double want)
{
    klc_model *m = identity_model(def);
    int64_t xs[2] = { ROWS, cols }, ys[2] = { ROWS, ycols };
    klc_tensor xt = klc_tensor_wrap(KLC_F32, 2, xs, (void *)x);
    klc_tensor yt = ycols ? klc_tensor_wrap(KLC_F32, 2, ys, (void *)y)
                          : klc_tensor_wrap(KLC_I32, 1, ys, (void *)y);
    klc_fit_options opt = { .epochs = 1, .batch_size = ROWS, .no_shuffle = 1 };
    klc_history h;
    if (klc_fit(m, &xt, &yt, &opt, &h) != 0)
        fail_msg("fit: %s", klc_last_error());
    double got = klc_logs_get(&h.logs[0], "loss");
    klc_history_free(&h);
    klc_model_free(m);
    if (!e2e_close(got, want, 2e-6, 1e-7))
        fail_msg("%s: training loss %.9g, expected %.9g", def->name, got, want);
}

/* The identity model of `def` on these rows: evaluate's loss must be `want`;
 * its logs are left in *logs for the metrics. */
static void expect_eval_loss(const klc_model_def *def, const float *x, int cols, const void *y,
                             int ycols, double want, klc_logs *logs)
{
    klc_model *m = identity_model(def);
    evaluate(m, x, cols, y, ycols, BATCH, logs);
    klc_model_free(m);
    expect_log(logs, "loss", want, 1e-6);
}

/* expect_eval_loss, and the training loss of a fit step is `want` too. */
static void expect_loss(const klc_model_def *def, const float *x, int cols, const void *y, int ycols,
                        double want, klc_logs *logs)
{
    expect_eval_loss(def, x, cols, y, ycols, want, logs);
    expect_train_loss(def, x, cols, y, ycols, want);
}

/* ---- sparse categorical crossentropy ---- */

static const float SC_LOGITS[ROWS][4] = {
    { 2.0f, 1.0f, 0.1f, -1.0f },
    { 0.5f, 2.5f, -0.3f, 0.0f },
    { -1.0f, 0.0f, 1.0f, 3.0f },
    { 1.0f, 1.0f, 0.0f, 0.0f }, /* tie: argmax is the first, class 0 */
    { 0.0f, -2.0f, 4.0f, 1.0f },
};
static const int32_t SC_IDS[ROWS] = { 0, 3, 3, 1, 2 };
/* Probabilities: a zero probability of the label (clipped to 1e-7), rows that
 * do not sum to 1, a certain row (1 clipped to 1 - 1e-7). */
static const float SC_PROBS[ROWS][4] = {
    { 0.7f, 0.2f, 0.1f, 0.0f },
    { 0.25f, 0.25f, 0.25f, 0.25f },
    { 0.1f, 0.6f, 0.2f, 0.1f },
    { 1.0f, 0.0f, 0.0f, 0.0f },
    { 0.5f, 0.3f, 0.1f, 0.05f },
};
static const int32_t SC_PROB_IDS[ROWS] = { 3, 1, 1, 0, 2 };

static double logsumexp(const float *z, int n)
{
    double mx = z[0], s = 0;
    for (int i = 1; i < n; i++)
        mx = fmax(mx, z[i]);
    for (int i = 0; i < n; i++)
        s += exp(z[i] - mx);
    return mx + log(s);
}

static void test_scce_logits_and_softmax(void **state)
{
    (void)state;
    double per[ROWS];
    for (int i = 0; i < ROWS; i++)
        per[i] = logsumexp(SC_LOGITS[i], 4) - SC_LOGITS[i][SC_IDS[i]];
    double want = weighted_mean(per);
    /* by hand: the five row losses sum to 0.4493130 + 2.7454766 + 0.1851825 + 1.0064089
     * + 0.0682019 */
    assert_true(e2e_close(want, 4.4545828 / 5, 1e-6, 0));
    const klc_model_def *defs[2] = { &scce_logits_def, &scce_softmax_def };
    for (int d = 0; d < 2; d++) {
        klc_logs logs;
        expect_loss(defs[d], &SC_LOGITS[0][0], 4, SC_IDS, 0, want, &logs);
        expect_log(&logs, "accuracy", 3.0 / 5, 0); /* rows 0, 2, 4 */
        assert_int_equal(logs.n, 2);
    }
    assert_int_equal(scce_logits_def.metrics[0].kind, KLC_METRIC_SPARSE_CATEGORICAL_ACCURACY);
    assert_int_equal(scce_softmax_def.labels, KLC_LABELS_SPARSE);

    /* labels shaped [N, 1] are the same class ids */
    klc_model *m = identity_model(&scce_logits_def);
    int64_t xs[2] = { ROWS, 4 }, ys[2] = { ROWS, 1 };
    klc_tensor xt = klc_tensor_wrap(KLC_F32, 2, xs, (void *)SC_LOGITS);
    klc_tensor yt = klc_tensor_wrap(KLC_I32, 2, ys, (void *)SC_IDS);
    klc_logs logs;
    assert_int_equal(klc_evaluate(m, &xt, &yt, &logs), 0);
    expect_log(&logs, "loss", want, 1e-6);
    klc_model_free(m);
}

/* TensorFlow: clipped probabilities taken as the logits of log p:
 * l = -log clip(p_y) + log Σ_j clip(p_j). */
static void test_scce_probabilities(void **state)
{
    (void)state;
    double per[ROWS];
    for (int i = 0; i < ROWS; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++)
            s += clip(SC_PROBS[i][j]);
        per[i] = -log(clip(SC_PROBS[i][SC_PROB_IDS[i]])) + log(s);
    }
    /* by hand: row 0 is -log(1e-7) + log(1 + 1e-7) = 16.1180957 */
    assert_true(e2e_close(per[0], 16.1180957, 1e-6, 0));
    /* row 4 (sums to 0.95): -log(0.1) + log(0.95) = 2.2512918 */
    assert_true(e2e_close(per[4], 2.2512918, 1e-6, 0));
    double want = weighted_mean(per);
    klc_logs logs;
    expect_loss(&scce_probs_def, &SC_PROBS[0][0], 4, SC_PROB_IDS, 0, want, &logs);
    /* argmax: 0, 0 (tie), 1, 0, 0 against 3, 1, 1, 0, 2 */
    expect_log(&logs, "sparse_categorical_accuracy", 2.0 / 5, 0);
}

/* ---- categorical crossentropy ---- */

static void one_hot(const int32_t *ids, float out[ROWS][4])
{
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < 4; j++)
            out[i][j] = ids[i] == j ? 1.0f : 0.0f;
}

static double cce_logits_row(const float *z, const double *t)
{
    double lse = logsumexp(z, 4), l = 0;
    for (int j = 0; j < 4; j++)
        l -= t[j] * (z[j] - lse);
    return l;
}

/* p / Σp, clipped, -Σ t log p */
static double cce_probs_row(const float *p, const double *t)
{
    double s = 0, l = 0;
    for (int j = 0; j < 4; j++)
        s += p[j];
    for (int j = 0; j < 4; j++)
        l -= t[j] * log(clip(p[j] / s));
    return l;
}

static void smooth(const float *y, double s, int classes, double *t)
{
    for (int j = 0; j < classes; j++)
        t[j] = y[j] * (1 - s) + s / classes;
}

/* One-hot labels y (of SC_IDS) and yp (of SC_PROB_IDS), and the per-row
 * losses of SC_LOGITS against y smoothed by s (per) and of SC_PROBS against
 * yp smoothed by sp (perp). */
static void cce_rows(double s, double sp, float y[ROWS][4], float yp[ROWS][4], double *per,
                     double *perp)
{
    double t[4];
    one_hot(SC_IDS, y);
    one_hot(SC_PROB_IDS, yp);
    for (int i = 0; i < ROWS; i++) {
        smooth(y[i], s, 4, t);
        per[i] = cce_logits_row(SC_LOGITS[i], t);
        smooth(yp[i], sp, 4, t);
        perp[i] = cce_probs_row(SC_PROBS[i], t);
    }
}

static void test_cce(void **state)
{
    (void)state;
    float y[ROWS][4], yp[ROWS][4];
    double per[ROWS], perp[ROWS];
    cce_rows(0, 0, y, yp, per, perp);
    /* one-hot labels: the same numbers as the sparse loss from logits */
    double want = weighted_mean(per);
    assert_true(e2e_close(want, 4.4545828 / 5, 1e-6, 0));
    const klc_model_def *defs[2] = { &cce_logits_def, &cce_softmax_def };
    const char *acc[2] = { "accuracy", "acc" };
    for (int d = 0; d < 2; d++) {
        klc_logs logs;
        expect_loss(defs[d], &SC_LOGITS[0][0], 4, y, 4, want, &logs);
        expect_log(&logs, acc[d], 3.0 / 5, 0);
        assert_int_equal(defs[d]->metrics[0].kind, KLC_METRIC_CATEGORICAL_ACCURACY);
    }
    /* probabilities, renormalised: row 4 is -log(0.1 / 0.95) = 2.2512918 */
    assert_true(e2e_close(perp[4], 2.2512918, 1e-6, 0));
    want = weighted_mean(perp);
    klc_logs logs;
    expect_loss(&cce_probs_def, &SC_PROBS[0][0], 4, yp, 4, want, &logs);
    expect_log(&logs, "categorical_accuracy", 2.0 / 5, 0);
}

/* label_smoothing s: y (1 - s) + s / C, on probabilities and on logits */
static void test_cce_label_smoothing(void **state)
{
    (void)state;
    float y[ROWS][4], yp[ROWS][4];
    double per[ROWS], perp[ROWS];
    cce_rows(0.1, 0.2, y, yp, per, perp);
    /* by hand, row 1 of the probabilities: labels 0.05 0.85 0.05 0.05, all p = 0.25:
     * -log(0.25) = 1.3862944 */
    assert_true(e2e_close(perp[1], 1.3862944, 1e-6, 0));
    klc_logs logs;
    expect_eval_loss(&cce_smooth_logits_def, &SC_LOGITS[0][0], 4, y, 4, weighted_mean(per), &logs);
    expect_loss(&cce_smooth_probs_def, &SC_PROBS[0][0], 4, yp, 4, weighted_mean(perp), &logs);
}

/* ---- binary crossentropy ---- */

static const float B_LOGITS[ROWS][3] = {
    { 2.0f, -1.0f, 0.0f }, /* sigmoid(0) = 0.5 exactly: not > 0.5 */
    { -3.0f, 0.5f, 1.5f },
    { 0.2f, -0.2f, 4.0f },
    { -0.7f, -2.5f, 0.0f },
    { 1.0f, 3.0f, -1.0f },
};
static const float B_LABELS[ROWS][3] = {
    { 1, 0, 1 },
    { 0, 1, 1 },
    { 1, 1, 0 },
    { 0, 0, 0 },
    { 0, 1, 1 },
};
/* Probabilities with exact 0, 1 (clipped) and 0.5 (threshold: not > 0.5). */
static const float B_PROBS[ROWS][3] = {
    { 0.9f, 0.1f, 0.5f },
    { 0.0f, 0.8f, 1.0f },
    { 0.6f, 0.4f, 0.3f },
    { 0.5f, 0.2f, 1.0f },
    { 0.05f, 0.95f, 0.7f },
};

static double bce_logits_row(const float *z, const float *y, double s)
{
    double l = 0;
    for (int j = 0; j < 3; j++) {
        double t = y[j] * (1 - s) + 0.5 * s;
        l += fmax(z[j], 0) - z[j] * t + log1p(exp(-fabs(z[j])));
    }
    return l / 3;
}

static double bce_probs_row(const float *p, const float *y, double s)
{
    double l = 0;
    for (int j = 0; j < 3; j++) {
        double t = y[j] * (1 - s) + 0.5 * s, q = clip(p[j]);
        l -= t * log(q) + (1 - t) * log(1 - q);
    }
    return l / 3;
}

/* per-element (pred > 0.5) == label, averaged per sample then over samples */
static double binary_accuracy(const float pred[ROWS][3])
{
    double c = 0;
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < 3; j++)
            c += (pred[i][j] > 0.5f ? 1.0f : 0.0f) == B_LABELS[i][j];
    return c / (ROWS * 3);
}

static void test_bce_logits_and_sigmoid(void **state)
{
    (void)state;
    double per[ROWS];
    float sig[ROWS][3];
    for (int i = 0; i < ROWS; i++) {
        per[i] = bce_logits_row(B_LOGITS[i], B_LABELS[i], 0);
        for (int j = 0; j < 3; j++)
            sig[i][j] = (float)(1 / (1 + exp(-(double)B_LOGITS[i][j])));
    }
    /* by hand, row 3 (all labels 0): mean of softplus(-0.7), softplus(-2.5), log 2
     * = (0.4031860 + 0.0788897 + 0.6931472) / 3 */
    assert_true(e2e_close(per[3], 1.1752230 / 3, 1e-6, 0));
    double want = weighted_mean(per);

    /* from_logits, and 'accuracy' on 3 units with labels of the output's
     * shape: Keras resolves it to categorical accuracy (argmax == argmax) */
    klc_logs logs;
    expect_loss(&bce_logits_def, &B_LOGITS[0][0], 3, B_LABELS, 3, want, &logs);
    assert_int_equal(bce_logits_def.metrics[0].kind, KLC_METRIC_CATEGORICAL_ACCURACY);
    /* argmax of the logits 0, 2, 2, 2, 1 against argmax of the labels 0, 1, 0, 0, 1 */
    expect_log(&logs, "accuracy", 2.0 / 5, 0);

    /* sigmoid output: the loss from its logits; binary accuracy of sigmoid(z) */
    expect_loss(&bce_sigmoid_def, &B_LOGITS[0][0], 3, B_LABELS, 3, want, &logs);
    expect_log(&logs, "binary_accuracy", binary_accuracy((const float(*)[3])sig), 0);
    /* by hand: wrong are (0,2) at exactly 0.5 with label 1, (2,1), (2,2), (4,0)
     * and (4,2): 10 of 15 */
    expect_log(&logs, "binary_accuracy", 10.0 / 15, 0);

    /* from_logits = true on a sigmoid output: TensorFlow's fit warns and uses the
     * sigmoid's logits (keras-semantics §4.2), as for a softmax output */
    expect_loss(&bce_sigmoid_from_logits_def, &B_LOGITS[0][0], 3, B_LABELS, 3, want, &logs);
}

static void test_bce_probabilities(void **state)
{
    (void)state;
    double per[ROWS], pers[ROWS];
    for (int i = 0; i < ROWS; i++) {
        per[i] = bce_probs_row(B_PROBS[i], B_LABELS[i], 0);
        pers[i] = bce_probs_row(B_PROBS[i], B_LABELS[i], 0.3);
    }
    /* by hand, row 1: -log(1 - 1e-7) - log(0.8) - log(1 - 1e-7) over 3 = 0.0743813 */
    assert_true(e2e_close(per[1], 0.0743813, 1e-5, 0));
    klc_logs logs;
    expect_loss(&bce_probs_def, &B_PROBS[0][0], 3, B_LABELS, 3, weighted_mean(per), &logs);
    expect_log(&logs, "binary_accuracy", binary_accuracy(B_PROBS), 0);
    /* by hand: wrong are (0,2) 0.5 with label 1, (2,1) 0.4 with label 1 and
     * (3,2) 1.0 with label 0: 12 of 15 */
    expect_log(&logs, "binary_accuracy", 12.0 / 15, 0);

    expect_eval_loss(&bce_smooth_def, &B_PROBS[0][0], 3, B_LABELS, 3, weighted_mean(pers), &logs);
}

/* One unit: 'accuracy' is binary accuracy; labels may be [N] or [N, 1]. */
static void test_bce_one_unit(void **state)
{
    (void)state;
    const float p[ROWS] = { 0.5f, 0.7f, 0.2f, 1.0f, 0.0f };
    const float y[ROWS] = { 1, 1, 0, 0, 0 };
    double per[ROWS];
    for (int i = 0; i < ROWS; i++)
        per[i] = -(y[i] * log(clip(p[i])) + (1 - y[i]) * log(1 - clip(p[i])));
    assert_int_equal(bce_one_def.metrics[0].kind, KLC_METRIC_BINARY_ACCURACY);
    klc_model *m = identity_model(&bce_one_def);
    for (int rank = 1; rank <= 2; rank++) {
        int64_t xs[2] = { ROWS, 1 }, ys[2] = { ROWS, 1 };
        klc_tensor xt = klc_tensor_wrap(KLC_F32, 2, xs, (void *)p);
        klc_tensor yt = klc_tensor_wrap(KLC_F32, rank, ys, (void *)y);
        klc_eval_options opt = { .batch_size = BATCH };
        klc_logs logs;
        assert_int_equal(klc_evaluate_ex(m, &xt, &yt, &opt, &logs), 0);
        expect_log(&logs, "loss", weighted_mean(per), 1e-6);
        expect_log(&logs, "accuracy", 3.0 / 5, 0); /* 0.5 is not > 0.5 */
    }
    klc_model_free(m);
}

/* ---- regression losses ---- */

static const float R_PRED[ROWS][3] = {
    { 0.5f, -1.0f, 2.0f },
    { 0.0f, 0.3f, -0.2f },
    { 3.0f, 1.0f, 1.0f },
    { -0.4f, 0.9f, 0.1f },
    { 1.5f, -2.0f, 0.0f },
};
static const float R_TRUE[ROWS][3] = {
    { 0.0f, -1.2f, 1.0f },
    { 0.1f, 0.3f, 0.5f },
    { 1.0f, 1.1f, 0.0f },
    { -0.4f, 0.0f, 0.2f },
    { 1.0f, 0.0f, -0.25f },
};

typedef enum { MSE, MAE, HUBER } RegKind;

static double reg_row(RegKind k, int i, double delta)
{
    double l = 0;
    for (int j = 0; j < 3; j++) {
        double e = (double)R_PRED[i][j] - R_TRUE[i][j], a = fabs(e);
        if (k == MSE)
            l += e * e;
        else if (k == MAE)
            l += a;
        else /* Keras: 0.5 e² if |e| <= δ else 0.5 δ² + δ (|e| - δ) */
            l += a <= delta ? 0.5 * e * e : 0.5 * delta * delta + delta * (a - delta);
    }
    return l / 3;
}

static void test_regression(void **state)
{
    (void)state;
    double mse[ROWS], mae[ROWS], hub[ROWS], hub1[ROWS];
    for (int i = 0; i < ROWS; i++) {
        mse[i] = reg_row(MSE, i, 0);
        mae[i] = reg_row(MAE, i, 0);
        hub[i] = reg_row(HUBER, i, 0.5);
        hub1[i] = reg_row(HUBER, i, 1.0);
    }
    /* by hand, row 0: errors 0.5, 0.2, 1.0: mse (0.25 + 0.04 + 1) / 3,
     * huber(0.5): (0.125 + 0.02 + (0.125 + 0.25)) / 3 */
    assert_true(e2e_close(mse[0], 1.29 / 3, 1e-6, 0));
    assert_true(e2e_close(hub[0], 0.52 / 3, 1e-6, 0));

    klc_logs logs;
    expect_loss(&mse_model_def, &R_PRED[0][0], 3, R_TRUE, 3, weighted_mean(mse), &logs);
    expect_log(&logs, "mse", weighted_mean(mse), 1e-6);
    expect_log(&logs, "mae", weighted_mean(mae), 1e-6);
    assert_int_equal(logs.n, 3);

    expect_loss(&mae_model_def, &R_PRED[0][0], 3, R_TRUE, 3, weighted_mean(mae), &logs);
    expect_log(&logs, "mean_squared_error", weighted_mean(mse), 1e-6);

    expect_loss(&huber_model_def, &R_PRED[0][0], 3, R_TRUE, 3, weighted_mean(hub), &logs);

    /* delta = 1.0 */
    expect_eval_loss(&huber_default_def, &R_PRED[0][0], 3, R_TRUE, 3, weighted_mean(hub1), &logs);
}

/* ---- add_loss, add_metric, regularizers ---- */

static const float E_KERNEL[3][3] = { { 0.5f, -0.2f, 0.1f }, { 0.3f, 0.8f, -0.6f }, { -0.1f, 0.4f, 0.2f } };
static const float E_BIAS[3] = { 0.1f, -0.3f, 0.05f };

/* Dense with E_KERNEL / E_BIAS on row i of R_PRED, against R_TRUE. */
static void extras_row(int i, double *sq, double *ab)
{
    *sq = *ab = 0;
    for (int j = 0; j < 3; j++) {
        double p = E_BIAS[j];
        for (int k = 0; k < 3; k++)
            p += (double)R_PRED[i][k] * E_KERNEL[k][j];
        double e = p - R_TRUE[i][j];
        *sq += e * e / 3;
        *ab += fabs(e) / 3;
    }
}

static klc_model *extras_model(const klc_model_def *def)
{
    klc_model *m = klc_model_new(def, 1);
    assert_non_null(m);
    memcpy(klc_model_weight(m, "dense.kernel"), E_KERNEL, sizeof E_KERNEL);
    memcpy(klc_model_weight(m, "dense.bias"), E_BIAS, sizeof E_BIAS);
    return m;
}

/*
 * Keras: loss of a batch = mean MSE + Σ add_loss terms (a sum over the
 * batch, not averaged) + 0.1 Σ kernel² + 0.2 Σ |bias|; the epoch loss weighs
 * batches by size.  add_metric: the unweighted mean of the batch values.
 */
static void test_add_loss_metric_regularizers(void **state)
{
    (void)state;
    double k2 = 0, b1 = 0;
    for (int i = 0; i < 9; i++)
        k2 += (double)E_KERNEL[i / 3][i % 3] * E_KERNEL[i / 3][i % 3];
    for (int j = 0; j < 3; j++)
        b1 += fabs(E_BIAS[j]);
    const int64_t starts[3] = { 0, 2, 4 }, sizes[3] = { 2, 2, 1 };
    double loss = 0, mae = 0, x_mean = 0;
    for (int b = 0; b < 3; b++) {
        double sq = 0, ab = 0, x2 = 0, xs = 0;
        for (int64_t i = starts[b]; i < starts[b] + sizes[b]; i++) {
            double s, a;
            extras_row((int)i, &s, &a);
            sq += s;
            ab += a;
            for (int k = 0; k < 3; k++) {
                x2 += (double)R_PRED[i][k] * R_PRED[i][k];
                xs += R_PRED[i][k];
            }
        }
        double batch_loss = sq / sizes[b] + 0.25 * x2 + 0.1 * k2 + 0.2 * b1;
        loss += batch_loss * sizes[b] / ROWS;
        mae += ab / ROWS;
        x_mean += xs / (3.0 * sizes[b]) / 3;
    }
    klc_model *m = extras_model(&extras_def);
    klc_logs logs;
    evaluate(m, &R_PRED[0][0], 3, R_TRUE, 3, BATCH, &logs);
    expect_log(&logs, "loss", loss, 1e-6);
    expect_log(&logs, "mae", mae, 1e-6);
    expect_log(&logs, "x_mean", x_mean, 1e-6);
    assert_int_equal(logs.n, 3);
    /* an epoch-weighted x_mean (all 15 values) would differ */
    double all = 0;
    for (int i = 0; i < ROWS * 3; i++)
        all += R_PRED[i / 3][i % 3];
    assert_false(e2e_close(all / 15, x_mean, 1e-3, 0));
    klc_model_free(m);

    /* fit aggregates an epoch the same way: with the learning rate at 0 the
     * weights stay put, and 5 rows in batches of 2 (in order) give evaluate's
     * batches: the loss weighted by batch size, mae over all rows, x_mean
     * the plain mean of the three batch values */
    m = extras_model(&extras_def);
    m->learning_rate = 0.0f;
    {
        int64_t shp[2] = { ROWS, 3 };
        klc_tensor xt = klc_tensor_wrap(KLC_F32, 2, shp, (void *)R_PRED);
        klc_tensor yt = klc_tensor_wrap(KLC_F32, 2, shp, (void *)R_TRUE);
        klc_fit_options opt = { .epochs = 2, .batch_size = BATCH, .no_shuffle = 1 };
        klc_history h;
        assert_int_equal(klc_fit(m, &xt, &yt, &opt, &h), 0);
        for (int e = 0; e < 2; e++) {
            expect_log(&h.logs[e], "loss", loss, 1e-6);
            expect_log(&h.logs[e], "mae", mae, 1e-6);
            expect_log(&h.logs[e], "x_mean", x_mean, 1e-6);
        }
        klc_history_free(&h);
    }
    klc_model_free(m);

    /* training: one batch of all rows, before the update */
    double sq = 0, x2 = 0, xs = 0;
    for (int i = 0; i < ROWS; i++) {
        double s, a;
        extras_row(i, &s, &a);
        sq += s;
        for (int k = 0; k < 3; k++) {
            x2 += (double)R_PRED[i][k] * R_PRED[i][k];
            xs += R_PRED[i][k];
        }
    }
    m = extras_model(&extras_def);
    int64_t shp[2] = { ROWS, 3 };
    klc_tensor xt = klc_tensor_wrap(KLC_F32, 2, shp, (void *)R_PRED);
    klc_tensor yt = klc_tensor_wrap(KLC_F32, 2, shp, (void *)R_TRUE);
    klc_fit_options opt = { .epochs = 1, .batch_size = ROWS, .no_shuffle = 1 };
    klc_history h;
    assert_int_equal(klc_fit(m, &xt, &yt, &opt, &h), 0);
    expect_log(&h.logs[0], "loss", sq / ROWS + 0.25 * x2 + 0.1 * k2 + 0.2 * b1, 2e-6);
    expect_log(&h.logs[0], "x_mean", xs / 15, 1e-6);
    klc_history_free(&h);
    klc_model_free(m);

    /* 'l2' alone is l2(0.01); l1_l2(l1, l2) both */
    double bias_pen = 0;
    for (int j = 0; j < 3; j++)
        bias_pen += 0.05 * fabs(E_BIAS[j]) + 0.3 * (double)E_BIAS[j] * E_BIAS[j];
    m = extras_model(&regularized_def);
    evaluate(m, &R_PRED[0][0], 3, R_TRUE, 3, BATCH, &logs);
    expect_log(&logs, "loss", sq / ROWS + 0.01 * k2 + bias_pen, 1e-6);
    klc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scce_logits_and_softmax),
        cmocka_unit_test(test_scce_probabilities),
        cmocka_unit_test(test_cce),
        cmocka_unit_test(test_cce_label_smoothing),
        cmocka_unit_test(test_bce_logits_and_sigmoid),
        cmocka_unit_test(test_bce_probabilities),
        cmocka_unit_test(test_bce_one_unit),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_add_loss_metric_regularizers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
