# The IR passes on programs built by hand (simplify, fuse, the memory plan,
# the GEMM classifier) and the IR verifier.
klc_unit_test(test_ir_passes SOURCES test_ir_passes.c LIBS klc_compiler LABELS ir)
klc_unit_test(test_quant SOURCES test_quant.c LIBS klc_compiler LABELS infer)
