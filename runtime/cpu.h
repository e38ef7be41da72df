/*
 * cpu.h — whether OpenBLAS runs the kernels this CPU can.
 *
 * OpenBLAS picks its kernels from the CPU's model number when it loads; on
 * a CPU newer than the library it falls back to old SSE kernels
 * ("Prescott"), 4-5x slower, and says nothing.  The choice cannot be
 * changed once the library is loaded (OPENBLAS_CORETYPE is read at load),
 * so the trainer only tells the user what to set (docs/building.md).
 */
#ifndef KLC_CPU_H
#define KLC_CPU_H

/* The OPENBLAS_CORETYPE to suggest when OpenBLAS chose the kernels `core`
 * (its openblas_get_corename()) on a CPU with AVX-512F / AVX2: "SkylakeX",
 * "Haswell", or NULL when the choice is fine or unknown. */
const char *klc_blas_coretype_hint(const char *core, int has_avx512f, int has_avx2);

/* At most once per process, and only when stderr is a terminal and
 * OPENBLAS_CORETYPE is not set: a note on stderr when the hint above
 * applies to this process. */
void klc_blas_check(void);

#endif /* KLC_CPU_H */
