/* conv_check.c — runs the inference file of tests/infer/conv.kl on fixed
 * pseudo-random weights and inputs and prints the outputs, one per line
 * (tests/infer/conv_run.sh builds it with and without BLAS and compares). */
#include <stdio.h>

#include "conv_infer.h"

#define ROWS 3

static float params[MODEL_N_PARAMS + 1];
static float x[ROWS * MODEL_INPUT_SIZE];
static float y[ROWS * MODEL_OUTPUT_SIZE];
static float work[MODEL_WORK_FLOATS(ROWS) + 1];
static int32_t iwork[MODEL_WORK_INTS(ROWS) + 1];

static float next(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

int main(void)
{
    unsigned s = 7;
    for (int i = 0; i < MODEL_N_PARAMS; i++)
        params[i] = 0.5f * next(&s);
    for (int i = 0; i < ROWS * MODEL_INPUT_SIZE; i++)
        x[i] = next(&s);
    if (model_predict_ex(params, NULL, x, ROWS, y, work, iwork) != 0)
        return 1;
    for (int i = 0; i < ROWS * MODEL_OUTPUT_SIZE; i++)
        printf("%.9g\n", y[i]);
    return 0;
}
