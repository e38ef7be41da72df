/*
 * test_trainer.c — the generated trainer program of the spec's seed program.
 *
 * examples/seed.kl, compiled with `klc --main`, is run as a program on .npy
 * files written here: 1,000 random samples of 784 features and random labels
 * of 10 classes, trained as the seed says (3 epochs, batch 32, Adam) and then
 * evaluated.  Also: the flags override the file's fit() settings, --history
 * writes a row per epoch, the same seed gives the same weights file, and a
 * fit resumed from a --checkpoint file ends with the uninterrupted fit's
 * weights, byte for byte.
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

#include "e2e_util.h"

#ifndef SEED_TRAINER
#error "SEED_TRAINER: path of the seed's trainer program"
#endif

enum { ROWS = 1000, IN = 784, CLASSES = 10 };

static char out[1 << 16];
static const char *X, *Y;

static int setup(void **state)
{
    (void)state;
    static float x[ROWS * IN];
    static int32_t y[ROWS];
    e2e_rng r = { 3 };
    for (int i = 0; i < ROWS * IN; i++)
        x[i] = (float)e2e_uniform(&r);
    for (int i = 0; i < ROWS; i++)
        y[i] = e2e_below(&r, CLASSES);
    static char xp[4096], yp[4096];
    snprintf(xp, sizeof xp, "%s", e2e_path("x.npy"));
    snprintf(yp, sizeof yp, "%s", e2e_path("y.npy"));
    e2e_save_f32(xp, x, ROWS, IN);
    e2e_save_i32(yp, y, ROWS);
    X = xp;
    Y = yp;
    return 0;
}

/* Run the trainer with `args`; its output in `out`; the exit status. */
static int trainer(const char *fmt, ...)
{
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s", SEED_TRAINER, args);
    return e2e_run(cmd, out, sizeof out);
}

static void expect_in_output(const char *what)
{
    if (!strstr(out, what))
        fail_msg("no \"%s\" in the trainer's output:\n%s", what, out);
}

/* Every "<key>: <number>" in the output is finite; returns how many there are. */
static int finite_values(const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s: ", key);
    int n = 0;
    for (const char *p = strstr(out, pat); p; p = strstr(p + 1, pat)) {
        if (p > out && p[-1] != ' ')
            continue; /* "val_loss: " when looking for "loss: " */
        char *end;
        double v = strtod(p + strlen(pat), &end);
        if (end == p + strlen(pat) || !isfinite(v))
            fail_msg("%s is not a finite number in:\n%s", key, out);
        n++;
    }
    return n;
}

/* The lines of a CSV file, header included. */
static int csv_lines(const char *path, char *header, size_t size)
{
    char *s = e2e_read_file(path);
    if (!s)
        fail_msg("no file %s", path);
    int n = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        if (n == 0)
            snprintf(header, size, "%s", line);
        else {
            /* epoch,accuracy,loss: every value a finite number */
            char *p = line;
            for (int col = 0; col < 3; col++) {
                char *end;
                double v = strtod(p, &end);
                if (end == p || !isfinite(v))
                    fail_msg("%s: bad row \"%s\"", path, line);
                p = *end == ',' ? end + 1 : end;
            }
        }
        n++;
    }
    free(s);
    return n;
}

