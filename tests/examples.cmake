# Every example under examples/ must check (klc FILE --check exits 0), and
# every one that defines models (KLC_EXAMPLE_MODELS, tests/CMakeLists.txt)
# must print their summaries: klc FILE --summary exits 0 and prints
# "Total params: ".  The exit status is checked too, so a crash or a
# sanitizer report (ASan/LSan exit non-zero) fails the test.
foreach(example IN LISTS KLC_EXAMPLE_FILES)
  get_filename_component(name ${example} NAME_WE)
  add_test(NAME example.${name}.check COMMAND klc ${example} --check)
  set_tests_properties(example.${name}.check PROPERTIES LABELS "examples")
  if(example IN_LIST KLC_EXAMPLE_MODELS)
    add_test(NAME example.${name}.summary
      COMMAND sh -c [=[out=$("$1" "$2" --summary 2>&1); rc=$?; printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then echo "klc $2 --summary: exit status $rc"; exit 1; fi
case $out in *"Total params: "*) ;; *) echo "klc $2 --summary: no \"Total params: \" in the output"; exit 1 ;; esac]=]
              sh $<TARGET_FILE:klc> ${example})
    set_tests_properties(example.${name}.summary PROPERTIES LABELS "examples")
  endif()
endforeach()

# The README's "train from C" program (examples/train_from_c.c, built by
# examples/CMakeLists.txt) runs: fit, evaluate, save, reload, and the reloaded
# model predicts identically (its exit status is 0 only then).
add_test(NAME example.train_from_c COMMAND train_from_c ${KLC_TEST_SCRATCH}/example.train_from_c)
set_tests_properties(example.train_from_c PROPERTIES LABELS "examples;e2e" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
klc_fresh_scratch(example.train_from_c ${KLC_TEST_SCRATCH}/example.train_from_c)

# The generated C reads like the source: in the training and inference code
# of these examples every buffer is named after its source (no numbered
# temporaries like t38 or dense_t12), built-in layers point at their prelude
# line (no "(built-in layer)"), there is no (void) or "+ 0 * cap" noise, the
# model descriptor uses designated initialisers and Adam's update carries its
# formula.
foreach(name seed conv1d)
  add_test(NAME example.${name}.c_names
    COMMAND sh -c [=[set -e; d=$1; "$2" "$3" -o "$d/train.c"; "$2" "$3" --inference -o "$d/infer.c"
if grep -nE '(^|[^A-Za-z0-9_])([A-Za-z0-9_]*_)?t[0-9]+([^A-Za-z0-9_]|$)|\(built-in' "$d/train.c" "$d/infer.c"; then
  echo "$3: generated C has numbered temporaries or unlocated built-in code"; exit 1
fi
if grep -nE '\(void\)|\+ 0 \* cap|\+ 0\)' "$d/train.c" "$d/infer.c"; then
  echo "$3: generated C has (void) casts or + 0 offsets"; exit 1
fi
grep -q '{\.name = "' "$d/train.c" || { echo "$3: the model descriptor has no designated initialisers"; exit 1; }
grep -q '/\* m <- m + (g - m) \* (1 - beta_1) \*/' "$d/train.c" ||
  { echo "$3: the optimizer update carries no formula"; exit 1; }
grep -q 'compiler/prelude/core.kl:[0-9]' "$d/train.c" ||
  { echo "$3: built-in layers' blocks do not point at their prelude line"; exit 1; }]=]
            sh ${KLC_TEST_SCRATCH}/example.${name}.c_names $<TARGET_FILE:klc> ${CMAKE_SOURCE_DIR}/examples/${name}.kl)
  set_tests_properties(example.${name}.c_names PROPERTIES LABELS "examples")
  klc_fresh_scratch(example.${name}.c_names ${KLC_TEST_SCRATCH}/example.${name}.c_names)
endforeach()

# klc_add_model names the .kl file relative to the source directory, so the
# generated files are the same in every checkout: none holds this checkout's
# absolute path (the seed's trainer, built from tests/ with ../examples/seed.kl).
add_test(NAME example.seed.relative_paths
  COMMAND sh -c [=[if grep -n -F "$1" "$2"; then echo "$2 names the checkout's absolute path $1"; exit 1; fi
grep -q -F '../examples/seed.kl' "$2" || { echo "$2 does not name ../examples/seed.kl"; exit 1; }]=]
          sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/tests/e2e_seed.c)
set_tests_properties(example.seed.relative_paths PROPERTIES LABELS "examples")

# The README demo's pipeline on a small scale (scripts/demo.sh with generated
# digits): the convnet of examples/mnist.kl trains, is evaluated, its weights
# are embedded in the inference file, which compiles without warnings and
# without BLAS (a weights file of a model without state once left an unused
# array behind) and classifies test digits as the trainer does.
add_test(NAME example.mnist.demo_pipeline
  COMMAND sh -c [=[set -e; d=$1; klc=$2; train=$3; gen=$4; src=$5
"$gen" "$d" 512 64 >/dev/null
"$train" fit --x "$d/x_train.npy" --y "$d/y_train.npy" --epochs 1 --batch-size 64 --verbose 0 --save "$d/w.safetensors"
"$train" predict --x "$d/x_test.npy" --load "$d/w.safetensors" --out "$d/p.csv" --verbose 0
"$klc" "$src/examples/mnist.kl" --inference --weights "$d/w.safetensors" -o "$d/mnist_infer.c"
cc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -DKLC_NO_BLAS -I"$d" "$d/mnist_infer.c" "$src/examples/mnist_demo.c" -lm -o "$d/mnist_infer"
"$d/mnist_infer" "$d/x_test.npy" "$d/y_test.npy" 64 > "$d/infer.txt"
# the trainer's classes (argmax of each CSV row) against the inference file's
awk -F, '{b=1; for (k=2; k<=NF; k++) if ($k+0 > $b+0) b=k; print b-1}' "$d/p.csv" > "$d/trainer_classes.txt"
sed -n 's/^digit *[0-9]*: predicted \([0-9]\).*/\1/p' "$d/infer.txt" > "$d/infer_classes.txt"
test "$(wc -l < "$d/infer_classes.txt")" -eq 64 || { echo "the inference program classified $(wc -l < "$d/infer_classes.txt") of 64 digits"; exit 1; }
cmp "$d/trainer_classes.txt" "$d/infer_classes.txt" || { echo "inference file and trainer disagree"; exit 1; }
# the generated self-test: passes against the trainer's outputs, fails against another row's
"$train" predict --x "$d/x_test.npy" --load "$d/w.safetensors" --out "$d/p.npy" --verbose 0
printf '#include <stdio.h>\n#include "st.h"\nint main(void) { int b = mnist_selftest(); printf("%%d\\n", b); return b != 0; }\n' > "$d/st_main.c"
"$klc" "$src/examples/mnist.kl" --inference --weights "$d/w.safetensors" --selftest "$d/x_test.npy" --selftest-expect "$d/p.npy" -o "$d/st.c"
cc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -DKLC_NO_BLAS -I"$d" "$d/st.c" "$d/st_main.c" -lm -o "$d/st"
"$d/st" || { echo "the self-test fails on the host"; exit 1; }
"$klc" "$src/examples/mnist.kl" --inference --weights "$d/w.safetensors" --selftest "$d/x_train.npy" --selftest-expect "$d/p.npy" -o "$d/st.c"
cc -std=c11 -O2 -DKLC_NO_BLAS -I"$d" "$d/st.c" "$d/st_main.c" -lm -o "$d/st"
if "$d/st" >/dev/null; then echo "the self-test passes against outputs of other inputs"; exit 1; fi
# a file of the wrong shape is refused, naming it
if "$klc" "$src/examples/mnist.kl" --inference --weights "$d/w.safetensors" --selftest "$d/p.npy" --selftest-expect "$d/p.npy" -o "$d/bad.c" 2> "$d/err.txt"; then
  echo "--selftest accepted outputs as inputs"; exit 1; fi
grep -q "p.npy: inputs of shape \[64, 10\], but model 'mnist' takes rows of \[N, 28, 28, 1\]" "$d/err.txt" || { cat "$d/err.txt"; exit 1; }
test ! -e "$d/bad.c" || { echo "a refused --selftest left $d/bad.c behind"; exit 1; }]=]
          sh ${KLC_TEST_SCRATCH}/example.mnist.demo_pipeline $<TARGET_FILE:klc> $<TARGET_FILE:mnist_train>
          $<TARGET_FILE:gen_digits> ${CMAKE_SOURCE_DIR})
set_tests_properties(example.mnist.demo_pipeline PROPERTIES LABELS "examples;e2e;deploy" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
klc_fresh_scratch(example.mnist.demo_pipeline ${KLC_TEST_SCRATCH}/example.mnist.demo_pipeline)

# A scan is one loop over the steps: the training and inference code of an
# LSTM over 5 steps and over 500 have the same number of lines (only the
# trip counts and buffer sizes differ), each with one forward loop (and one
# backward loop in training).
add_test(NAME scan_code_size
  COMMAND sh -c [=[set -e; d=$1; klc=$2; cd "$d"
for t in 5 500; do
  printf 'm = Sequential([Input(shape = [%s, 3]), LSTM(8), Dense(1)]);\nm.compile(optimizer = "adam", loss = "mse");\n' $t > l$t.kl
  "$klc" l$t.kl -o l$t.c; "$klc" l$t.kl --inference -o i$t.c
done
for f in l i; do
  a=$(wc -l < ${f}5.c); b=$(wc -l < ${f}500.c)
  [ "$a" -eq "$b" ] || { echo "${f}5.c has $a lines, ${f}500.c $b: the code grows with the sequence"; exit 1; }
done
grep -q 'for (int64_t step = 0; step < 500; step++)' l500.c || { echo "no forward loop over 500 steps"; exit 1; }
grep -q 'for (int64_t step = 499; step >= 0; step--)' l500.c || { echo "no backward loop over the steps"; exit 1; }
grep -q 'for (int64_t step = 0; step < 500; step++)' i500.c || { echo "no loop in the inference file"; exit 1; }]=]
          sh ${KLC_TEST_SCRATCH}/scan_code_size $<TARGET_FILE:klc>)
set_tests_properties(scan_code_size PROPERTIES LABELS "examples")
klc_fresh_scratch(scan_code_size ${KLC_TEST_SCRATCH}/scan_code_size)
