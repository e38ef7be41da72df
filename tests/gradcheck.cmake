# Gradient checks of the compiler's derivatives (tests/gradcheck/README.md):
#
#   gradcheck_<name>          every model of tests/gradcheck/<name>.kl: derived
#                             gradients against finite differences (1e-6)
#   gradcheck_example_<name>  the same for every model of examples/<name>.kl
#   grad_exact                hand-computed gradients where finite differences
#                             cannot tell (max ties, repeated gather ids,
#                             stop_gradient, add_metric)
#   klc_deterministic         compiling a file twice gives identical C and IR
# (The IR golden tests, golden.ir.<name>, are registered by golden.cmake.)
#
# The generated C is compiled with -Werror so that emitter sloppiness fails
# the build.
set(KLC_GC_DIR ${CMAKE_CURRENT_SOURCE_DIR}/gradcheck)
set(KLC_GENERATED_C_FLAGS -std=c11 -Wall -Wextra -Wpedantic -Werror)

# klc_gradcheck_file(<name> <file.kl>): the test gradcheck_<name>.
function(klc_gradcheck_file name kl)
  string(MAKE_C_IDENTIFIER "gc_${name}" base)
  klc_add_model(${base}_model ${kl} OUTPUT_NAME ${base})
  target_compile_options(${base}_model PRIVATE ${KLC_GENERATED_C_FLAGS})
  string(MAKE_C_IDENTIFIER "gradcheck_${name}" test)
  klc_unit_test(${test} SOURCES test_gradcheck_ops.c LIBS ${base}_model LABELS gradcheck)
  target_compile_definitions(${test} PRIVATE KLC_GC_HEADER="${base}.h" KLC_GC_MODELS=${base}_models
                             KLC_GC_N_MODELS=${base}_n_models)
endfunction()

file(GLOB gc_inputs CONFIGURE_DEPENDS ${KLC_GC_DIR}/*.kl)
list(SORT gc_inputs)
foreach(kl IN LISTS gc_inputs)
  get_filename_component(name ${kl} NAME_WE)
  klc_gradcheck_file(${name} ${kl})
endforeach()

# Every example that declares a model (KLC_EXAMPLE_MODELS, tests/CMakeLists.txt).
foreach(kl IN LISTS KLC_EXAMPLE_MODELS)
  get_filename_component(name ${kl} NAME_WE)
  klc_gradcheck_file(example.${name} ${kl})
endforeach()

# Hand-computed gradients at ties, repeated ids, stop_gradient, add_metric.
klc_add_model(gc_exact_model ${KLC_GC_DIR}/exact/exact.kl OUTPUT_NAME gc_exact)
target_compile_options(gc_exact_model PRIVATE ${KLC_GENERATED_C_FLAGS})
klc_unit_test(test_grad_exact SOURCES test_grad_exact.c LIBS gc_exact_model LABELS gradcheck)

# klc is deterministic: every file above compiled twice gives the same C and IR.
add_test(NAME klc_deterministic
  COMMAND ${CMAKE_COMMAND} -DKLC=$<TARGET_FILE:klc> -DSCRATCH=${KLC_TEST_SCRATCH}/klc_deterministic
          "-DFILES=${gc_inputs};${KLC_EXAMPLE_MODELS};${KLC_GC_DIR}/exact/exact.kl" -P ${KLC_GC_DIR}/same_output.cmake)
set_tests_properties(klc_deterministic PROPERTIES LABELS gradcheck)
