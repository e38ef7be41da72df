# Data-parallel fit over MPI (tests/mpi/, docs/distributed.md), only when
# klc is configured with -DKLC_WITH_MPI=ON: the C API (klc_fit_mpi) and the
# trainer under mpirun with 2 and 3 ranks, against one process; failures on
# one rank stop every rank.  Ranks talk over shared memory and loopback only;
# mpirun as root needs Open MPI's two ALLOW_RUN_AS_ROOT variables.  Label `mpi`.
if(NOT KLC_WITH_MPI)
  return()
endif()
if(NOT MPIEXEC_EXECUTABLE)
  message(FATAL_ERROR "KLC_WITH_MPI: no mpiexec found for the tests (set MPIEXEC_EXECUTABLE)")
endif()

klc_add_model(mpi_dp_model mpi/dp.kl OUTPUT_NAME dp DATA_PARALLEL NO_WARNINGS)
klc_add_model(mpi_dp_trainer mpi/dp.kl OUTPUT_NAME dp_trainer MODEL dp_sgd MAIN DATA_PARALLEL NO_WARNINGS)
add_executable(test_mpi mpi/test_mpi.c)
target_link_libraries(test_mpi PRIVATE mpi_dp_model klc_runtime MPI::MPI_C m)
target_include_directories(test_mpi PRIVATE ${PROJECT_SOURCE_DIR}/runtime)
target_compile_options(test_mpi PRIVATE ${KLC_WARNINGS})

set(KLC_MPI_ENV
  "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_btl=self,vader"
  "OMPI_MCA_btl_vader_single_copy_mechanism=none;OMPI_MCA_oob_tcp_if_include=lo"
  "OMPI_MCA_btl_tcp_if_include=lo;OMPI_MCA_rmaps_base_oversubscribe=1"
  "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1")
# Open MPI's --oversubscribe: more ranks than this machine's cores.
set(KLC_MPIRUN ${MPIEXEC_EXECUTABLE} --oversubscribe)

foreach(np 2 3)
  foreach(mode api fail)
    set(name mpi.${mode}_np${np})
    set(dir ${KLC_TEST_SCRATCH}/${name})
    add_test(NAME ${name} COMMAND ${KLC_MPIRUN} -np ${np} $<TARGET_FILE:test_mpi> ${mode} ${dir})
    set_tests_properties(${name} PROPERTIES LABELS mpi TIMEOUT 120 ENVIRONMENT "${KLC_MPI_ENV}"
      PROCESSORS ${np})
    klc_fresh_scratch(${name} ${dir})
  endforeach()
  set(name mpi.trainer_np${np})
  set(dir ${KLC_TEST_SCRATCH}/${name})
  add_test(NAME ${name}
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/mpi/trainer_test.sh "${MPIEXEC_EXECUTABLE}" ${np}
            $<TARGET_FILE:mpi_dp_trainer> $<TARGET_FILE:e2e_seed_trainer> $<TARGET_FILE:test_mpi> ${dir})
  set_tests_properties(${name} PROPERTIES LABELS mpi TIMEOUT 180 ENVIRONMENT "${KLC_MPI_ENV}"
    PROCESSORS ${np})
  klc_fresh_scratch(${name} ${dir})
endforeach()
