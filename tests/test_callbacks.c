/*
 * test_callbacks.c — EarlyStopping, ModelCheckpoint and TerminateOnNaN:
 * Keras' rules, messages, and the checkpoint path placeholders; the
 * learning-rate schedules against Keras' formulas computed by hand, and the
 * rate each step gets from them and from ReduceLROnPlateau and
 * LearningRateScheduler.
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
#include <unistd.h>

#include "callbacks.h"
#include "fake_model.h"
#include "metrics.h"
#include "model.h"

#define N 48

typedef struct fixture {
    klc_tensor x, y;
    klc_model *m;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (fake_make_data(&f->x, &f->y, N, 21, 0))
        return -1;
    f->m = klc_model_new(&fake_sgd_def, 4);
    *state = f;
    return f->m ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    klc_model_free(f->m);
    klc_tensor_free(&f->x);
    klc_tensor_free(&f->y);
    free(f);
    return 0;
}

/* Run fit with output into a file; returns fit's status, *text the output. */
static int fit_capture(fixture *f, klc_fit_options *opt, klc_history *h, char **text)
{
    const char *path = fake_path("callbacks.out");
    FILE *out = fopen(path, "w");
    opt->out = out;
    int rc = klc_fit(f->m, &f->x, &f->y, opt, h);
    fclose(out);
    *text = fake_read_text(path);
    return rc;
}

/* No epoch ever improves by min_delta 10: patience 0 stops at the second epoch. */
static void test_early_stopping_patience(void **state)
{
    fixture *f = *state;
    klc_fit_options opt = { .epochs = 10, .batch_size = 16 };
    opt.early_stopping = (klc_early_stopping){ .enabled = 1, .monitor = "loss", .min_delta = 10,
                                               .verbose = 1 };
    klc_history h;
    char *text;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    assert_int_equal(h.n_epochs, 2);
    assert_string_equal(text, "Epoch 2: early stopping\n");
    free(text);
    klc_history_free(&h);

    /* patience 3 waits three epochs after the first */
    opt.early_stopping.patience = 3;
    opt.early_stopping.verbose = 0;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    assert_int_equal(h.n_epochs, 4);
    assert_string_equal(text, "");
    free(text);
    klc_history_free(&h);

    /* the loss keeps improving with min_delta 0: no stop */
    opt.early_stopping.min_delta = 0;
    opt.epochs = 5;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    assert_int_equal(h.n_epochs, 5);
    free(text);
    klc_history_free(&h);

    /* start_from_epoch: epochs before it are ignored */
    opt.early_stopping = (klc_early_stopping){ .enabled = 1, .monitor = "loss", .min_delta = 10,
                                               .start_from_epoch = 3 };
    opt.epochs = 10;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    assert_int_equal(h.n_epochs, 5); /* best at 3, no improvement at 4 */
    free(text);
    klc_history_free(&h);
}

/* mode max on the (falling) loss makes epoch 1 the best; restore its weights. */
static void test_restore_best_weights(void **state)
{
    fixture *f = *state;
    klc_model *ref = klc_model_new(&fake_sgd_def, 4);
    klc_fit_options ro = { .epochs = 1, .batch_size = 16 };
    assert_int_equal(klc_fit(ref, &f->x, &f->y, &ro, NULL), 0);

    klc_fit_options opt = { .epochs = 10, .batch_size = 16 };
    opt.early_stopping = (klc_early_stopping){ .enabled = 1, .monitor = "loss", .mode = 2,
                                               .patience = 2, .restore_best_weights = 1,
                                               .verbose = 1 };
    klc_history h;
    char *text;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    assert_int_equal(h.n_epochs, 3);
    assert_string_equal(text, "Epoch 3: early stopping\n"
                              "Restoring model weights from the end of the best epoch: 1.\n");
    assert_memory_equal(f->m->params, ref->params, (size_t)fake_sgd_def.n_params * sizeof(float));
    assert_memory_equal(f->m->state, ref->state, (size_t)fake_sgd_def.n_state * sizeof(float));
    free(text);
    klc_history_free(&h);
    klc_model_free(ref);
}

