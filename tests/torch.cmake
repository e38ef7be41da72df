# Layers against PyTorch (tests/torch/klc_torch.py): one test per case file
# tests/torch/cases_*.py.  They need a Python 3 with torch (Debian's
# python3-torch, which scripts/install-deps.sh installs); without one each
# test is skipped (exit 77) with a message saying so.
find_program(KLC_TORCH_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT KLC_TORCH_PYTHON)
  find_program(KLC_TORCH_PYTHON NAMES python3)
endif()
file(GLOB klc_torch_cases CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/torch/cases_*.py)
list(SORT klc_torch_cases)
set(klc_torch_cflags "")
# libklc.a's own dependencies beyond OpenBLAS: HDF5 and libzip when it was built with them
set(klc_torch_libs "")
if(KLC_HAVE_HDF5)
  string(JOIN " " klc_torch_libs ${HDF5_LINK_LIBRARIES})
  if(KLC_HAVE_ZIP)
    string(JOIN " " klc_torch_libs ${klc_torch_libs} ${LIBZIP_LINK_LIBRARIES})
  endif()
endif()
if(KLC_SANITIZE)
  set(klc_torch_cflags "-fsanitize=address,undefined -fno-omit-frame-pointer")
endif()
# A runtime built with MPI (KLC_WITH_MPI) needs MPI's libraries after libklc.a too.
if(KLC_WITH_MPI)
  string(JOIN " " klc_torch_libs ${klc_torch_libs} ${MPI_C_LIBRARIES})
endif()
foreach(py IN LISTS klc_torch_cases)
  get_filename_component(module ${py} NAME_WE)
  set(test torch.${module})
  if(KLC_TORCH_PYTHON)
    add_test(NAME ${test} COMMAND ${KLC_TORCH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/torch/klc_torch.py ${module})
  else()
    add_test(NAME ${test} COMMAND sh -c "echo 'skipped: no python3'; exit 77")
  endif()
  set_tests_properties(${test} PROPERTIES SKIP_RETURN_CODE 77 LABELS torch
    ENVIRONMENT "KLC=$<TARGET_FILE:klc>;KLC_SOURCE_DIR=${PROJECT_SOURCE_DIR};KLC_BINARY_DIR=${PROJECT_BINARY_DIR};KLC_TEST_TMPDIR=${KLC_TEST_SCRATCH}/${test};KLC_TORCH_CFLAGS=${klc_torch_cflags};KLC_RUNTIME_LIBS=${klc_torch_libs}")
  klc_fresh_scratch(${test} ${KLC_TEST_SCRATCH}/${test})
endforeach()
