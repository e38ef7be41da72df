# Generated C for unusual models must compile with -Wall -Wextra -Wpedantic
# -Werror (tests/emit/*.kl): the build itself is the test, plus a trainer run.
file(GLOB KLC_EMIT_CASES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/emit/*.kl)
foreach(case IN LISTS KLC_EMIT_CASES)
  get_filename_component(name ${case} NAME_WE)
  klc_add_model(emit_${name} ${case} OUTPUT_NAME emit_${name})
  target_compile_options(emit_${name} PRIVATE -Wall -Wextra -Wpedantic -Werror)
endforeach()
add_executable(test_emit_weightless ${CMAKE_CURRENT_SOURCE_DIR}/emit/test_weightless.c)
target_link_libraries(test_emit_weightless PRIVATE emit_weightless klc_runtime)
add_test(NAME emit.weightless COMMAND test_emit_weightless)
set_tests_properties(emit.weightless PROPERTIES LABELS "emit")
