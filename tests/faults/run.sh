#!/bin/sh
# Faults survived (ctest runs this with: KLC TRAINER EXPLODE MAKE_DATA WORK_DIR;
# docs/reliability.md).
#   1. 50 kill -9 at random moments of a training that checkpoints every
#      epoch: the checkpoint is always absent or complete and loadable, and no
#      temporary file is left after the next successful save;
#   2. a full disk (KLC_FAULT_FULL_DISK=1: ENOSPC) during a checkpoint: a
#      clear error, the previous checkpoint intact;
#   3. NaN and Inf in the data, an exploding learning rate: TerminateOnNaN's
#      message and exit status 1;
#   4. data headers declaring huge shapes, directories, FIFOs, /dev/zero and
#      unreadable files refused with the reason, naming the file;
#   5. hostile .kl sources refused within bounded time and memory.
set -eu
klc=$1 trainer=$2 explode=$3 make_data=$4 work=$5 sanitized=${6:-0}
rm -rf "$work" && mkdir -p "$work" && cd "$work"
"$make_data" .
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect STATUS TEXT CMD...: CMD exits with STATUS and its stderr holds TEXT
expect() {
    want=$1 text=$2
    shift 2
    set +e
    "$@" >out.txt 2>err.txt
    got=$?
    set -e
    [ "$got" = "$want" ] || { cat err.txt >&2; fail "$* exited $got, not $want"; }
    grep -qF -- "$text" err.txt || { cat err.txt >&2; fail "$*: no \"$text\" in its messages"; }
}
temps() { ls | grep -c '\.tmp-' || true; }

# 1. kill -9.  A fresh random seed each run, printed so a failure can be replayed.
seed=${KLC_FAULTS_SEED:-$(od -An -tu4 -N4 /dev/urandom | tr -d ' ')}
echo "kill test seed $seed"
delays=$(awk -v s="$seed" 'BEGIN { srand(s); for (i = 0; i < 50; i++) printf "%.3f\n", 0.02 + rand() * 0.6 }')
kills=0 present=0 left=0
for d in $delays; do
    "$trainer" fit --x x.npy --y y.npy --epochs 100000 --verbose 0 --checkpoint ck.safetensors \
        >/dev/null 2>&1 &
    pid=$!
    sleep "$d"
    kill -9 "$pid" 2>/dev/null || fail "the trainer ended before the kill after ${d}s"
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    if [ -e ck.safetensors ]; then
        present=$((present + 1))
        "$trainer" evaluate --x x.npy --y y.npy --load ck.safetensors --verbose 0 >/dev/null 2>err.txt ||
            { cat err.txt >&2; fail "kill $kills after ${d}s: the checkpoint does not load"; }
    fi
    if [ "$(temps)" -gt 0 ]; then
        left=$((left + 1))
        # the next successful save removes what the dead process left
        "$trainer" fit --x x.npy --y y.npy --epochs 1 --verbose 0 --checkpoint ck.safetensors >/dev/null
        [ "$(temps)" -eq 0 ] || { ls >&2; fail "kill $kills: temporary files left after a successful save"; }
    fi
done
echo "$kills kills: a checkpoint present after $present, a temporary file left by $left"
[ "$present" -gt 0 ] || fail "no kill came after a checkpoint: the delays are too short"

# 2. A full disk during a checkpoint save: the previous checkpoint stays.
"$trainer" fit --x x.npy --y y.npy --epochs 1 --verbose 0 --checkpoint full.safetensors
cp full.safetensors before.safetensors
KLC_FAULT_FULL_DISK=1 expect 1 "full.safetensors: cannot write: No space left on device" \
    "$trainer" fit --x x.npy --y y.npy --epochs 2 --verbose 0 --checkpoint full.safetensors
cmp full.safetensors before.safetensors || fail "the full disk changed the previous checkpoint"
[ "$(temps)" -eq 0 ] || fail "the failed save left a temporary file"
"$trainer" evaluate --x x.npy --y y.npy --load full.safetensors --verbose 0 >/dev/null
KLC_FAULT_FULL_DISK=1 expect 1 "w.safetensors: cannot write: No space left on device" \
    "$trainer" fit --x x.npy --y y.npy --epochs 1 --verbose 0 --save w.safetensors
[ ! -e w.safetensors ] || fail "a failed --save left a file"

# 3. NaN and Inf in the data, an exploding learning rate.
off=$((10 + $(od -An -tu2 -j8 -N2 x.npy | tr -d ' ')))  # the data after the .npy header
cp x.npy x_nan.npy
cp x.npy x_inf.npy
printf '\000\000\300\177' | dd of=x_nan.npy bs=1 seek=$((off + 4 * 37)) conv=notrunc 2>/dev/null
printf '\000\000\200\177' | dd of=x_inf.npy bs=1 seek=$((off + 4 * 5)) conv=notrunc 2>/dev/null
for x in x_nan.npy x_inf.npy; do
    expect 1 "training stopped by TerminateOnNaN" \
        "$trainer" fit --x $x --y y.npy --epochs 2 --verbose 2 --terminate-on-nan --save nan.safetensors
    grep -q "Invalid loss, terminating training" out.txt || fail "$x: no TerminateOnNaN line"
    [ ! -e nan.safetensors ] || fail "$x: weights saved after a NaN loss"
