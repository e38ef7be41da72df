/* quant_check.c — the int8 inference file against the float model's
 * predictions: quant_check X.npy P.npy runs MODEL_predict (the quantized
 * file, model "mnist") on every row of X and compares with P, the trainer's
 * predict outputs for X.  It requires the argmax of every row to agree but
 * for at most one row in 32 whose two largest float probabilities are
 * within 0.1 of each other (a near tie the int8 noise may flip), and the
 * largest absolute probability error to be at most 0.1.  Why 0.1: each of
 * the model's int8 tensors rounds by half a step of its range / 255; on
 * MNIST's 10,000 test digits the file's largest error was 0.041 and its
 * mean 0.0007 (docs/deploying.md), so 0.1 leaves room for a briefly
 * trained model while failing on any systematic error (a wrong scale,
 * zero point or rounding moves probabilities by far more). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "q.h"

/* The values of a little-endian float32 .npy file (version 1), and how many. */
static float *load_f32(const char *path, long *count)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[10];
    char hdr[65536];
    if (!f || fread(h, 1, 10, f) != 10 || memcmp(h, "\x93NUMPY\x01", 7) != 0)
        return NULL;
    size_t hl = (size_t)(h[8] | h[9] << 8);
    if (fread(hdr, 1, hl, f) != hl)
        return NULL;
    hdr[hl] = 0;
    if (!strstr(hdr, "'<f4'")) {
        fclose(f);
        return NULL;
    }
    long start = ftell(f);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f) - start;
    fseek(f, start, SEEK_SET);
    float *v = malloc((size_t)bytes + 4);
    if (!v || fread(v, 1, (size_t)bytes, f) != (size_t)bytes)
        return NULL;
    fclose(f);
    *count = bytes / 4;
    return v;
}

int main(int argc, char **argv)
{
    long nx = 0, np = 0;
    float *x = argc == 3 ? load_f32(argv[1], &nx) : NULL, *p = argc == 3 ? load_f32(argv[2], &np) : NULL;
    if (!x || !p || nx % MNIST_INPUT_SIZE || np % MNIST_OUTPUT_SIZE || nx / MNIST_INPUT_SIZE != np / MNIST_OUTPUT_SIZE) {
        fprintf(stderr, "usage: quant_check X.npy P.npy (float32, the same rows)\n");
        return 2;
    }
    int64_t n = np / MNIST_OUTPUT_SIZE, flips = 0, near_flips = 0;
    double max_err = 0;
    for (int64_t i = 0; i < n; i++) {
        float y[MNIST_OUTPUT_SIZE];
        const float *want = p + i * MNIST_OUTPUT_SIZE;
        if (mnist_predict(x + i * MNIST_INPUT_SIZE, 1, y) != 0)
            return 2;
        int bq = 0, bf = 0;
        for (int k = 0; k < MNIST_OUTPUT_SIZE; k++) {
            double e = fabs((double)y[k] - (double)want[k]);
            max_err = e > max_err || e != e ? e : max_err;
            bq = y[k] > y[bq] ? k : bq;
            bf = want[k] > want[bf] ? k : bf;
        }
        if (bq != bf) {
            flips++;
            near_flips += fabs((double)want[bq] - (double)want[bf]) <= 0.1;
        }
    }
    printf("%lld rows: argmax differs on %lld (%lld near ties), largest probability error %.4f\n", (long long)n,
           (long long)flips, (long long)near_flips, max_err);
    free(x);
    free(p);
    return flips == near_flips && flips * 32 <= n && max_err <= 0.1 ? 0 : 1;
}
