/*
 * test_cli.c — klc_main in process: every subcommand, help, and each kind of
 * error with its exit status (2 usage, 1 data/file/training).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_model.h"

static char *out_text, *err_text;

/* klc_main(def, "train", args...) with stdout/stderr captured. */
static int run(const klc_model_def *def, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "./train";
    for (; args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    free(out_text);
    free(err_text);
    fake_capture_begin();
    int status = klc_main(def, argc, argv);
    fake_capture_end(&out_text, &err_text);
    return status;
}

#define RUN(...) run(&fake_sgd_def, (const char *const[]){ __VA_ARGS__, NULL })

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A usage error: status 2, one line on stderr containing `want`, nothing on stdout. */
static void expect_usage(int status, const char *want)
{
    assert_int_equal(status, 2);
    if (!strstr(err_text, want))
        fail_msg("stderr \"%s\" lacks \"%s\"", err_text, want);
    assert_int_equal(count_lines(err_text), 1);
    assert_string_equal(out_text, "");
}

static void expect_failure(int status, const char *want)
{
    assert_int_equal(status, 1);
    if (!strstr(err_text, want))
        fail_msg("stderr \"%s\" lacks \"%s\"", err_text, want);
    assert_int_equal(count_lines(err_text), 1);
}

static char xpath[4096], ypath[4096], wpath[4096], cpath[4096], hpath[4096], ppath[4096];

static int setup(void **state)
{
    (void)state;
    klc_tensor x, y;
    if (fake_make_data(&x, &y, 64, 51, 0))
        return -1;
    snprintf(xpath, sizeof xpath, "%s", fake_path("x.npy"));
    snprintf(ypath, sizeof ypath, "%s", fake_path("y.npy"));
    snprintf(wpath, sizeof wpath, "%s", fake_path("w.safetensors"));
    snprintf(cpath, sizeof cpath, "%s", fake_path("ck-{epoch:02d}.safetensors"));
    snprintf(hpath, sizeof hpath, "%s", fake_path("history.csv"));
    snprintf(ppath, sizeof ppath, "%s", fake_path("preds.npy"));
    int rc = klc_npy_save(&x, xpath) || klc_npy_save(&y, ypath);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return rc ? -1 : 0;
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(RUN("--help"), 0);
    assert_non_null(strstr(out_text, "usage: train <subcommand>"));
    assert_non_null(strstr(out_text, "gradcheck"));
    assert_int_equal(RUN("fit", "--help"), 0);
    assert_non_null(strstr(out_text, "usage: train fit --x FILE --y FILE"));
    assert_non_null(strstr(out_text, "--early-stopping-patience N"));
    assert_non_null(strstr(out_text, "--terminate-on-nan"));
    assert_int_equal(RUN("predict", "-h"), 0);
    assert_non_null(strstr(out_text, "--out FILE"));
    assert_null(strstr(out_text, "--epochs"));
    const char *cmds[] = { "evaluate", "summary", "gradcheck" };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run(&fake_sgd_def, (const char *const[]){ cmds[i], "--help", NULL }), 0);
        assert_non_null(strstr(out_text, "usage: train "));
    }
}

