/*
 * test_fit.c — fit / evaluate / predict on the fake models: data checks,
 * Keras' loss and metric aggregation, batching, shuffling, validation,
 * reproducibility, output, history and summary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_model.h"
#include "metrics.h"
#include "model.h"
#include "rng.h"

#define N 40

static void assert_error_is(const char *want)
{
    if (strcmp(klc_last_error(), want) != 0)
        fail_msg("error \"%s\", expected \"%s\"", klc_last_error(), want);
}

static void assert_error_has(const char *want)
{
    if (!strstr(klc_last_error(), want))
        fail_msg("error \"%s\" lacks \"%s\"", klc_last_error(), want);
}

static void test_data_checks(void **state)
{
    (void)state;
    klc_model *m = klc_model_new(&fake_sgd_def, 1);
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 10, 1, 0), 0);
    klc_fit_options opt = { .epochs = 1 };

    int64_t bad_shape[2] = { 10, 5 };
    float bad[50] = { 0 };
    klc_tensor xb = klc_tensor_wrap(KLC_F32, 2, bad_shape, bad);
    assert_int_equal(klc_fit(m, &xb, &y, &opt, NULL), -1);
    assert_error_is("x has shape [10, 5] but the model expects [None, 4]");

    klc_tensor y9 = y;
    y9.shape[0] = 9;
    assert_int_equal(klc_fit(m, &x, &y9, &opt, NULL), -1);
    assert_error_is("x has 10 rows but y has 9");

    ((int32_t *)y.data)[7] = 3;
    assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), -1);
    assert_error_is("y: label 3 in row 7 is not a class id in [0, 3)");
    ((int32_t *)y.data)[7] = 0;

    int64_t y2shape[2] = { 10, 2 };
    int32_t y2[20] = { 0 };
    klc_tensor yb = klc_tensor_wrap(KLC_I32, 2, y2shape, y2);
    assert_int_equal(klc_fit(m, &x, &yb, &opt, NULL), -1);
    assert_error_is("y has shape [10, 2] but the model expects class ids of shape [None]");

    assert_int_equal(klc_fit(m, &x, NULL, &opt, NULL), -1);
    assert_error_has("no y given");

    /* non-integral float labels are refused, naming y */
    int64_t yfs[1] = { 10 };
    float yf[10] = { 0, 1, 2, 0, 1, 2, 0, 1, 2.5f, 0 };
    klc_tensor yfl = klc_tensor_wrap(KLC_F32, 1, yfs, yf);
    assert_int_equal(klc_fit(m, &x, &yfl, &opt, NULL), -1);
    assert_error_has("y");

    assert_int_equal(klc_evaluate(m, &xb, &y, NULL), -1);
    assert_error_is("x has shape [10, 5] but the model expects [None, 4]");
    klc_tensor out;
    assert_int_equal(klc_predict(m, &xb, &out), -1);

    opt.validation_split = 1.5;
    assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), -1);
    assert_error_has("validation_split");
    klc_model_free(m);

    /* dense labels must have the output's shape */
    m = klc_model_new(&fake_mse_def, 1);
    opt.validation_split = 0;
    assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), -1);
    assert_error_is("y has shape [10] but the model expects [None, 3]");
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

/* The C API names the file a tensor was loaded from in every data message. */
static void load_saved(klc_tensor *t, const klc_tensor *from, const char *name, char *path,
                       size_t size)
{
    snprintf(path, size, "%s", fake_path(name));
    assert_int_equal(klc_npy_save(from, path), 0);
    assert_int_equal(klc_data_load(t, path), 0);
    assert_string_equal(t->source, path);
}

