#!/bin/sh
# 32-bit indices in the inference file (klc --inference --index-type int32):
# examples/mnist.kl trained briefly on generated digits, its float file
# written with int64 and with int32 indices, both with plain loops and with
# BLAS, built under -std=c11 -Wall -Wextra -Wpedantic -Werror -Wconversion;
# tests/mcu/rows.c prints their outputs for the test digits, which must be
# identical (the indices change no arithmetic).  The int32 file must hold no
# int64_t but in the API's row count, the same input must give the same
# bytes, a model whose buffers exceed 2^30 elements is refused (nothing
# written), and a bad --index-type value is a usage error.
# usage: index32_run.sh KLC MNIST_TRAIN GEN_DIGITS SRC_DIR SCRATCH
set -eu
klc=$1 train=$2 gen=$3 src=$4 d=$5
rm -rf "$d" && mkdir -p "$d" && cd "$d"
cflags="-std=c11 -O2 -Wall -Wextra -Wpedantic -Wconversion -Werror -fno-math-errno"
blas_cflags=$(pkg-config --cflags openblas)
blas_libs=$(pkg-config --libs openblas)
"$gen" . 256 32 >/dev/null
"$train" fit --x x_train.npy --y y_train.npy --epochs 1 --batch-size 64 --verbose 0 --seed 4 --save w.safetensors
for ix in int64 int32; do
    mkdir -p $ix
    "$klc" "$src/examples/mnist.kl" --inference --index-type $ix --weights w.safetensors -o $ix/mnist_infer.c
    cc $cflags -DKLC_NO_BLAS -I$ix $ix/mnist_infer.c "$src/tests/mcu/rows.c" -lm -o $ix/plain
    cc $cflags $blas_cflags -I$ix $ix/mnist_infer.c "$src/tests/mcu/rows.c" $blas_libs -lm -o $ix/blas
    ./$ix/plain > $ix/plain.txt
    ./$ix/blas > $ix/blas.txt
done
grep -q '^rows: 32$' int64/plain.txt || { cat int64/plain.txt; echo "no 32 rows of outputs"; exit 1; }
cmp int64/plain.txt int32/plain.txt || { echo "int32 indices change the plain-loop outputs"; exit 1; }
cmp int64/blas.txt int32/blas.txt || { echo "int32 indices change the BLAS outputs"; exit 1; }
# no int64_t in the loops and subscripts: only predict's and predict_ex's row count
if grep -n 'int64_t' int32/mnist_infer.c | grep -v 'int64_t n, float \*y'; then
    echo "int64_t left in the --index-type int32 file (above)"; exit 1
fi
grep -q 'for (int32_t ' int32/mnist_infer.c || { echo "no int32_t loops"; exit 1; }
grep -q 'for (int64_t ' int64/mnist_infer.c || { echo "the default file has no int64_t loops"; exit 1; }
grep -q '#define MNIST_MAX_ROWS [0-9]*LL' int32/mnist_infer.h || { echo "no MNIST_MAX_ROWS"; exit 1; }
# deterministic: the same inputs give the same bytes
"$klc" "$src/examples/mnist.kl" --inference --index-type int32 --weights w.safetensors -o int32/again.c
sed "s/again\.h/mnist_infer.h/" int32/again.c | cmp - int32/mnist_infer.c

# a model needing buffers above 2^30 elements: refused, named, nothing written
cat > big.kl <<'KL'
model = Sequential([Input(shape = [40000]), Dense(40000)]);
KL
if "$klc" big.kl --inference --index-type int32 -o big.c 2> err.txt; then
    echo "a model with a 1.6e9-element weight was accepted with int32 indices"; exit 1
fi
grep -q "big.kl: --index-type int32: model 'model' needs buffers of more than 2^30 elements" err.txt ||
    { cat err.txt; exit 1; }
test ! -e big.c && test ! -e big.h
"$klc" big.kl --inference --index-type int64 -o big.c 2> err.txt
# usage errors: exit 2
status=0
"$klc" big.kl --inference --index-type int16 -o bad.c 2> err.txt || status=$?
test $status -eq 2 && grep -q "index-type is int32 or int64, not 'int16'" err.txt || { cat err.txt; exit 1; }
status=0
"$klc" big.kl --index-type int32 -o bad.c 2> err.txt || status=$?
test $status -eq 2 && grep -q "index-type goes with --inference" err.txt || { cat err.txt; exit 1; }
echo "index-type tests passed"
