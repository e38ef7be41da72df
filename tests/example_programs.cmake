# The README's "train from C" program (examples/train_from_c.c) runs: fit,
# evaluate, save, reload, and the reloaded model predicts identically.
add_test(NAME example.train_from_c COMMAND train_from_c ${KLC_TEST_SCRATCH})
set_tests_properties(example.train_from_c PROPERTIES LABELS "examples;e2e" ENVIRONMENT "OPENBLAS_NUM_THREADS=1"
  PASS_REGULAR_EXPRESSION "reloaded model predicts identically")
file(MAKE_DIRECTORY ${KLC_TEST_SCRATCH})
