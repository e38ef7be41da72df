// The inference header from C++: extern "C" guards let this link against the C file.
#include "infer.h"

int main()
{
    float x[MODEL_INPUT_SIZE] = {0}, y[MODEL_OUTPUT_SIZE];
    return model_predict(x, 1, y) == 0 ? 0 : 1;
}
