# Installation and packaging (docs/building.md): `cmake --install` into a
# scratch prefix, then a trainer built by hand with the one pkg-config line,
# and examples/cmake-project configured and built against the installed
# CMake package.  The install is a fixture the two others need.
set(KLC_INSTALL_SCRATCH ${CMAKE_CURRENT_BINARY_DIR}/install)
set(KLC_INSTALL_PREFIX ${KLC_INSTALL_SCRATCH}/prefix)
set(KLC_INSTALL_TEST ${CMAKE_CURRENT_SOURCE_DIR}/e2e/install_test.sh)
if(KLC_SANITIZE)
  set(KLC_INSTALL_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer)
else()
  set(KLC_INSTALL_FLAGS)
endif()

add_test(NAME install.prefix
  COMMAND sh ${KLC_INSTALL_TEST} install ${PROJECT_BINARY_DIR} ${KLC_INSTALL_PREFIX})
add_test(NAME install.pkg_config
  COMMAND sh ${KLC_INSTALL_TEST} pkg-config ${KLC_INSTALL_PREFIX} ${CMAKE_INSTALL_LIBDIR}
          ${KLC_INSTALL_SCRATCH}/by-hand ${PROJECT_SOURCE_DIR}/examples/seed.kl ${KLC_INSTALL_FLAGS})
add_test(NAME install.cmake_project
  COMMAND sh ${KLC_INSTALL_TEST} cmake-project ${KLC_INSTALL_PREFIX} ${CMAKE_INSTALL_LIBDIR}
          ${KLC_INSTALL_SCRATCH}/cmake-project ${PROJECT_SOURCE_DIR}/examples/cmake-project
          ${KLC_INSTALL_FLAGS})
add_test(NAME install.cxx_project
  COMMAND sh ${KLC_INSTALL_TEST} cxx-project ${KLC_INSTALL_PREFIX} ${CMAKE_INSTALL_LIBDIR}
          ${KLC_INSTALL_SCRATCH}/cxx-project ${PROJECT_SOURCE_DIR}/examples/cmake-project-cxx
          ${KLC_INSTALL_FLAGS})
set_tests_properties(install.prefix PROPERTIES FIXTURES_SETUP klc_installed LABELS install)
set_tests_properties(install.pkg_config install.cmake_project install.cxx_project PROPERTIES
  FIXTURES_REQUIRED klc_installed LABELS install)
