/*
 * main.c — training tiny.kl's model through the klc C API.
 *
 * The class of a point is whether it lies above the line y = x; after
 * training on 200 points the model classifies 200 others.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <klc/runtime.h>

#include "tiny.h"

#define ROWS 200

static void make_points(float *x, int32_t *y, unsigned seed)
{
    srand(seed);
    for (int i = 0; i < ROWS; i++) {
        x[2 * i] = (float)rand() / (float)RAND_MAX * 2 - 1;
        x[2 * i + 1] = (float)rand() / (float)RAND_MAX * 2 - 1;
        y[i] = x[2 * i + 1] > x[2 * i];
    }
}

int main(void)
{
    static float x[ROWS * 2], tx[ROWS * 2];
    static int32_t y[ROWS], ty[ROWS];
    make_points(x, y, 1);
    make_points(tx, ty, 2);
    int64_t xs[2] = { ROWS, 2 }, ys[1] = { ROWS };
    klc_tensor xt = klc_tensor_wrap(KLC_F32, 2, xs, x), yt = klc_tensor_wrap(KLC_I32, 1, ys, y);
    klc_tensor txt = klc_tensor_wrap(KLC_F32, 2, xs, tx), tyt = klc_tensor_wrap(KLC_I32, 1, ys, ty);

    klc_model *m = klc_model_new(&model_def, 42);
    if (!m) {
        fprintf(stderr, "%s\n", klc_last_error());
        return 1;
    }
    klc_logs logs;
    /* a zeroed klc_fit_options: the .kl file's fit() settings, silent */
    if (klc_fit(m, &xt, &yt, &(klc_fit_options){ 0 }, NULL) != 0 ||
        klc_evaluate(m, &txt, &tyt, &logs) != 0) {
        fprintf(stderr, "%s\n", klc_last_error());
        klc_model_free(m);
        return 1;
    }
    printf("test accuracy: %.4f - test loss: %.4f\n", klc_logs_get(&logs, "accuracy"),
           klc_logs_get(&logs, "loss"));
    klc_model_free(m);
    return 0;
}
