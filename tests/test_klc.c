/*
 * test_klc.c — the klc command line (compiler/main.c, driver.c), run as a
 * program: --help and --version, usage errors (status 2, one message naming
 * the problem and pointing at --help, nothing on stdout), unreadable inputs
 * (status 1), programs with errors (status 1, diagnostics on stderr only),
 * and the outputs of --check, --summary, --dump-ast and --model.
 *
 * The program is $KLC_BINARY_DIR/compiler/klc; scratch files go to
 * $KLC_TEST_TMPDIR.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test_util.h"

static char klc[4096], tmp[4096];
static char *out, *err;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 4096 > cap)
            buf = realloc(buf, cap = 2 * cap + 4096);
        got = fread(buf + n, 1, 4095, f);
        n += got;
    } while (got > 0);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Run klc with the arguments (a shell fragment); its status, stdout in `out`, stderr in `err`. */
static int run(const char *args)
{
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s/out.txt' 2>'%s/err.txt' </dev/null", tmp, klc, args, tmp,
             tmp);
    int ws = system(cmd);
    free(out);
    free(err);
    char path[4200];
    snprintf(path, sizeof path, "%s/out.txt", tmp);
    out = slurp(path);
    snprintf(path, sizeof path, "%s/err.txt", tmp);
    err = slurp(path);
    if (!WIFEXITED(ws))
        fail_msg("klc %s did not exit normally (status %d)", args, ws);
    return WEXITSTATUS(ws);
}

