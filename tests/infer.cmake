# The standalone inference file (klc --inference): agreement with the trainer,
# BLAS and plain paths, linking, C++ use (tests/infer/run.sh).
klc_add_model(infer_trainer ${CMAKE_CURRENT_SOURCE_DIR}/infer/model.kl MAIN OUTPUT_NAME infer_trainer)
add_executable(infer_make_data ${CMAKE_CURRENT_SOURCE_DIR}/infer/make_data.c)
target_link_libraries(infer_make_data PRIVATE klc_runtime)
add_test(NAME inference_file
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/infer/run.sh $<TARGET_FILE:klc> $<TARGET_FILE:infer_trainer>
          $<TARGET_FILE:infer_make_data> ${CMAKE_CURRENT_SOURCE_DIR}/infer ${KLC_TEST_SCRATCH}/inference_file)
set_tests_properties(inference_file PROPERTIES LABELS "infer;deploy" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
