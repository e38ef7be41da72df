/*
 * main.c — the klc command line.
 *
 *   klc model.kl -o model.c              training code (model.c + model.h)
 *   klc model.kl --main -o train.c       the same plus a trainer main()
 *   klc model.kl --inference [--weights w.safetensors] -o infer.c
 *   klc model.kl --check | --summary | --dot [-o model.dot]
 *   klc model.kl --dump-ast | --dump-ir[=check|ad|fuse|plan]
 *   klc import model.keras -o model.kl [--layers layers.kl]
 *                                        a Keras model as .kl and safetensors (import.h)
 *   klc --help | --version
 *
 * Exit status: 0 success, 1 the input has errors, 2 bad usage or an
 * internal fault.
 */
#define _POSIX_C_SOURCE 200809L /* isatty */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/diag.h"
#include "driver.h"
#include "front/parse.h"
#include "import.h"

#ifndef KLC_VERSION
#define KLC_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    fputs("usage: klc FILE.kl [options]\n"
          "\n"
          "Compile Keras-style layers and Sequential models (.kl) to C.\n"
          "\n"
          "Output (one of):\n"
          "  -o FILE.c            write training code: FILE.c and FILE.h (needs the klc runtime)\n"
          "  --main -o FILE.c     the same, plus a main(): a ready trainer program\n"
          "  --data-parallel      with -o: the train step hands its gradients to the runtime before\n"
          "                       the update, so fit can run data-parallel over MPI (docs/distributed.md)\n"
          "  --inference -o FILE.c\n"
          "                       the forward pass only: one self-contained C file (and header),\n"
          "                       no klc runtime, no malloc\n"
          "  --weights FILE.safetensors\n"
          "                       with --inference: embed these weights as static const arrays\n"
          "  --no-blas            with --inference: plain loops instead of cblas_sgemm\n"
          "  --index-type int32|int64\n"
          "                       with --inference: the type of the loops and subscripts (default\n"
          "                       int64; int32 is faster on 32-bit cores, refused when a buffer\n"
          "                       could exceed 2^30 elements)\n"
          "  --selftest X.npy --selftest-expect P.npy\n"
          "                       with --inference --weights: embed the first rows of X and the\n"
          "                       outputs the trainer's predict gave for them (P), and a\n"
          "                       MODEL_selftest() that checks the file against them on the target\n"
          "  --quantize int8 --calibrate X.npy\n"
          "                       with --inference --weights: int8 weights and activations\n"
          "                       (TensorFlow Lite's scheme), ranges observed on the rows of X\n"
          "  --check              check the program; print diagnostics only\n"
          "  --summary            print Keras' model.summary() table\n"
          "  --dot [-o FILE.dot]  the model as a Graphviz graph (like Keras' plot_model)\n"
          "  --dump-ast           print the syntax tree\n"
          "  --dump-ir            print the IR: forward, loss and derived gradients\n"
          "  --dump-ir=STAGE      the IR after one stage: check (forward and loss as checked),\n"
          "                       ad (with the backward pass), fuse (the same as --dump-ir),\n"
          "                       plan (each function with its memory plan: offsets and sizes)\n"
          "\n"
          "Other options:\n"
          "  --model NAME         act on this model only (files may define several)\n"
          "  --batch-capacity N   with --inference: the largest batch (default 1)\n"
          "  --color / --no-color diagnostics in color (default: when stderr is a terminal)\n"
          "  -w                   print no warnings (errors still are)\n"
          "  --help, --version\n"
          "\n"
          "klc import MODEL.keras -o MODEL.kl [--layers LAYERS.kl]\n"
          "                       a Keras 3 Sequential (its config.json) as a .kl program, and its\n"
          "                       weights as MODEL.safetensors; custom layers come from LAYERS.kl\n"
          "\n"
          "Exit status: 0 success, 1 errors in the input, 2 bad usage or an internal fault.\n",
          out);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("klc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'klc --help'.\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    DriverOptions o;
    memset(&o, 0, sizeof o);
    o.mode = MODE_NONE;
    o.batch_capacity = 1;
    int color = -1;
    if (argc >= 2 && !strcmp(argv[1], "import"))
        return klc_import_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        DriverMode m = MODE_NONE;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(arg, "--version")) {
            printf("klc %s\n", KLC_VERSION);
            return 0;
        } else if (!strcmp(arg, "-o")) {
            if (++i >= argc)
                return bad_usage("option '%s' needs a file name", "-o");
            o.output = argv[i];
        } else if (!strcmp(arg, "--weights") || !strcmp(arg, "--model") || !strcmp(arg, "--batch-capacity") ||
                   !strcmp(arg, "--selftest") || !strcmp(arg, "--selftest-expect") || !strcmp(arg, "--quantize") ||
                   !strcmp(arg, "--calibrate") || !strcmp(arg, "--index-type")) {
            if (++i >= argc)
                return bad_usage("option '%s' needs a value", arg);
            if (!strcmp(arg, "--weights"))
                o.weights = argv[i];
            else if (!strcmp(arg, "--selftest"))
                o.selftest_x = argv[i];
            else if (!strcmp(arg, "--selftest-expect"))
                o.selftest_y = argv[i];
            else if (!strcmp(arg, "--quantize"))
                o.quantize = argv[i];
            else if (!strcmp(arg, "--calibrate"))
                o.calibrate = argv[i];
            else if (!strcmp(arg, "--model"))
                o.model = argv[i];
            else if (!strcmp(arg, "--index-type")) {
                if (strcmp(argv[i], "int32") && strcmp(argv[i], "int64"))
                    return bad_usage("--index-type is int32 or int64, not '%s'", argv[i]);
                o.index32 = !strcmp(argv[i], "int32");
                o.index_type_given = true;
            }
            else {
                char *end;
                long n = strtol(argv[i], &end, 10);
                if (*end || n < 1 || n > 1 << 20)
                    return bad_usage("--batch-capacity needs a number from 1 to 1048576, not '%s'", argv[i]);
                o.batch_capacity = n;
            }
        } else if (!strcmp(arg, "--check")) {
            m = MODE_CHECK;
        } else if (!strcmp(arg, "--summary")) {
            m = MODE_SUMMARY;
        } else if (!strcmp(arg, "--dump-ast")) {
            m = MODE_DUMP_AST;
        } else if (!strcmp(arg, "--dump-ir") || !strncmp(arg, "--dump-ir=", 10)) {
            static const char *const stages[] = {"fuse", "check", "ad", "plan"}; /* by DumpStage */
            m = MODE_DUMP_IR;
            if (arg[9] == '=') {
                int k = 0;
                while (k < 4 && strcmp(arg + 10, stages[k]))
                    k++;
                if (k == 4)
                    return bad_usage("--dump-ir=STAGE: STAGE is check, ad, fuse or plan, not '%s'", arg + 10);
                o.dump_stage = (DumpStage)k;
            }
        } else if (!strcmp(arg, "--dot")) {
            m = MODE_DOT;
        } else if (!strcmp(arg, "--main")) {
            o.with_main = true;
        } else if (!strcmp(arg, "--data-parallel")) {
            o.data_parallel = true;
        } else if (!strcmp(arg, "--inference")) {
            m = MODE_INFERENCE;
        } else if (!strcmp(arg, "--no-blas")) {
            o.no_blas = true;
        } else if (!strcmp(arg, "-w")) {
            o.no_warnings = true;
        } else if (!strcmp(arg, "--color")) {
            color = 1;
        } else if (!strcmp(arg, "--no-color")) {
            color = 0;
        } else if (arg[0] == '-' && arg[1]) {
            return bad_usage("unknown option '%s'", arg);
        } else {
            if (o.input)
                return bad_usage("one input file at a time (got a second: '%s')", arg);
            o.input = arg;
        }
        if (m != MODE_NONE) {
            if (o.mode != MODE_NONE && o.mode != m)
                return bad_usage("choose one of --check, --summary, --dot, --inference, --dump-ast, --dump-ir (%s)",
                                 arg);
            o.mode = m;
        }
    }
    if (!o.input)
        return bad_usage("%s", "no input file");
    if (o.mode == MODE_NONE) {
        if (!o.output)
            return bad_usage("%s", "nothing to do: give -o FILE.c, --check, --summary, --dot or --inference");
        o.mode = MODE_TRAIN;
    }
    if (o.with_main && o.mode != MODE_TRAIN)
        return bad_usage("%s", "--main goes with -o FILE.c (training code)");
    if (o.weights && o.mode != MODE_INFERENCE)
        return bad_usage("%s", "--weights goes with --inference");
    if (o.data_parallel && o.mode != MODE_TRAIN)
        return bad_usage("%s", "--data-parallel goes with -o FILE.c (training code)");
    if (o.no_blas && o.mode != MODE_INFERENCE)
        return bad_usage("%s", "--no-blas goes with --inference");
    if (o.index_type_given && o.mode != MODE_INFERENCE)
        return bad_usage("%s", "--index-type goes with --inference");
    if ((o.selftest_x || o.selftest_y) && (o.mode != MODE_INFERENCE || !o.weights))
        return bad_usage("%s", "--selftest goes with --inference --weights");
    if (!o.selftest_x != !o.selftest_y)
        return bad_usage("%s", "--selftest X.npy and --selftest-expect P.npy go together");
    if (o.quantize && strcmp(o.quantize, "int8"))
        return bad_usage("--quantize: the only scheme is int8, not '%s'", o.quantize);
    if (o.quantize && (o.mode != MODE_INFERENCE || !o.weights))
        return bad_usage("%s", "--quantize int8 goes with --inference --weights FILE.safetensors");
    if (o.quantize && !o.calibrate)
        return bad_usage("%s", "--quantize int8 needs --calibrate X.npy (rows to observe the activations' ranges on)");
    if (o.calibrate && !o.quantize)
        return bad_usage("%s", "--calibrate goes with --quantize int8");
    if (o.quantize && o.selftest_x)
        return bad_usage("%s", "--selftest compares float outputs to 1e-4 and does not go with --quantize");
    if ((o.mode == MODE_TRAIN || o.mode == MODE_INFERENCE) && !o.output)
        return bad_usage("%s", "give the output file: -o FILE.c");
    if (o.output && (o.mode == MODE_CHECK || o.mode == MODE_SUMMARY || o.mode == MODE_DUMP_AST ||
                     o.mode == MODE_DUMP_IR))
        return bad_usage("%s", "-o does not go with --check, --summary, --dump-ast or --dump-ir");
    o.color = color < 0 ? isatty(2) && !getenv("NO_COLOR") : color;
    return driver_run(&o);
}
