# The standalone inference file (klc --inference): agreement with the trainer,
# BLAS and plain paths, linking, C++ use (tests/infer/run.sh).
klc_add_model(infer_trainer ${CMAKE_CURRENT_SOURCE_DIR}/infer/model.kl MAIN OUTPUT_NAME infer_trainer)
add_executable(infer_make_data ${CMAKE_CURRENT_SOURCE_DIR}/infer/make_data.c)
target_link_libraries(infer_make_data PRIVATE klc_runtime)
add_test(NAME inference_file
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/infer/run.sh $<TARGET_FILE:klc> $<TARGET_FILE:infer_trainer>
          $<TARGET_FILE:infer_make_data> ${CMAKE_CURRENT_SOURCE_DIR}/infer ${KLC_TEST_SCRATCH}/inference_file)
set_tests_properties(inference_file PROPERTIES LABELS "infer;deploy" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# The AVX-512 and AVX2 copies of the training steps (KLC_CLONES) change no
# result: the same model built without them trains to byte-identical weights.
# GCC is asked to fuse multiply-adds wherever it may (-ffp-contract=fast, its
# GNU-mode default): the copies must turn that off themselves.
klc_add_model(infer_trainer_plain ${CMAKE_CURRENT_SOURCE_DIR}/infer/model.kl MAIN OUTPUT_NAME infer_trainer_plain)
target_compile_definitions(infer_trainer_plain PRIVATE KLC_NO_CLONES)
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  target_compile_options(infer_trainer PRIVATE -ffp-contract=fast)
endif()
add_test(NAME clones_bit_identical
  COMMAND sh -c "set -e; rm -rf \"$1\"; mkdir -p \"$1\"; cd \"$1\"; \"$2\" .; \
\"$3\" fit --x x.npy --y y.npy --epochs 3 --verbose 0 --seed 5 --save a.safetensors; \
\"$4\" fit --x x.npy --y y.npy --epochs 3 --verbose 0 --seed 5 --save b.safetensors; cmp a.safetensors b.safetensors"
    sh ${KLC_TEST_SCRATCH}/clones_bit_identical $<TARGET_FILE:infer_make_data> $<TARGET_FILE:infer_trainer>
    $<TARGET_FILE:infer_trainer_plain>)
set_tests_properties(clones_bit_identical PROPERTIES LABELS "infer;e2e" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# Convolutions as im2col / col2im and one GEMM: the training file's products,
# and the inference file's BLAS and plain builds agreeing (tests/infer/conv_run.sh).
add_test(NAME conv_lowering
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/infer/conv_run.sh $<TARGET_FILE:klc> ${CMAKE_CURRENT_SOURCE_DIR}/infer
          ${KLC_TEST_SCRATCH}/conv_lowering)
set_tests_properties(conv_lowering PROPERTIES LABELS "infer" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# A recurrent model's inference file (scan loops): the same agreement with the
# trainer's predict (tests/infer/recurrent_run.sh).
klc_add_model(infer_recurrent_trainer ${CMAKE_CURRENT_SOURCE_DIR}/infer/recurrent.kl MAIN OUTPUT_NAME infer_recurrent)
add_test(NAME inference_file_recurrent
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/infer/recurrent_run.sh $<TARGET_FILE:klc>
          $<TARGET_FILE:infer_recurrent_trainer> ${CMAKE_CURRENT_SOURCE_DIR}/infer
          ${KLC_TEST_SCRATCH}/inference_file_recurrent)
set_tests_properties(inference_file_recurrent PROPERTIES LABELS "infer;deploy" SKIP_RETURN_CODE 77
  ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# int8 post-training quantization (klc --inference --quantize int8 --calibrate):
# the MNIST convnet's int8 file against the float model, its requantization
# arithmetic against hand-computed values, refusals (tests/infer/quant_run.sh).
add_test(NAME inference_int8
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/infer/quant_run.sh $<TARGET_FILE:klc> $<TARGET_FILE:mnist_train>
          $<TARGET_FILE:gen_digits> ${CMAKE_SOURCE_DIR} ${KLC_TEST_SCRATCH}/inference_int8)
set_tests_properties(inference_int8 PROPERTIES LABELS "infer;deploy;e2e" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# 32-bit indices (klc --inference --index-type int32): the MNIST convnet's
# float file with int32 and int64 indices gives identical outputs (plain and
# BLAS), no int64_t in its loops, refusals (tests/infer/index32_run.sh).
add_test(NAME inference_index32
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/infer/index32_run.sh $<TARGET_FILE:klc> $<TARGET_FILE:mnist_train>
          $<TARGET_FILE:gen_digits> ${CMAKE_SOURCE_DIR} ${KLC_TEST_SCRATCH}/inference_index32)
set_tests_properties(inference_index32 PROPERTIES LABELS "infer;deploy" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# The generated float sigmoid, tanh and exp (vectorizable, not libm's) swept
# against double libm: within 2 ulp (2.5 for sigmoid), NaN, infinities and
# the flush below FLT_MIN as documented (tests/infer/activations_check.c).
add_test(NAME activations_accuracy
  COMMAND sh -c "set -e; rm -rf \"$2\" && mkdir -p \"$2\" && cd \"$2\" && \"$0\" \"$1/activations.kl\" --inference --no-blas -o acts.c && \${CC:-cc} -std=c11 -O2 -Wall -Wextra -Wpedantic -Wconversion -Werror -I. \"$1/activations_check.c\" -lm -o check && ./check"
          $<TARGET_FILE:klc> ${CMAKE_CURRENT_SOURCE_DIR}/infer ${KLC_TEST_SCRATCH}/activations_accuracy)
set_tests_properties(activations_accuracy PROPERTIES LABELS "infer")

# The generated C is warning-free under clang too, at -O2 and with the
# sanitizers at -O1 (where clang vectorizes few loops and would report every
# KLC_IVDEP loop it does not as a warning, an error with -Werror).
find_program(KLC_CLANG clang)
if(KLC_CLANG)
  add_test(NAME generated_c_clang_warnings
    COMMAND sh -c "set -e; rm -rf \"$3\" && mkdir -p \"$3\" && cd \"$3\" && \"$0\" \"$2/examples/mnist.kl\" -o mnist.c && \"$0\" \"$2/examples/timeseries_lstm.kl\" --model forecast --inference -o ts.c && for o in -O2 asan; do f=$o; [ $o = asan ] && f=\"-O1 -fsanitize=address,undefined\"; \"$1\" -std=c11 $f -Wall -Wextra -Wpedantic -Werror -I\"$2/runtime/include\" $(pkg-config --cflags openblas) -c mnist.c -o mnist.o && \"$1\" -std=c11 $f -Wall -Wextra -Wpedantic -Werror -c ts.c -o ts.o; done"
            $<TARGET_FILE:klc> ${KLC_CLANG} ${PROJECT_SOURCE_DIR} ${KLC_TEST_SCRATCH}/generated_c_clang_warnings)
  set_tests_properties(generated_c_clang_warnings PROPERTIES LABELS "infer")
endif()