static void test_usage_errors(void **state)
{
    (void)state;
    char *none[] = { "./train", NULL };
    fake_capture_begin();
    int status = klc_main(&fake_sgd_def, 1, none);
    free(out_text);
    free(err_text);
    fake_capture_end(&out_text, &err_text);
    expect_usage(status, "train: missing subcommand");
    expect_usage(RUN("frobnicate"), "train: unknown subcommand 'frobnicate'");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--epoch", "3"),
                 "train fit: unknown flag '--epoch'");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--out", "p.npy"),
                 "unknown flag '--out'");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--epochs"), "--epochs needs a value");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "abc"),
                 "--epochs: 'abc' is not a whole number");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--epochs=2x"), "'2x'");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--validation-split", "half"),
                 "--validation-split: 'half' is not a number");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--validation-split", "1.5"),
                 "--validation-split must be in [0, 1)");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--seed", "-1"), "--seed: '-1'");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--verbose", "3"), "--verbose must be");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--batch-size", "0"), "--batch-size");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--no-shuffle=1"),
                 "--no-shuffle takes no value");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "stray"), "unexpected argument 'stray'");
    expect_usage(RUN("fit", "--y", ypath), "missing required flag --x");
    expect_usage(RUN("fit", "--x", xpath), "missing required flag --y");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--validation-x", xpath),
                 "--validation-x needs --validation-y");
    expect_usage(RUN("fit", "--x", xpath, "--y", ypath, "--save-best-only"),
                 "--save-best-only needs --checkpoint");
    expect_usage(RUN("evaluate", "--x", xpath, "--y", ypath), "missing required flag --load");
    expect_usage(RUN("predict", "--x", xpath, "--load", wpath), "missing required flag --out");
    expect_usage(RUN("gradcheck", "--y", ypath), "--y needs --x");
    expect_usage(RUN("summary", "--x", xpath), "unknown flag '--x'");
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_failure(RUN("fit", "--x", "nowhere.npy", "--y", ypath), "--x: nowhere.npy");
    char want[8192];
    snprintf(want, sizeof want, "train fit: --y %s has shape [64, 4] but the model expects", xpath);
    expect_failure(RUN("fit", "--x", xpath, "--y", xpath), want);
    expect_failure(RUN("evaluate", "--x", xpath, "--y", ypath, "--load", "no.safetensors"),
                   "--load: no.safetensors");
    expect_failure(RUN("fit", "--x", xpath, "--y", ypath, "--early-stopping-patience", "2",
                       "--verbose", "0"),
                   "EarlyStopping monitors 'val_loss'");
    expect_failure(RUN("fit", "--x", xpath, "--y", ypath, "--verbose", "0", "--save",
                       "/nonexistent-dir/w.safetensors"),
                   "--save: /nonexistent-dir/w.safetensors");
}

/* Data errors found after loading name the flag and the file at fault (the
 * library's own messages say "x" and "y"). */
static void test_data_errors_name_the_file(void **state)
{
    (void)state;
    char bad_y[4096], short_y[4096], want[16384];
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 64, 51, 0), 0);
    ((int32_t *)y.data)[5] = 7;
    snprintf(bad_y, sizeof bad_y, "%s", fake_path("bad-y.npy"));
    assert_int_equal(klc_npy_save(&y, bad_y), 0);
    y.shape[0] = 60;
    snprintf(short_y, sizeof short_y, "%s", fake_path("short-y.npy"));
    assert_int_equal(klc_npy_save(&y, short_y), 0);
    klc_tensor_free(&x);
    klc_tensor_free(&y);

    snprintf(want, sizeof want,
             "train fit: --y %s: label 7 in row 5 is not a class id in [0, 3)\n", bad_y);
    expect_failure(RUN("fit", "--x", xpath, "--y", bad_y, "--verbose", "0"), want);
    snprintf(want, sizeof want,
             "train fit: --validation-y %s: label 7 in row 5 is not a class id in [0, 3)\n", bad_y);
    expect_failure(RUN("fit", "--x", xpath, "--y", ypath, "--validation-x", xpath,
                       "--validation-y", bad_y, "--verbose", "0"),
                   want);
    snprintf(want, sizeof want, "train fit: --x %s has 64 rows but --y %s has 60\n", xpath, short_y);
    expect_failure(RUN("fit", "--x", xpath, "--y", short_y, "--verbose", "0"), want);

    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--verbose", "0", "--save", wpath), 0);
    snprintf(want, sizeof want,
             "train evaluate: --y %s: label 7 in row 5 is not a class id in [0, 3)\n", bad_y);
    expect_failure(RUN("evaluate", "--x", xpath, "--y", bad_y, "--load", wpath), want);
    snprintf(want, sizeof want,
             "train predict: --x %s has shape [64] but the model expects [None, 4]\n", ypath);
    expect_failure(RUN("predict", "--x", ypath, "--load", wpath, "--out", ppath), want);
    snprintf(want, sizeof want,
             "train gradcheck: --y %s: label 7 in row 5 is not a class id in [0, 3)\n", bad_y);
    expect_failure(RUN("gradcheck", "--x", xpath, "--y", bad_y), want);
}