static void test_monitor_errors(void **state)
{
    fixture *f = *state;
    klc_fit_options opt = { .epochs = 2 };
    opt.early_stopping.enabled = 1; /* val_loss without validation data */
    int64_t it = f->m->iteration;
    assert_int_equal(klc_fit(f->m, &f->x, &f->y, &opt, NULL), -1);
    assert_string_equal(klc_last_error(),
                        "EarlyStopping monitors 'val_loss', which is not available (available "
                        "metrics are: accuracy,confidence,loss); give validation data");
    assert_int_equal(f->m->iteration, it); /* refused before training */
    opt.early_stopping.monitor = "confidence"; /* an add_metric: direction unknown */
    assert_int_equal(klc_fit(f->m, &f->x, &f->y, &opt, NULL), -1);
    assert_non_null(strstr(klc_last_error(), "monitor=confidence"));
    assert_non_null(strstr(klc_last_error(), "pass mode max or min"));
    opt.early_stopping.mode = 1;
    assert_int_equal(klc_fit(f->m, &f->x, &f->y, &opt, NULL), 0);
    opt.early_stopping.enabled = 0;
    opt.checkpoint.path = fake_path("ck-{nope:.2f}.st");
    assert_int_equal(klc_fit(f->m, &f->x, &f->y, &opt, NULL), -1);
    assert_non_null(strstr(klc_last_error(), "no value 'nope'"));
    opt.checkpoint.path = fake_path("ck.st");
    opt.checkpoint.save_best_only = 1;
    assert_int_equal(klc_fit(f->m, &f->x, &f->y, &opt, NULL), -1);
    assert_non_null(strstr(klc_last_error(), "ModelCheckpoint monitors 'val_loss'"));
}

static void test_checkpoint_every_epoch(void **state)
{
    fixture *f = *state;
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s", fake_path("every/ck-{epoch:02d}-{loss:.2f}.st"));
    klc_fit_options opt = { .epochs = 2, .batch_size = 16 };
    opt.checkpoint = (klc_model_checkpoint){ .path = pattern, .verbose = 1 };
    klc_history h;
    char *text;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    char want[9000] = "", p[4200];
    for (int e = 0; e < 2; e++) {
        assert_int_equal(klc_format_checkpoint_path(p, sizeof p, pattern, e + 1, &h.logs[e]), 0);
        char line[4400];
        snprintf(line, sizeof line, "\nEpoch %d: saving model to %s\n", e + 1, p);
        strcat(want, line);
        assert_int_equal(access(p, F_OK), 0); /* written, directory made */
        char loss[32];
        snprintf(loss, sizeof loss, "-%.2f.st", klc_logs_get(&h.logs[e], "loss"));
        assert_non_null(strstr(p, loss));
        assert_non_null(strstr(p, e == 0 ? "ck-01-" : "ck-02-"));
    }
    assert_string_equal(text, want);
    free(text);
    klc_history_free(&h);
}

static void test_checkpoint_best_only(void **state)
{
    fixture *f = *state;
    char path[4200];
    snprintf(path, sizeof path, "%s", fake_path("best.st"));
    remove(path);
    klc_fit_options opt = { .epochs = 3, .batch_size = 16, .validation_split = 0.25 };
    /* mode max on val_loss: epoch 1 is the best, later ones do not improve */
    opt.checkpoint = (klc_model_checkpoint){ .path = path, .save_best_only = 1, .mode = 2,
                                             .verbose = 1 };
    klc_history h;
    char *text;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    double v0 = klc_logs_get(&h.logs[0], "val_loss");
    assert_true(klc_logs_get(&h.logs[1], "val_loss") < v0);
    assert_true(klc_logs_get(&h.logs[2], "val_loss") < v0);
    char want[9000];
    snprintf(want, sizeof want,
             "\nEpoch 1: val_loss improved from None to %.5f, saving model to %s\n"
             "\nEpoch 2: val_loss did not improve from %.5f\n"
             "\nEpoch 3: val_loss did not improve from %.5f\n", v0, path, v0, v0);
    assert_string_equal(text, want);
    free(text);
    klc_history_free(&h);
    /* the file holds the weights of the end of epoch 1 */
    klc_model *back = klc_model_new(&fake_sgd_def, 99);
    assert_int_equal(klc_load_weights(back, path), 0);
    assert_int_equal(back->iteration, 3); /* 36 training rows, batch 16 */
    assert_int_equal(back->epoch, 1);
    klc_model_free(back);

    /* mode min (auto for val_loss): improves every epoch here */
    opt.checkpoint.mode = 0;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    assert_non_null(strstr(text, "\nEpoch 2: val_loss improved from "));
    assert_null(strstr(text, "did not improve"));
    free(text);
    klc_history_free(&h);
}

