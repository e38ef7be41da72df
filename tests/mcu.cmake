# The inference files on a microcontroller: the MNIST convnet built for a
# Cortex-M4F with arm-none-eabi-gcc and run under qemu-system-arm
# (tests/mcu/run.sh; skipped where the cross tools are absent).
#   mcu.cortex_m4: the float file with int64 and int32 indices, its generated
#     self-test checking it against the host trainer's predictions;
#   mcu.cortex_m4_int8: the int8 file, its outputs against the same file
#     built for the host.
foreach(kind float int8)
  if(kind STREQUAL "float")
    set(name mcu.cortex_m4)
  else()
    set(name mcu.cortex_m4_${kind})
  endif()
  add_test(NAME ${name}
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/mcu/run.sh $<TARGET_FILE:klc> $<TARGET_FILE:mnist_train>
            $<TARGET_FILE:gen_digits> ${PROJECT_SOURCE_DIR} ${KLC_TEST_SCRATCH}/${name} ${kind})
  set_tests_properties(${name} PROPERTIES LABELS "deploy;mcu" SKIP_RETURN_CODE 77
    ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()
