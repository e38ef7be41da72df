/* fuzz_safetensors.c — the safetensors reader (klc_st_parse) on one file's
 * bytes, then every tensor's data read and every name looked up. */
#include "fuzz.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    klc_st_file f;
    if (klc_st_parse(&f, "fuzz.safetensors", data, size) != 0)
        return 0;
    volatile unsigned sum = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const klc_st_tensor *t = &f.tensors[i];
        const unsigned char *p = t->data;
        for (size_t k = 0; k < t->nbytes; k++)
            sum += p[k];
        sum += klc_st_find(&f, t->name) == t;
    }
    for (int i = 0; i < f.n_meta; i++)
        sum += klc_st_meta_get(&f, f.meta[i].key) != NULL;
    klc_st_free(&f);
    return 0;
}
