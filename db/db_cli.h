// File: db_cli.h
// `qtune db <command>`: queries over the tuning database, as a library called
// by the qtune binary (which owns flag parsing and error reporting).
//
//   DbCommandOptions opt;
//   opt.db_path = "qtune.db";
//   opt.json = true;
//   absl::Status s = RunDbCommand("best", opt, std::cout);
//
// Read commands (best, history, builds, devices, workloads, jobs, export, stats) open
// the database read-only and never create it: NOT_FOUND for a missing file,
// FAILED_PRECONDITION for a file that is not a qtune database. `import`
// creates the database when missing (and removes it again if the import
// fails). Output is an aligned table, or with `json` one JSON object per row
// and line with stable member names.
#ifndef QTUNE_DB_DB_CLI_H_
#define QTUNE_DB_DB_CLI_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace qtune::db {

struct DbCommandOptions {
  std::string db_path;
  std::optional<std::string> device_key, workload_key, job_id, dtype;
  // Kernel build: a build id, "current" (each device's latest build) or
  // "all"; unset: best uses "current", history, builds and export "all".
  std::optional<std::string> build;
  bool json = false;
  int64_t limit = 0;  // 0 = all rows; best/workloads: the first N, history/jobs: the last N
  std::string file;   // export: output ("-" or empty = `out`), import: input ("-" or empty = stdin)
};

// Runs one subcommand: best, history, builds, devices, workloads, jobs,
// export, import, stats. INVALID_ARGUMENT (listing the valid ones) for anything else.
absl::Status RunDbCommand(std::string_view sub, const DbCommandOptions& opt, std::ostream& out);

// Usage text for `qtune db` (several lines, ends with a newline).
const char* DbCommandHelp();

}  // namespace qtune::db

#endif  // QTUNE_DB_DB_CLI_H_