static void test_terminate_on_nan(void **state)
{
    fixture *f = *state;
    ((float *)f->x.data)[20 * FAKE_D + 1] = NAN; /* row 20: in batch 1 */
    klc_fit_options opt = { .epochs = 3, .batch_size = 16, .no_shuffle = 1,
                            .terminate_on_nan = 1 };
    klc_history h;
    char *text;
    int64_t it = f->m->iteration;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    assert_string_equal(text, "Batch 1: Invalid loss, terminating training\n");
    assert_int_equal(h.n_epochs, 1);
    assert_int_equal(f->m->iteration - it, 2);
    assert_true(isnan(klc_logs_get(&h.logs[0], "loss")));
    free(text);
    klc_history_free(&h);
    /* without the callback, training goes on through all epochs */
    opt.terminate_on_nan = 0;
    assert_int_equal(fit_capture(f, &opt, &h, &text), 0);
    assert_int_equal(h.n_epochs, 3);
    free(text);
    klc_history_free(&h);
}

static void test_path_placeholders(void **state)
{
    (void)state;
    klc_logs logs = { 0 };
    klc_logs_set(&logs, "", "loss", 0.123456);
    klc_logs_set(&logs, "val_", "loss", 1.5);
    char buf[256];
    assert_int_equal(klc_format_checkpoint_path(buf, sizeof buf, "m-{epoch:02d}-{val_loss:.2f}",
                                                3, &logs), 0);
    assert_string_equal(buf, "m-03-1.50");
    assert_int_equal(klc_format_checkpoint_path(buf, sizeof buf, "{epoch}_{loss}_{{x}}_{loss:.3e}",
                                                12, &logs), 0);
    assert_string_equal(buf, "12_0.123456_{x}_1.235e-01");
    assert_int_equal(klc_format_checkpoint_path(buf, sizeof buf, "{epoch:.1f}", 2, &logs), 0);
    assert_string_equal(buf, "2.0");
    assert_int_equal(klc_format_checkpoint_path(buf, sizeof buf, "{loss:d}", 2, &logs), -1);
    assert_int_equal(klc_format_checkpoint_path(buf, sizeof buf, "{loss", 2, &logs), -1);
    assert_int_equal(klc_format_checkpoint_path(buf, sizeof buf, "a}b", 2, &logs), -1);
    assert_int_equal(klc_format_checkpoint_path(buf, sizeof buf, "{acc}", 2, &logs), -1);
    assert_non_null(strstr(klc_last_error(), "no value 'acc'"));
}

static void expect_lr(const klc_lr_schedule_def *s, int64_t step, double want)
{
    float got = klc_schedule_learning_rate(s, step);
    if (fabs((double)got - want) > 2e-7 * fabs(want) + 1e-12)
        fail_msg("%s at step %lld: %.9g, want %.9g", s->name, (long long)step, (double)got, want);
}

