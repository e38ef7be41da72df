/* fit(callbacks = [...]) in the .kl file reaches the trainer program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e_util.h"

static char data_x[4096], data_y[4096];

static void make_data(void)
{
    float x[32 * 4];
    int32_t y[32];
    for (int i = 0; i < 32 * 4; i++)
        x[i] = (float)(i % 7) / 7.0f;
    for (int i = 0; i < 32; i++)
        y[i] = i % 3;
    snprintf(data_x, sizeof data_x, "%s", e2e_path("x.npy"));
    snprintf(data_y, sizeof data_y, "%s", e2e_path("y.npy"));
    e2e_save_f32(data_x, x, 32, 4);
    e2e_save_i32(data_y, y, 32);
}

static void file_callbacks_apply(void **state)
{
    (void)state;
    make_data();
    char cmd[16384], out[65536];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' fit --x '%s' --y '%s' --verbose 2", e2e_path(""), CALLBACKS_TRAINER,
             data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Epoch 2/20"));
    assert_null(strstr(out, "Epoch 3/20"));
    assert_non_null(strstr(out, "Epoch 2: early stopping"));
    assert_int_equal(access(e2e_path("cb_best.safetensors"), F_OK), 0);
}

static void flags_override(void **state)
{
    (void)state;
    make_data();
    char cmd[16384], out[65536];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' fit --x '%s' --y '%s' --verbose 2 --early-stopping-patience 3",
             e2e_path(""), CALLBACKS_TRAINER, data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Epoch 4/20"));
    assert_null(strstr(out, "Epoch 5/20"));
}

/* LearningRateScheduler(verbose = 1) and CSVLogger from the file: Keras' messages
 * (the rates as Python prints the float32 values) and CSV layout (sorted keys,
 * val_ twins "NA" without validation data, "\r\n" rows). */
static void lr_scheduler_and_csv_logger(void **state)
{
    (void)state;
    make_data();
    char cmd[16384], out[65536];
    snprintf(cmd, sizeof cmd, "cd '%s' && rm -f lr_log.csv && '%s' fit --x '%s' --y '%s' --verbose 0", e2e_path(""),
             LR_TRAINER, data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\nEpoch 1: LearningRateScheduler setting learning rate to 0.10000000149011612.\n"));
    assert_non_null(strstr(out, "\nEpoch 2: LearningRateScheduler setting learning rate to 0.10000000149011612.\n"));
    assert_non_null(strstr(out, "\nEpoch 3: LearningRateScheduler setting learning rate to 0.05000000074505806.\n"));
    assert_non_null(strstr(out, "\nEpoch 4: LearningRateScheduler setting learning rate to 0.02500000037252903.\n"));
    FILE *f = fopen(e2e_path("lr_log.csv"), "rb");
    assert_non_null(f);
    char csv[4096];
    size_t n = fread(csv, 1, sizeof csv - 1, f);
    fclose(f);
    csv[n] = '\0';
    assert_true(strncmp(csv, "epoch,learning_rate,loss,val_learning_rate,val_loss\r\n", 52) == 0);
    assert_non_null(strstr(csv, "\r\n0,0.10000000149011612,"));
    assert_non_null(strstr(csv, "\r\n2,0.05000000074505806,"));
    assert_non_null(strstr(csv, "\r\n3,0.02500000037252903,"));
    assert_non_null(strstr(csv, ",NA,NA\r\n"));
    int rows = 0;
    for (const char *p = csv; (p = strstr(p, "\r\n")); p += 2)
        rows++;
    assert_int_equal(rows, 5); /* the header and 4 epochs */

    /* --callback-verbose 0 silences it; --csv-log writes elsewhere; --learning-rate
     * sets the rate the schedule starts from */
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' fit --x '%s' --y '%s' --verbose 0 --callback-verbose 0 "
             "--csv-log other.csv --epochs 1", e2e_path(""), LR_TRAINER, data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 0);
    assert_null(strstr(out, "LearningRateScheduler"));
    char *other = e2e_read_file(e2e_path("other.csv"));
    assert_non_null(other);
    assert_non_null(strstr(other, "\r\n0,0.10000000149011612,"));
    free(other);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' fit --x '%s' --y '%s' --verbose 0 --learning-rate 0.2 --epochs 1",
             e2e_path(""), LR_TRAINER, data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Epoch 1: LearningRateScheduler setting learning rate to 0.20000000298023224."));
}

/* ReduceLROnPlateau from flags: a min_delta no epoch can beat makes the second
 * epoch a plateau; the reduction shows in the progress line's learning_rate. */
static void reduce_lr_on_plateau_flags(void **state)
{
    (void)state;
    make_data();
    char cmd[16384], out[65536];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' fit --x '%s' --y '%s' --verbose 2 --epochs 3 --callback-verbose 1 "
             "--reduce-lr-monitor loss --reduce-lr-patience 1 --reduce-lr-min-delta 1000", e2e_path(""), LR_TRAINER,
             data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.010000000149011612.\n"));
    assert_null(strstr(out, "Epoch 1: ReduceLROnPlateau"));
    assert_non_null(strstr(out, "learning_rate: 0.1000"));
    /* a factor Keras refuses */
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' fit --x '%s' --y '%s' --verbose 0 --reduce-lr-factor 1.5 2>&1",
             e2e_path(""), LR_TRAINER, data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "factor >= 1.0"));
}

/* An optimizer with a schedule: trains; --learning-rate and ReduceLROnPlateau are refused. */
static void scheduled_optimizer(void **state)
{
    (void)state;
    make_data();
    char cmd[16384], out[65536];
    snprintf(cmd, sizeof cmd, "'%s' fit --x '%s' --y '%s' --verbose 0", SCHEDULE_TRAINER, data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "'%s' fit --x '%s' --y '%s' --verbose 0 --learning-rate 0.5 2>&1", SCHEDULE_TRAINER,
             data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "--learning-rate: the optimizer's learning rate follows the ExponentialDecay "
                                "schedule"));
    snprintf(cmd, sizeof cmd, "'%s' fit --x '%s' --y '%s' --verbose 0 --reduce-lr-monitor loss 2>&1",
             SCHEDULE_TRAINER, data_x, data_y);
    assert_int_equal(e2e_run(cmd, out, sizeof out), 1);
    assert_non_null(strstr(out, "ReduceLROnPlateau: the optimizer's learning rate follows the ExponentialDecay"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(file_callbacks_apply), cmocka_unit_test(flags_override),
                                       cmocka_unit_test(lr_scheduler_and_csv_logger),
                                       cmocka_unit_test(reduce_lr_on_plateau_flags),
                                       cmocka_unit_test(scheduled_optimizer)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
