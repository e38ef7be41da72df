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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(file_callbacks_apply), cmocka_unit_test(flags_override)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
