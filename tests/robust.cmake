# Robustness: the checker, in process, on thousands of malformed and extreme
# inputs (tests/test_robust.c); in the ASan build LeakSanitizer checks every
# batch of inputs for leaks.  Longer runs: KLC_ROBUST_SCALE=10 test_robust.
klc_unit_test(test_robust SOURCES test_robust.c LIBS klc_compiler LABELS robust)
set_tests_properties(test_robust PROPERTIES TIMEOUT 600)
