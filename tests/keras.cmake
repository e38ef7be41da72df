# Keras 3 weight files (runtime/keras_h5.c): tests/keras/keras_h5.py writes
# .weights.h5 files and .keras archives in Keras' layout with h5py, and runs
# one converter per model of tests/keras/models.kl (convert.c: load a file,
# save another) on them; a sanitized build sanitizes the converters.  Needs
# the runtime built with HDF5 and libzip and a Python 3 with h5py (Debian's
# libhdf5-dev, libzip-dev, python3-h5py: scripts/install-deps.sh); without
# them the test is skipped (exit 77) with a message saying so, unless
# KLC_REQUIRE_KERAS_H5=1 (scripts/test.sh in CI) makes that a failure.
find_program(KLC_KERAS_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT KLC_KERAS_PYTHON)
  find_program(KLC_KERAS_PYTHON NAMES python3)
endif()
set(klc_keras_dir ${CMAKE_CURRENT_BINARY_DIR}/keras)
foreach(model mlp cnn rnn nested)
  klc_add_model(keras_${model}_model keras/models.kl MODEL ${model} OUTPUT_NAME keras_${model} NO_WARNINGS)
  add_executable(keras_convert_${model} keras/convert.c)
  target_link_libraries(keras_convert_${model} PRIVATE keras_${model}_model klc_runtime)
  target_compile_definitions(keras_convert_${model} PRIVATE KLC_TEST_HEADER="keras_${model}.h"
                             KLC_TEST_MODEL=${model}_def)
  target_compile_options(keras_convert_${model} PRIVATE ${KLC_WARNINGS})
  set_target_properties(keras_convert_${model} PROPERTIES OUTPUT_NAME convert_${model}
                        RUNTIME_OUTPUT_DIRECTORY ${klc_keras_dir})
endforeach()
set(test keras.weights_h5)
if(KLC_HAVE_HDF5 AND KLC_HAVE_ZIP AND KLC_KERAS_PYTHON)
  add_test(NAME ${test} COMMAND ${KLC_KERAS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/keras/keras_h5.py)
else()
  add_test(NAME ${test} COMMAND sh -c "echo 'skipped: klc was built without HDF5 or libzip, or there is no python3'; [ \"$KLC_REQUIRE_KERAS_H5\" = 1 ] && exit 1; exit 77")
endif()
set_tests_properties(${test} PROPERTIES SKIP_RETURN_CODE 77 LABELS "io;keras"
  ENVIRONMENT "KLC=$<TARGET_FILE:klc>;KLC_KERAS_CONVERT=${klc_keras_dir};KLC_TEST_TMPDIR=${KLC_TEST_SCRATCH}/${test}")
klc_fresh_scratch(${test} ${KLC_TEST_SCRATCH}/${test})
