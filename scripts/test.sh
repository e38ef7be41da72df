#!/bin/sh
# Build klc and run the whole test suite (the README's test command), after
# installing the Debian packages that are missing (scripts/install-deps.sh).
#
# Two configurations: build/ (optimised, warnings are errors, with MPI when
# Open MPI installs) runs every test; build-asan/ (AddressSanitizer +
# UndefinedBehaviorSanitizer, without MPI) runs them again to catch memory
# and UB errors, the robustness tests among them.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/install-deps.sh
# the layer tests compare with PyTorch (tests/torch/)
scripts/install-deps.sh python3-torch
# Keras' .weights.h5 and .keras files (optional in a build, tested here:
# keras.weights_h5 fails instead of skipping when they are missing)
scripts/install-deps.sh libhdf5-dev libzip-dev python3-h5py
export KLC_REQUIRE_KERAS_H5=1
# valgrind.memcheck runs the compiler, the trainer and the inference file under memcheck
scripts/install-deps.sh valgrind ||
    echo "test.sh: valgrind could not be installed; valgrind.memcheck will be skipped"
# the Cortex-M4 test builds the inference file with the cross compiler and
# runs it under QEMU (tests/mcu/); without them it is skipped
scripts/install-deps.sh gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm ||
    echo "test.sh: the Cortex-M4 tools could not be installed; mcu.cortex_m4 will be skipped"
# data-parallel fit over MPI: build/ has it (and runs tests/mpi/ under
# mpirun) when Open MPI can be installed
if scripts/install-deps.sh libopenmpi-dev openmpi-bin; then
    mpi=ON
else
    mpi=OFF
    echo "test.sh: Open MPI could not be installed; the mpi tests will be skipped"
fi
cmake -S . -B build -DKLC_WERROR=ON -DKLC_WITH_MPI=$mpi >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

cmake -S . -B build-asan -DKLC_WERROR=ON -DKLC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DKLC_WITH_MPI=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
