/*
 * fuzz.h — what every harness in tests/fuzz/ defines.
 *
 * A harness is one function with libFuzzer's signature: it feeds data[0..size)
 * to one reader of the project and throws the result away.  It must not
 * crash, leak, read outside the buffer or call exit() for any input; a
 * failure is reported by the sanitizers (clang fuzz build, ASan build) or by
 * the process dying (replay in the plain build).  Built twice: linked with
 * libFuzzer (-DKLC_FUZZ=ON, scripts/fuzz.sh) and with replay.c, which runs
 * the files of tests/fuzz/regress/<harness>/ under ctest.
 */
#ifndef KLC_FUZZ_H
#define KLC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* KLC_FUZZ_H */
