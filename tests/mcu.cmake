# The inference file on a microcontroller: the MNIST convnet built for a
# Cortex-M4F with arm-none-eabi-gcc and run under qemu-system-arm, its
# generated self-test checking it against the host trainer's predictions
# (tests/mcu/run.sh; skipped where the cross tools are absent).
add_test(NAME mcu.cortex_m4
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/mcu/run.sh $<TARGET_FILE:klc> $<TARGET_FILE:mnist_train>
          $<TARGET_FILE:gen_digits> ${PROJECT_SOURCE_DIR} ${KLC_TEST_SCRATCH}/mcu.cortex_m4)
set_tests_properties(mcu.cortex_m4 PROPERTIES LABELS "deploy;mcu" SKIP_RETURN_CODE 77
  ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