static void test_data_messages_name_files(void **state)
{
    (void)state;
    char want[2048], xp[300], yp[300], bp[300], y9p[300], yfp[300];
    klc_model *m = klc_model_new(&fake_sgd_def, 1);
    klc_tensor x0, y0, x, y, xb, y9, yf;
    assert_int_equal(fake_make_data(&x0, &y0, 10, 1, 0), 0);
    load_saved(&x, &x0, "named_x.npy", xp, sizeof xp);
    load_saved(&y, &y0, "named_y.npy", yp, sizeof yp);
    klc_fit_options opt = { .epochs = 1 };

    int64_t bad_shape[2] = { 10, 5 };
    float bad[50] = { 0 };
    klc_tensor xw = klc_tensor_wrap(KLC_F32, 2, bad_shape, bad);
    load_saved(&xb, &xw, "named_bad_x.npy", bp, sizeof bp);
    assert_int_equal(klc_fit(m, &xb, &y, &opt, NULL), -1);
    snprintf(want, sizeof want, "x (%s) has shape [10, 5] but the model expects [None, 4]", bp);
    assert_error_is(want);
    assert_int_equal(klc_evaluate(m, &xb, &y, NULL), -1);
    assert_error_is(want);
    klc_tensor out;
    assert_int_equal(klc_predict(m, &xb, &out), -1);
    assert_error_is(want);

    klc_tensor y9w = y0;
    y9w.shape[0] = 9;
    load_saved(&y9, &y9w, "named_y9.npy", y9p, sizeof y9p);
    assert_int_equal(klc_fit(m, &x, &y9, &opt, NULL), -1);
    snprintf(want, sizeof want, "x (%s) has 10 rows but y (%s) has 9", xp, y9p);
    assert_error_is(want);

    ((int32_t *)y.data)[7] = 3;
    assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), -1);
    snprintf(want, sizeof want, "y (%s): label 3 in row 7 is not a class id in [0, 3)", yp);
    assert_error_is(want);
    ((int32_t *)y.data)[7] = 0;

    /* dtype: float labels that are not class ids */
    int64_t yfs[1] = { 10 };
    float yfv[10] = { 0, 1, 2, 0, 1, 2, 0, 1, 2.5f, 0 };
    klc_tensor yfw = klc_tensor_wrap(KLC_F32, 1, yfs, yfv);
    load_saved(&yf, &yfw, "named_yf.npy", yfp, sizeof yfp);
    assert_int_equal(klc_fit(m, &x, &yf, &opt, NULL), -1);
    snprintf(want, sizeof want, "y (%s): cannot convert float32 to int32: value 2.5 at index 8 "
             "is not an integer", yfp);
    assert_error_is(want);
    klc_model_free(m);

    /* dense labels: shape */
    m = klc_model_new(&fake_mse_def, 1);
    assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), -1);
    snprintf(want, sizeof want, "y (%s) has shape [10] but the model expects [None, 3]", yp);
    assert_error_is(want);
    klc_model_free(m);

    /* a conversion keeps the source; a wrapped tensor has none; long paths keep their tail */
    klc_tensor conv;
    assert_int_equal(klc_tensor_convert(&conv, &y, KLC_F32), 0);
    assert_string_equal(conv.source, yp);
    klc_tensor_free(&conv);
    assert_string_equal(xw.source, "");
    char longp[600];
    memset(longp, 'd', sizeof longp);
    memcpy(longp + sizeof longp - 7, "/x.npy", 7);
    klc_tensor_set_source(&xw, longp);
    assert_int_equal(strlen(xw.source), KLC_SOURCE_MAX - 1);
    assert_memory_equal(xw.source, "...", 3);
    assert_string_equal(xw.source + strlen(xw.source) - 6, "/x.npy");
    klc_tensor *ts[] = { &x0, &y0, &x, &y, &xb, &y9, &yf };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        klc_tensor_free(ts[i]);
}

/* Float labels that are integral, [n, 1] labels and int32 [n] labels train identically. */
static void test_label_forms(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, N, 2, 0), 0);
    klc_tensor yf, y1 = y;
    assert_int_equal(klc_tensor_convert(&yf, &y, KLC_F64), 0);
    y1.rank = 2;
    y1.shape[1] = 1;
    y1.owns = 0;
    const klc_tensor *forms[3] = { &y, &yf, &y1 };
    float kernels[3][FAKE_D * FAKE_C];
    for (int i = 0; i < 3; i++) {
        klc_model *m = klc_model_new(&fake_sgd_def, 9);
        klc_fit_options opt = { .epochs = 2, .batch_size = 8 };
        assert_int_equal(klc_fit(m, &x, forms[i], &opt, NULL), 0);
        memcpy(kernels[i], klc_model_weight(m, "dense.kernel"), sizeof kernels[i]);
        klc_model_free(m);
    }
    assert_memory_equal(kernels[0], kernels[1], sizeof kernels[0]);
    assert_memory_equal(kernels[0], kernels[2], sizeof kernels[0]);
    klc_tensor_free(&yf);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

/*
 * The epoch logs of fit equal Keras' aggregation of a replay of the same
 * steps: loss weighted by batch size (40 rows = 16 + 16 + 8), accuracy =
 * correct / N over pre-update predictions, add_metric = unweighted mean of
 * the batch values.
 */
