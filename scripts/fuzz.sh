#!/bin/sh
# Fuzz every harness of tests/fuzz/ with libFuzzer (docs/reliability.md).
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]
#
# Builds the clang configuration in build-fuzz/ (-DKLC_FUZZ=ON: ASan, UBSan
# and coverage instrumentation everywhere), then runs each harness (all, or
# those named) for SECONDS (default 30), one fuzzer process at a time
# (-jobs=1).  The corpus of a harness lives in build-fuzz/corpus/<name>,
# seeded from the tree (examples/*.kl and tests/golden/*/*.kl for compile,
# tests/fuzz/seeds/<name>/ for the data readers, tests/fuzz/regress/<name>/
# for all) and kept between runs; tests/fuzz/<name>.dict is the dictionary
# when there is one.  A crash stops with libFuzzer's report and the input
# in build-fuzz/artifacts/<name>/; minimise it (the binary with
# -minimize_crash=1 -runs=100000 FILE), fix the bug, and add the input to
# tests/fuzz/regress/<name>/ so fuzz_regress.<name> replays it forever.
# Exits non-zero on the first harness that found a failure.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-30}
[ "$#" -gt 0 ] && shift
harnesses=${*:-compile npy json csv idx safetensors load cli}
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "fuzz.sh: $CLANG not found (scripts/install-deps.sh clang libclang-rt-14-dev)" >&2; exit 1; }

# -O1 -g without NDEBUG: assertions stay on.
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER="$CLANG" -DKLC_FUZZ=ON -DKLC_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_C_FLAGS_FUZZ="-O1 -g" >/dev/null
targets=""
for h in $harnesses; do targets="$targets fuzz_$h"; done
# shellcheck disable=SC2086 # $targets is a list of target names
cmake --build build-fuzz -j2 --target $targets

for h in $harnesses; do
    corpus=build-fuzz/corpus/$h
    mkdir -p "$corpus" "build-fuzz/artifacts/$h"
    if [ "$h" = compile ]; then
        # named by their path (tests/golden has several seed.kl)
        for f in examples/*.kl tests/golden/*/*.kl; do
            cp "$f" "$corpus/$(echo "$f" | tr / -)"
        done
        # imports resolve beside ./fuzz.kl: the examples' layer files
        work=build-fuzz/work/compile
        mkdir -p "$work"
        cp examples/*.kl "$work/"
    else
        cp tests/fuzz/seeds/"$h"/* "$corpus/"
        work=build-fuzz/work/$h
        mkdir -p "$work"
    fi
    for f in tests/fuzz/regress/"$h"/*; do
        [ -f "$f" ] && cp "$f" "$corpus/"
    done
    dict=""
    [ -f "tests/fuzz/$h.dict" ] && dict="-dict=$root/tests/fuzz/$h.dict"
    [ "$h" = compile ] && dict="-dict=$root/tests/fuzz/kl.dict"
    [ "$h" = load ] && dict="-dict=$root/tests/fuzz/safetensors.dict"
    # the trainer's messages would fill the log: closed (libFuzzer keeps its
    # own copy of stderr for reports)
    quiet=""
    [ "$h" = cli ] && quiet="-close_fd_mask=3"
    # the load harness reads .weights.h5 through libhdf5, which mallocs what a
    # corrupted header says (gigabytes): a failed malloc is its error path, as
    # outside the fuzzer; its own small leaks on such files are suppressed
    # (tests/keras/lsan.supp).  RSS stays limited.
    limits=""
    san="${ASAN_OPTIONS:-}"
    lsan="${LSAN_OPTIONS:-}"
    if [ "$h" = load ]; then
        limits="-malloc_limit_mb=16384"
        san="${san:+$san:}allocator_may_return_null=1"
        lsan="${lsan:+$lsan:}suppressions=$root/tests/keras/lsan.supp"
    fi
    echo "fuzz.sh: fuzz_$h for ${seconds}s"
    # shellcheck disable=SC2086 # $dict, $quiet and $limits are empty or one option
    (cd "$work" && ASAN_OPTIONS="$san" LSAN_OPTIONS="$lsan" "$root/build-fuzz/tests/fuzz/fuzz_$h" \
        -max_total_time="$seconds" -jobs=1 -workers=1 \
        -print_final_stats=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 $limits \
        -artifact_prefix="$root/build-fuzz/artifacts/$h/" $dict $quiet "$root/$corpus") \
        2>&1 | tee "build-fuzz/fuzz-$h.log" | grep -E '^#[0-9]+.*(INITED|DONE)|^stat::|ERROR|SUMMARY' || true
    # the harness's own status: tee hides it, so the log says
    if grep -qE '^==[0-9]+==ERROR|^SUMMARY: |deadly signal|fuzz target exited|Test unit written' "build-fuzz/fuzz-$h.log"; then
        echo "fuzz.sh: fuzz_$h found a failure: build-fuzz/fuzz-$h.log, build-fuzz/artifacts/$h/" >&2
        exit 1
    fi
done
echo "fuzz.sh: no failures"
