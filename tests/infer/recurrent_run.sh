#!/bin/sh
# The inference file of a recurrent model (ctest: KLC TRAINER SOURCE_DIR WORK_DIR):
# the trainer (built by CMake) trains one epoch, its predict is the
# reference; the BLAS build of the inference file bit-identical to it, the
# plain-loop build within 1e-6 (check.c), no allocation.  Needs python3 for
# the input file (skipped, 77, without it).
set -eu
klc=$1 trainer=$2 src=$3 work=$4
cc=${CC:-cc}
command -v python3 >/dev/null 2>&1 || { echo "skipped: no python3"; exit 77; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"
blas_cflags=$(pkg-config --cflags openblas)
blas_libs=$(pkg-config --libs openblas)
python3 - <<'PY'
import math, random, struct
random.seed(7)
rows, t, d = 100, 6, 3
def npy(path, shape, fmt, vals):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (fmt, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(vals), fmt[-2] if fmt[-2] == "f" else "i"), *vals))
npy("x.npy", (rows, t, d), "<f4", [random.gauss(0, 1) for _ in range(rows * t * d)])
npy("y.npy", (rows,), "<i4", [random.randrange(2) for _ in range(rows)])
PY
"$trainer" fit --x x.npy --y y.npy --epochs 1 --verbose 0 --save w.safetensors
"$trainer" predict --x x.npy --load w.safetensors --out ref.npy --verbose 0
"$klc" "$src/recurrent.kl" --inference --weights w.safetensors -o infer.c
if grep -n 'malloc\|calloc\|realloc\|free(' infer.c; then echo "infer.c allocates"; exit 1; fi
flags="-std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -fno-math-errno"
$cc $flags $blas_cflags -I. infer.c "$src/check.c" $blas_libs -lm -o check_blas
./check_blas x.npy ref.npy exact
$cc $flags -DKLC_NO_BLAS -I. infer.c "$src/check.c" -lm -o check_plain
./check_plain x.npy ref.npy close
echo "recurrent inference tests passed"
