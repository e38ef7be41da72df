# The front end: scanner, parser, shapes and Keras' names, the diagnostics
# renderer (linked with klc_compiler), and the klc command line run as a
# program ($KLC_BINARY_DIR/compiler/klc).
foreach(part scanner parser shape diag)
  klc_unit_test(test_${part} SOURCES test_${part}.c LIBS klc_compiler LABELS frontend)
endforeach()
klc_unit_test(test_klc SOURCES test_klc.c LABELS frontend)
add_dependencies(test_klc klc)
