# klc_add_model(<target> <model.kl>
#               [MAIN] [INFERENCE] [NO_BLAS] [NO_WARNINGS] [DATA_PARALLEL]
#               [WEIGHTS <file.safetensors>] [MODEL <name>]
#               [OUTPUT_NAME <base>] [BATCH_CAPACITY <n>])
#
# Compiles a .kl file with klc as part of the build.
#   default      training code (<base>.c/.h) in a static library <target>,
#                linked with the klc runtime: use <model>_def with klc/runtime.h
#   MAIN         the trainer program instead: an executable <target>
#   INFERENCE    the standalone forward pass (no klc runtime, no malloc);
#                WEIGHTS embeds trained weights, NO_BLAS uses plain loops
#   NO_WARNINGS  klc -w: the build prints no warnings about the .kl file
#   DATA_PARALLEL  klc --data-parallel: training code that fit can run over
#                MPI ranks (docs/distributed.md); not with INFERENCE
# The generated sources go to the current binary directory, which is added to
# the target's include path.  Needs KLC_EXECUTABLE (the klc program) and the
# target klc::runtime (or klc_runtime in klc's own build).
function(klc_add_model target source)
  cmake_parse_arguments(K "MAIN;INFERENCE;NO_BLAS;NO_WARNINGS;DATA_PARALLEL" "WEIGHTS;MODEL;OUTPUT_NAME;BATCH_CAPACITY" "" ${ARGN})
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "C" IN_LIST languages)
    # find_package(klc) enables C; this is an include() of this file alone
    message(FATAL_ERROR "klc_add_model(${target}): the generated code is C, and this project has not "
                        "enabled C: add it to project(... LANGUAGES C CXX), or call enable_language(C) "
                        "before klc_add_model")
  endif()
  get_filename_component(src "${source}" ABSOLUTE)
  if(K_OUTPUT_NAME)
    set(base "${K_OUTPUT_NAME}")
  else()
    get_filename_component(base "${source}" NAME_WE)
  endif()
  set(out_c "${CMAKE_CURRENT_BINARY_DIR}/${base}.c")
  set(out_h "${CMAKE_CURRENT_BINARY_DIR}/${base}.h")
  # klc runs in the source directory on the path relative to it, so the
  # generated files name the .kl file the same way in every checkout (no
  # absolute path of this machine in them)
  file(RELATIVE_PATH rel "${CMAKE_CURRENT_SOURCE_DIR}" "${src}")
  set(args "${rel}" -o "${out_c}")
  set(deps "${src}")
  if(K_MODEL)
    list(APPEND args --model "${K_MODEL}")
  endif()
  if(K_NO_WARNINGS)
    list(APPEND args -w)
  endif()
  if(K_INFERENCE)
    list(APPEND args --inference)
    if(K_WEIGHTS)
      get_filename_component(w "${K_WEIGHTS}" ABSOLUTE)
      list(APPEND args --weights "${w}")
      list(APPEND deps "${w}")
    endif()
    if(K_NO_BLAS)
      list(APPEND args --no-blas)
    endif()
    if(K_BATCH_CAPACITY)
      list(APPEND args --batch-capacity "${K_BATCH_CAPACITY}")
    endif()
  elseif(K_MAIN)
    list(APPEND args --main)
  endif()
  if(K_DATA_PARALLEL)
    list(APPEND args --data-parallel)
  endif()
  if(TARGET klc)
    set(klc_cmd $<TARGET_FILE:klc>)
    list(APPEND deps klc)
  else()
    set(klc_cmd "${KLC_EXECUTABLE}")
  endif()
  add_custom_command(
    OUTPUT "${out_c}" "${out_h}"
    COMMAND ${klc_cmd} ${args}
    DEPENDS ${deps}
    WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
    COMMENT "klc ${source}"
    VERBATIM)
  if(TARGET klc_runtime)
    set(runtime klc_runtime)
  else()
    set(runtime klc::runtime)
  endif()
  if(K_MAIN)
    add_executable(${target} "${out_c}")
    target_link_libraries(${target} PRIVATE ${runtime})
  else()
    add_library(${target} STATIC "${out_c}")
    if(K_INFERENCE)
      if(NOT K_NO_BLAS)
        if(TARGET PkgConfig::OPENBLAS)
          target_link_libraries(${target} PUBLIC PkgConfig::OPENBLAS)
        else()
          target_link_libraries(${target} PUBLIC ${runtime})
        endif()
      endif()
      target_link_libraries(${target} PUBLIC m)
    else()
      target_link_libraries(${target} PUBLIC ${runtime})
    endif()
  endif()
  target_include_directories(${target} PUBLIC "${CMAKE_CURRENT_BINARY_DIR}")
  # Generated loops vectorize only without C's math errno (sqrtf in the
  # optimizers) and trapping-math semantics (comparisons in gradient masks);
  # klc's code relies on neither.  Optimise even in builds that chose no
  # build type.
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -fno-math-errno -fno-trapping-math)
    if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
      target_compile_options(${target} PRIVATE -O2)
    endif()
  endif()
endfunction()
