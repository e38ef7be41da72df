/*
 * schedule.c — Keras' learning-rate schedules (keras.optimizers.schedules)
 * and the optimizer's current learning rate.
 *
 * Keras evaluates a schedule on the optimizer's iteration counter before each
 * update, with the initial learning rate's dtype, float32: every operation
 * below is a float32 operation in Keras' order, so the values agree with
 * Keras' to the last bit where the C library's powf/cosf agree with the
 * backend's.
 */
#include <math.h>
#include <string.h>

#include "error.h"
#include "model.h"

static float exponential(const klc_lr_schedule_def *s, float step)
{
    float p = step / (float)s->decay_steps;
    if (s->staircase)
        p = floorf(p);
    return (float)s->initial_learning_rate * powf((float)s->decay_rate, p);
}

/* boundaries compare with the step as integers; the result is values[i] in float32. */
static float piecewise(const klc_lr_schedule_def *s, int64_t step)
{
    int n = s->n_boundaries;
    if (step <= s->boundaries[0])
        return (float)s->values[0];
    if (step > s->boundaries[n - 1])
        return (float)s->values[n];
    for (int i = 1; i < n; i++)
        if (step > s->boundaries[i - 1] && step <= s->boundaries[i])
            return (float)s->values[i];
    return 0.0f; /* not reached: the boundaries are increasing */
}

static float polynomial(const klc_lr_schedule_def *s, float step)
{
    float initial = (float)s->initial_learning_rate, end = (float)s->end_learning_rate;
    float decay_steps = (float)s->decay_steps;
    if (s->cycle) {
        float multiplier = step == 0.0f ? 1.0f : ceilf(step / (float)s->decay_steps);
        decay_steps = decay_steps * multiplier;
    } else {
        step = fminf(step, decay_steps);
    }
    float p = step / decay_steps;
    return (initial - end) * powf(1.0f - p, (float)s->power) + end;
}

static float inverse_time(const klc_lr_schedule_def *s, float step)
{
    float p = step / (float)s->decay_steps;
    if (s->staircase)
        p = floorf(p);
    return (float)s->initial_learning_rate / (1.0f + (float)s->decay_rate * p);
}

/* Keras' CosineDecay._decay_function; (1 - alpha) and alpha are Python floats
 * that become float32 constants. */
static float cosine_part(const klc_lr_schedule_def *s, float step, float decay_steps, float from)
{
    const float pi = (float)3.14159265358979323846;
    float completed = step / decay_steps;
    float cosine = 0.5f * (1.0f + cosf(pi * completed));
    float decayed = (float)(1.0 - s->alpha) * cosine + (float)s->alpha;
    return from * decayed;
}

static float cosine(const klc_lr_schedule_def *s, float step)
{
    float initial = (float)s->initial_learning_rate, decay_steps = (float)s->decay_steps;
    if (!s->has_warmup)
        return cosine_part(s, fminf(step, decay_steps), decay_steps, initial);
    float target = (float)s->warmup_target, warmup = (float)s->warmup_steps;
    step = fminf(step, decay_steps + warmup);
    if (step < warmup)
        return (target - initial) * (step / warmup) + initial;
    return cosine_part(s, step - warmup, decay_steps, target);
}

float klc_schedule_learning_rate(const klc_lr_schedule_def *s, int64_t step)
{
    float t = (float)step;
    switch (s->kind) {
    case KLC_LR_CONSTANT: return (float)s->initial_learning_rate;
    case KLC_LR_EXPONENTIAL_DECAY: return exponential(s, t);
    case KLC_LR_PIECEWISE_CONSTANT_DECAY: return piecewise(s, step);
    case KLC_LR_POLYNOMIAL_DECAY: return polynomial(s, t);
    case KLC_LR_INVERSE_TIME_DECAY: return inverse_time(s, t);
    case KLC_LR_COSINE_DECAY: return cosine(s, t);
    }
    return (float)s->initial_learning_rate;
}

float klc_model_step_learning_rate(const klc_model *m)
{
    const klc_lr_schedule_def *s = &m->def->optimizer.schedule;
    if (s->kind == KLC_LR_CONSTANT)
        return m->learning_rate;
    return klc_schedule_learning_rate(s, m->iteration);
}

double klc_model_learning_rate(const klc_model *m)
{
    return m ? (double)klc_model_step_learning_rate(m) : 0.0;
}

int klc_model_set_learning_rate(klc_model *m, double lr)
{
    if (!m)
        return klc_seterr("set_learning_rate: no model");
    const klc_lr_schedule_def *s = &m->def->optimizer.schedule;
    if (s->kind != KLC_LR_CONSTANT)
        return klc_seterr("the optimizer's learning rate follows the %s schedule and cannot be set "
                          "(as in Keras)", s->name ? s->name : "compiled");
    if (!(lr >= 0.0) || isinf(lr))
        return klc_seterr("learning rate must be a finite number >= 0, not %g", lr);
    m->learning_rate = (float)lr;
    return 0;
}
