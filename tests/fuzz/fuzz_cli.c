/* fuzz_cli.c — the trainer's command line (klc_main) of a real generated
 * model (tests/fuzz/fuzzed.kl) on arguments made from the input: split at
 * NUL bytes and newlines into at most 24 arguments after "train".  Every
 * subcommand and flag is reachable; the working directory holds small data
 * files (x.npy [8, 6, 6, 1], y.npy [8] labels in 0..2, written at the first
 * call) so fit, evaluate, predict and gradcheck run for real.
 *
 * What a run may touch is bounded, so the campaign cannot damage the
 * machine or stall: an input with an argument holding '/' (a path outside
 * the working directory) or a number of more than three digits (epochs,
 * rows, batch sizes) is skipped.  stdout goes to /dev/null. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "fuzzed_model.h"
#include "klc/runtime.h"

#define MAX_ARGS 24
#define MAX_INPUT 2048

static int write_data(void)
{
    klc_tensor x, y;
    const int64_t xs[4] = {8, 6, 6, 1}, ys[1] = {8};
    if (klc_tensor_alloc(&x, KLC_F32, 4, xs))
        return -1;
    if (klc_tensor_alloc(&y, KLC_I32, 1, ys)) {
        klc_tensor_free(&x);
        return -1;
    }
    float *p = x.data;
    for (int i = 0; i < 8 * 36; i++)
        p[i] = (float)((i * 7) % 11) / 11.0f;
    int32_t *l = y.data;
    for (int i = 0; i < 8; i++)
        l[i] = i % 3;
    int rc = klc_npy_save(&x, "x.npy") || klc_npy_save(&y, "y.npy");
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return rc ? -1 : 0;
}

/* An argument a run may take: no path separator, no long number. */
static int harmless(const char *arg)
{
    if (strchr(arg, '/'))
        return 0;
    int digits = 0;
    for (const char *p = arg; *p; p++) {
        digits = isdigit((unsigned char)*p) ? digits + 1 : 0;
        if (digits > 3)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (!freopen("/dev/null", "w", stdout) || write_data())
            return 0;
        ready = 1;
    }
    if (size > MAX_INPUT)
        return 0;
    char buf[MAX_INPUT + 1];
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "train";
    char *start = buf;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && buf[i] != '\0' && buf[i] != '\n')
            continue;
        buf[i] = '\0';
        if (argc == MAX_ARGS + 1)
            return 0;
        if (!harmless(start))
            return 0;
        argv[argc++] = start;
        start = buf + i + 1;
    }
    argv[argc] = NULL;
    (void)klc_main(&fuzzed_def, argc, argv);
    fflush(stdout);
    return 0;
}
