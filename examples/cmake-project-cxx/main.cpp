// main.cpp — klc's generated C used from C++: tiny.kl's model trained and
// evaluated through the runtime's C API (klc/runtime.h and the generated
// header are C++-clean: extern "C", no C-only syntax).
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include <klc/runtime.h>

#include "tiny.h"

// points in [-1, 1]^2, labelled by whether they lie above the line y = x
static void make_points(std::vector<float> &x, std::vector<int32_t> &y, unsigned seed)
{
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (size_t i = 0; i < y.size(); i++) {
        x[2 * i] = u(gen);
        x[2 * i + 1] = u(gen);
        y[i] = x[2 * i + 1] > x[2 * i];
    }
}

int main()
{
    const int64_t rows = 200;
    std::vector<float> x(rows * 2), tx(rows * 2);
    std::vector<int32_t> y(rows), ty(rows);
    make_points(x, y, 1);
    make_points(tx, ty, 2);
    int64_t xs[2] = {rows, 2}, ys[1] = {rows};
    klc_tensor xt = klc_tensor_wrap(KLC_F32, 2, xs, x.data());
    klc_tensor yt = klc_tensor_wrap(KLC_I32, 1, ys, y.data());
    klc_tensor txt = klc_tensor_wrap(KLC_F32, 2, xs, tx.data());
    klc_tensor tyt = klc_tensor_wrap(KLC_I32, 1, ys, ty.data());

    klc_model *m = klc_model_new(&model_def, 42);
    klc_fit_options opts{};   // the .kl file's fit() settings, silent
    klc_logs logs;
    if (!m || klc_fit(m, &xt, &yt, &opts, nullptr) != 0 || klc_evaluate(m, &txt, &tyt, &logs) != 0) {
        std::fprintf(stderr, "%s\n", klc_last_error());
        klc_model_free(m);
        return 1;
    }
    double acc = klc_logs_get(&logs, "accuracy");
    std::printf("test accuracy: %.4f\n", acc);
    klc_model_free(m);
    return acc >= 0.9 ? 0 : 1;
}
