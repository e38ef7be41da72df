#!/bin/sh
# Training throughput of klc-generated C against PyTorch, one thread each.
#
#   bench/run.sh [ROUNDS] [ROWS]
#
# Builds bench/klc_bench (the models of bench/models.kl through the C API),
# installs what is missing (scripts/install-deps.sh) and Debian's
# python3-torch if it is missing, then alternates one
# epoch of klc and one of PyTorch on the same synthetic data (ROWS samples,
# default 60,000), ROUNDS times (default 3) per model, and reports the median
# samples per second of each and their ratio; for cnn also the step's
# GEMM-only limit (bench/cnn_limit, in the same rounds) and klc's share of it.
# The transformer runs on ROWS / 20 samples (its step costs ~100 times the
# seed model's).
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-3}
all_rows=${2:-60000}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
py=/usr/bin/python3

scripts/install-deps.sh
if ! $py -c "import torch" 2>/dev/null; then
    echo "installing python3-torch (Debian) ..."
    scripts/install-deps.sh python3-torch >/dev/null
fi
cmake -S . -B build -DKLC_WERROR=ON >/dev/null
cmake --build build --target klc_bench cnn_limit -j "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)" >/dev/null

# OpenBLAS on a CPU newer than it knows: name the kernels (docs/building.md)
coretype=$(scripts/openblas-coretype.sh build/bench/cnn_limit)
if [ -n "$coretype" ]; then
    export OPENBLAS_CORETYPE="$coretype"
    echo "OpenBLAS does not know this CPU and chose old kernels; using OPENBLAS_CORETYPE=$coretype"
fi

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) cores; one thread each"
core=$(OPENBLAS_VERBOSE=2 build/bench/klc_bench seed 1 64 2>&1 | sed -n 's/^Core: //p')
echo "torch $($py -c 'import torch; print(torch.__version__)'), OpenBLAS $(pkg-config --modversion openblas 2>/dev/null || echo '?') (${core:-?} kernels${OPENBLAS_CORETYPE:+, from OPENBLAS_CORETYPE})"
printf '%-6s %14s %14s %8s\n' model "klc samples/s" "torch samples/s" ratio
for model in ${KLC_BENCH_MODELS:-seed mlp cnn lstm transformer}; do
    : > /tmp/klc_bench.$$ ; : > /tmp/torch_bench.$$ ; : > /tmp/cnn_limit.$$
    # the transformer's step is ~40 MFLOP a sample: a twentieth of the rows
    rows=$all_rows
    [ "$model" = transformer ] && rows=$((all_rows / 20))
    # a warm-up epoch each, then alternate
    build/bench/klc_bench "$model" 1 "$rows" >/dev/null
    $py bench/torch_bench.py "$model" 1 "$rows" >/dev/null
    i=0
    while [ "$i" -lt "$rounds" ]; do
        build/bench/klc_bench "$model" 1 "$rows" | awk '{print $3}' >> /tmp/klc_bench.$$
        $py bench/torch_bench.py "$model" 1 "$rows" | awk '{print $3}' >> /tmp/torch_bench.$$
        # the cnn step's GEMM-only limit, in the same rounds (bench/cnn_limit.c)
        [ "$model" = cnn ] &&
            build/bench/cnn_limit | sed -n 's/.*GEMM-only limit \([0-9]*\) samples.*/\1/p' >> /tmp/cnn_limit.$$
        i=$((i + 1))
    done
    k=$(median < /tmp/klc_bench.$$)
    t=$(median < /tmp/torch_bench.$$)
    printf '%-6s %14s %14s %7.2fx\n' "$model" "$k" "$t" "$(echo "$k $t" | awk '{print $1 / $2}')"
    if [ "$model" = cnn ]; then
        l=$(median < /tmp/cnn_limit.$$)
        printf '%-6s %14s %14s %7.0f%%  (klc / GEMM-only limit)\n' "limit" "$l" "" "$(echo "$k $l" | awk '{print 100 * $1 / $2}')"
        rm -f /tmp/cnn_limit.$$
    fi
done
rm -f /tmp/klc_bench.$$ /tmp/torch_bench.$$
