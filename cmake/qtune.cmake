# Helpers shared by every module's CMakeLists.txt.

# Aggregate initialisers that omit trailing members are idiomatic here.
set(QTUNE_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

# qtune_cc_library(NAME SRCS ... [PUBLIC_INCLUDES ...] [DEPS ...])
function(qtune_cc_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;PUBLIC_INCLUDES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${QTUNE_WARNINGS})
  target_include_directories(${name} PUBLIC ${ARG_PUBLIC_INCLUDES} ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# qtune_cc_test(NAME SRCS ... DEPS ...): a GoogleTest binary registered with ctest.
function(qtune_cc_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;PROPERTIES" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${QTUNE_WARNINGS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT ${ARG_TIMEOUT} ${ARG_PROPERTIES})
endfunction()
