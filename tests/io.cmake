# The runtime's file I/O: tensors, .npy, CSV, IDX, data-file dispatch, JSON,
# safetensors and atomic writes (runtime/{tensor,npy,csv,idx,data,json,
# safetensors,fileio}.c).  The tests also reach internal headers in runtime/.
foreach(t json npy csv idx safetensors)
  klc_unit_test(test_io_${t} SOURCES test_${t}.c LIBS klc_runtime LABELS io)
  target_include_directories(test_io_${t} PRIVATE ${PROJECT_SOURCE_DIR}/runtime)
endforeach()
