/* test_quant.c — quant_multiplier (TFLite's QuantizeMultiplier) against
 * values computed by hand: real = m * 2^(shift - 31), m in [2^30, 2^31). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "back/quant.h"

static void expect_multiplier(double real, int32_t m, int shift)
{
    int32_t got_m = -1;
    int got_shift = -99;
    quant_multiplier(real, &got_m, &got_shift);
    if (got_m != m || got_shift != shift)
        fail_msg("quant_multiplier(%.17g) = (%ld, %d), want (%ld, %d)", real, (long)got_m, got_shift, (long)m, shift);
}

static void test_quantize_multiplier(void **state)
{
    (void)state;
    expect_multiplier(0.5, 1073741824, 0);       /* 0.5 = 2^30 / 2^31 */
    expect_multiplier(0.75, 1610612736, 0);      /* 0.75 * 2^31 */
    expect_multiplier(1.0, 1073741824, 1);       /* 0.5 * 2^1 */
    expect_multiplier(0.1, 1717986918, -3);      /* 0.8 * 2^-3; 0.8 * 2^31 = 1717986918.4 */
    expect_multiplier(3.0, 1610612736, 2);       /* 0.75 * 2^2 */
    expect_multiplier(1.0 - 1e-12, 1073741824, 1); /* q * 2^31 rounds to 2^31: halved, shift + 1 */
    expect_multiplier(0.0, 0, 0);
    expect_multiplier(1e-12, 0, 0);              /* 2^-40: below 2^-32, zero */
    expect_multiplier(1e12, 2147483647, 30);     /* above 2^30: saturated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_quantize_multiplier)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
