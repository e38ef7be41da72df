# Golden-file tests of the compiler's user-facing output (tests/golden/README.md):
#   golden/errors/NAME.kl    klc NAME.kl --check: stderr and exit status
#   golden/summary/NAME.kl   klc NAME.kl --summary: stdout and exit status
#   golden/ast/NAME.kl       klc NAME.kl --dump-ast: stdout and exit status
#   golden/dot/NAME.kl       klc NAME.kl --dot: stdout and exit status
#   golden/ir/NAME.kl        klc NAME.kl --dump-ir: stdout (KIR: forward, loss,
#                            derived backward pass) and exit status
#   golden/stages/NAME.kl    klc NAME.kl --dump-ir=STAGE for each stage (check,
#                            ad, fuse, plan): stdout and exit status, compared
#                            with NAME.STAGE.expected
# each compared with NAME.expected by golden/golden_check.cmake, run in the
# file's directory so the paths in messages are bare file names.
# KLC_UPDATE_GOLDEN=1 ctest -L golden rewrites the .expected files.
set(KLC_GOLDEN_DIR ${CMAKE_CURRENT_SOURCE_DIR}/golden)
set(KLC_GOLDEN_SCRATCH ${CMAKE_CURRENT_BINARY_DIR}/golden)
file(MAKE_DIRECTORY ${KLC_GOLDEN_SCRATCH})

# kind:mode pairs; the mode is klc's flag without "--".
foreach(pair errors:check summary:summary ast:dump-ast dot:dot ir:dump-ir)
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 kind)
  list(GET pair 1 mode)
  file(GLOB golden_inputs CONFIGURE_DEPENDS ${KLC_GOLDEN_DIR}/${kind}/*.kl)
  list(SORT golden_inputs)
  foreach(input IN LISTS golden_inputs)
    get_filename_component(name ${input} NAME_WE)
    add_test(NAME golden.${kind}.${name}
      COMMAND ${CMAKE_COMMAND} -DKLC=$<TARGET_FILE:klc> -DINPUT=${name}.kl
              -DEXPECTED=${KLC_GOLDEN_DIR}/${kind}/${name}.expected -DMODE=${mode}
              -DACTUAL=${KLC_GOLDEN_SCRATCH}/${kind}.${name}.actual
              -P ${KLC_GOLDEN_DIR}/golden_check.cmake
      WORKING_DIRECTORY ${KLC_GOLDEN_DIR}/${kind})
    set_tests_properties(golden.${kind}.${name} PROPERTIES LABELS "golden;golden-${kind}")
  endforeach()
endforeach()

# The IR after each stage of one file.
file(GLOB golden_inputs CONFIGURE_DEPENDS ${KLC_GOLDEN_DIR}/stages/*.kl)
list(SORT golden_inputs)
foreach(input IN LISTS golden_inputs)
  get_filename_component(name ${input} NAME_WE)
  foreach(stage check ad fuse plan)
    add_test(NAME golden.stages.${name}.${stage}
      COMMAND ${CMAKE_COMMAND} -DKLC=$<TARGET_FILE:klc> -DINPUT=${name}.kl
              -DEXPECTED=${KLC_GOLDEN_DIR}/stages/${name}.${stage}.expected -DMODE=dump-ir=${stage}
              -DACTUAL=${KLC_GOLDEN_SCRATCH}/stages.${name}.${stage}.actual
              -P ${KLC_GOLDEN_DIR}/golden_check.cmake
      WORKING_DIRECTORY ${KLC_GOLDEN_DIR}/stages)
    set_tests_properties(golden.stages.${name}.${stage} PROPERTIES LABELS "golden;golden-stages")
  endforeach()
endforeach()

# The checker itself must be able to fail.  Each self-test feeds it a case
# that must be refused and passes only if the refusal says why.
function(klc_golden_selftest case mode pass_regex)
  add_test(NAME golden.selftest.${case}
    COMMAND ${CMAKE_COMMAND} -DKLC=$<TARGET_FILE:klc> -DINPUT=${case}.kl
            -DEXPECTED=${KLC_GOLDEN_DIR}/selftest/${case}.expected -DMODE=${mode}
            -P ${KLC_GOLDEN_DIR}/golden_check.cmake
    WORKING_DIRECTORY ${KLC_GOLDEN_DIR}/selftest)
  # never rewritten by an update run
  set_tests_properties(golden.selftest.${case} PROPERTIES ENVIRONMENT "KLC_UPDATE_GOLDEN=0"
    PASS_REGULAR_EXPRESSION "${pass_regex}" LABELS "golden;golden-selftest")
endfunction()
klc_golden_selftest(wrong_message check "differs from [^ ]*wrong_message.expected at line 1:")
klc_golden_selftest(wrong_exit check "differs from [^ ]*wrong_exit.expected at line 4:")
klc_golden_selftest(missing_expected check "no expected output [^ ]*missing_expected.expected")
klc_golden_selftest(stderr_in_summary summary "wrote to standard error, which should be empty")
