# Memcheck of the compiler, the trainer and the inference file
# (tests/valgrind/run.sh), where valgrind is installed; label `valgrind`.
# Not in the sanitizer build (ASan and valgrind do not mix).
find_program(KLC_VALGRIND valgrind)
if(KLC_VALGRIND AND NOT KLC_SANITIZE)
  add_test(NAME valgrind.memcheck
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/valgrind/run.sh $<TARGET_FILE:klc> $<TARGET_FILE:infer_trainer>
            $<TARGET_FILE:infer_make_data> ${CMAKE_CURRENT_SOURCE_DIR}/infer ${KLC_TEST_SCRATCH}/valgrind)
  set_tests_properties(valgrind.memcheck PROPERTIES LABELS valgrind TIMEOUT 900)
endif()
