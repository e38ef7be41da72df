# The IR's shared walkers and whole-function utilities (compiler/ir/ir.h's
# scalar_visit and scalar_remap, compiler/ir/ir_util.h) on hand-built trees
# and functions.
klc_unit_test(test_ir_util SOURCES test_ir_util.c LIBS klc_compiler LABELS ir)
