# The device build (QTUNE_DEVICE_ONLY, e.g. scripts/build-aarch64.sh): the
# agent, the kernels and their tests, linked statically. Included from the
# top-level CMakeLists.txt after the find_package() calls.

# Debian ships no static libpthreadpool for arm64 (and its arm64 -dev package
# cannot be installed next to the amd64 one): use the header of the host
# package and a small implementation of the few entry points the kernels use.
add_library(qtune_pthreadpool_lite STATIC ${CMAKE_SOURCE_DIR}/kernels/src/pthreadpool_lite.cc)
target_compile_options(qtune_pthreadpool_lite PRIVATE ${QTUNE_WARNINGS})
target_include_directories(qtune_pthreadpool_lite PRIVATE ${PTHREADPOOL_INCLUDE})
target_link_libraries(qtune_pthreadpool_lite PRIVATE Threads::Threads)
set(PTHREADPOOL_LIB qtune_pthreadpool_lite)

# Imported targets of CMake packages (gRPC, absl, re2, c-ares) name shared
# libraries; point them at the static archives next to them.
function(qtune_prefer_static_archives)
  get_directory_property(imported DIRECTORY ${CMAKE_SOURCE_DIR} IMPORTED_TARGETS)
  foreach(target IN LISTS imported)
    get_target_property(type ${target} TYPE)
    if(NOT type MATCHES "SHARED_LIBRARY|UNKNOWN_LIBRARY|STATIC_LIBRARY")
      continue()
    endif()
    foreach(prop IMPORTED_LOCATION IMPORTED_LOCATION_RELEASE IMPORTED_LOCATION_NONE
                 IMPORTED_LOCATION_RELWITHDEBINFO IMPORTED_LOCATION_DEBUG)
      get_target_property(location ${target} ${prop})
      if(location AND location MATCHES "\\.so(\\.[0-9.]+)?$")
        string(REGEX REPLACE "\\.so(\\.[0-9.]+)?$" ".a" archive "${location}")
        if(EXISTS "${archive}")
          set_target_properties(${target} PROPERTIES ${prop} "${archive}")
          if(type STREQUAL "SHARED_LIBRARY")
            # IMPORTED_SONAME would make CMake link it as a shared object.
            set_target_properties(${target} PROPERTIES IMPORTED_NO_SONAME TRUE)
          endif()
        endif()
      endif()
    endforeach()
  endforeach()
endfunction()
qtune_prefer_static_archives()
add_link_options(-static)
# CMake brackets archives with -Bstatic/-Bdynamic; end static so that libc is too.
set(CMAKE_LINK_SEARCH_START_STATIC ON)
set(CMAKE_LINK_SEARCH_END_STATIC ON)
