/*
 * fuzz_compile.c — the whole compiler on one .kl program: parse, check,
 * differentiate, fuse, plan, and emit training C (models with compile(...))
 * and inference C, all in memory (driver_compile_source).  Diagnostics go
 * to /dev/null; the IR verifier is on (KLC_VERIFY_IR=1), so a broken
 * invariant is an abort.  Imports resolve beside "fuzz.kl" in the current
 * directory.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */

#include <stdio.h>
#include <stdlib.h>

#include "driver.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink) {
        setenv("KLC_VERIFY_IR", "1", 1);
        sink = fopen("/dev/null", "w");
        if (!sink)
            sink = stderr;
    }
    driver_compile_source("fuzz.kl", (const char *)data, size, sink);
    return 0;
}
