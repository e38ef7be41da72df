/*
 * lr_fn.h — LearningRateScheduler's schedule: a .kl def of the epoch (and the
 * current learning rate) checked and translated to a C expression, which the
 * back end prints as the body of `double P_lr_schedule(int64_t epoch, double lr)`.
 */
#ifndef KLC_CHECK_LR_FN_H
#define KLC_CHECK_LR_FN_H

#include "check/value.h"

/*
 * `fn` must be a def of one parameter (the epoch, an int, from 0) or two (the
 * epoch and the current learning rate, a float), whose body uses only them,
 * numbers and top-level constants, arithmetic with Python's meaning (/ is
 * true division, // floors, % takes the divisor's sign), comparisons, and,
 * or, !, c ? a : b, and the functions exp, log, sqrt, cos, sin, tanh, pow,
 * abs, min, max, floor, ceil, float and int (also as math.exp, ops.exp, ...),
 * and gives a float.  Returns the C expression of `epoch` and `lr` (double
 * arithmetic, Python's results), or NULL after a located error.
 */
const char *lr_fn_translate(Elab *e, const Value *fn, const Node *at);

#endif /* KLC_CHECK_LR_FN_H */