static void test_fit_evaluate_predict(void **state)
{
    (void)state;
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "3", "--batch-size", "16",
                         "--save", wpath, "--history", hpath, "--validation-split", "0.25"),
                     0);
    assert_string_equal(err_text, "");
    assert_non_null(strstr(out_text, "Epoch 1/3\n"));
    assert_non_null(strstr(out_text, "Epoch 3/3\n"));
    assert_non_null(strstr(out_text, "3/3")); /* 48 training rows in batches of 16 */
    assert_non_null(strstr(out_text, " - val_loss: "));
    /* nothing after Keras' last bar line */
    const char *last = strrchr(out_text, '\n');
    assert_true(last && last[1] == '\0');
    const char *prev = last - 1;
    while (prev > out_text && *prev != '\n')
        prev--;
    assert_non_null(strstr(prev, "val_loss: "));
    char *csv = fake_read_text(hpath);
    assert_non_null(csv);
    assert_true(strncmp(csv, "epoch,accuracy,confidence,loss,val_accuracy,val_confidence,val_loss\n0,",
                        70) == 0);
    assert_int_equal(count_lines(csv), 4);
    free(csv);

    assert_int_equal(RUN("evaluate", "--x", xpath, "--y", ypath, "--load", wpath, "--verbose", "0"),
                     0);
    assert_true(strncmp(out_text, "accuracy: ", 10) == 0);
    assert_non_null(strstr(out_text, " - confidence: "));
    assert_non_null(strstr(out_text, " - loss: "));
    assert_int_equal(count_lines(out_text), 1);
    assert_int_equal(RUN("evaluate", "--x", xpath, "--y", ypath, "--load", wpath), 0);
    const char *bar = strstr(out_text, "2/2"); /* the bar, then the line */
    assert_non_null(bar);
    const char *line = strstr(bar, "\naccuracy: ");
    assert_non_null(line);
    assert_int_equal(count_lines(line + 1), 1);

    assert_int_equal(RUN("predict", "--x", xpath, "--load", wpath, "--out", ppath, "--verbose",
                         "0"), 0);
    assert_string_equal(out_text, "");
    klc_tensor p;
    assert_int_equal(klc_npy_load(&p, ppath), 0);
    assert_int_equal(p.dtype, KLC_F32);
    assert_int_equal(p.rank, 2);
    assert_int_equal(p.shape[0], 64);
    assert_int_equal(p.shape[1], FAKE_C);

    /* --out by extension: CSV is CSV (a row per sample, the same numbers), and
     * a name of no known type is refused before anything is written */
    char csvpath[4096], badpath[4096];
    snprintf(csvpath, sizeof csvpath, "%s", fake_path("p.csv"));
    snprintf(badpath, sizeof badpath, "%s", fake_path("p.txt"));
    assert_int_equal(RUN("predict", "--x", xpath, "--load", wpath, "--out", csvpath, "--verbose", "0"), 0);
    klc_tensor pc;
    assert_int_equal(klc_csv_load(&pc, csvpath), 0);
    assert_int_equal(pc.rank, 2);
    assert_int_equal(pc.shape[0], 64);
    assert_int_equal(pc.shape[1], FAKE_C);
    for (int64_t i = 0; i < 64 * FAKE_C; i++)
        assert_true(((const float *)pc.data)[i] == ((const float *)p.data)[i]); /* %.9g reads back exactly */
    klc_tensor_free(&pc);
    char *csv_text = fake_read_text(csvpath);
    assert_int_equal(csv_text[0] != '\x93', 1); /* not .npy bytes */
    assert_int_equal(count_lines(csv_text), 64);
    free(csv_text);
    expect_failure(RUN("predict", "--x", xpath, "--load", wpath, "--out", badpath, "--verbose", "0"),
                   "unknown data file type to write (accepted: .npy, .csv)");
    assert_null(fopen(badpath, "r"));
    klc_tensor_free(&p);

    assert_int_equal(RUN("summary"), 0);
    assert_non_null(strstr(out_text, "Model: \"sequential\""));
    assert_non_null(strstr(out_text, "dense (Dense)"));
}

