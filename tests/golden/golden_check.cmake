# golden_check.cmake — run klc on one golden file and compare with its .expected.
#
#   cmake -DKLC=path/to/klc -DINPUT=name.kl -DEXPECTED=/abs/name.expected
#         -DMODE=check|summary|dump-ast|dump-ir[=STAGE]|dot [-DACTUAL=/abs/scratch/name.actual]
#         -P golden_check.cmake
#
# Run it in the directory holding INPUT (ctest's WORKING_DIRECTORY), so the
# paths klc prints are the bare, stable file names.  What is compared:
#   check      klc INPUT --check: its stderr, then a last line "exit: N";
#              stdout must be empty;
#   summary    klc INPUT --summary: its stdout, then "exit: N"; stderr empty;
#   dump-ast   klc INPUT --dump-ast: likewise (and dump-ir, dump-ir=STAGE, dot).
# With KLC_UPDATE_GOLDEN=1 in the environment the .expected file is
# (re)written from what klc printed and the check passes.
cmake_minimum_required(VERSION 3.20)

foreach(var KLC INPUT EXPECTED MODE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "golden_check.cmake: -D${var}=... is required")
  endif()
endforeach()
# MODE is klc's flag without "--".
set(modes check summary dump-ast dump-ir dump-ir=check dump-ir=ad dump-ir=fuse dump-ir=plan dot)
if(NOT MODE IN_LIST modes)
  message(FATAL_ERROR "golden_check.cmake: unknown MODE '${MODE}'")
endif()
set(flag --${MODE})

execute_process(COMMAND "${KLC}" "${INPUT}" ${flag} --no-color
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)

# The compared text: the mode's stream, then the exit status.  Output on the
# other stream is a failure of its own (an ASan report, a stray message).
if(MODE STREQUAL "check")
  set(actual "${err}exit: ${rc}\n")
  set(other "${out}")
  set(other_name "standard output")
else()
  set(actual "${out}exit: ${rc}\n")
  set(other "${err}")
  set(other_name "standard error")
endif()

if("$ENV{KLC_UPDATE_GOLDEN}" STREQUAL "1")
  if(NOT other STREQUAL "")
    message("klc ${INPUT} ${flag} also wrote to ${other_name}; not updating ${EXPECTED}:\n${other}")
    message(FATAL_ERROR "golden test ${INPUT} (${MODE}) failed")
  endif()
  set(old "")
  if(EXISTS "${EXPECTED}")
    file(READ "${EXPECTED}" old)
  endif()
  if(NOT old STREQUAL actual)
    file(WRITE "${EXPECTED}" "${actual}")
    message(STATUS "updated ${EXPECTED}")
  endif()
  return()
endif()

if(NOT EXISTS "${EXPECTED}")
  message("no expected output ${EXPECTED}; klc ${INPUT} ${flag} printed:\n${actual}"
    "(create it with KLC_UPDATE_GOLDEN=1 ctest -L golden, or scripts/update-golden.sh)")
  message(FATAL_ERROR "golden test ${INPUT} (${MODE}) failed")
endif()
file(READ "${EXPECTED}" expected)

set(failed FALSE)
if(NOT other STREQUAL "")
  set(failed TRUE)
  message("klc ${INPUT} ${flag} wrote to ${other_name}, which should be empty:\n${other}")
endif()

if(NOT actual STREQUAL expected)
  set(failed TRUE)
  # Report the first differing line.  Lines are split by hand: the text holds
  # ';' and brackets, which CMake lists would mangle.
  string(ASCII 1 SEMI)
  string(ASCII 2 LBR)
  string(ASCII 3 RBR)
  foreach(which expected actual)
    string(REPLACE ";" "${SEMI}" t "${${which}}")
    string(REPLACE "[" "${LBR}" t "${t}")
    string(REPLACE "]" "${RBR}" t "${t}")
    string(REPLACE "\n" ";" t "${t}")
    set(${which}_lines "${t}")
  endforeach()
  list(LENGTH expected_lines ne)
  list(LENGTH actual_lines na)
  set(line 0)
  while(line LESS ne OR line LESS na)
    set(e "<end of file>")
    set(a "<end of file>")
    if(line LESS ne)
      list(GET expected_lines ${line} e)
    endif()
    if(line LESS na)
      list(GET actual_lines ${line} a)
    endif()
    if(NOT e STREQUAL a)
      break()
    endif()
    math(EXPR line "${line} + 1")
  endwhile()
  math(EXPR shown "${line} + 1")
  foreach(which e a)
    string(REPLACE "${SEMI}" ";" ${which} "${${which}}")
    string(REPLACE "${LBR}" "[" ${which} "${${which}}")
    string(REPLACE "${RBR}" "]" ${which} "${${which}}")
  endforeach()
  message("klc ${INPUT} ${flag}: output differs from ${EXPECTED} at line ${shown}:\n"
    "  expected: ${e}\n"
    "  actual:   ${a}")
  # A unified diff when a diff program is at hand.
  find_program(DIFF diff)
  if(DIFF AND DEFINED ACTUAL)
    file(WRITE "${ACTUAL}" "${actual}")
    execute_process(COMMAND "${DIFF}" -u "${EXPECTED}" "${ACTUAL}" OUTPUT_VARIABLE d)
    message("${d}")
  else()
    message("--- expected\n${expected}--- actual\n${actual}")
  endif()
  message("(if the new output is right: KLC_UPDATE_GOLDEN=1 ctest -L golden, or scripts/update-golden.sh)")
endif()

if(failed)
  message(FATAL_ERROR "golden test ${INPUT} (${MODE}) failed")
endif()
