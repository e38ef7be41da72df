/* quant_arith.c — the generated int8 file's requantization arithmetic
 * against values computed by hand.  Built with the generated file included
 * (its helpers are static): cc -DQ_FILE='"q.c"' quant_arith.c.  Exits 0
 * when every case holds, else prints the ones that do not. */
#include <stdio.h>

#include Q_FILE

static int bad;

static void expect(const char *what, long got, long want)
{
    if (got != want) {
        printf("%s: got %ld, want %ld\n", what, got, want);
        bad++;
    }
}

int main(void)
{
    const int32_t half = 1073741824;   /* 2^30: m of 0.5 */
    const int32_t tenth = 1717986918;  /* round(0.8 * 2^31): with shift -3, 0.1 */
    /* the doubling high multiply: a * b / 2^31, ties toward plus infinity */
    expect("srdhm(100, 2^30)", klc_q_srdhm(100, half), 50);
    expect("srdhm(3, 2^30) (1.5)", klc_q_srdhm(3, half), 2);
    expect("srdhm(-3, 2^30) (-1.5)", klc_q_srdhm(-3, half), -1);
    expect("srdhm(-5, 2^30) (-2.5)", klc_q_srdhm(-5, half), -2);
    expect("srdhm(INT32_MIN, INT32_MIN) saturates", klc_q_srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
    /* division by 2^e: ties away from zero */
    expect("rdivpot(3, 1) (1.5)", klc_q_rdivpot(3, 1), 2);
    expect("rdivpot(-3, 1) (-1.5)", klc_q_rdivpot(-3, 1), -2);
    expect("rdivpot(-80, 3)", klc_q_rdivpot(-80, 3), -10);
    expect("rdivpot(13, 2) (3.25)", klc_q_rdivpot(13, 2), 3);
    expect("rdivpot(-13, 2) (-3.25)", klc_q_rdivpot(-13, 2), -3);
    expect("rdivpot(7, 0)", klc_q_rdivpot(7, 0), 7);
    /* x * M: 100 * 0.1, -100 * 0.1, 12 * 0.25, 7 * 1.0 (shift 1), double rounding of 5 * 0.25 */
    expect("mbqm(100, 0.1)", klc_q_mbqm(100, tenth, -3), 10);
    expect("mbqm(-100, 0.1)", klc_q_mbqm(-100, tenth, -3), -10);
    expect("mbqm(12, 0.25)", klc_q_mbqm(12, half, -1), 3);
    expect("mbqm(7, 1.0)", klc_q_mbqm(7, half, 1), 7);
    expect("mbqm(5, 0.25) (2.5 -> 3, 1.5 -> 2)", klc_q_mbqm(5, half, -1), 2);
    expect("mbqm(-5, 0.25) (-2.5 -> -2, -1 -> -1)", klc_q_mbqm(-5, half, -1), -1);
    expect("mbqm(INT32_MAX, 2.0) saturates the left shift", klc_q_mbqm(INT32_MAX, half, 2), 1073741824);
    /* the output: z + acc * M clamped, relu as lo = z */
    expect("out(1000, 0.125, z -10)", klc_q_out(1000, half, -2, -10, -128, 127), 115);
    expect("out(1000, 0.5) clamps at 127", klc_q_out(1000, half, 0, 0, -128, 127), 127);
    expect("out(-1000, 0.125, relu at z -10)", klc_q_out(-1000, half, -2, -10, -10, 127), -10);
    expect("out(-1000, 0.125, z -10) without relu", klc_q_out(-1000, half, -2, -10, -128, 127), -128);
    /* the entry: round(x / scale) + z, ties away from zero, clamped */
    expect("in(0.5, 1/0.1, z 3)", klc_q_in(0.5f, 10.0f, 3), 8);
    expect("in(-0.25, 1/0.1, z 0) (-2.5)", klc_q_in(-0.25f, 10.0f, 0), -3);
    expect("in(0.25, 1/0.1, z 0) (2.5)", klc_q_in(0.25f, 10.0f, 0), 3);
    expect("in(100, 1/0.1) clamps", klc_q_in(100.0f, 10.0f, 0), 127);
    expect("in(-100, 1/0.1, z -128) clamps", klc_q_in(-100.0f, 10.0f, -128), -128);
    if (!bad)
        printf("requantization: all cases as computed by hand\n");
    return bad != 0;
}
