# The BLAS mapping of contractions (tests/blas/): for each NAME.kl, the
# cblas calls of its generated train step, compared with NAME.expected by
# blas/blas_check.cmake (KLC_UPDATE_GOLDEN=1 rewrites them).
file(GLOB KLC_BLAS_CASES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/blas/*.kl)
foreach(case IN LISTS KLC_BLAS_CASES)
  get_filename_component(name ${case} NAME_WE)
  add_test(NAME blas.${name}
    COMMAND ${CMAKE_COMMAND} -DKLC=$<TARGET_FILE:klc> -DINPUT=${case}
            -DEXPECTED=${CMAKE_CURRENT_SOURCE_DIR}/blas/${name}.expected
            -DACTUAL=${KLC_TEST_SCRATCH}/blas_${name}.c
            -P ${CMAKE_CURRENT_SOURCE_DIR}/blas/blas_check.cmake)
  set_tests_properties(blas.${name} PROPERTIES LABELS "golden;blas")
endforeach()
