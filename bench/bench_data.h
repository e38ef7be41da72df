/*
 * bench_data.h — the benchmarks' synthetic data set (klc_bench.c, mpi_bench.c).
 *
 * bench_data(def, rows, x, y): ROWS samples for the model def: normal inputs
 * (Box-Muller from a xorshift), or token ids uniform in [0, 20000) for a
 * model of integer inputs; labels uniform over the model's classes.  The
 * same numbers on every call and every rank.  Returns 0, or -1 with
 * klc_last_error() set when the tensors cannot be allocated.
 */
#ifndef KLC_BENCH_DATA_H
#define KLC_BENCH_DATA_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include <klc/runtime.h>

static int bench_data(const klc_model_def *def, int64_t rows, klc_tensor *x, klc_tensor *y)
{
    int64_t in = 1, classes = def->output_shape[0];
    int64_t xshape[KLC_MAX_RANK + 1] = {rows};
    for (int j = 0; j < def->input_rank; j++) {
        in *= def->input_shape[j];
        xshape[j + 1] = def->input_shape[j];
    }
    bool ids = def->input_dtype == KLC_I32;
    if (klc_tensor_alloc(x, ids ? KLC_I32 : KLC_F32, def->input_rank + 1, xshape))
        return -1;
    if (klc_tensor_alloc(y, KLC_I32, 1, &rows)) {
        klc_tensor_free(x);
        return -1;
    }
    uint64_t s = 12345;
    float *xd = x->data;
    int32_t *xi = x->data, *yd = y->data;
    for (int64_t i = 0; ids && i < rows * in; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        xi[i] = (int32_t)(s % 20000);
    }
    for (int64_t i = 0; !ids && i < rows * in; i += 2) { /* Box-Muller from a xorshift */
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        double u1 = ((s >> 11) + 1.0) / 9007199254740993.0;
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        double u2 = (s >> 11) / 9007199254740992.0;
        double r = sqrt(-2 * log(u1));
        xd[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < rows * in)
            xd[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
    for (int64_t i = 0; i < rows; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        yd[i] = (int32_t)(s % (uint64_t)classes);
    }
    return 0;
}

#endif /* KLC_BENCH_DATA_H */
