/* fuzz_load.c — one weights file's bytes (safetensors, or Keras' .weights.h5
 * or .keras, told by the first bytes) loaded into a real generated
 * model (tests/fuzz/fuzzed.kl): klc_load_weights' checks of the names,
 * shapes and dtypes against the model, of the metadata and of the optimizer
 * state, then one prediction on what was loaded (any float is a valid
 * weight: NaN and Inf must flow through, not crash). */
#include <string.h>

#include "fuzz.h"
#include "fuzzed_model.h"
#include "klc/runtime.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static klc_model *m;
    static klc_tensor x;
    if (!m) {
        m = klc_model_new(&fuzzed_def, 1);
        const int64_t shape[4] = {2, 6, 6, 1};
        if (!m || klc_tensor_alloc(&x, KLC_F32, 4, shape))
            return 0;
        float *p = x.data;
        for (int i = 0; i < 72; i++)
            p[i] = (float)(i % 7) - 3.0f;
    }
    if (klc_load_weights_bytes(m, "fuzz.safetensors", data, size) != 0)
        return 0;
    klc_tensor y;
    memset(&y, 0, sizeof y);
    if (klc_predict(m, &x, &y) == 0)
        klc_tensor_free(&y);
    return 0;
}
