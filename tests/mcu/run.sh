#!/bin/sh
# The MNIST convnet's inference files on a Cortex-M4F, under QEMU (ctest runs
# this with: KLC TRAINER GEN_DIGITS SOURCE_DIR WORK_DIR [float|int8]):
#   1. examples/mnist.kl is trained briefly on generated digits and the
#      trainer predicts 16 test digits;
#   float (mcu.cortex_m4):
#   2. klc writes the float inference file (no BLAS) twice, with int64 and
#      with int32 indices (--index-type), each with the weights and a
#      self-test of the first rows and the trainer's outputs for them;
#   3. arm-none-eabi-gcc builds each for a Cortex-M4F (hard float) with
#      -Wconversion -Werror, with tests/mcu's startup code and main.c;
#   4. QEMU's mps2-an386 board runs them: each self-test must pass (every
#      output within 1e-5 + 1e-4·|expected| of the host trainer's), each
#      program prints the instructions of one inference, and the int32 file
#      must take no more than the int64 one and hold no int64_t but in the
#      API's row count;
#   int8 (mcu.cortex_m4_int8):
#   2. klc writes the int8 file (--quantize int8, calibrated on the 512
#      training digits);
#   3. rows.c runs it on every test digit, built for the host (cc, the same
#      warnings) and for the Cortex-M4F; under QEMU it reads x_test.npy through
#      semihosting and also prints the instructions of one inference;
#   4. the two must print the same outputs to 1e-6 (the int8 arithmetic is
#      integer and exact on both; only the final softmax's expf comes from
#      each C library), the same most probable digit for every row.
# The flash and RAM sizes come from arm-none-eabi-size.
# Exits 77 (ctest: skipped) when the cross compiler, newlib or QEMU is absent.
set -eu
klc=$1 train=$2 gen=$3 src=$4 work=$5 kind=${6:-float}
for tool in arm-none-eabi-gcc arm-none-eabi-size qemu-system-arm; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "skipped: $tool is not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"; exit 77; }
done
arm-none-eabi-gcc -print-file-name=librdimon.a | grep -q / ||
    { echo "skipped: newlib's librdimon is not installed (Debian: libnewlib-arm-none-eabi)"; exit 77; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"

"$gen" . 512 16 >/dev/null
"$train" fit --x x_train.npy --y y_train.npy --epochs 1 --batch-size 64 --verbose 0 --save w.safetensors
"$train" predict --x x_test.npy --load w.safetensors --out p.npy --verbose 0

cpu="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
warn="-std=c11 -O2 -Wall -Wextra -Wpedantic -Wconversion -Werror -fno-math-errno -fno-trapping-math"
flags="$cpu $warn -ffunction-sections -fdata-sections"
arm-none-eabi-gcc $flags -c "$src/tests/mcu/startup.c" -o startup.o

# build DIR MAIN: DIR/mnist_infer.c with tests/mcu/MAIN into DIR/mnist.elf, sizes printed
build() {
    arm-none-eabi-gcc $flags -I"$1" -c "$1/mnist_infer.c" -o "$1/mnist_infer.o"
    arm-none-eabi-gcc $flags -I"$1" -c "$src/tests/mcu/$2" -o "$1/main.o"
    arm-none-eabi-gcc $cpu -nostartfiles -T "$src/tests/mcu/mps2.ld" --specs=rdimon.specs -Wl,--gc-sections \
        startup.o "$1/main.o" "$1/mnist_infer.o" -lm -o "$1/mnist.elf"
    echo "$1:"
    arm-none-eabi-size "$1/mnist.elf" "$1/mnist_infer.o"
}
# run DIR: DIR/mnist.elf under QEMU (in this directory: semihosting opens
# x_test.npy here), its output in DIR/qemu.txt, exit status 0 required
run() {
    status=0
    timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -icount shift=0 -kernel "$1/mnist.elf" > "$1/qemu.txt" 2>&1 ||
        status=$?
    grep -v '^row ' "$1/qemu.txt" || true
    test "$status" -eq 0 || { cat "$1/qemu.txt"; echo "the Cortex-M4 program $1 failed (status $status)"; exit 1; }
    grep -q '^instructions per inference: [0-9]' "$1/qemu.txt" || { echo "$1: no instruction count"; exit 1; }
}
count() { sed -n 's/^instructions per inference: \([0-9]*\)$/\1/p' "$1/qemu.txt"; }

if [ "$kind" = float ]; then
    for ix in int64 int32; do
        mkdir -p "$ix"
        "$klc" "$src/examples/mnist.kl" --inference --no-blas --index-type $ix --weights w.safetensors \
            --selftest x_test.npy --selftest-expect p.npy -o "$ix/mnist_infer.c"
        build "$ix" main.c
        run "$ix"
        grep -q '^selftest: 0 of 40 outputs differ' "$ix/qemu.txt" || { echo "$ix: no passing self-test"; exit 1; }
    done
    if grep -n 'int64_t' int32/mnist_infer.c | grep -v 'int64_t n, float \*y'; then
        echo "int64_t left in the --index-type int32 file (above)"; exit 1
    fi
    c64=$(count int64) c32=$(count int32)
    echo "instructions per inference: $c64 with int64 indices, $c32 with int32"
    test "$c32" -le "$c64" || { echo "int32 indices are slower than int64"; exit 1; }
    echo "Cortex-M4 test passed"
else
    mkdir -p int8
    "$klc" "$src/examples/mnist.kl" --inference --weights w.safetensors --quantize int8 \
        --calibrate x_train.npy -o int8/mnist_infer.c
    build int8 rows.c
    run int8
    cc $warn -Iint8 int8/mnist_infer.c "$src/tests/mcu/rows.c" -lm -o int8/host
    ./int8/host > int8/host.txt
    grep '^row ' int8/host.txt > int8/host_rows.txt
    grep '^row ' int8/qemu.txt > int8/qemu_rows.txt
    test "$(wc -l < int8/host_rows.txt)" -eq 16 || { echo "the host build did not print 16 rows"; exit 1; }
    # same rows, every output within 1e-6, the same argmax
    awk 'NR == FNR { h[FNR] = $0; next }
         { n = split(h[FNR], a, " "); m = split($0, b, " ")
           if (n != m || a[2] != b[2]) { print "row " FNR ": different shapes"; bad++; next }
           ha = 3; qa = 3
           for (k = 3; k <= n; k++) {
               d = a[k] - b[k]; if (d < 0) d = -d
               if (d > worst) worst = d
               if (d > 1e-6) { print "row " FNR ", output " k - 3 ": host " a[k] ", Cortex-M4 " b[k]; bad++ }
               if (a[k] != b[k]) diff++
               if (a[k] + 0 > a[ha] + 0) ha = k
               if (b[k] + 0 > b[qa] + 0) qa = k
           }
           if (ha != qa) { print "row " FNR ": most probable digit " ha - 3 " on the host, " qa - 3 " on the Cortex-M4"; bad++ }
           rows++ }
         END { printf "int8: %d rows, %d outputs not bit-identical, largest difference %.3g, %d beyond 1e-6\n", rows, diff, worst, bad
               exit (bad > 0 || rows != 16) }' int8/host_rows.txt int8/qemu_rows.txt
    echo "Cortex-M4 int8 test passed"
fi
