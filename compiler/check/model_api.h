/*
 * model_api.h — models: Sequential([...]), which makes a model and
 * instantiates its layers, and the methods of a model, which record its
 * compile and fit settings or add layers.  Natives registered by sema_run:
 * Sequential in the builtin scope, the methods in Sema.model_methods.
 */
#ifndef KLC_CHECK_MODEL_API_H
#define KLC_CHECK_MODEL_API_H

#include "check/value.h"

/* Sequential([Input(shape = [...]), layers...], name = "...", trainable = ...) */
extern const Native sequential_native;
/* model.compile(optimizer, loss, metrics), model.fit(...) (settings only: the
 * data comes at run time), model.add(layer), model.summary(). */
extern const Native compile_native;
extern const Native fit_native;
extern const Native add_native;
extern const Native summary_native;

#endif /* KLC_CHECK_MODEL_API_H */
