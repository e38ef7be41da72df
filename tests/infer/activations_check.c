/*
 * activations_check.c — the generated float sigmoid, tanh and exp
 * (compiler/back/codegen.c: klc_sigmoidf, klc_tanhf, klc_expvf) against
 * double-precision libm, rounded to float.
 *
 *     cc -I. activations_check.c -lm     (acts.c, the inference file of
 *                                         tests/infer/activations.kl, beside it)
 *
 * Every float of every exponent in [-110, 110] is too many; the sweep takes
 * 4,096 evenly spaced floats per binade (all 2^23 mantissas in steps of
 * 2^11) of each sign from 2^-30 up to the overflow, plus zeros, the
 * infinities, NaN and the ends of each helper's range.  Prints the largest
 * error of each in ulps of the correctly rounded result and fails above 2
 * ulp (exp, tanh) or 2.5 ulp (sigmoid: exp's error, then 1 + e and the
 * division round), on a NaN where the value is a number (or the reverse), and on a sign
 * or infinity that differs.  Results under FLT_MIN (exp below -87.3365,
 * which is flushed to 0 by design; sigmoid below it) are checked as an
 * absolute error of at most FLT_MIN, as libm's expf gave them before.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "acts.c"

/* The distance in ulps between float got and the double exact. */
static double ulps(float got, double exact)
{
    float want = (float)exact;
    if (got == want)
        return 0;
    double ulp = nextafterf(fabsf(want), INFINITY) - fabsf(want);
    if (!isfinite(ulp) || ulp == 0)
        ulp = FLT_TRUE_MIN;
    return fabs((double)got - exact) / ulp;
}

typedef struct {
    const char *name;
    double worst;
    float at;
    int bad;
} Score;

static void score(Score *s, float x, float got, double exact)
{
    if (isnan(exact) != isnan(got) || (isinf(exact) || isinf((float)exact)) != isinf(got)) {
        if (s->bad++ < 5)
            printf("%s(%.9g) = %.9g, exact %.9g\n", s->name, (double)x, (double)got, exact);
        return;
    }
    if (isnan(exact) || isinf(got))
        return;
    if (fabs(exact) < FLT_MIN) { /* a result under FLT_MIN (sigmoid below -87.3): within FLT_MIN */
        if (fabs((double)got - exact) > FLT_MIN && s->bad++ < 5)
            printf("%s(%.9g) = %.9g, exact %.9g\n", s->name, (double)x, (double)got, exact);
        return;
    }
    double u = ulps(got, exact);
    if (u > s->worst) {
        s->worst = u;
        s->at = x;
    }
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

int main(void)
{
    Score e = {"exp", 0, 0, 0}, t = {"tanh", 0, 0, 0}, g = {"sigmoid", 0, 0, 0};
    double flush = 0; /* exp's largest value where it flushes to 0 */
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 0.5f, -0.5f, 9.0f, -9.0f, 88.7228394f,
                             88.7228317f, -87.3365479f, -87.3365402f, 1e-30f, -1e-30f, FLT_MAX, -FLT_MAX};
    for (int pass = 0; pass < 2; pass++) {
        int count = pass == 0 ? (int)(sizeof special / sizeof special[0]) : 2 * 91 * 4096;
        for (int i = 0; i < count; i++) {
            float x;
            if (pass == 0) {
                x = special[i];
            } else {
                int sign = i & 1, rest = i >> 1, binade = rest / 4096, m = rest % 4096;
                uint32_t bits = (uint32_t)(127 - 30 + binade) << 23 | (uint32_t)m << 11;
                memcpy(&x, &bits, sizeof x);
                if (sign)
                    x = -x;
            }
            double ex = exp((double)x);
            float ge = klc_expvf(x);
            if (x < -87.3365479f && !isnan(x)) {
                if (ge != 0.0f) {
                    if (e.bad++ < 5)
                        printf("exp(%.9g) = %.9g, flushed to 0 by design\n", (double)x, (double)ge);
                }
                if (ex > flush)
                    flush = ex;
            } else {
                score(&e, x, ge, ex);
            }
            score(&t, x, klc_tanhf(x), tanh((double)x));
            score(&g, x, klc_sigmoidf(x), sigmoid((double)x));
        }
    }
    const Score *all[] = {&e, &t, &g};
    int failed = 0;
    for (int k = 0; k < 3; k++) {
        printf("%-8s largest error %.2f ulp (at %.9g)%s\n", all[k]->name, all[k]->worst, (double)all[k]->at,
               all[k]->bad ? ", and mismatches above" : "");
        if (all[k]->worst > (k == 2 ? 2.5 : 2.0) || all[k]->bad)
            failed = 1;
    }
    printf("exp flushes to 0 below -87.3365479: largest value flushed %.3g (FLT_MIN %.3g)\n", flush,
           (double)FLT_MIN);
    return failed;
}