static void write_file(const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A usage error: status 2, "klc: <want>" then the --help hint on stderr, nothing on stdout. */
static void expect_usage(const char *args, const char *want)
{
    int status = run(args);
    if (status != 2)
        fail_msg("klc %s: status %d, want 2; stderr: %s", args, status, err);
    if (strncmp(err, "klc: ", 5) != 0 || !strstr(err, want))
        fail_msg("klc %s: stderr \"%s\" lacks \"%s\"", args, err, want);
    assert_non_null(strstr(err, "Try 'klc --help'."));
    assert_int_equal(count_lines(err), 2);
    assert_string_equal(out, "");
}

static const char *const good = "model = Sequential([Input(shape = [4]), Dense(3, activation = softmax)]);\n"
                                "model.compile(optimizer = adam, loss = sparse_categorical_crossentropy);\n";

static int setup(void **state)
{
    (void)state;
    const char *bin = getenv("KLC_BINARY_DIR");
    const char *dir = getenv("KLC_TEST_TMPDIR");
    if (!bin || !dir)
        return -1;
    snprintf(klc, sizeof klc, "%s/compiler/klc", bin);
    snprintf(tmp, sizeof tmp, "%s", dir);
    if (test_mkdir_p(tmp) != 0)
        return -1;
    write_file("good.kl", good);
    write_file("bad.kl", "model = Sequential([Input(shape = [4]), Dense(3, activatoin = softmax)]);\n");
    write_file("two.kl", "a = Sequential([Input(shape = [2]), Dense(1)]);\n"
                         "b = Sequential([Input(shape = [3]), Dense(2), Dense(1)]);\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(out);
    free(err);
    return 0;
}

static void test_help_and_version(void **state)
{
    (void)state;
    assert_int_equal(run("--help"), 0);
    assert_true(strncmp(out, "usage: klc FILE.kl [options]\n", 29) == 0);
    assert_non_null(strstr(out, "--check"));
    assert_non_null(strstr(out, "--summary"));
    assert_non_null(strstr(out, "Exit status: 0 success, 1 errors in the input, 2 bad usage"));
    assert_string_equal(err, "");
    assert_int_equal(run("-h"), 0);
    assert_true(strncmp(out, "usage: klc", 10) == 0);
    assert_int_equal(run("nonexistent.kl --help"), 0); /* before the input is read */
    assert_true(strncmp(out, "usage: klc", 10) == 0);

    assert_int_equal(run("--version"), 0);
    assert_true(strncmp(out, "klc ", 4) == 0);
    assert_true(out[4] >= '0' && out[4] <= '9');
    assert_int_equal(count_lines(out), 1);
    assert_string_equal(err, "");
}

static void test_usage_errors(void **state)
{
    (void)state;
    expect_usage("", "klc: no input file");
    expect_usage("--check", "no input file");
    expect_usage("--frobnicate good.kl", "unknown option '--frobnicate'");
    expect_usage("good.kl -x", "unknown option '-x'");
    expect_usage("good.kl two.kl --check", "one input file at a time (got a second: 'two.kl')");
    expect_usage("good.kl", "nothing to do");
    expect_usage("good.kl -o", "option '-o' needs a file name");
    expect_usage("good.kl --check --model", "option '--model' needs a value");
    expect_usage("good.kl --check --summary", "choose one of --check, --summary");
    expect_usage("good.kl --check -o x.c", "-o does not go with --check");
    expect_usage("good.kl --summary -o x.c", "-o does not go with");
    expect_usage("good.kl --main --check", "--main goes with -o FILE.c");
    expect_usage("good.kl --check --weights w.safetensors", "--weights goes with --inference");
    expect_usage("good.kl --check --no-blas", "--no-blas goes with --inference");
    expect_usage("good.kl --inference", "give the output file: -o FILE.c");
    expect_usage("good.kl --inference -o x.c --selftest x.npy --selftest-expect p.npy",
                 "--selftest goes with --inference --weights");
    expect_usage("good.kl --inference -o x.c --weights w.safetensors --selftest x.npy",
                 "--selftest X.npy and --selftest-expect P.npy go together");
    expect_usage("good.kl --inference -o x.c --weights w.safetensors --selftest", "option '--selftest' needs a value");
    /* int8 quantization: with --inference --weights and a calibration file */
    expect_usage("good.kl --inference -o x.c --weights w.safetensors --quantize int8",
                 "--quantize int8 needs --calibrate X.npy");
    expect_usage("good.kl --check --quantize int8 --calibrate x.npy",
                 "--quantize int8 goes with --inference --weights FILE.safetensors");
    expect_usage("good.kl --inference -o x.c --quantize int8 --calibrate x.npy",
                 "--quantize int8 goes with --inference --weights FILE.safetensors");
    expect_usage("good.kl --inference -o x.c --weights w.safetensors --quantize int4 --calibrate x.npy",
                 "the only scheme is int8, not 'int4'");
    expect_usage("good.kl --inference -o x.c --weights w.safetensors --calibrate x.npy", "--calibrate goes with --quantize int8");
    expect_usage("good.kl --inference -o x.c --weights w.safetensors --quantize int8 --calibrate", "option '--calibrate' needs a value");
    expect_usage("good.kl --inference -o x.c --weights w.safetensors --quantize int8 --calibrate x.npy --selftest x.npy "
                 "--selftest-expect p.npy", "does not go with --quantize");
    expect_usage("good.kl --inference -o x.c --batch-capacity 0", "--batch-capacity needs a number");
    expect_usage("good.kl --inference -o x.c --batch-capacity 12x", "'12x'");
    /* a usage error is found before the input is read */
    expect_usage("nonexistent.kl --frobnicate", "unknown option '--frobnicate'");
    /* "-" alone is a file name, as usual */
    int status = run("- --check");
    assert_int_equal(status, 1);
    assert_non_null(strstr(err, "cannot read -"));
}

static void test_unreadable_input(void **state)
{
    (void)state;
    /* a missing or unreadable input is an error in the input: status 1, one message naming it */
    const char *modes[] = {"--check", "--summary", "--dump-ast", "--dump-ir"};
    for (int i = 0; i < 4; i++) {
        char args[256];
        snprintf(args, sizeof args, "nonexistent.kl %s", modes[i]);
        int status = run(args);
        if (status != 1)
            fail_msg("klc %s: status %d, want 1", args, status);
        if (!strstr(err, "klc: error: cannot read nonexistent.kl: No such file or directory"))
            fail_msg("klc %s: stderr \"%s\"", args, err);
        assert_int_equal(count_lines(err), 1);
        assert_string_equal(out, "");
    }
    assert_int_equal(run(". --check"), 1);
    assert_non_null(strstr(err, "klc: error: cannot read ."));
}

static void test_check(void **state)
{
    (void)state;
    assert_int_equal(run("good.kl --check"), 0);
    assert_string_equal(out, "");
    assert_string_equal(err, "");

    /* errors: status 1, located diagnostics on stderr only */
    assert_int_equal(run("bad.kl --check"), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "bad.kl:1:50: error: Dense has no argument 'activatoin'; did you mean 'activation'?\n"));
    assert_non_null(strstr(err, "                                                 ^~~~~~~~~~"));
    assert_null(strstr(err, "\033[")); /* no color when stderr is not a terminal */
    assert_int_equal(run("bad.kl --check --color"), 1);
    assert_non_null(strstr(err, "\033["));
    assert_int_equal(run("bad.kl --summary"), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "error: Dense has no argument 'activatoin'"));

    /* warnings: printed with their notes, status 0; -w prints none, and
     * errors still appear */
    write_file("warn.kl", "layer Spare() {\n"
                          "    build(x: [N, D]) { spare = add_weight(shape = [D]); }\n"
                          "    call(x) = x;\n"
                          "}\n"
                          "model = Sequential([Input(shape = [4]), Spare(), Dense(2)]);\n"
                          "model.compile(optimizer = sgd, loss = mse);\n");
    assert_int_equal(run("warn.kl --check"), 0);
    assert_non_null(strstr(err, "warning: trainable weight 'spare.spare' does not affect the loss"));
    assert_int_equal(run("warn.kl --check -w"), 0);
    assert_string_equal(err, "");
    assert_int_equal(run("bad.kl --check -w"), 1);
    assert_non_null(strstr(err, "error: Dense has no argument 'activatoin'"));

    /* an empty file is a valid program without models */
    write_file("empty.kl", "");
    assert_int_equal(run("empty.kl --check"), 0);
    assert_string_equal(err, "");
}

