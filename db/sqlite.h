// File: sqlite.h (internal to qtune_db)
// A thin RAII layer over the SQLite C API: a connection with a cache of
// prepared statements, a query cursor that resets its statement when it goes
// out of scope, and a scoped transaction that rolls back unless committed.
//
// Thread-safety: a Connection and everything obtained from it must be used by
// one thread at a time.
#ifndef QTUNE_DB_SQLITE_H_
#define QTUNE_DB_SQLITE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace qtune::db::internal {

// An absl::Status for SQLite result code `rc`: "<what>: <sqlite message>".
// Busy/locked -> UNAVAILABLE, unique violations -> ALREADY_EXISTS, other
// constraint violations -> FAILED_PRECONDITION, read-only -> FAILED_PRECONDITION,
// not-a-database/corrupt -> FAILED_PRECONDITION, anything else -> INTERNAL.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what);

// One execution of a prepared statement. Bind parameters in order with the
// Bind* calls, then Step() through the rows. The statement is reset and its
// bindings cleared on destruction. Must not outlive its Connection.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Query();
  Query(Query&& other) noexcept;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;

  Query& BindText(absl::string_view value);
  Query& BindInt(int64_t value);
  Query& BindDouble(double value);

  // True when a row is available, false when the statement is done.
  absl::StatusOr<bool> Step();
  // Steps until done, ignoring rows.
  absl::Status Run();

  std::string Text(int column) const;
  int64_t Int(int column) const;
  double Double(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int next_param_ = 1;
  absl::Status bind_status_;
};

class Connection {
 public:
  // Opens `path` with sqlite3_open_v2 `flags` (SQLITE_OPEN_*) and sets the
  // busy timeout. Does not create or change the schema.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, int flags);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements that return no rows of interest.
  absl::Status Exec(const std::string& sql);
  // A query over the cached prepared statement for `sql` (prepared on first
  // use). At most one live Query per SQL text.
  absl::StatusOr<Query> Prepare(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;

  sqlite3* raw() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

// BEGIN IMMEDIATE (write) or BEGIN (read snapshot) ... COMMIT; rolls back in
// the destructor when Commit() was not reached.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  static absl::StatusOr<Transaction> Begin(Connection& conn, Kind kind);
  Transaction(Transaction&& other) noexcept : conn_(other.conn_) { other.conn_ = nullptr; }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  absl::Status Commit();

 private:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;
};

// The busy timeout of every connection: writers wait this long for each other.
inline constexpr int kBusyTimeoutMs = 5000;

}  // namespace qtune::db::internal

#endif  // QTUNE_DB_SQLITE_H_
