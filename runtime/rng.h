/*
 * rng.h — the runtime's pseudo-random numbers (internal).
 *
 * xoshiro256** seeded through splitmix64.  Every stream is a pure function of
 * (seed, domain, index): weight i of a model draws from (seed, KLC_RNG_INIT, i),
 * the shuffle of epoch e from (seed, KLC_RNG_SHUFFLE, e), and so on, so what a
 * stream yields never depends on which other streams were used before it.
 * That is what makes a resumed fit identical to an uninterrupted one.
 */
#ifndef KLC_RNG_H
#define KLC_RNG_H

#include <stdint.h>

/* Domains keep the streams of different uses apart. */
enum {
    KLC_RNG_INIT = 1,      /* index: tensor index in the model def */
    KLC_RNG_SHUFFLE = 2,   /* index: epoch */
    KLC_RNG_STEP = 3,      /* index: optimizer iteration (the step's dropout seed) */
    KLC_RNG_GRADCHECK = 4, /* index: tensor index */
    KLC_RNG_DATA = 5,      /* index: 0 for x, 1 for y (random data of the trainer) */
    KLC_RNG_RANK = 6       /* index: rank (a data-parallel rank's dropout seed, from the step's) */
};

typedef struct klc_rng {
    uint64_t s[4];
} klc_rng;

/* A 64-bit value that depends on all bits of (seed, domain, index). */
uint64_t klc_rng_derive(uint64_t seed, uint64_t domain, uint64_t index);
void klc_rng_init(klc_rng *r, uint64_t seed, uint64_t domain, uint64_t index);
uint64_t klc_rng_next(klc_rng *r);
/* Uniform in [0, 1), 53 random bits. */
double klc_rng_uniform(klc_rng *r);
/* Standard normal (Box–Muller, one value per two uniforms). */
double klc_rng_normal(klc_rng *r);
/* Uniform integer in [0, n), without modulo bias; n >= 1. */
uint64_t klc_rng_below(klc_rng *r, uint64_t n);

#endif /* KLC_RNG_H */
