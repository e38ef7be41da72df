#!/bin/sh
# The MNIST convnet's inference file on a Cortex-M4F, under QEMU (ctest runs
# this with: KLC TRAINER GEN_DIGITS SOURCE_DIR WORK_DIR):
#   1. examples/mnist.kl is trained briefly on generated digits and the
#      trainer predicts 16 test digits;
#   2. klc writes the inference file (no BLAS) with the weights and a
#      self-test of the first rows and the trainer's outputs for them;
#   3. arm-none-eabi-gcc builds it for a Cortex-M4F (hard float) with
#      -Wconversion -Werror, with tests/mcu's startup code and main;
#   4. QEMU's mps2-an386 board runs it: the self-test must pass (every output
#      within 1e-5 + 1e-4·|expected| of the host trainer's), and the program
#      prints the instructions of one inference; the flash and RAM sizes come
#      from arm-none-eabi-size.
# Exits 77 (ctest: skipped) when the cross compiler, newlib or QEMU is absent.
set -eu
klc=$1 train=$2 gen=$3 src=$4 work=$5
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
"$klc" "$src/examples/mnist.kl" --inference --no-blas --weights w.safetensors \
    --selftest x_test.npy --selftest-expect p.npy -o mnist_infer.c

cpu="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
flags="$cpu -std=c11 -O2 -Wall -Wextra -Wpedantic -Wconversion -Werror -fno-math-errno -fno-trapping-math -ffunction-sections -fdata-sections"
arm-none-eabi-gcc $flags -I. -c mnist_infer.c -o mnist_infer.o
arm-none-eabi-gcc $flags -I. -c "$src/tests/mcu/main.c" -o main.o
arm-none-eabi-gcc $flags -c "$src/tests/mcu/startup.c" -o startup.o
arm-none-eabi-gcc $cpu -nostartfiles -T "$src/tests/mcu/mps2.ld" --specs=rdimon.specs -Wl,--gc-sections \
    startup.o main.o mnist_infer.o -lm -o mnist.elf
arm-none-eabi-size mnist.elf
arm-none-eabi-size mnist_infer.o

status=0
timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -kernel mnist.elf > qemu.txt 2>&1 || status=$?
cat qemu.txt
test "$status" -eq 0 || { echo "the Cortex-M4 program failed (status $status)"; exit 1; }
grep -q '^selftest: 0 of 40 outputs differ' qemu.txt || { echo "no passing self-test in the output"; exit 1; }
grep -q '^instructions per inference: [0-9]' qemu.txt || { echo "no instruction count"; exit 1; }
echo "Cortex-M4 test passed"
