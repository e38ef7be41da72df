#!/bin/sh
# The trainer under mpirun (tests/mpi.cmake):
#   trainer_test.sh MPIEXEC NP TRAINER PLAIN_TRAINER TEST_MPI DIR
# TRAINER is tests/mpi/dp.kl's dp_sgd compiled with --main --data-parallel,
# PLAIN_TRAINER a trainer compiled without --data-parallel, TEST_MPI the
# helper of test_mpi.c (data files, weight comparison).  Checks: NP ranks
# train to the weights of one process (to test_mpi.c's tolerance) and rank 0
# alone prints and saves; a checkpoint resumed on NP ranks gives the
# uninterrupted run's weights bit for bit; a rank that cannot read its data
# stops every rank with the message; a trainer without --data-parallel is
# refused.
set -u
mpiexec=$1 np=$2 trainer=$3 plain=$4 helper=$5 dir=$6
run="$mpiexec --oversubscribe -np $np"
fail() { echo "trainer_test.sh ($np ranks): $*" >&2; exit 1; }
cd "$dir" || fail "no directory $dir"
"$helper" data . || fail "cannot write the data"
common="--x x.npy --y y.npy --batch-size 16 --seed 4"

"$trainer" fit $common --epochs 3 --verbose 2 --save one.safetensors >one.out 2>&1 ||
    fail "one process: $(cat one.out)"
$run "$trainer" fit $common --epochs 3 --verbose 2 --save group.safetensors \
    --checkpoint 'ck-{epoch}.safetensors' --history group.csv >group.out 2>&1 ||
    fail "$np ranks: $(cat group.out)"
"$helper" same one.safetensors group.safetensors 2e-5 || fail "$np ranks train other weights than one process"
# rank 0 alone prints: one line per epoch, as one process
lines=$(grep -c '^[0-9]*/[0-9]* - ' group.out)
[ "$lines" = 3 ] || fail "expected 3 epoch lines, got $lines: $(cat group.out)"
[ -f ck-3.safetensors ] && [ -f group.csv ] || fail "rank 0 wrote no checkpoint or history"

# evaluate, sharded: the line one process prints
"$trainer" evaluate --x x.npy --y y.npy --load one.safetensors --verbose 0 >eval1.out 2>&1 ||
    fail "evaluate: $(cat eval1.out)"
$run "$trainer" evaluate --x x.npy --y y.npy --load one.safetensors --verbose 0 >evaln.out 2>&1 ||
    fail "evaluate on $np ranks: $(cat evaln.out)"
cmp -s eval1.out evaln.out || fail "evaluate: '$(cat evaln.out)' on $np ranks, '$(cat eval1.out)' alone"

# resume from epoch 1's checkpoint on every rank
$run "$trainer" fit $common --epochs 3 --load ck-1.safetensors --save resumed.safetensors \
    --verbose 0 >resume.out 2>&1 || fail "resume: $(cat resume.out)"
"$helper" same group.safetensors resumed.safetensors 0 || fail "the resumed fit differs"

# the last rank cannot read its data: every rank stops, with the message, no hang
last=$((np - 1))
$run sh -c "if [ \"\$OMPI_COMM_WORLD_RANK\" = $last ]; then x=missing.npy; else x=x.npy; fi
            exec \"$trainer\" fit --x \$x --y y.npy --epochs 1" >missing.out 2>&1 &&
    fail "a rank without data: status 0"
grep -q "rank $last: --x: missing.npy: cannot open" missing.out || fail "no message of rank $last: $(cat missing.out)"
[ "$(grep -c "mpi_dp_trainer fit: " missing.out)" = 1 ] || fail "not one message: $(cat missing.out)"

# a trainer compiled without --data-parallel says so
$run "$plain" fit --x x.npy --y y.npy --epochs 1 >plain.out 2>&1 && fail "plain trainer: status 0"
grep -q "compiled without --data-parallel" plain.out || fail "plain trainer: $(cat plain.out)"
echo "trainer_test.sh: $np ranks ok"
