# End-to-end tests of compiled models (tests/e2e/): .kl files compiled by klc
# during the build (klc_add_model), trained through the C API or the
# generated trainer program, and checked against Keras' numbers.
set(KLC_E2E_DIR ${CMAKE_CURRENT_SOURCE_DIR}/e2e)
add_library(klc_e2e_util STATIC e2e/e2e_util.c)
target_link_libraries(klc_e2e_util PUBLIC klc_test_util klc_runtime)
target_compile_options(klc_e2e_util PRIVATE ${KLC_WARNINGS})

# klc_e2e_test(<name> <model.kl>): test_<name>.c linked with the model
# compiled from e2e/<model.kl>; it may reach runtime internals (model.h).
# The models warn on purpose (a loss from a sigmoid's logits, an unused
# weight: the golden error tests check those messages), so the build
# compiles them with -w and a passing build prints nothing about them.
function(klc_e2e_test name kl)
  klc_add_model(e2e_${name}_model e2e/${kl} OUTPUT_NAME e2e_${name} NO_WARNINGS)
  klc_unit_test(test_e2e_${name} SOURCES e2e/test_${name}.c
    LIBS e2e_${name}_model klc_e2e_util LABELS e2e)
  target_include_directories(test_e2e_${name} PRIVATE ${KLC_E2E_DIR} ${PROJECT_SOURCE_DIR}/runtime)
endfunction()

klc_e2e_test(optimizers optimizers.kl)
klc_e2e_test(losses losses.kl)
klc_e2e_test(learn learn.kl)
klc_e2e_test(repro repro.kl)
klc_e2e_test(nograd nograd.kl)
klc_e2e_test(ids ids.kl)

# The seed program of the spec (examples/seed.kl) as a trainer program, run by
# test_trainer.c on .npy files.
klc_add_model(e2e_seed_trainer ${PROJECT_SOURCE_DIR}/examples/seed.kl MAIN OUTPUT_NAME e2e_seed)
klc_unit_test(test_e2e_trainer SOURCES e2e/test_trainer.c LIBS klc_e2e_util LABELS e2e)
target_include_directories(test_e2e_trainer PRIVATE ${KLC_E2E_DIR})
target_compile_definitions(test_e2e_trainer PRIVATE SEED_TRAINER="$<TARGET_FILE:e2e_seed_trainer>")
add_dependencies(test_e2e_trainer e2e_seed_trainer)

# Callbacks from the file's fit() reach the generated trainer (flags override them).
klc_add_model(e2e_callbacks_trainer e2e/callbacks.kl MAIN OUTPUT_NAME e2e_callbacks)
klc_unit_test(test_e2e_callbacks_file SOURCES e2e/test_callbacks_file.c LIBS klc_e2e_util LABELS e2e)
target_include_directories(test_e2e_callbacks_file PRIVATE ${KLC_E2E_DIR})
target_compile_definitions(test_e2e_callbacks_file PRIVATE CALLBACKS_TRAINER="$<TARGET_FILE:e2e_callbacks_trainer>")
add_dependencies(test_e2e_callbacks_file e2e_callbacks_trainer)
# ... the learning-rate callbacks, CSVLogger and a scheduled optimizer too
klc_add_model(e2e_lr_callbacks_trainer e2e/lr_callbacks.kl MAIN OUTPUT_NAME e2e_lr_callbacks)
klc_add_model(e2e_lr_schedule_trainer e2e/lr_schedule.kl MAIN OUTPUT_NAME e2e_lr_schedule)
target_compile_definitions(test_e2e_callbacks_file PRIVATE LR_TRAINER="$<TARGET_FILE:e2e_lr_callbacks_trainer>"
  SCHEDULE_TRAINER="$<TARGET_FILE:e2e_lr_schedule_trainer>")
add_dependencies(test_e2e_callbacks_file e2e_lr_callbacks_trainer e2e_lr_schedule_trainer)

# examples/timeseries_lstm.kl learns to forecast series the test generates
# (the LSTM's scan: a loop over the steps, BPTT, through the C API).
klc_add_model(e2e_timeseries_model ${PROJECT_SOURCE_DIR}/examples/timeseries_lstm.kl OUTPUT_NAME e2e_timeseries)
klc_unit_test(test_e2e_timeseries SOURCES e2e/test_timeseries.c LIBS e2e_timeseries_model klc_e2e_util LABELS e2e)
target_include_directories(test_e2e_timeseries PRIVATE ${KLC_E2E_DIR} ${PROJECT_SOURCE_DIR}/runtime)

# examples/text_transformer.kl (keras.io's transformer text classifier)
# learns to find a marker token in 200-token sequences (tests/e2e/test_transformer.c).
klc_add_model(e2e_transformer_model ${PROJECT_SOURCE_DIR}/examples/text_transformer.kl OUTPUT_NAME e2e_transformer)
klc_unit_test(test_e2e_transformer SOURCES e2e/test_transformer.c LIBS e2e_transformer_model klc_e2e_util LABELS e2e)
target_include_directories(test_e2e_transformer PRIVATE ${KLC_E2E_DIR} ${PROJECT_SOURCE_DIR}/runtime)
