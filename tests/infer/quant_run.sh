#!/bin/sh
# int8 quantization of the inference file (klc --inference --quantize int8):
# examples/mnist.kl trained briefly on generated digits, quantized with the
# training rows as calibration, built under -std=c11 -Wall -Wextra
# -Wpedantic -Werror -DKLC_NO_BLAS (and -Wconversion), then
#   quant_check.c: its predictions on the held-out rows against the
#                  trainer's (argmax and probability bounds, justified there);
#   quant_arith.c: its requantization helpers against hand-computed values;
# and refusals: a bad calibration file (named), a layer the scheme does not
# cover (located at it), nothing written either time.
# usage: quant_run.sh KLC MNIST_TRAIN GEN_DIGITS SRC_DIR SCRATCH
set -eu
klc=$1 train=$2 gen=$3 src=$4 d=$5
rm -rf "$d" && mkdir -p "$d"
cflags="-std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -DKLC_NO_BLAS"
"$gen" "$d" 512 64 >/dev/null
"$train" fit --x "$d/x_train.npy" --y "$d/y_train.npy" --epochs 1 --batch-size 64 --verbose 0 --seed 3 --save "$d/w.safetensors"
"$train" predict --x "$d/x_test.npy" --load "$d/w.safetensors" --out "$d/p.npy" --verbose 0
"$klc" "$src/examples/mnist.kl" --inference --weights "$d/w.safetensors" --quantize int8 \
    --calibrate "$d/x_train.npy" -o "$d/q.c"
# int8 weights, no float array in the file, and no float in the products
grep -q "static const int8_t mnist_w" "$d/q.c" || { echo "no int8 weights in q.c"; exit 1; }
if grep -q "static const float" "$d/q.c"; then echo "float arrays in the int8 file"; exit 1; fi
grep -q "acc += (int32_t)b[0-9]*\[.*\] \* (int32_t)mnist_w" "$d/q.c" || { echo "no int8 x int8 products in q.c"; exit 1; }
cc $cflags -Wconversion -I"$d" -c "$d/q.c" -o "$d/q.o"
cc $cflags -I"$d" "$src/tests/infer/quant_check.c" "$d/q.o" -lm -o "$d/quant_check"
"$d/quant_check" "$d/x_test.npy" "$d/p.npy"
cc $cflags -I"$d" "-DQ_FILE=\"q.c\"" "$src/tests/infer/quant_arith.c" -lm -o "$d/quant_arith"
"$d/quant_arith"
# deterministic: the same inputs give the same bytes
"$klc" "$src/examples/mnist.kl" --inference --weights "$d/w.safetensors" --quantize int8 \
    --calibrate "$d/x_train.npy" -o "$d/q2.c"
sed "s/q2\.h/q.h/" "$d/q2.c" | cmp - "$d/q.c"

# a calibration file of the wrong shape, and one that does not exist: named, nothing written
if "$klc" "$src/examples/mnist.kl" --inference --weights "$d/w.safetensors" --quantize int8 \
    --calibrate "$d/p.npy" -o "$d/bad.c" 2> "$d/err.txt"; then echo "outputs accepted as calibration rows"; exit 1; fi
grep -q "p.npy: calibration inputs of shape \[64, 10\], but model 'mnist' takes rows of \[N, 28, 28, 1\]" "$d/err.txt" ||
    { cat "$d/err.txt"; exit 1; }
if "$klc" "$src/examples/mnist.kl" --inference --weights "$d/w.safetensors" --quantize int8 \
    --calibrate "$d/missing.npy" -o "$d/bad.c" 2> "$d/err.txt"; then echo "a missing calibration file accepted"; exit 1; fi
grep -q "missing.npy" "$d/err.txt" || { cat "$d/err.txt"; exit 1; }
test ! -e "$d/bad.c" || { echo "a refused --quantize left bad.c behind"; exit 1; }

# a layer the scheme does not cover: refused, located at the layer
# (the MNIST convnet with tanh in its first convolution: the same weights fit)
sed 's/Conv2D(32, kernel_size = \[3, 3\], activation = "relu")/Conv2D(32, kernel_size = [3, 3], activation = "tanh")/' \
    "$src/examples/mnist.kl" > "$d/tanh.kl"
grep -q '"tanh"' "$d/tanh.kl"
if "$klc" "$d/tanh.kl" --inference --weights "$d/w.safetensors" --quantize int8 --calibrate "$d/x_train.npy" \
    -o "$d/bad.c" 2> "$d/err.txt"; then echo "tanh quantized"; exit 1; fi
grep -q "tanh.kl:[0-9]*:5: error: int8 quantization: layer 'conv2d' (Conv2D) cannot be quantized: its activation is not relu" \
    "$d/err.txt" || { cat "$d/err.txt"; exit 1; }
test ! -e "$d/bad.c" || { echo "a refused layer left bad.c behind"; exit 1; }
echo "int8 file: agrees with the float model, arithmetic as by hand, refusals named"
