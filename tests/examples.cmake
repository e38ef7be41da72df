# Every example under examples/ must check (klc FILE --check exits 0), and
# every one that defines models must print their summaries (--summary).
file(GLOB KLC_EXAMPLES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/*.kl)
list(SORT KLC_EXAMPLES)
set(KLC_EXAMPLE_LIBRARIES layers)  # imported by other examples; no model of their own
foreach(example IN LISTS KLC_EXAMPLES)
  get_filename_component(name ${example} NAME_WE)
  add_test(NAME example.${name}.check COMMAND klc ${example} --check)
  set_tests_properties(example.${name}.check PROPERTIES LABELS "examples")
  if(NOT name IN_LIST KLC_EXAMPLE_LIBRARIES)
    add_test(NAME example.${name}.summary COMMAND klc ${example} --summary)
    set_tests_properties(example.${name}.summary PROPERTIES LABELS "examples"
      PASS_REGULAR_EXPRESSION "Total params: ")
    # PASS_REGULAR_EXPRESSION alone ignores the exit status: fail on any error too
    set_tests_properties(example.${name}.summary PROPERTIES FAIL_REGULAR_EXPRESSION "error:|defines no model")
  endif()
endforeach()
