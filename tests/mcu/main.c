/*
 * main.c — the MNIST inference file on a Cortex-M4F (QEMU's mps2-an386):
 * the generated self-test (klc --inference --selftest) compares the forward
 * pass with the trainer's predictions for the rows embedded in the file, and
 * SysTick times one inference.  Run with -icount shift=0, QEMU advances its
 * clock by 1 ns per instruction, and SysTick counts at the board's 25 MHz: one
 * tick per 40 instructions.  Prints through semihosting; exit status 0 only
 * when the self-test passes.
 */
#include <stdint.h>
#include <stdio.h>

#include "mnist_infer.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

int main(void)
{
    static float x[MNIST_INPUT_SIZE], y[MNIST_OUTPUT_SIZE];
    SYST_RVR = 0xFFFFFF;
    SYST_CVR = 0;
    SYST_CSR = 5; /* enabled, processor clock, no interrupt */
    (void)SYST_CSR; /* clears COUNTFLAG */
    uint32_t t0 = SYST_CVR;
    int rc = mnist_predict(x, 1, y);
    uint32_t t1 = SYST_CVR;
    int wrapped = (SYST_CSR >> 16) & 1;
    if (rc != 0) {
        printf("mnist_predict failed\n");
        return 1;
    }
    if (wrapped)
        printf("instructions per inference: more than %lu\n", 40ul * 0xFFFFFFul);
    else
        printf("instructions per inference: %lu\n", 40ul * (unsigned long)((t0 - t1) & 0xFFFFFF));
    int bad = mnist_selftest();
    printf("selftest: %d of %d outputs differ from the trainer's\n", bad, MNIST_SELFTEST_ROWS * MNIST_OUTPUT_SIZE);
    return bad != 0;
}
