# same_output.cmake — klc must be deterministic: compiling the same file twice
# gives byte-identical C.  (Run by ctest as klc_deterministic; pointer
# values differ between the runs under ASLR, so output that depends on
# addresses or on uninitialised memory shows up here.)
#
#   cmake -DKLC=path/to/klc -DSCRATCH=/abs/dir -DFILES="a.kl;b.kl" -P same_output.cmake
cmake_minimum_required(VERSION 3.20)
foreach(var KLC SCRATCH FILES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "same_output.cmake: -D${var}=... is required")
  endif()
endforeach()

set(failed FALSE)
foreach(kl IN LISTS FILES)
  get_filename_component(base ${kl} NAME_WE)
  set(dir ${SCRATCH}/${base})
  file(REMOVE_RECURSE ${dir})
  foreach(run a b)
    file(MAKE_DIRECTORY ${dir}/${run})
    execute_process(COMMAND ${KLC} ${kl} -o ${dir}/${run}/${base}.c RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "klc ${kl} failed (${rc}):\n${err}")
    endif()
    execute_process(COMMAND ${KLC} ${kl} --dump-ir OUTPUT_FILE ${dir}/${run}/${base}.ir
      RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "klc ${kl} --dump-ir failed (${rc}):\n${err}")
    endif()
  endforeach()
  foreach(ext c h ir)
    execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${dir}/a/${base}.${ext} ${dir}/b/${base}.${ext}
      RESULT_VARIABLE same)
    if(NOT same EQUAL 0)
      message("klc ${kl}: two runs wrote different ${base}.${ext} (see ${dir}/a and ${dir}/b)")
      set(failed TRUE)
    endif()
  endforeach()
endforeach()
if(failed)
  message(FATAL_ERROR "klc is not deterministic")
endif()
