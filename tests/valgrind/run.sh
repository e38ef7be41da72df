#!/bin/sh
# Memcheck of the three programs a user runs (ctest label `valgrind`; run by
# ctest with: KLC TRAINER MAKE_DATA INFER_SOURCE_DIR WORK_DIR):
#   1. the compiler: a model compiled to its trainer and to the inference file,
#      a file with an error (the diagnostic path), --summary and --dump-ir;
#   2. the trainer: fit with validation, a checkpoint and --save, evaluate,
#      predict to .npy and .csv, gradcheck;
#   3. the inference file, plain C, against the trainer's predictions.
# Any memcheck error (invalid read or write, use of an uninitialised value, a
# bad free) or a definite leak fails: --error-exitcode.  OpenBLAS runs one
# thread (its own thread pool is not what is tested).
set -eu
klc=$1 trainer=$2 make_data=$3 src=$4 work=$5
cc=${CC:-cc}
rm -rf "$work" && mkdir -p "$work" && cd "$work"
export OPENBLAS_NUM_THREADS=1
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"

# 1. the compiler
$vg "$klc" "$src/model.kl" -o model.c
$vg "$klc" "$src/model.kl" --summary > summary.txt
$vg "$klc" "$src/model.kl" --dump-ir > ir.txt
printf 'm = Sequential([Input(shape = [4]), Dense(3, activation = "relu"), Dense(units)]);\n' > bad.kl
status=0
$vg "$klc" bad.kl -o bad.c 2> bad.err || status=$?
if [ "$status" -ne 1 ]; then echo "klc on bad.kl: status $status, expected 1"; cat bad.err; exit 1; fi
grep -q 'bad.kl:1:' bad.err

# 2. the trainer
"$make_data" .
$vg "$trainer" fit --x x.npy --y y.npy --epochs 2 --verbose 0 --validation-split 0.25 \
    --checkpoint ck.safetensors --save w.safetensors
$vg "$trainer" evaluate --x x.npy --y y.npy --load w.safetensors --verbose 0 > eval.txt
$vg "$trainer" predict --x x.npy --load w.safetensors --out ref.npy --verbose 0
$vg "$trainer" predict --x x.npy --load w.safetensors --out ref.csv --verbose 0
$vg "$trainer" gradcheck --x x.npy --y y.npy > gradcheck.txt
status=0
$vg "$trainer" fit --x missing.npy --y y.npy 2> missing.err || status=$?
if [ "$status" -ne 1 ]; then echo "trainer on a missing file: status $status, expected 1"; exit 1; fi

# 3. the inference file
$vg "$klc" "$src/model.kl" --inference --weights w.safetensors -o infer.c
$cc -std=c11 -O1 -g -DKLC_NO_BLAS -I. infer.c "$src/check.c" -lm -o check_plain
$vg ./check_plain x.npy ref.npy close
echo "valgrind tests passed"
