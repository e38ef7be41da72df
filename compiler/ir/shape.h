/*
 * shape.h — static shapes with a symbolic batch.
 *
 * Every dimension is c + k·N where N is the batch size, unknown until run
 * time (bounded by the batch capacity).  Sequential models only ever scale
 * the batch linearly (Flatten, reshape(x, [-1, C])), so this is closed under
 * everything the language does; equality is comparing (c, k).
 */
#ifndef KLC_SHAPE_H
#define KLC_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Arena Arena;

#define KLC_MAXRANK 8

typedef struct Dim {
    int64_t c, k; /* c + k*N */
} Dim;

typedef struct Shape {
    int rank;
    Dim d[KLC_MAXRANK];
} Shape;

static inline Dim dim_const(int64_t c) { return (Dim){c, 0}; }
static inline Dim dim_batch(void) { return (Dim){0, 1}; }
static inline bool dim_eq(Dim a, Dim b) { return a.c == b.c && a.k == b.k; }
static inline bool dim_is_const(Dim a) { return a.k == 0; }
static inline int64_t dim_eval(Dim a, int64_t n) { return a.c + a.k * n; }

/* Arithmetic; false when the result is not of the form c + k*N or overflows. */
bool dim_add(Dim a, Dim b, Dim *out);
bool dim_sub(Dim a, Dim b, Dim *out);
bool dim_mul(Dim a, Dim b, Dim *out);
/* Exact division of a by a constant; false when inexact or b is not constant. */
bool dim_div_exact(Dim a, Dim b, Dim *out);
/* a <= b for every batch size N >= 1. */
bool dim_le_always(Dim a, Dim b);
/* Positive for every N >= 1. */
bool dim_positive(Dim a);

/* "784", "N", "49*N", "N + 1" */
const char *dim_str(Arena *a, Dim d);
/* "[N, 784]" */
const char *shape_str(Arena *a, const Shape *s);
/* Keras' text for a batch shape: "(None, 784)" (dims with N print None). */
const char *shape_keras(Arena *a, const Shape *s);

bool shape_eq(const Shape *a, const Shape *b);
/* Number of elements (may involve N); false on overflow. */
bool shape_count(const Shape *s, Dim *out);
Shape shape_make(int rank, const Dim *d);
/* Overflow-checked product of constant dims (weights). */
bool shape_const_count(const Shape *s, int64_t *out);

#endif /* KLC_SHAPE_H */
