# Fuzz regression replay (tests/fuzz/): every harness, built with the
# project's compiler (no libFuzzer), runs on the files of
# tests/fuzz/regress/<harness>/ (each input a fuzzer once crashed on) and on
# seed inputs.  A crash, a sanitizer report (ASan build) or an internal
# error fails the test.  The libFuzzer build is -DKLC_FUZZ=ON with clang
# (scripts/fuzz.sh).
set(KLC_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
set(KLC_FUZZ_HARNESSES compile npy json csv idx safetensors load cli)
klc_add_model(fuzz_replay_fuzzed_model ${KLC_FUZZ_DIR}/fuzzed.kl OUTPUT_NAME fuzzed_model)
file(GLOB KLC_FUZZ_KL_SEEDS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/*.kl
     ${PROJECT_SOURCE_DIR}/tests/golden/*/*.kl)
list(SORT KLC_FUZZ_KL_SEEDS)
foreach(h IN LISTS KLC_FUZZ_HARNESSES)
  add_executable(fuzz_replay_${h} ${KLC_FUZZ_DIR}/replay.c ${KLC_FUZZ_DIR}/fuzz_${h}.c)
  target_include_directories(fuzz_replay_${h} PRIVATE ${KLC_FUZZ_DIR} ${PROJECT_SOURCE_DIR}/runtime)
  target_compile_options(fuzz_replay_${h} PRIVATE ${KLC_WARNINGS})
  if(h STREQUAL "compile")
    target_link_libraries(fuzz_replay_${h} PRIVATE klc_compiler)
    set(seeds ${KLC_FUZZ_KL_SEEDS})
  elseif(h STREQUAL "load" OR h STREQUAL "cli")
    target_link_libraries(fuzz_replay_${h} PRIVATE fuzz_replay_fuzzed_model klc_runtime)
    set(seeds ${KLC_FUZZ_DIR}/seeds/${h})
  else()
    target_link_libraries(fuzz_replay_${h} PRIVATE klc_runtime)
    set(seeds ${KLC_FUZZ_DIR}/seeds/${h})
  endif()
  add_test(NAME fuzz_regress.${h} COMMAND fuzz_replay_${h} ${KLC_FUZZ_DIR}/regress/${h} ${seeds})
  # the compile harness resolves imports beside ./fuzz.kl: the examples' imports resolve
  if(h STREQUAL "cli")
    # the trainer writes its data and outputs beside itself: a directory of its own
    file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz_cli_work)
    set_tests_properties(fuzz_regress.${h} PROPERTIES LABELS fuzz WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz_cli_work)
  else()
    set_tests_properties(fuzz_regress.${h} PROPERTIES LABELS fuzz WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/examples)
  endif()
  if(h STREQUAL "load")
    # libhdf5 asks for what a corrupted header says (regress/load/h5_object_header_2_9gb:
    # 2.9 GB): a failed malloc is its error path, as outside a sanitizer; and it loses
    # a few bytes of its own on some corrupted files (tests/keras/lsan.supp)
    set_tests_properties(fuzz_regress.${h} PROPERTIES ENVIRONMENT
      "ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1;LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/keras/lsan.supp")
  endif()
endforeach()
