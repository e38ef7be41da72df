/* cpu.c — OpenBLAS' kernel choice against the CPU; see cpu.h. */
#define _POSIX_C_SOURCE 200809L
#include "cpu.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *klc_blas_coretype_hint(const char *core, int has_avx512f, int has_avx2)
{
    /* OpenBLAS' generic x86-64 fallbacks, older than AVX */
    static const char *const old[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom"};
    if (!core)
        return NULL;
    int fallback = 0;
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (strcmp(core, old[i]) == 0)
            fallback = 1;
    if (!fallback)
        return NULL;
    return has_avx512f ? "SkylakeX" : has_avx2 ? "Haswell" : NULL;
}

void klc_blas_check(void)
{
    static int done;
    if (done)
        return;
    done = 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const char *set = getenv("OPENBLAS_CORETYPE");
    if ((set && *set) || !isatty(STDERR_FILENO))
        return;
    __builtin_cpu_init();
    const char *core = openblas_get_corename();
    const char *hint = klc_blas_coretype_hint(core, __builtin_cpu_supports("avx512f"), __builtin_cpu_supports("avx2"));
    if (hint)
        fprintf(stderr,
                "note: OpenBLAS does not know this CPU and runs its %s kernels; matrix products would be "
                "4-5x faster with OPENBLAS_CORETYPE=%s set before starting the program (docs/building.md)\n",
                core, hint);
#endif
}
