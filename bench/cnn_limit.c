/*
 * cnn_limit.c — the GEMM-only limit of the `cnn` benchmark's training step.
 *
 *     cc -O2 cnn_limit.c $(pkg-config --cflags --libs openblas) -o cnn_limit
 *     OPENBLAS_NUM_THREADS=1 ./cnn_limit
 *
 * Times cblas_sgemm at exactly the products klc's step calls for the keras.io
 * MNIST convnet at batch 128 (the same shapes and transposes: the forward
 * products on the im2col buffers, the kernel gradients, the second
 * convolution's input gradient, the Dense layer's three) and prints the step's
 * GEMM time and the samples per second a step made of nothing else would
 * reach: a ceiling, not a target (no im2col, pooling, elementwise work,
 * optimizer).
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct { const char *what; int ta, tb, m, n, k; } Shape;

int main(void)
{
    const int B = 128;
    const Shape s[] = {
        {"conv2d fwd", 0, 0, B * 676, 32, 9},      {"conv2d dW", 1, 0, 9, 32, B * 676},
        {"conv2d_1 fwd", 0, 0, B * 121, 64, 288},  {"conv2d_1 dX", 0, 1, B * 121, 288, 64},
        {"conv2d_1 dW", 1, 0, 288, 64, B * 121},   {"dense fwd", 0, 0, B, 10, 1600},
        {"dense dX", 0, 1, B, 1600, 10},           {"dense dW", 1, 0, 1600, 10, B},
    };
    double total = 0;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        const Shape *p = &s[i];
        float *a = calloc((size_t)p->m * (size_t)p->k, sizeof(float));
        float *b = calloc((size_t)p->k * (size_t)p->n, sizeof(float));
        float *c = calloc((size_t)p->m * (size_t)p->n, sizeof(float));
        for (size_t j = 0; j < (size_t)p->m * (size_t)p->k; j++)
            a[j] = (float)(j % 7) * 0.1f;
        for (size_t j = 0; j < (size_t)p->k * (size_t)p->n; j++)
            b[j] = (float)(j % 5) * 0.1f;
        int reps = 0;
        double t0 = now(), t;
        do {
            cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans, p->m,
                        p->n, p->k, 1.0f, a, p->ta ? p->m : p->k, b, p->tb ? p->k : p->n, 0.0f, c, p->n);
            reps++;
            t = now() - t0;
        } while (t < 0.3 || reps < 5);
        double per = t / reps;
        printf("%-14s %6d x %5d x %6d  %8.3f ms  %6.1f GFLOP/s\n", p->what, p->m, p->n, p->k, 1e3 * per,
               2.0 * p->m * p->n * p->k / per * 1e-9);
        total += per;
        free(a);
        free(b);
        free(c);
    }
    printf("step GEMMs %.3f ms: GEMM-only limit %.0f samples/s\n", 1e3 * total, B / total);
    return 0;
}