/* Keras' formulas by hand (keras/src/optimizers/schedules), in double. */
static void test_schedules(void **state)
{
    const double PI = 3.14159265358979323846;
    (void)state;
    klc_lr_schedule_def e = {.kind = KLC_LR_EXPONENTIAL_DECAY, .name = "ExponentialDecay",
                             .initial_learning_rate = 0.1, .decay_steps = 4, .decay_rate = 0.5, .staircase = 1};
    for (int t = 0; t < 12; t++) /* powers of two: exact */
        assert_true(klc_schedule_learning_rate(&e, t) == 0.1f * (float)pow(0.5, t / 4));
    e.staircase = 0;
    expect_lr(&e, 2, 0.1 * pow(0.5, 0.5));
    expect_lr(&e, 7, 0.1 * pow(0.5, 1.75));

    static const int64_t bounds[] = {2, 5};
    static const double values[] = {1.0, 0.5, 0.1};
    klc_lr_schedule_def p = {.kind = KLC_LR_PIECEWISE_CONSTANT_DECAY, .name = "PiecewiseConstantDecay",
                             .n_boundaries = 2, .boundaries = bounds, .values = values};
    static const float want_p[] = {1.0f, 1.0f, 1.0f, 0.5f, 0.5f, 0.5f, 0.1f, 0.1f};
    for (int t = 0; t < 8; t++)
        assert_true(klc_schedule_learning_rate(&p, t) == want_p[t]);

    klc_lr_schedule_def it = {.kind = KLC_LR_INVERSE_TIME_DECAY, .name = "InverseTimeDecay",
                              .initial_learning_rate = 0.1, .decay_steps = 2, .decay_rate = 1.0};
    expect_lr(&it, 4, 0.1 / 3.0);
    expect_lr(&it, 3, 0.1 / 2.5);
    it.staircase = 1;
    expect_lr(&it, 3, 0.1 / 2.0);

    klc_lr_schedule_def poly = {.kind = KLC_LR_POLYNOMIAL_DECAY, .name = "PolynomialDecay",
                                .initial_learning_rate = 0.1, .decay_steps = 10, .end_learning_rate = 0.01,
                                .power = 2.0};
    expect_lr(&poly, 5, 0.09 * 0.25 + 0.01);
    expect_lr(&poly, 50, 0.01); /* held at the end */
    poly.cycle = 1;
    expect_lr(&poly, 15, 0.09 * 0.0625 + 0.01); /* decay_steps 10 * ceil(1.5) */

    klc_lr_schedule_def c = {.kind = KLC_LR_COSINE_DECAY, .name = "CosineDecay", .initial_learning_rate = 0.1,
                             .decay_steps = 10, .alpha = 0.1};
    expect_lr(&c, 0, 0.1);
    expect_lr(&c, 5, 0.1 * (0.9 * 0.5 * (1.0 + cos(PI * 0.5)) + 0.1));
    expect_lr(&c, 3, 0.1 * (0.9 * 0.5 * (1.0 + cos(PI * 0.3)) + 0.1));
    expect_lr(&c, 20, 0.01); /* alpha times the peak after decay_steps */
    klc_lr_schedule_def w = {.kind = KLC_LR_COSINE_DECAY, .name = "CosineDecay", .initial_learning_rate = 0.0,
                             .decay_steps = 10, .has_warmup = 1, .warmup_target = 0.1, .warmup_steps = 5};
    expect_lr(&w, 0, 0.0);
    expect_lr(&w, 2, 0.04); /* linear warmup */
    expect_lr(&w, 5, 0.1);  /* the peak */
    expect_lr(&w, 10, 0.05);
    expect_lr(&w, 100, 0.0);
}

/* The rate every train_step receives, recorded by a wrapper of the fake model's. */
static float seen_lr[64];
static int n_seen;

static void recording_step(klc_step *s)
{
    if (n_seen < 64)
        seen_lr[n_seen++] = s->learning_rate;
    fake_sgd_def.train_step(s);
}

/* 48 rows, batch 16: 3 steps per epoch. */
static void test_steps_follow_schedule(void **state)
{
    fixture *f = *state;
    static const int64_t bounds[] = {2, 5};
    static const double values[] = {0.3, 0.2, 0.1};
    klc_model_def def = fake_sgd_def;
    def.train_step = recording_step;
    def.optimizer.schedule = (klc_lr_schedule_def){.kind = KLC_LR_PIECEWISE_CONSTANT_DECAY,
                                                   .name = "PiecewiseConstantDecay", .n_boundaries = 2,
                                                   .boundaries = bounds, .values = values};
    klc_model *m = klc_model_new(&def, 4);
    assert_non_null(m);
    n_seen = 0;
    klc_fit_options opt = {.epochs = 3, .batch_size = 16, .no_shuffle = 1};
    assert_int_equal(klc_fit(m, &f->x, &f->y, &opt, NULL), 0);
    assert_int_equal(n_seen, 9);
    static const float want[] = {0.3f, 0.3f, 0.3f, 0.2f, 0.2f, 0.2f, 0.1f, 0.1f, 0.1f};
    for (int i = 0; i < 9; i++)
        assert_true(seen_lr[i] == want[i]);
    assert_true(klc_model_learning_rate(m) == (double)0.1f);
    /* a scheduled rate cannot be set, nor changed by the learning-rate callbacks */
    assert_int_equal(klc_model_set_learning_rate(m, 0.5), -1);
    assert_non_null(strstr(klc_last_error(), "PiecewiseConstantDecay"));
    opt.reduce_lr = (klc_reduce_lr_on_plateau){.enabled = 1, .monitor = "loss", .patience = 1};
    assert_int_equal(klc_fit(m, &f->x, &f->y, &opt, NULL), -1);
    assert_non_null(strstr(klc_last_error(), "ReduceLROnPlateau"));
    klc_model_free(m);
}

