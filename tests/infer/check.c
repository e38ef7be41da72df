/*
 * check.c — runs the generated inference file and compares it with the
 * trainer's predictions.
 *
 *     check x.npy reference.npy MODE
 *
 * MODE "exact": outputs must equal the reference bit for bit (same BLAS path
 * and batch size, 32 rows per call, as the trainer's predict).
 * MODE "close": within 1e-6 relative (plain loops against BLAS).
 * Both call model_predict_ex in batches of 32 and model_predict row by row
 * (static workspace, capacity 1) and require those two to agree exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"

static float *read_f32(const char *path, long count)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[10];
    float *d = NULL;
    if (f && fread(h, 1, 10, f) == 10) {
        long hl = h[8] | h[9] << 8;
        d = malloc((size_t)count * sizeof *d);
        if (fseek(f, 10 + hl, SEEK_SET) != 0 || fread(d, sizeof *d, (size_t)count, f) != (size_t)count) {
            free(d);
            d = NULL;
        }
    }
    if (f)
        fclose(f);
    if (!d)
        fprintf(stderr, "cannot read %s\n", path);
    return d;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const long rows = 100, in = MODEL_INPUT_SIZE, out = MODEL_OUTPUT_SIZE;
    float *x = read_f32(argv[1], rows * in), *ref = read_f32(argv[2], rows * out);
    if (!x || !ref)
        return 1;
    int exact = !strcmp(argv[3], "exact");
    float *y = calloc((size_t)(rows * out), sizeof *y), *y1 = calloc((size_t)out, sizeof *y1);
    float *work = malloc(sizeof(float) * (size_t)MODEL_WORK_FLOATS(32));
    int32_t iwork[MODEL_WORK_INTS(32) + 1];
    for (long i = 0; i < rows; i += 32) {
        long n = rows - i < 32 ? rows - i : 32;
        if (model_predict_ex(x + i * in, n, y + i * out, work, iwork) != 0) {
            fprintf(stderr, "model_predict_ex failed\n");
            return 1;
        }
    }
    double worst = 0;
    long differ = 0;
    for (long k = 0; k < rows * out; k++) {
        if (y[k] != ref[k])
            differ++;
        double e = fabs((double)y[k] - ref[k]) / fmax(fabs((double)ref[k]), 1e-6);
        if (e > worst)
            worst = e;
    }
    printf("%s: %ld of %ld values differ, worst relative difference %.3g\n", argv[3], differ, rows * out, worst);
    if (exact ? differ != 0 : worst > 1e-6)
        return 1;
    /* the static-workspace entry point: one row at a time (capacity 1) gives the same
     * values as one-row calls of predict_ex */
    for (long i = 0; i < rows; i++) {
        float yr[MODEL_OUTPUT_SIZE];
        if (model_predict(x + i * in, 1, y1) != 0 || model_predict_ex(x + i * in, 1, yr, work, iwork) != 0 ||
            memcmp(y1, yr, sizeof yr) != 0) {
            fprintf(stderr, "model_predict and model_predict_ex disagree on row %ld\n", i);
            return 1;
        }
    }
    if (model_predict(x, 2, y1) != -1 || model_predict(x, 0, y1) != -1) {
        fprintf(stderr, "model_predict accepted a row count beyond its capacity\n");
        return 1;
    }
    free(x);
    free(ref);
    free(y);
    free(y1);
    free(work);
    return 0;
}
