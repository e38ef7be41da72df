#!/bin/sh
# Inference-file tests (ctest runs this with: KLC TRAINER MAKE_DATA SOURCE_DIR WORK_DIR).
#   1. train the model with the generated trainer, save weights, predict;
#   2. klc --inference --weights: BLAS build bit-identical to the trainer's predict,
#      plain-loop build (KLC_NO_BLAS) within 1e-6, linking only libc and libm, no malloc;
#   3. the header from C++; the weights-passed-by-the-caller variant compiles;
#   4. a bad weights file is refused with a message naming it, writing nothing.
set -eu
klc=$1 trainer=$2 make_data=$3 src=$4 work=$5
cc=${CC:-cc}
rm -rf "$work" && mkdir -p "$work" && cd "$work"
blas_cflags=$(pkg-config --cflags openblas)
blas_libs=$(pkg-config --libs openblas)

"$make_data" .
"$trainer" fit --x x.npy --y y.npy --epochs 3 --verbose 0 --save w.safetensors
"$trainer" predict --x x.npy --load w.safetensors --out ref.npy --verbose 0

"$klc" "$src/model.kl" --inference --weights w.safetensors -o infer.c
for f in infer.c infer.h; do test -s "$f" || { echo "missing $f"; exit 1; }; done
if grep -n 'malloc\|calloc\|realloc\|free(' infer.c; then echo "infer.c allocates"; exit 1; fi
flags="-std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -fno-math-errno"
$cc $flags $blas_cflags -I. infer.c "$src/check.c" $blas_libs -lm -o check_blas
./check_blas x.npy ref.npy exact
$cc $flags -DKLC_NO_BLAS -I. infer.c "$src/check.c" -lm -o check_plain
./check_plain x.npy ref.npy close
# nothing but libc and libm
others=$(ldd ./check_plain | grep -v -e 'libm\.so' -e 'libc\.so' -e 'linux-vdso' -e 'ld-linux' || true)
if [ -n "$others" ]; then echo "the plain inference build links more than libm: $others"; exit 1; fi
$cc -std=c11 -O2 -Wall -Wextra -Werror -DKLC_NO_BLAS -c infer.c -o infer.o
if nm -u infer.o | grep -w -e malloc -e calloc -e realloc -e free; then echo "infer.o calls the allocator"; exit 1; fi

"$klc" "$src/model.kl" --inference --no-blas -o infer_np.c
if grep -q 'cblas' infer_np.c; then echo "--no-blas output calls BLAS"; exit 1; fi
"$klc" "$src/model.kl" --inference --weights w.safetensors -o infer.c
c++ -O2 -Wall -Wextra -Werror -I. -x c++ "$src/cxx.cc" -x none -c -o cxx.o
$cc $flags -DKLC_NO_BLAS -c infer.c -o infer_c.o
c++ cxx.o infer_c.o -lm -o cxx && ./cxx

"$klc" "$src/model.kl" --inference -o free_weights.c
$cc $flags -DKLC_NO_BLAS -c free_weights.c -o free_weights.o
grep -q 'model_weights\[' free_weights.h

# determinism: the same input gives the same bytes
"$klc" "$src/model.kl" --inference --weights w.safetensors -o again.c
cmp infer.c again.c >/dev/null 2>&1 || sed 's/again\.h/infer.h/' again.c | cmp - infer.c

# a wrong weights file: a message naming it, exit 1, nothing written
printf 'not a safetensors file' > bad.safetensors
if "$klc" "$src/model.kl" --inference --weights bad.safetensors -o bad.c 2> err.txt; then
    echo "a bad weights file was accepted"; exit 1
fi
grep -q 'bad.safetensors' err.txt
test ! -e bad.c && test ! -e bad.h
echo "inference tests passed"
