# The compiler's include graph: stages depend one way only and modules
# include each other in no circle (test_layering.c; compiler/README.md).
klc_unit_test(test_layering SOURCES test_layering.c LABELS unit)