static void test_epoch_aggregation(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, N, 3, 0), 0);
    klc_model *m = klc_model_new(&fake_sgd_def, 5);
    klc_model *r = klc_model_new(&fake_sgd_def, 5);
    klc_fit_options opt = { .epochs = 1, .batch_size = 16, .no_shuffle = 1 };
    klc_history h;
    assert_int_equal(klc_fit(m, &x, &y, &opt, &h), 0);
    assert_int_equal(h.n_epochs, 1);
    assert_int_equal(h.epochs[0], 0);

    /* replay */
    klc_model_reserve(r, 16);
    double loss_sum = 0, conf_sum = 0, correct = 0;
    const float *xv = x.data;
    const int32_t *yv = y.data;
    for (int b = 0; b < 3; b++) {
        int64_t n = b < 2 ? 16 : 8;
        float ypred[16 * FAKE_C];
        double added[1];
        klc_step s = { 0 };
        s.n = n;
        s.cap = r->cap;
        s.x = xv + b * 16 * FAKE_D;
        s.y = yv + b * 16;
        s.params = r->params;
        s.grads = r->grads;
        s.state = r->state;
        s.slots = r->slots;
        s.work = r->work;
        s.iwork = r->iwork;
        s.iteration = b;
        s.learning_rate = 0.1f;
        s.y_pred = ypred;
        s.added_metrics = added;
        fake_sgd_def.train_step(&s);
        loss_sum += s.loss * (double)n;
        conf_sum += added[0];
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            for (int j = 1; j < FAKE_C; j++)
                if (ypred[i * FAKE_C + j] > ypred[i * FAKE_C + best])
                    best = j;
            correct += best == yv[b * 16 + i];
        }
    }
    assert_true(klc_logs_get(&h.logs[0], "loss") == loss_sum / N);
    assert_true(klc_logs_get(&h.logs[0], "accuracy") == correct / N);
    assert_true(klc_logs_get(&h.logs[0], "confidence") == conf_sum / 3);
    assert_int_equal(h.logs[0].n, 3);
    assert_string_equal(h.logs[0].names[0], "accuracy");
    assert_string_equal(h.logs[0].names[1], "confidence");
    assert_string_equal(h.logs[0].names[2], "loss");
    assert_memory_equal(m->params, r->params, (size_t)fake_sgd_def.n_params * sizeof(float));
    assert_memory_equal(m->state, r->state, FAKE_D * sizeof(float));
    assert_int_equal(m->iteration, 3);
    klc_history_free(&h);
    klc_model_free(m);
    klc_model_free(r);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

static void test_training_learns_and_defaults(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 200, 4, 0), 0);
    klc_model *m = klc_model_new(&fake_sgd_def, 1);
    klc_history h;
    /* zero options: the def's fit settings (2 epochs, batch 16) */
    assert_int_equal(klc_fit(m, &x, &y, NULL, &h), 0);
    assert_int_equal(h.n_epochs, 2);
    assert_int_equal(m->iteration, 2 * 13); /* ceil(200 / 16) */
    klc_history_free(&h);
    klc_fit_options opt = { .epochs = 12, .initial_epoch = 2, .batch_size = 100 };
    assert_int_equal(klc_fit(m, &x, &y, &opt, &h), 0); /* batch above the capacity grows it */
    assert_int_equal(h.n_epochs, 10);
    assert_int_equal(h.epochs[0], 2);
    assert_int_equal(h.epochs[9], 11);
    assert_true(m->cap >= 100);
    assert_true(klc_logs_get(&h.logs[9], "loss") < klc_logs_get(&h.logs[0], "loss"));
    klc_logs logs;
    assert_int_equal(klc_evaluate(m, &x, &y, &logs), 0);
    assert_true(klc_logs_get(&logs, "accuracy") > 0.85);
    assert_true(isnan(klc_logs_get(&logs, "val_loss")));
    klc_history_free(&h);
    /* epochs <= initial_epoch: nothing to do */
    opt.initial_epoch = 12;
    int64_t it = m->iteration;
    assert_int_equal(klc_fit(m, &x, &y, &opt, &h), 0);
    assert_int_equal(h.n_epochs, 0);
    assert_int_equal(m->iteration, it);
    klc_history_free(&h);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

