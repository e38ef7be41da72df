/*
 * rows.c — prints the MNIST inference file's outputs for every row of
 * x_test.npy (in the current directory), one line per row, each output with
 * %.9g (which a float survives exactly), so that two builds are compared with
 * cmp or a tolerance.  The same source runs on the host and on the Cortex-M4F
 * under QEMU (stdio through semihosting, the file read from the host's
 * directory); on the target, SysTick also times the first inference as
 * main.c does and the program prints "instructions per inference: N".
 *
 * x_test.npy must be float32 little-endian rows of MNIST_INPUT_SIZE values
 * (what gen_digits writes).  Exit status 0, or 1 if the file cannot be read
 * or mnist_predict fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mnist_infer.h"

#if defined(__arm__)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#endif

int main(void)
{
    static float x[MNIST_INPUT_SIZE], y[MNIST_OUTPUT_SIZE];
    FILE *f = fopen("x_test.npy", "rb");
    unsigned char h[10];
    /* npy version 1: magic, version, a 2-byte header length, the header */
    if (!f || fread(h, 1, 10, f) != 10 || memcmp(h, "\x93NUMPY\x01", 7) != 0 ||
        fseek(f, 10L + (long)(h[8] | h[9] << 8), SEEK_SET) != 0) {
        printf("cannot read x_test.npy\n");
        return 1;
    }
    int rows = 0;
    while (fread(x, sizeof x[0], MNIST_INPUT_SIZE, f) == MNIST_INPUT_SIZE) {
#if defined(__arm__)
        uint32_t t0 = 0, t1 = 0;
        int wrapped = 0;
        if (rows == 0) {
            SYST_RVR = 0xFFFFFF;
            SYST_CVR = 0;
            SYST_CSR = 5; /* enabled, processor clock, no interrupt */
            (void)SYST_CSR; /* clears COUNTFLAG */
            t0 = SYST_CVR;
        }
#endif
        int rc = mnist_predict(x, 1, y);
#if defined(__arm__)
        if (rows == 0) {
            t1 = SYST_CVR;
            wrapped = (SYST_CSR >> 16) & 1;
            /* -icount shift=0: 1 ns per instruction, SysTick at 25 MHz: 40 per tick */
            if (wrapped)
                printf("instructions per inference: more than %lu\n", 40ul * 0xFFFFFFul);
            else
                printf("instructions per inference: %lu\n", 40ul * (unsigned long)((t0 - t1) & 0xFFFFFF));
        }
#endif
        if (rc != 0) {
            printf("mnist_predict failed on row %d\n", rows);
            return 1;
        }
        printf("row %d:", rows);
        for (int k = 0; k < MNIST_OUTPUT_SIZE; k++)
            printf(" %.9g", (double)y[k]);
        printf("\n");
        rows++;
    }
    fclose(f);
    printf("rows: %d\n", rows);
    return rows > 0 ? 0 : 1;
}