static void test_outputs(void **state)
{
    (void)state;
    assert_int_equal(run("good.kl --summary"), 0);
    assert_true(strncmp(out, "Model: \"sequential\"\n", 20) == 0);
    assert_non_null(strstr(out, "dense (Dense)"));
    assert_non_null(strstr(out, "(None, 3)"));
    assert_non_null(strstr(out, " Total params: 15 (60.00 B)\n"));
    assert_string_equal(err, "");

    /* --model picks one of several models; an unknown one is a usage error naming the models */
    assert_int_equal(run("two.kl --summary"), 0);
    assert_non_null(strstr(out, "Model: \"sequential\""));
    assert_non_null(strstr(out, "Model: \"sequential_1\""));
    assert_int_equal(run("two.kl --summary --model b"), 0);
    assert_null(strstr(out, "Model: \"sequential\"\n"));
    assert_non_null(strstr(out, "Model: \"sequential_1\""));
    assert_non_null(strstr(out, "dense_1 (Dense)"));
    assert_int_equal(run("two.kl --summary --model c"), 2);
    assert_non_null(strstr(err, "two.kl defines no model named 'c' (models: 'a', 'b')"));
    assert_string_equal(out, "");

    /* --dump-ast: the tree on stdout, also for a file with syntax errors (status 1) */
    assert_int_equal(run("good.kl --dump-ast"), 0);
    assert_true(strncmp(out, "Program", 7) == 0);
    assert_non_null(strstr(out, "  Assign @1:1\n    Name model @1:1\n"));
    write_file("syntax.kl", "x = (1;\ny = 2;\n");
    assert_int_equal(run("syntax.kl --dump-ast"), 1);
    assert_non_null(strstr(err, "syntax.kl:1:7: error: syntax error"));
    assert_non_null(strstr(out, "Name y"));

    assert_int_equal(run("good.kl --dump-ir"), 0);
    assert_non_null(strstr(out, "model"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_version), cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_unreadable_input), cmocka_unit_test(test_check),
        cmocka_unit_test(test_outputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