done
expect 1 "training stopped by TerminateOnNaN" "$explode" fit --x x.npy --y y.npy --verbose 2 --terminate-on-nan
grep -q "Invalid loss, terminating training" out.txt || fail "exploding learning rate: no TerminateOnNaN line"

# 4. Data files.  An .npy claiming 2^40 elements, an IDX file of 2^20 x 2^20
# bytes, a safetensors header with a tensor of 2^40 floats: refused from the
# header, naming the file, under a memory limit far below what they claim.
printf '\223NUMPY\001\000\166\000' >huge.npy
printf "%-117s\n" "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }" >>huge.npy
printf '\000\000\010\002\000\020\000\000\000\020\000\000' >huge-idx2-ubyte
json='{"dense/kernel":{"dtype":"F32","shape":[1099511627776,1],"data_offsets":[0,4398046511104]}}'
printf "$(printf '\\%03o' ${#json})\000\000\000\000\000\000\000%s" "$json" >huge.safetensors
# AddressSanitizer reserves terabytes of shadow address space and cannot
# start under ulimit -v; there the refusals are checked without the limit
# (an attempt to allocate 4 TB would still fail the test: ASan reports it).
limit_vm() { [ "$sanitized" = 1 ] || ulimit -v "$1"; }
(
    limit_vm 1000000
    expect 1 "huge.npy: float32 data of shape [1099511627776] needs" "$trainer" fit --x huge.npy --y y.npy
    expect 1 "huge-idx2-ubyte: IDX dimensions [1048576, 1048576]" "$trainer" fit --x huge-idx2-ubyte --y y.npy
    expect 1 "huge.safetensors: tensor \"dense/kernel\": data_offsets [0, 4398046511104] point outside" "$trainer" fit --x x.npy --y y.npy --load huge.safetensors
)
mkdir adir.npy
mkfifo afifo.npy
expect 1 "adir.npy: cannot read: is a directory" "$trainer" fit --x adir.npy --y y.npy
expect 1 "afifo.npy: cannot read: is a named pipe (FIFO), not a regular file" "$trainer" fit --x afifo.npy --y y.npy
expect 1 "/dev/zero: cannot read: is a device, not a regular file" "$trainer" fit --x x.npy --y y.npy --load /dev/zero
expect 1 "/proc/self/mem: read error: Input/output error" "$trainer" fit --x x.npy --y y.npy --load /proc/self/mem
echo secret >unreadable.npy
chmod 000 unreadable.npy
if [ "$(id -u)" != 0 ]; then
    expect 1 "unreadable.npy: cannot open: Permission denied" "$trainer" fit --x unreadable.npy --y y.npy
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null &&
     setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$trainer" && setpriv --reuid=65534 --regid=65534 --clear-groups test -x .; then
    expect 1 "unreadable.npy: cannot open: Permission denied" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$trainer" fit --x unreadable.npy --y y.npy
else
    echo "root without a way to drop privileges: the permission check is skipped"
fi

# 5. .kl sources: not regular files, too large, too deep, too many layers, too wide.
expect 1 "cannot read adir.npy: is a directory" "$klc" adir.npy --check
expect 1 "cannot read afifo.npy: is a named pipe (FIFO), not a regular file" "$klc" afifo.npy --check
expect 1 "cannot read /dev/zero: is a device, not a regular file" "$klc" /dev/zero --check
printf 'import "afifo.npy";\n' >imp.kl
expect 1 "not a regular file" "$klc" imp.kl --check
head -c 17000000 /dev/zero | tr '\0' ' ' >big.kl
expect 1 "the file is larger than the 16 MiB limit" "$klc" big.kl --check
# bounded: each within 60 s and 2 GB of address space
bounded() { ( limit_vm 2000000; timeout 60 "$@" ); }
{ printf 'x = '; head -c 10000000 /dev/zero | tr '\0' '('; } >parens.kl
expect 1 "nested too deeply" bounded "$klc" parens.kl --check
awk 'BEGIN { print "model = Sequential([Input(shape = [4]),"; for (i = 0; i < 1000000; i++) print "Dense(4),"; print "]);" }' >layers.kl
expect 1 "error" bounded "$klc" layers.kl --check
grep -q "internal error\|Segmentation\|Killed" err.txt && fail "a million layers: $(cat err.txt)"
printf 'model = Sequential([Input(shape = [4]), Dense(2147483648)]);\n' >wide.kl
expect 1 "is too large" bounded "$klc" wide.kl --check
echo "faults: all passed"
