#!/bin/sh
# Prints the OPENBLAS_CORETYPE this CPU should use when OpenBLAS does not
# recognise it, or nothing.
#
#   scripts/openblas-coretype.sh PROGRAM     (any program linked with OpenBLAS)
#
# OpenBLAS picks its kernels from the CPU's model number when it loads; on a
# CPU newer than the library it falls back to old SSE kernels ("Prescott"),
# 4-5x slower (docs/building.md).  PROGRAM is started once with
# OPENBLAS_VERBOSE=2 and no arguments to read the choice; when it is such a
# fallback and /proc/cpuinfo lists avx512f (avx2), this prints SkylakeX
# (Haswell).  An OPENBLAS_CORETYPE already set is left alone: nothing printed.
set -u
[ -n "${OPENBLAS_CORETYPE:-}" ] && exit 0
[ -r /proc/cpuinfo ] || exit 0
core=$(OPENBLAS_VERBOSE=2 "$1" </dev/null 2>&1 | sed -n 's/^Core: //p' | head -n 1)
case "$core" in
    Prescott | Core2 | Penryn | Dunnington | Nehalem | Atom) ;;
    *) exit 0 ;;
esac
if grep -qw avx512f /proc/cpuinfo; then
    echo SkylakeX
elif grep -qw avx2 /proc/cpuinfo; then
    echo Haswell
fi
exit 0
