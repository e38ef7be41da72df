/* rng.c — splitmix64 seeding and xoshiro256** (see rng.h). */
#include "rng.h"

#include <math.h>

/* splitmix64: advances *x and returns a well-mixed 64-bit value. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t klc_rng_derive(uint64_t seed, uint64_t domain, uint64_t index)
{
    uint64_t x = seed;
    uint64_t a = splitmix64(&x);
    x = a ^ domain;
    uint64_t b = splitmix64(&x);
    x = b ^ index;
    return splitmix64(&x);
}

void klc_rng_init(klc_rng *r, uint64_t seed, uint64_t domain, uint64_t index)
{
    uint64_t x = klc_rng_derive(seed, domain, index);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t klc_rng_next(klc_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double klc_rng_uniform(klc_rng *r)
{
    return (double)(klc_rng_next(r) >> 11) * 0x1.0p-53;
}

double klc_rng_normal(klc_rng *r)
{
    double u1 = 1.0 - klc_rng_uniform(r); /* (0, 1]: log(u1) is finite */
    double u2 = klc_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

uint64_t klc_rng_below(klc_rng *r, uint64_t n)
{
    /* Reject the values of the last, incomplete block of n. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t v = klc_rng_next(r);
        if (v >= threshold)
            return v % n;
    }
}
