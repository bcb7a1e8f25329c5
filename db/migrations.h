// File: migrations.h (internal to qtune_db)
// The ordered schema migrations, embedded at build time from
// db/migrations/NNNN_name.sql (see db/cmake/embed_migrations.cmake).
#ifndef QTUNE_DB_MIGRATIONS_H_
#define QTUNE_DB_MIGRATIONS_H_

#include <span>

namespace qtune::db::internal {

struct Migration {
  int version;       // NNNN of the file name; versions are 1, 2, 3, ...
  const char* name;  // the file name's "name" part
  const char* sql;   // the file's text, one or more statements
};

// Every migration, in version order. Static storage.
std::span<const Migration> Migrations();

}  // namespace qtune::db::internal

#endif  // QTUNE_DB_MIGRATIONS_H_
