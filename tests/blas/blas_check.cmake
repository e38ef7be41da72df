# blas_check.cmake — the BLAS calls of a model's generated training step.
#
#   cmake -DKLC=klc -DINPUT=name.kl -DEXPECTED=name.expected -DACTUAL=scratch/name.c
#         -P blas_check.cmake
#
# Compiles INPUT, keeps the lines of its train step that call BLAS or open
# the loops around such calls (the products klc maps to cblas_sgemm, with
# their shapes, transposes, leading dimensions and pointer offsets), and
# compares them with EXPECTED.  KLC_UPDATE_GOLDEN=1 rewrites EXPECTED.
execute_process(COMMAND "${KLC}" "${INPUT}" -o "${ACTUAL}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "klc ${INPUT} failed (${rc}):\n${err}")
endif()
file(STRINGS "${ACTUAL}" lines)
set(step OFF)
set(out "")
foreach(line IN LISTS lines)
  if(line MATCHES "^KLC_CLONES static void [a-z_0-9]*_train_step\\(")
    set(step ON)
  elseif(step AND line MATCHES "^}")
    set(step OFF)
  elseif(step AND line MATCHES "cblas_|for \\(int64_t b[0-9]* = 0")
    string(STRIP "${line}" line)
    string(APPEND out "${line}\n")
  endif()
endforeach()
if("$ENV{KLC_UPDATE_GOLDEN}" STREQUAL "1")
  file(WRITE "${EXPECTED}" "${out}")
  return()
endif()
if(NOT EXISTS "${EXPECTED}")
  message(FATAL_ERROR "no expected output ${EXPECTED} (KLC_UPDATE_GOLDEN=1 writes it)")
endif()
file(READ "${EXPECTED}" want)
if(NOT want STREQUAL out)
  file(WRITE "${ACTUAL}.calls" "${out}")
  message(FATAL_ERROR "the BLAS calls of ${INPUT} differ from ${EXPECTED}:\n${out}")
endif()
