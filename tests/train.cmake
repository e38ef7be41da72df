# Tests of the training runtime: initializers and models (test_init), fit /
# evaluate / predict and metrics (test_fit), callbacks (test_callbacks),
# weight files and exact resumption (test_checkpoint), gradient checking
# (test_gradcheck) and the trainer program (test_cli).  They run the
# hand-written models of fake_model.c and reach into runtime/ internals.
foreach(part init fit callbacks checkpoint gradcheck cli)
  klc_unit_test(test_${part} SOURCES test_${part}.c fake_model.c LIBS klc_runtime LABELS train)
  target_include_directories(test_${part} PRIVATE ${PROJECT_SOURCE_DIR}/runtime)
endforeach()
