/*
 * klc_bench.c — training throughput of a klc-generated model.
 *
 *     klc_bench seed|mlp|cnn|lstm|transformer EPOCHS ROWS
 *
 * Trains on ROWS synthetic samples (normal inputs, or token ids uniform in
 * [0, 20000) for a model of integer inputs; uniform labels; the same
 * distributions as bench/torch_bench.py) with the model's compiled optimizer and
 * batch size, through the public C API (klc_fit, shuffled every epoch), and
 * prints one line per epoch: "klc <model> <samples/s>".
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <klc/runtime.h>

#include "bench_data.h"
#include "bench_models.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s seed|mlp|cnn|lstm|transformer EPOCHS ROWS\n", argv[0]);
        return 2;
    }
    const klc_model_def *def = NULL;
    for (int i = 0; i < bench_models_n_models; i++)
        if (!strcmp(bench_models_models[i]->name, argv[1]))
            def = bench_models_models[i];
    int epochs = atoi(argv[2]);
    int64_t rows = atoll(argv[3]);
    if (!def || epochs < 1 || rows < 1) {
        fprintf(stderr, "%s: unknown model or bad numbers\n", argv[0]);
        return 2;
    }
    klc_tensor x, y;
    if (bench_data(def, rows, &x, &y)) {
        fprintf(stderr, "%s\n", klc_last_error());
        return 1;
    }
    klc_model *m = klc_model_new(def, 1);
    if (!m) {
        fprintf(stderr, "%s\n", klc_last_error());
        return 1;
    }
    for (int e = 0; e < epochs; e++) {
        klc_fit_options o = {0};
        o.epochs = 1;
        double t0 = now();
        if (klc_fit(m, &x, &y, &o, NULL) != 0) {
            fprintf(stderr, "%s\n", klc_last_error());
            return 1;
        }
        double t = now() - t0;
        printf("klc %s %.0f\n", def->name, (double)rows / t);
        fflush(stdout);
    }
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return 0;
}
