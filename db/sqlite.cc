#include "db/sqlite.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace qtune::db::internal {

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = absl::StrCat(what, ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(message);
      }
      return absl::FailedPreconditionError(message);
    case SQLITE_READONLY:
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return absl::FailedPreconditionError(message);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Query::Query(Query&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      next_param_(other.next_param_),
      bind_status_(std::move(other.bind_status_)) {}

namespace {
void Note(absl::Status& status, sqlite3* db, int rc) {
  if (rc != SQLITE_OK && status.ok()) status = SqliteError(db, rc, "bind");
}
}  // namespace

Query& Query::BindText(absl::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so `value` may die after this.
  Note(bind_status_, db_,
       sqlite3_bind_text64(stmt_, next_param_++, value.data(), value.size(), SQLITE_TRANSIENT,
                           SQLITE_UTF8));
  return *this;
}

Query& Query::BindInt(int64_t value) {
  Note(bind_status_, db_, sqlite3_bind_int64(stmt_, next_param_++, value));
  return *this;
}

Query& Query::BindDouble(double value) {
  Note(bind_status_, db_, sqlite3_bind_double(stmt_, next_param_++, value));
  return *this;
}

absl::StatusOr<bool> Query::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, sqlite3_extended_errcode(db_), "query");
}

absl::Status Query::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

std::string Query::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

int64_t Query::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Query::Double(int column) const { return sqlite3_column_double(stmt_, column); }
bool Query::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                              int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_EXRESCODE, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteError(db, rc, absl::StrCat(path, ": cannot open"));
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

absl::Status Connection::Exec(const std::string& sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  sqlite3_free(error);
  return SqliteError(db_, sqlite3_extended_errcode(db_), "exec");
}

absl::StatusOr<Query> Connection::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, "prepare");
    it = cache_.emplace(sql, stmt).first;
  }
  return Query(db_, it->second);
}

int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

absl::StatusOr<Transaction> Transaction::Begin(Connection& conn, Kind kind) {
  absl::Status status = conn.Exec(kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!status.ok()) return status;
  return Transaction(&conn);
}

Transaction::~Transaction() {
  if (conn_ != nullptr) conn_->Exec("ROLLBACK").IgnoreError();
}

absl::Status Transaction::Commit() {
  Connection* conn = std::exchange(conn_, nullptr);
  absl::Status status = conn->Exec("COMMIT");
  if (!status.ok()) conn->Exec("ROLLBACK").IgnoreError();
  return status;
}

}  // namespace qtune::db::internal
