/* make_data.c — x.npy (float32 [100, 12]) and y.npy (int32 [100]) for the inference tests. */
#include <stdio.h>
#include <stdint.h>

#include <klc/runtime.h>

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    klc_tensor x, y;
    int64_t xs[2] = {100, 12}, ys[1] = {100};
    if (klc_tensor_alloc(&x, KLC_F32, 2, xs) || klc_tensor_alloc(&y, KLC_I32, 1, ys))
        return 1;
    uint32_t s = 7;
    for (int i = 0; i < 1200; i++) {
        s = s * 1664525u + 1013904223u;
        ((float *)x.data)[i] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
    }
    for (int i = 0; i < 100; i++)
        ((int32_t *)y.data)[i] = i % 5;
    char px[4096], py[4096];
    snprintf(px, sizeof px, "%s/x.npy", dir);
    snprintf(py, sizeof py, "%s/y.npy", dir);
    if (klc_npy_save(&x, px) || klc_npy_save(&y, py)) {
        fprintf(stderr, "%s\n", klc_last_error());
        return 1;
    }
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return 0;
}
