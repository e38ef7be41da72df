/*
 * mnist_demo.c — runs the exported inference file on a few test digits.
 *
 *     klc examples/mnist.kl --inference --weights trained.safetensors -o mnist_infer.c
 *     cc -O2 -DKLC_NO_BLAS mnist_infer.c mnist_demo.c -lm -o mnist_infer
 *     ./mnist_infer x_test.npy y_test.npy 10
 *
 * The inference file needs no klc runtime and no BLAS (with KLC_NO_BLAS);
 * this program only adds a minimal reader for the .npy test files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnist_infer.h"

/* Read a little-endian .npy of `count` elements of `size` bytes ('<f4' or '<i4'). */
static void *read_npy(const char *path, const char *descr, long count, size_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    unsigned char head[10];
    void *data = NULL;
    if (fread(head, 1, 10, f) == 10 && memcmp(head, "\x93NUMPY", 6) == 0 && head[6] == 1) {
        size_t hlen = (size_t)head[8] | (size_t)head[9] << 8;
        char *hdr = calloc(hlen + 1, 1);
        if (hdr && fread(hdr, 1, hlen, f) == hlen && strstr(hdr, descr)) {
            data = malloc((size_t)count * size);
            if (data && fread(data, size, (size_t)count, f) != (size_t)count) {
                free(data);
                data = NULL;
            }
        }
        free(hdr);
    }
    fclose(f);
    if (!data)
        fprintf(stderr, "%s: not a %s .npy file with %ld values\n", path, descr, count);
    return data;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s x_test.npy y_test.npy COUNT\n", argv[0]);
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    if (count < 1 || count > 1000) {
        fprintf(stderr, "COUNT must be 1..1000\n");
        return 2;
    }
    float *x = read_npy(argv[1], "<f4", count * MNIST_INPUT_SIZE, sizeof(float));
    int32_t *y = read_npy(argv[2], "<i4", count, sizeof(int32_t));
    if (!x || !y)
        return 1;
    int correct = 0;
    for (long i = 0; i < count; i++) {
        float p[MNIST_OUTPUT_SIZE];
        if (mnist_predict(x + i * MNIST_INPUT_SIZE, 1, p) != 0)
            return 1;
        int best = 0;
        for (int k = 1; k < MNIST_OUTPUT_SIZE; k++)
            if (p[k] > p[best])
                best = k;
        correct += best == y[i];
        printf("digit %2ld: predicted %d (p = %.3f), true %d%s\n", i, best, p[best], y[i],
               best == y[i] ? "" : "   <- wrong");
    }
    printf("%d of %ld test digits right\n", correct, count);
    free(x);
    free(y);
    return 0;
}
