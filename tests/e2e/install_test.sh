#!/bin/sh
# Installation tests (tests/install.cmake): klc installed into a scratch
# prefix, then used from outside the build as docs/building.md says.
#
#   install_test.sh install  BUILD PREFIX
#       cmake --install BUILD --prefix PREFIX (into an emptied PREFIX), and
#       every installed file is where the docs say
#   install_test.sh pkg-config  PREFIX LIBDIR WORK SEED_KL [CFLAGS...]
#       klc --main on the seed, then the one-line build
#           cc train.c $(pkg-config --cflags --libs klc) -o train
#       with PKG_CONFIG_PATH at the prefix, and ./train summary
#   install_test.sh cmake-project  PREFIX LIBDIR WORK PROJECT_SOURCE [CFLAGS...]
#       configure, build and run examples/cmake-project against the prefix
# CFLAGS: extra compiler and linker flags (the sanitizers of a KLC_SANITIZE
# build, whose libklc.a needs them).
set -eu
mode=$1
shift

fail() {
    echo "install_test.sh $mode: $*" >&2
    exit 1
}

case "$mode" in
install)
    build=$1 prefix=$2
    rm -rf "$prefix"
    cmake --install "$build" --prefix "$prefix" >/dev/null
    ;;
pkg-config)
    prefix=$1 libdir=$2 work=$3 seed=$4
    shift 4
    extra="$*"
    for f in bin/klc "$libdir/libklc.a" include/klc/runtime.h include/klc/abi.h \
        "$libdir/pkgconfig/klc.pc" "$libdir/cmake/klc/klcConfig.cmake" \
        "$libdir/cmake/klc/klcConfigVersion.cmake" "$libdir/cmake/klc/klcTargets.cmake" \
        "$libdir/cmake/klc/KlcAddModel.cmake"; do
        [ -f "$prefix/$f" ] || fail "$f was not installed"
    done
    [ -x "$prefix/bin/klc" ] || fail "bin/klc is not executable"
    rm -rf "$work"
    mkdir -p "$work"
    cd "$work"
    "$prefix/bin/klc" "$seed" --main -o train.c
    export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
    pkg-config --libs klc | grep -q -- -lopenblas || fail "klc.pc does not bring in OpenBLAS"
    pkg-config --libs klc | grep -q -- -lm || fail "klc.pc does not bring in libm"
    # the optimisation level stays the user's: a debug build is not forced to -O2
    pkg-config --cflags klc | grep -q -- '-O[0-9s]' && fail "klc.pc forces an optimisation level: $(pkg-config --cflags klc)"
    # shellcheck disable=SC2046,SC2086
    cc train.c $(pkg-config --cflags --libs klc) -o train $extra
    ./train summary >summary.txt || fail "./train summary failed"
    grep -q 'my_custom_layer (MyCustomLayer)' summary.txt || fail "unexpected summary: $(cat summary.txt)"
    grep -q 'Total params: 50,826' summary.txt || fail "unexpected summary: $(cat summary.txt)"
    ;;
cmake-project)
    prefix=$1 libdir=$2 work=$3 source=$4
    shift 4
    extra="$*"
    rm -rf "$work"
    cmake -S "$source" -B "$work" -Dklc_DIR="$prefix/$libdir/cmake/klc" \
        -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >"$work.log" 2>&1 ||
        { cat "$work.log"; fail "configuring $source failed"; }
    cmake --build "$work" >"$work.log" 2>&1 || { cat "$work.log"; fail "building $source failed"; }
    grep -rq "$prefix/bin/klc" "$work/CMakeFiles" || fail "the build does not run the installed klc"
    "$work/tiny_train" summary | grep -q 'Total params: 42' || fail "tiny_train summary"
    "$work/tiny_train" gradcheck >/dev/null || fail "tiny_train gradcheck"
    out=$("$work/tiny_api") || fail "tiny_api failed: $out"
    echo "$out"
    acc=$(echo "$out" | sed -n 's/^test accuracy: \([0-9.]*\).*/\1/p')
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || fail "tiny_api: accuracy '$acc' below 0.9"
    ;;
cxx-project)
    # a C++-only project (project(... LANGUAGES CXX)): find_package(klc)
    # enables C for the generated code
    prefix=$1 libdir=$2 work=$3 source=$4
    shift 4
    extra="$*"
    rm -rf "$work"
    grep -q 'LANGUAGES CXX)' "$source/CMakeLists.txt" || fail "$source is not a C++-only project"
    cmake -S "$source" -B "$work" -Dklc_DIR="$prefix/$libdir/cmake/klc" \
        -DCMAKE_C_FLAGS="$extra" -DCMAKE_CXX_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >"$work.log" 2>&1 ||
        { cat "$work.log"; fail "configuring $source failed"; }
    cmake --build "$work" >"$work.log" 2>&1 || { cat "$work.log"; fail "building $source failed"; }
    out=$("$work/tiny_cxx") || fail "tiny_cxx failed: $out"
    echo "$out"
    ;;
*)
    fail "unknown mode"
    ;;
esac