static void test_reproducible_and_shuffled(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 100, 6, 0), 0);
    float w[4][FAKE_D * FAKE_C + FAKE_C];
    const uint64_t seeds[4] = { 11, 11, 12, 11 };
    for (int i = 0; i < 4; i++) {
        klc_model *m = klc_model_new(&fake_adam_def, seeds[i]);
        klc_fit_options opt = { .epochs = 3, .batch_size = 10, .no_shuffle = i == 3 };
        assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), 0);
        memcpy(w[i], m->params, sizeof w[i]);
        klc_model_free(m);
    }
    assert_memory_equal(w[0], w[1], sizeof w[0]);     /* same seed: same bits */
    assert_memory_not_equal(w[0], w[2], sizeof w[0]); /* another seed */
    assert_memory_not_equal(w[0], w[3], sizeof w[0]); /* shuffling changes the batches */
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

/* validation_split takes the last rows before shuffling; val_ keys = evaluate on them. */
static void test_validation(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, N, 7, 0), 0);
    klc_model *m = klc_model_new(&fake_sgd_def, 3);
    klc_fit_options opt = { .epochs = 1, .batch_size = 8, .validation_split = 0.25 };
    klc_history h;
    assert_int_equal(klc_fit(m, &x, &y, &opt, &h), 0);
    assert_int_equal(m->iteration, 4); /* 30 training rows */
    const char *keys[6] = { "accuracy", "confidence", "loss", "val_accuracy", "val_confidence",
                            "val_loss" };
    assert_int_equal(h.logs[0].n, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(h.logs[0].names[i], keys[i]);
    int64_t vshape[2] = { 10, FAKE_D }, vyshape[1] = { 10 };
    klc_tensor vx = klc_tensor_wrap(KLC_F32, 2, vshape, (float *)x.data + 30 * FAKE_D);
    klc_tensor vy = klc_tensor_wrap(KLC_I32, 1, vyshape, (int32_t *)y.data + 30);
    klc_logs logs;
    klc_eval_options eo = { .batch_size = 8 };
    assert_int_equal(klc_evaluate_ex(m, &vx, &vy, &eo, &logs), 0);
    assert_true(klc_logs_get(&logs, "loss") == klc_logs_get(&h.logs[0], "val_loss"));
    assert_true(klc_logs_get(&logs, "accuracy") == klc_logs_get(&h.logs[0], "val_accuracy"));
    klc_history_free(&h);

    /* validation_x / validation_y override the split */
    opt.validation_x = &vx;
    opt.validation_y = &vy;
    assert_int_equal(klc_fit(m, &x, &y, &opt, &h), 0);
    assert_int_equal(m->iteration, 4 + 5); /* all 40 rows train */
    klc_history_free(&h);

    /* a split that leaves no rows on one side */
    int64_t one[2] = { 1, FAKE_D };
    klc_tensor x1 = klc_tensor_wrap(KLC_F32, 2, one, x.data);
    klc_tensor y1 = klc_tensor_wrap(KLC_I32, 1, one, y.data);
    klc_fit_options o2 = { .epochs = 1, .validation_split = 0.5 };
    assert_int_equal(klc_fit(m, &x1, &y1, &o2, NULL), -1);
    assert_error_has("Training data contains 1 samples, which is not sufficient");
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

static void test_predict(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 37, 8, 0), 0);
    klc_model *m = klc_model_new(&fake_sgd_def, 3);
    klc_tensor p1, p2;
    assert_int_equal(klc_predict(m, &x, &p1), 0);
    klc_eval_options eo = { .batch_size = 5 };
    assert_int_equal(klc_predict_ex(m, &x, &eo, &p2), 0);
    assert_int_equal(p1.dtype, KLC_F32);
    assert_int_equal(p1.rank, 2);
    assert_int_equal(p1.shape[0], 37);
    assert_int_equal(p1.shape[1], FAKE_C);
    assert_memory_equal(p1.data, p2.data, 37 * FAKE_C * sizeof(float));
    const float *p = p1.data;
    for (int r = 0; r < 37; r++)
        assert_true(fabs(p[r * 3] + p[r * 3 + 1] + p[r * 3 + 2] - 1.0) < 1e-5);
    klc_tensor_free(&p1);
    klc_tensor_free(&p2);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

