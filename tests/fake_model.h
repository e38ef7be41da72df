/*
 * fake_model.h — hand-written models implementing klc/abi.h the way the
 * compiler's output will, so the runtime can be tested before the compiler
 * exists.
 *
 * All are one Dense(3) layer on 4 inputs plus a non-trainable weight
 * "dense.input_mean" that the train step assign()s (a BatchNormalization-
 * style moving mean of the inputs: 0.99·old + 0.01·batch mean):
 *   fake_sgd_def   softmax output, sparse categorical crossentropy from the
 *                  logits, metric "accuracy", add_metric "confidence"
 *                  (mean max probability), SGD(lr 0.1); fit defaults
 *                  epochs 2, batch_size 16.
 *   fake_adam_def  the same with Adam(lr 0.05) and inverted dropout (0.25) on
 *                  the inputs in training, seeded by the step's seed.
 *   fake_mse_def   linear output, dense labels [n, 3], mean squared error,
 *                  metrics "mae" and "mse", add_metric "mean_abs_output", SGD(lr 0.05).
 *   fake_bad_def   fake_sgd_def whose grad_f64 gets the bias gradient wrong.
 */
#ifndef FAKE_MODEL_H
#define FAKE_MODEL_H

#include <stdint.h>

#include "klc/runtime.h"

#define FAKE_D 4
#define FAKE_C 3

extern const klc_model_def fake_sgd_def;
extern const klc_model_def fake_adam_def;
extern const klc_model_def fake_mse_def;
extern const klc_model_def fake_bad_def;

/* n rows of learnable data for the models: x [n, 4] float32 (standard
 * normal), y [n] int32 class ids (argmax of a fixed linear map of x), or for
 * `dense` y [n, 3] float32 (that linear map plus noise). */
int fake_make_data(klc_tensor *x, klc_tensor *y, int64_t n, uint64_t seed, int dense);

/* Test helpers.  fake_path: "<$KLC_TEST_TMPDIR>/<name>" (the directory is
 * created; /tmp/klc-test when the variable is unset), in a static buffer of
 * 8 rotating slots. */
const char *fake_path(const char *name);
/* Redirect stdout and stderr into files until fake_capture_end, which
 * returns them as malloc'd strings (either pointer may be NULL). */
void fake_capture_begin(void);
void fake_capture_end(char **out, char **err);
/* Whole text file as a malloc'd string (NULL if unreadable). */
char *fake_read_text(const char *path);

#endif /* FAKE_MODEL_H */
