# Faults survived (tests/faults/run.sh, docs/reliability.md): kill -9 during
# checkpointed training, a full disk during a save, NaN/Inf data and an
# exploding learning rate, hostile data files and .kl sources.
klc_add_model(faults_trainer ${CMAKE_CURRENT_SOURCE_DIR}/faults/model.kl MAIN OUTPUT_NAME faults_trainer)
klc_add_model(faults_explode ${CMAKE_CURRENT_SOURCE_DIR}/faults/explode.kl MAIN OUTPUT_NAME faults_explode)
add_test(NAME faults
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/faults/run.sh $<TARGET_FILE:klc> $<TARGET_FILE:faults_trainer>
          $<TARGET_FILE:faults_explode> $<TARGET_FILE:infer_make_data> ${KLC_TEST_SCRATCH}/faults $<BOOL:${KLC_SANITIZE}>)
set_tests_properties(faults PROPERTIES LABELS "faults" TIMEOUT 300 ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
