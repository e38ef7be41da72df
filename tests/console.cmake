# Keras' console output: the progress bar and the model.summary() table.
# Golden files live in tests/data/console/ (found through $KLC_SOURCE_DIR).
klc_unit_test(test_progbar SOURCES test_progbar.c LIBS klc_runtime LABELS console)
klc_unit_test(test_summary SOURCES test_summary.c LIBS klc_runtime LABELS console)
