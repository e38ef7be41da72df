#!/bin/sh
# Convolutions lowered to im2col / col2im and one GEMM (ctest runs this with:
# KLC SOURCE_DIR WORK_DIR), on tests/infer/conv.kl:
#   1. the training file computes every Conv2D's forward product, kernel
#      gradient and input gradient (and the Conv1D's) with cblas_sgemm on a
#      column buffer, the f64 copy with cblas_dgemm; pooling windows run as
#      contiguous loops;
#   2. the inference file's BLAS and plain (KLC_NO_BLAS) builds agree.
set -eu
klc=$1 src=$2 work=$3
cc=${CC:-cc}
rm -rf "$work" && mkdir -p "$work" && cd "$work"

"$klc" "$src/conv.kl" -o train.c
count() { grep -c "$1" train.c || true; }
# 4 convolutions: forward in test and predict gather into the scratch (8);
# train and its f64 copy gather each convolution's windows once, into a
# planned column map that the kernel gradient reads again (4 + 4, no second
# im2col); input gradients of the 3 convolutions after the first, in train
# and f64 (6)
test "$(count '(im2col) \*/')" -eq 8 || { echo "im2col: $(count '(im2col) \*/') of 8"; exit 1; }
test "$(count '/\* [a-z0-9_]*_cols = \[')" -eq 8 || { echo "column maps: $(count '/\* [a-z0-9_]*_cols = \[') of 8"; exit 1; }
test "$(count 'col2im')" -eq 6 || { echo "col2im: $(count 'col2im') of 6"; exit 1; }
test "$(count 'cblas_dgemm(CblasRowMajor, [A-Za-z]*, [A-Za-z]*, (int)[^,]*, (int)[^,]*, (int)[^,]*, 1.0, [a-z0-9_]*_cols')" -ge 1 ||
    { echo "no cblas_dgemm on a column map in the f64 copy"; exit 1; }
# the max pooling: reduction loops inside, over contiguous channels
grep -q 'max_pooling2d_y\[.*\] = t > max_pooling2d_y\[' train.c || { echo "pooling not lowered"; exit 1; }

"$klc" "$src/conv.kl" --inference --batch-capacity 3 -o conv_infer.c
grep -q 'klc_col' conv_infer.c || { echo "inference file without im2col"; exit 1; }
flags="-std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -fno-math-errno"
$cc $flags $(pkg-config --cflags openblas) -I. conv_infer.c "$src/conv_check.c" $(pkg-config --libs openblas) -lm -o check_blas
$cc $flags -DKLC_NO_BLAS -I. conv_infer.c "$src/conv_check.c" -lm -o check_plain
./check_blas > blas.txt
./check_plain > plain.txt
test "$(wc -l < blas.txt)" -eq 9
paste blas.txt plain.txt | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5) { print "differ: " $0; bad = 1 } } END { exit bad }'
# 3. a --no-blas file has no column buffers, and its workspace has no room
#    for them: the BLAS file's exceeds it by the largest column buffer
"$klc" "$src/conv.kl" --inference --no-blas --batch-capacity 3 -o conv_plain.c
if grep -q 'klc_col' conv_plain.c; then echo "--no-blas file uses column buffers"; exit 1; fi
floats() { sed -n 's/^#define [A-Z_]*_WORK_FLOATS(n) (\(.*\))$/\1/p' "$1"; }
wb=$(floats conv_infer.h) wp=$(floats conv_plain.h)
test -n "$wb" && test -n "$wp" || { echo "no WORK_FLOATS in the headers"; exit 1; }
per_row() { echo "$1" | sed -n 's/.*+ \([0-9]*\)LL \* (int64_t)(n)$/\1/p'; }
b=$(per_row "$wb") p=$(per_row "$wp")
test -n "$b" && test -n "$p" && test "$p" -lt "$b" ||
    { echo "--no-blas workspace ($wp) is not smaller than the BLAS one ($wb)"; exit 1; }
$cc $flags -I. conv_plain.c "$src/conv_check.c" -lm -o check_noblas
./check_noblas > noblas.txt
paste blas.txt noblas.txt | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5) { print "differ: " $0; bad = 1 } } END { exit bad }'
echo "convolution lowering tests passed"