/* Dense labels and the error metrics: evaluate's mae/mse equal those of predict's output. */
static void test_dense_labels_metrics(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 50, 9, 1), 0);
    klc_model *m = klc_model_new(&fake_mse_def, 3);
    klc_fit_options opt = { .epochs = 20, .batch_size = 10 };
    klc_history h;
    assert_int_equal(klc_fit(m, &x, &y, &opt, &h), 0);
    assert_true(klc_logs_get(&h.logs[19], "loss") < 0.1 * klc_logs_get(&h.logs[0], "loss"));
    klc_logs logs;
    assert_int_equal(klc_evaluate(m, &x, &y, &logs), 0);
    klc_tensor p;
    assert_int_equal(klc_predict(m, &x, &p), 0);
    double mae = 0, mse = 0;
    for (int i = 0; i < 50 * FAKE_C; i++) {
        double e = (double)((float *)y.data)[i] - ((float *)p.data)[i];
        mae += fabs(e);
        mse += e * e;
    }
    assert_true(fabs(klc_logs_get(&logs, "mae") - mae / 150) < 1e-9);
    assert_true(fabs(klc_logs_get(&logs, "mse") - mse / 150) < 1e-9);
    assert_true(fabs(klc_logs_get(&logs, "loss") - mse / 150) < 1e-6);
    klc_tensor_free(&p);
    klc_history_free(&h);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

static void test_metric_samples(void **state)
{
    (void)state;
    float tie[3] = { 0.4f, 0.4f, 0.2f };
    int32_t id0 = 0, id1 = 1;
    /* first-max ties */
    assert_true(klc_metric_sample(KLC_METRIC_SPARSE_CATEGORICAL_ACCURACY, tie, &id0, 3, 3) == 1.0);
    assert_true(klc_metric_sample(KLC_METRIC_SPARSE_CATEGORICAL_ACCURACY, tie, &id1, 3, 3) == 0.0);
    float onehot[3] = { 0, 1, 0 };
    assert_true(klc_metric_sample(KLC_METRIC_CATEGORICAL_ACCURACY, tie, onehot, 3, 3) == 0.0);
    /* binary accuracy: ŷ > 0.5 strictly, averaged over the sample's elements */
    float pred[4] = { 0.5f, 0.51f, 0.2f, 0.9f }, truth[4] = { 0, 1, 1, 1 };
    assert_true(klc_metric_sample(KLC_METRIC_BINARY_ACCURACY, pred, truth, 4, 4) == 0.75);
    assert_true(fabs(klc_metric_sample(KLC_METRIC_MEAN_ABSOLUTE_ERROR, pred, truth, 4, 4) -
                     (0.5 + 0.49 + 0.8 + 0.1) / 4) < 1e-6);
    assert_true(fabs(klc_metric_sample(KLC_METRIC_MEAN_SQUARED_ERROR, pred, truth, 4, 4) -
                     (0.25 + 0.49 * 0.49 + 0.64 + 0.01) / 4) < 1e-6);
    /* sparse accuracy over positions [2, 3] of one sample: mean of the positions */
    float seq[6] = { 1, 0, 0, 0, 0, 1 };
    int32_t ids[2] = { 0, 1 };
    assert_true(klc_metric_sample(KLC_METRIC_SPARSE_CATEGORICAL_ACCURACY, seq, ids, 6, 3) == 0.5);
}

static void test_logs_and_repr(void **state)
{
    (void)state;
    klc_logs logs = { 0 };
    klc_logs_set(&logs, "", "loss", 1.0);
    klc_logs_set(&logs, "val_", "loss", 2.0);
    klc_logs_set(&logs, "", "accuracy", 3.0);
    klc_logs_set(&logs, "", "loss", 4.0);
    assert_int_equal(logs.n, 3);
    assert_string_equal(logs.names[0], "accuracy");
    assert_string_equal(logs.names[1], "loss");
    assert_string_equal(logs.names[2], "val_loss");
    assert_true(klc_logs_get(&logs, "loss") == 4.0);
    assert_true(isnan(klc_logs_get(&logs, "mae")));
    const struct { double v; const char *s; } cases[] = {
        { 0.1, "0.1" }, { 1e-05, "1e-05" }, { 12.0, "12.0" }, { 1.5e16, "1.5e+16" },
        { 0.30000001192092896, "0.30000001192092896" }, { -2.5, "-2.5" }, { 0.0001, "0.0001" },
        { 123456789.0, "123456789.0" }, { NAN, "nan" }, { -INFINITY, "-inf" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        klc_repr_double(buf, sizeof buf, cases[i].v);
        assert_string_equal(buf, cases[i].s);
    }
}

static void test_history_csv(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, N, 10, 0), 0);
    klc_model *m = klc_model_new(&fake_sgd_def, 3);
    klc_fit_options opt = { .epochs = 3, .initial_epoch = 1 };
    klc_history h;
    assert_int_equal(klc_fit(m, &x, &y, &opt, &h), 0);
    const char *path = fake_path("history.csv");
    assert_int_equal(klc_history_write_csv(&h, path), 0);
    char *text = fake_read_text(path);
    assert_non_null(text);
    char want[512], a[64], c[64], l[64];
    int len = snprintf(want, sizeof want, "epoch,accuracy,confidence,loss\n");
    for (int e = 0; e < 2; e++) {
        klc_repr_double(a, sizeof a, klc_logs_get(&h.logs[e], "accuracy"));
        klc_repr_double(c, sizeof c, klc_logs_get(&h.logs[e], "confidence"));
        klc_repr_double(l, sizeof l, klc_logs_get(&h.logs[e], "loss"));
        len += snprintf(want + len, sizeof want - (size_t)len, "%d,%s,%s,%s\n", e + 1, a, c, l);
    }
    assert_string_equal(text, want);
    free(text);
    klc_history_free(&h);
    klc_history_free(&h); /* twice is harmless */
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