/* Keras' ReduceLROnPlateau: after `patience` epochs without an improvement of
 * min_delta the rate is multiplied by factor, then `cooldown` epochs pass
 * before waiting again; logs carry the rate the epoch ran with. */
static void test_reduce_lr_on_plateau(void **state)
{
    fixture *f = *state;
    klc_model_def def = fake_sgd_def;
    def.train_step = recording_step;
    klc_model *m = klc_model_new(&def, 4);
    assert_non_null(m);
    n_seen = 0;
    klc_history h;
    klc_fit_options opt = {.epochs = 5, .batch_size = 16, .no_shuffle = 1};
    opt.reduce_lr = (klc_reduce_lr_on_plateau){.enabled = 1, .monitor = "loss", .factor = 0.5, .patience = 1,
                                               .min_delta = 1000.0, .cooldown = 2, .verbose = 1};
    char path[4096];
    snprintf(path, sizeof path, "%s", fake_path("rl_out.txt"));
    FILE *out = fopen(path, "w+");
    assert_non_null(out);
    opt.out = out;
    assert_int_equal(klc_fit(m, &f->x, &f->y, &opt, &h), 0);
    fclose(out);
    /* epoch 0 sets the best; 1 waits and reduces; 2 cools down (the counter
     * drops before the test, so cooldown 2 skips one epoch); 3 reduces; 4 cools down */
    static const float want[] = {0.1f, 0.1f, 0.05f, 0.05f, 0.025f};
    assert_int_equal(n_seen, 15);
    for (int e = 0; e < 5; e++) {
        for (int k = 0; k < 3; k++)
            assert_true(seen_lr[3 * e + k] == want[e]);
        assert_true(klc_logs_get(&h.logs[e], "learning_rate") == (double)want[e]);
    }
    klc_history_free(&h);
    char *text = fake_read_text(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.05000000074505806.\n"));
    assert_non_null(strstr(text, "\nEpoch 4: ReduceLROnPlateau reducing learning rate to 0.02500000037252903.\n"));
    assert_null(strstr(text, "Epoch 3: ReduceLROnPlateau"));
    free(text);
    klc_model_free(m);
}

static double third_of_epoch(int64_t epoch, double lr)
{
    return epoch == 0 ? lr : lr / 3.0;
}

/* LearningRateScheduler through the C API; CSVLogger appending without a second header. */
static void test_lr_scheduler_and_csv_append(void **state)
{
    fixture *f = *state;
    klc_model_def def = fake_sgd_def;
    def.train_step = recording_step;
    klc_model *m = klc_model_new(&def, 4);
    assert_non_null(m);
    n_seen = 0;
    char csv[4096];
    snprintf(csv, sizeof csv, "%s", fake_path("append.csv"));
    remove(csv);
    klc_fit_options opt = {.epochs = 2, .batch_size = 16, .no_shuffle = 1, .validation_split = 0.25};
    opt.lr_scheduler.schedule = third_of_epoch;
    opt.csv_logger = (klc_csv_logger){.path = csv, .separator = ";", .append = 1};
    assert_int_equal(klc_fit(m, &f->x, &f->y, &opt, NULL), 0);
    assert_int_equal(klc_fit(m, &f->x, &f->y, &opt, NULL), 0);
    /* 36 training rows: 3 steps per epoch */
    assert_true(seen_lr[0] == 0.1f && seen_lr[2] == 0.1f);
    assert_true(seen_lr[3] == (float)((double)0.1f / 3.0));
    char *text = fake_read_text(csv);
    assert_non_null(text);
    assert_true(strncmp(text, "epoch;accuracy;confidence;learning_rate;loss;val_accuracy;val_confidence;val_loss\r\n",
                        82) == 0);
    assert_null(strstr(text + 10, "epoch;")); /* one header for both fits */
    int rows = 0;
    for (const char *p = text; (p = strstr(p, "\r\n")); p += 2)
        rows++;
    assert_int_equal(rows, 5);
    free(text);
    klc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_early_stopping_patience, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_best_weights, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monitor_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_every_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_best_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminate_on_nan, setup, teardown),
        cmocka_unit_test(test_path_placeholders),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test_setup_teardown(test_steps_follow_schedule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reduce_lr_on_plateau, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lr_scheduler_and_csv_append, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
