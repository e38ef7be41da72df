/*
 * quant.h — int8 post-training quantization of the inference file
 * (klc --inference --quantize int8 --calibrate X.npy).
 *
 * TensorFlow Lite's scheme.  Weights: per output channel symmetric int8
 * (scale max|w| / 127, zero point 0, values in [-127, 127]).  Activations:
 * per tensor asymmetric int8 (scale and zero point from the range observed
 * on the calibration rows, the range always holding 0, values in
 * [-128, 127]).  Products accumulate in int32 with an int32 bias of scale
 * input_scale * weight_scale[c]; the accumulator is brought to the output's
 * scale by a fixed-point multiplier and shift (QuantizeMultiplier,
 * MultiplyByQuantizedMultiplier), relu being the clamp at the output's zero
 * point.  The file takes float rows (quantized at the entry) and gives
 * float rows (dequantized at the exit, then softmax in float if the model
 * ends with one).
 *
 * The model's forward pass (its `predict` function, after fusion) is read
 * as a chain of steps the scheme covers: contractions of an activation with
 * a weight (Dense, Conv2D) followed by any per-channel affine map
 * (bias, inference-time BatchNormalization) and relu; max / min pooling
 * windows (int8 in and out, same scale); means (GlobalAveragePooling2D,
 * AveragePooling2D: int32 sums requantized); zero padding (Conv2D's
 * padding = "same"); reshapes (Flatten, Reshape); relu alone; softmax at
 * the output.  Dropout is absent from the forward pass.  Any other step is
 * refused with an error located at the layer that made it.
 */
#ifndef KLC_QUANT_H
#define KLC_QUANT_H

#include <stdint.h>

#include "back/emit_infer.h"

/* TFLite's QuantizeMultiplier: real = m * 2^(shift - 31) with m in
 * [2^30, 2^31) (or 0 for real == 0), m rounded to nearest (ties away from
 * zero); shift < -31 gives 0, shift > 30 saturates at (2^31 - 1, 30).
 * real >= 0. */
void quant_multiplier(double real, int32_t *m, int *shift);

/* The C text of the generated file's requantization helpers: static
 * functions klc_q_srdhm, klc_q_rdivpot and klc_q_mbqm (TFLite's
 * MultiplyByQuantizedMultiplier: x * m * 2^(shift - 31), the doubling high
 * multiply rounding to nearest with ties toward plus infinity and saturating,
 * the division by a power of two rounding to nearest with ties away from
 * zero; a left shift (shift > 0) saturating at the int32 range). */
extern const char quant_helpers_c[];

/* Writes the quantized inference file of pm's model with the weights of
 * o->weights, calibrated on the rows of o->calibrate.  Returns 0; 1 if the
 * weights or the calibration file are unusable (message naming the file) or
 * a step cannot be quantized (message located at the layer); 2 on I/O
 * errors.  Nothing is written unless it returns 0. */
int emit_quantized(Arena *a, const PlannedModel *pm, const InferOptions *o);

#endif /* KLC_QUANT_H */
