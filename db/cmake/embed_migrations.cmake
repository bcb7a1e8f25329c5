# Turns the ordered migration files into a C++ source file.
#   cmake -DOUTPUT=<file.cc> -DINPUTS=<a.sql|b.sql|...> -P embed_migrations.cmake
# Each input must be named NNNN_name.sql; numbers start at 0001 and have no
# gaps. The SQL is embedded verbatim as a raw string literal.
if(NOT OUTPUT OR NOT INPUTS)
  message(FATAL_ERROR "embed_migrations: OUTPUT and INPUTS are required")
endif()
string(REPLACE "|" ";" inputs "${INPUTS}")

set(delim "qtune_sql")
set(body "")
set(expected 1)
foreach(file IN LISTS inputs)
  get_filename_component(name "${file}" NAME)
  if(NOT name MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "embed_migrations: ${name}: expected NNNN_name.sql")
  endif()
  set(number "${CMAKE_MATCH_1}")
  set(label "${CMAKE_MATCH_2}")
  math(EXPR version "${number}")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "embed_migrations: ${name}: expected migration number ${expected}")
  endif()
  file(READ "${file}" sql)
  string(FIND "${sql}" ")${delim}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "embed_migrations: ${name} contains the delimiter )${delim}\"")
  endif()
  string(APPEND body "    {${version}, \"${label}\", R\"${delim}(${sql})${delim}\"},\n")
  math(EXPR expected "${expected} + 1")
endforeach()

set(content "// Generated from db/migrations/*.sql by db/cmake/embed_migrations.cmake.
// Do not edit; add a migration file instead.
#include \"db/migrations.h\"

namespace qtune::db::internal {
namespace {

constexpr Migration kMigrations[] = {
${body}};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

}  // namespace qtune::db::internal
")

include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/write_if_changed.cmake)
qtune_write_if_changed("${OUTPUT}" "${content}")
