/* fuzz_npy.c — the .npy reader (klc_npy_parse) on one file's bytes. */
#include "fileio.h"
#include "fuzz.h"
#include "klc/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    klc_tensor t;
    if (klc_npy_parse(&t, "fuzz.npy", data, size) == 0)
        klc_tensor_free(&t);
    return 0;
}