/* Output: "Epoch e/E" lines only when epochs > 1, a bar per epoch, nothing at verbose 0. */
static void test_output(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, N, 11, 0), 0);
    klc_model *m = klc_model_new(&fake_sgd_def, 3);
    const char *path = fake_path("fit.out");
    for (int verbose = 0; verbose <= 2; verbose++) {
        for (int epochs = 1; epochs <= 2; epochs++) {
            FILE *out = fopen(path, "w");
            klc_fit_options opt = { .epochs = epochs, .verbose = verbose, .out = out,
                                    .validation_split = 0.2 };
            assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), 0);
            fclose(out);
            char *text = fake_read_text(path);
            if (verbose == 0) {
                assert_string_equal(text, "");
            } else {
                assert_true((strstr(text, "Epoch 1/2\n") != NULL) == (epochs == 2));
                assert_true((strstr(text, "Epoch 2/2\n") != NULL) == (epochs == 2));
                assert_non_null(strstr(text, "2/2")); /* 32 rows, batch 16 */
                assert_non_null(strstr(text, " - val_loss: "));
                assert_non_null(strstr(text, "accuracy: "));
                assert_true(text[strlen(text) - 1] == '\n');
            }
            free(text);
        }
    }
    /* evaluate's bar at verbose 1 */
    FILE *out = fopen(path, "w");
    klc_eval_options eo = { .verbose = 1, .out = out };
    klc_logs logs;
    assert_int_equal(klc_evaluate_ex(m, &x, &y, &eo, &logs), 0);
    fclose(out);
    char *text = fake_read_text(path);
    assert_non_null(strstr(text, "2/2"));
    assert_non_null(strstr(text, "loss: "));
    assert_null(strstr(text, "Epoch"));
    free(text);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

static char *summary_text(klc_model *m)
{
    const char *path = fake_path("summary.txt");
    FILE *out = fopen(path, "w");
    klc_model_summary(m, out, 88);
    fclose(out);
    return fake_read_text(path);
}

static void test_summary_optimizer_line(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, N, 12, 0), 0);
    klc_model *m = klc_model_new(&fake_adam_def, 3);
    char *text = summary_text(m);
    assert_non_null(strstr(text, "Model: \"sequential\""));
    assert_non_null(strstr(text, "dense (Dense)"));
    assert_non_null(strstr(text, " Trainable params: 15 (60.00 B)"));
    assert_non_null(strstr(text, " Non-trainable params: 4 (16.00 B)"));
    assert_null(strstr(text, "Optimizer params"));
    free(text);
    klc_fit_options opt = { .epochs = 1 };
    assert_int_equal(klc_fit(m, &x, &y, &opt, NULL), 0);
    text = summary_text(m);
    /* iterations + learning rate + 30 slot floats; 4·30 + 4 + 8 bytes */
    assert_non_null(strstr(text, " Optimizer params: 32 (132.00 B)"));
    free(text);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_checks),
        cmocka_unit_test(test_data_messages_name_files),
        cmocka_unit_test(test_label_forms),
        cmocka_unit_test(test_epoch_aggregation),
        cmocka_unit_test(test_training_learns_and_defaults),
        cmocka_unit_test(test_reproducible_and_shuffled),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_dense_labels_metrics),
        cmocka_unit_test(test_metric_samples),
        cmocka_unit_test(test_logs_and_repr),
        cmocka_unit_test(test_history_csv),
        cmocka_unit_test(test_output),
        cmocka_unit_test(test_summary_optimizer_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