/* --checkpoint then --load resumes at the checkpoint's epoch, ending where one fit ends. */
static void test_resume_from_checkpoint(void **state)
{
    (void)state;
    char full[4096], resumed[4096], ck2[4096];
    snprintf(full, sizeof full, "%s", fake_path("full.safetensors"));
    snprintf(resumed, sizeof resumed, "%s", fake_path("resumed.safetensors"));
    snprintf(ck2, sizeof ck2, "%s", fake_path("ck-02.safetensors"));
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "4", "--seed", "7",
                         "--verbose", "0", "--save", full), 0);
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "2", "--seed", "7",
                         "--verbose", "2", "--checkpoint", cpath), 0);
    /* callbacks are silent unless asked (Keras' verbose = 0) */
    assert_null(strstr(out_text, "saving model to"));
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "2", "--seed", "7",
                         "--verbose", "2", "--checkpoint", cpath, "--callback-verbose", "1"), 0);
    assert_non_null(strstr(out_text, "\nEpoch 2: saving model to "));
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "4", "--load", ck2,
                         "--verbose", "2", "--save", resumed), 0);
    assert_non_null(strstr(out_text, "Epoch 3/4"));
    assert_null(strstr(out_text, "Epoch 1/4"));
    char *a = fake_read_text(full), *b = fake_read_text(resumed);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b); /* header, metadata and weights: byte for byte */
    free(a);
    free(b);
    /* --initial-epoch overrides the checkpoint's epoch */
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "4", "--load", ck2,
                         "--initial-epoch", "3", "--verbose", "2"), 0);
    assert_non_null(strstr(out_text, "Epoch 4/4"));
    assert_null(strstr(out_text, "Epoch 3/4"));
}

static void test_callback_flags(void **state)
{
    (void)state;
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "6", "--verbose", "0",
                         "--validation-split", "0.25", "--early-stopping-monitor", "loss",
                         "--early-stopping-patience", "0", "--restore-best-weights"), 0);
    /* callbacks are silent by default */
    assert_string_equal(out_text, "");
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "3", "--verbose", "2",
                         "--validation-split", "0.25", "--checkpoint", cpath, "--save-best-only",
                         "--checkpoint-monitor", "val_accuracy", "--callback-verbose", "1"), 0);
    assert_non_null(strstr(out_text, "Epoch 1: val_accuracy improved from None to "));
    assert_int_equal(RUN("fit", "--x", xpath, "--y", ypath, "--epochs", "2", "--verbose", "0",
                         "--terminate-on-nan", "--no-shuffle"), 0);
}

static void test_gradcheck_command(void **state)
{
    (void)state;
    assert_int_equal(RUN("gradcheck"), 0);
    assert_non_null(strstr(out_text, "on 4 rows"));
    assert_non_null(strstr(out_text, "gradcheck passed"));
    assert_int_equal(RUN("gradcheck", "--x", xpath, "--y", ypath), 0);
    assert_non_null(strstr(out_text, "on 32 rows"));
    assert_int_equal(run(&fake_mse_def, (const char *const[]){ "gradcheck", NULL }), 0);
    int status = run(&fake_bad_def, (const char *const[]){ "gradcheck", NULL });
    expect_failure(status, "gradients disagree with finite differences");
    assert_non_null(strstr(out_text, "dense.bias"));
}

static int teardown(void **state)
{
    (void)state;
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_data_errors_name_the_file),
        cmocka_unit_test(test_fit_evaluate_predict),
        cmocka_unit_test(test_resume_from_checkpoint),
        cmocka_unit_test(test_callback_flags),
        cmocka_unit_test(test_gradcheck_command),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
