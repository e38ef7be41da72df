/*
 * init.h — Keras' weight initializers (internal; keras-semantics §2).
 */
#ifndef KLC_INIT_H
#define KLC_INIT_H

#include <stdint.h>

#include "klc/abi.h"

/* Fill dst[0 .. t->size) with t's initializer, drawing from the stream
 * (seed, KLC_RNG_INIT, index).  Fails (klc_seterr) for an unknown kind,
 * identity on a weight that is not rank 2, orthogonal below rank 2, or
 * memory short (orthogonal works in a scratch matrix). */
int klc_init_weight(float *dst, const klc_tensor_def *t, uint64_t seed, int index);

#endif /* KLC_INIT_H */