static void test_seed_fit_evaluate(void **state)
{
    (void)state;
    const char *w = e2e_path("seed.safetensors"), *h = e2e_path("history.csv");
    int st = trainer("fit --x '%s' --y '%s' --save '%s' --history '%s'", X, Y, w, h);
    if (st != 0)
        fail_msg("fit exited with %d:\n%s", st, out);
    /* the file's fit(epochs = 3, batch_size = 32): ceil(1000 / 32) = 32 steps */
    expect_in_output("Epoch 1/3");
    expect_in_output("Epoch 3/3");
    expect_in_output("32/32");
    assert_null(strstr(out, "Epoch 4/"));
    assert_true(finite_values("loss") >= 3);
    assert_true(finite_values("accuracy") >= 3);
    char header[256];
    assert_int_equal(csv_lines(h, header, sizeof header), 1 + 3);
    assert_string_equal(header, "epoch,accuracy,loss");

    st = trainer("evaluate --x '%s' --y '%s' --load '%s' --verbose 0", X, Y, w);
    if (st != 0)
        fail_msg("evaluate exited with %d:\n%s", st, out);
    assert_int_equal(finite_values("loss"), 1);
    assert_int_equal(finite_values("accuracy"), 1);

    st = trainer("summary --load '%s'", w);
    assert_int_equal(st, 0);
    expect_in_output("my_custom_layer (MyCustomLayer)");
    expect_in_output("Total params: 50,826");
}

static void test_flags_override_fit_settings(void **state)
{
    (void)state;
    const char *h = e2e_path("history2.csv");
    int st = trainer("fit --x '%s' --y '%s' --epochs 2 --batch-size 100 --verbose 2 --history '%s'",
                     X, Y, h);
    if (st != 0)
        fail_msg("fit exited with %d:\n%s", st, out);
    expect_in_output("Epoch 2/2");
    expect_in_output("10/10 - "); /* verbose 2: one line per epoch */
    assert_null(strstr(out, "Epoch 3/"));
    assert_null(strstr(out, "32/32"));
    assert_null(strstr(out, "━")); /* no bar at verbose 2 */
    assert_int_equal(finite_values("loss"), 2);
    char header[256];
    assert_int_equal(csv_lines(h, header, sizeof header), 1 + 2);

    st = trainer("fit --x '%s' --y '%s' --epochs 1 --verbose 0 --validation-split 0.2", X, Y);
    assert_int_equal(st, 0);
    assert_string_equal(out, "");
    st = trainer("fit --x '%s' --y '%s' --epochs 1 --batch-size 250 --verbose 1 "
                 "--validation-split 0.2", X, Y);
    assert_int_equal(st, 0);
    expect_in_output("4/4"); /* 800 training rows */
    assert_null(strstr(out, "Epoch 1/1"));
    assert_int_equal(finite_values("val_loss"), 1);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            same = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void test_reproducible_and_resumable(void **state)
{
    (void)state;
    const char *a = e2e_path("a.safetensors"), *b = e2e_path("b.safetensors");
    const char *c = e2e_path("c.safetensors"), *ck = e2e_path("ck.safetensors");
    const char *r = e2e_path("resumed.safetensors");
    assert_int_equal(trainer("fit --x '%s' --y '%s' --verbose 0 --seed 7 --save '%s'", X, Y, a), 0);
    assert_int_equal(trainer("fit --x '%s' --y '%s' --verbose 0 --seed 7 --save '%s'", X, Y, b), 0);
    assert_int_equal(trainer("fit --x '%s' --y '%s' --verbose 0 --seed 8 --save '%s'", X, Y, c), 0);
    assert_true(same_file(a, b));
    assert_false(same_file(a, c));

    /* one epoch with a checkpoint, then the rest from it */
    int st = trainer("fit --x '%s' --y '%s' --verbose 0 --seed 7 --epochs 1 --checkpoint '%s'", X, Y,
                     ck);
    if (st != 0)
        fail_msg("fit exited with %d:\n%s", st, out);
    st = trainer("fit --x '%s' --y '%s' --load '%s' --save '%s'", X, Y, ck, r);
    if (st != 0)
        fail_msg("resumed fit exited with %d:\n%s", st, out);
    expect_in_output("Epoch 2/3");
    assert_null(strstr(out, "Epoch 1/3"));
    assert_true(same_file(a, r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_fit_evaluate),
        cmocka_unit_test(test_flags_override_fit_settings),
        cmocka_unit_test(test_reproducible_and_resumable),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
