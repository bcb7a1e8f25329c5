#include "db/db_cli.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "common/json.h"
#include "db/record_json.h"
#include "db/sqlite.h"
#include "qtune/db/store.h"

namespace qtune::db {
namespace {

using json::Json;

constexpr std::array<absl::string_view, 9> kCommands = {
    "best", "history", "builds", "devices", "workloads", "jobs", "export", "import", "stats"};

// An aligned text table: columns separated by two spaces, numbers right-aligned.
class TextTable {
 public:
  struct Column {
    std::string title;
    bool right = false;
  };
  explicit TextTable(std::vector<Column> columns) : columns_(std::move(columns)) {}

  void Add(std::vector<std::string> row) {
    for (std::string& cell : row) {
      // One row per line: control characters (newlines in messages) become spaces.
      std::replace_if(cell.begin(), cell.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20; }, ' ');
    }
    rows_.push_back(std::move(row));
  }

  void Print(std::ostream& out) const {
    std::vector<size_t> width(columns_.size());
    for (size_t c = 0; c < columns_.size(); ++c) width[c] = Width(columns_[c].title);
    for (const auto& row : rows_) {
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], Width(row[c]));
    }
    auto line = [&](auto cell_of) {
      std::string text;
      for (size_t c = 0; c < columns_.size(); ++c) {
        const std::string& cell = cell_of(c);
        std::string pad(width[c] - Width(cell), ' ');
        if (c > 0) text += "  ";
        text += columns_[c].right ? pad + cell : cell + pad;
      }
      text.erase(text.find_last_not_of(' ') + 1);
      out << text << '\n';
    };
    line([&](size_t c) -> const std::string& { return columns_[c].title; });
    for (const auto& row : rows_) line([&](size_t c) -> const std::string& { return row[c]; });
    if (rows_.empty()) out << "(no rows)\n";
  }

 private:
  // Display width of UTF-8 text: its code points.
  static size_t Width(const std::string& s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    }));
  }

  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

std::string Us(double us) { return absl::StrFormat("%.2f", us); }

std::string ShortJob(const std::string& job_id) { return job_id.substr(0, 8); }

// Prints `rows` as JSON lines (opt.json) or as a table of `columns` whose
// cells come from `cells(record)`.
template <typename Record, typename Cells>
void Print(const std::vector<Record>& rows, const DbCommandOptions& opt, std::ostream& out,
           std::vector<TextTable::Column> columns, Cells cells) {
  if (opt.json) {
    for (const Record& r : rows) {
      Json line = Json::object();
      internal::AddFields(line, r);
      out << json::Dump(line) << '\n';
    }
    return;
  }
  TextTable table(std::move(columns));
  for (const Record& r : rows) table.Add(cells(r));
  table.Print(out);
}

Filter ToFilter(const DbCommandOptions& opt) {
  Filter f;
  f.device_key = opt.device_key;
  f.workload_key = opt.workload_key;
  f.job_id = opt.job_id;
  f.dtype = opt.dtype;
  f.limit = opt.limit;
  if (opt.build && *opt.build == "all") {
    f.builds = Filter::Builds::kAll;
  } else if (opt.build && *opt.build == "current") {
    f.builds = Filter::Builds::kCurrent;
  } else if (opt.build) {
    f.build_id = opt.build;
  }
  return f;
}

using Cells = std::vector<std::string>;

absl::Status Best(Store& store, const DbCommandOptions& opt, std::ostream& out) {
  const Filter filter = ToFilter(opt);
  QTUNE_ASSIGN_OR_RETURN(std::vector<BestRecord> rows, store.Best(filter));
  Print(rows, opt, out,
        {{"DEVICE"}, {"BUILD"}, {"OP"}, {"DTYPE"}, {"SHAPE"}, {"MEDIAN_US", true},
         {"MIN_US", true}, {"GOP/S", true}, {"OK/TRIALS", true}, {"KERNEL"}, {"CONFIG"}},
        [](const BestRecord& r) -> Cells {
          return {r.device_key, r.build_id, r.op_kind, r.dtype, r.shape, Us(r.median_us),
                  Us(r.min_us), absl::StrFormat("%.1f", internal::Gops(r.macs, r.median_us)),
                  absl::StrCat(r.ok_trials, "/", r.trials), r.kernel, r.config};
        });
  if (opt.json || filter.builds == Filter::Builds::kAll || filter.build_id || filter.limit > 0) {
    return absl::OkStatus();
  }
  // Say what the current-build view leaves out.
  Filter every = filter;
  every.builds = Filter::Builds::kAll;
  QTUNE_ASSIGN_OR_RETURN(std::vector<BestRecord> all, store.Best(every));
  std::set<std::pair<std::string, std::string>> shown, older;
  for (const BestRecord& r : rows) shown.emplace(r.device_key, r.workload_key);
  for (const BestRecord& r : all) {
    if (!shown.count({r.device_key, r.workload_key})) older.emplace(r.device_key, r.workload_key);
  }
  if (!older.empty()) {
    out << older.size()
        << " (device, workload) pairs have results only from older kernel builds; "
           "--build all shows them\n";
  }
  return absl::OkStatus();
}

absl::Status Builds(Store& store, const DbCommandOptions& opt, std::ostream& out) {
  QTUNE_ASSIGN_OR_RETURN(std::vector<BuildRecord> rows, store.Builds(ToFilter(opt)));
  Print(rows, opt, out,
        {{"DEVICE"}, {"BUILD"}, {"CURRENT"}, {"OK/TRIALS", true}, {"FIRST_SEEN"},
         {"LAST_SEEN"}},
        [](const BuildRecord& r) -> Cells {
          return {r.device_key, r.build_id, r.current ? "yes" : "",
                  absl::StrCat(r.ok_trials, "/", r.trials), r.first_seen, r.last_seen};
        });
  return absl::OkStatus();
}

absl::Status History(Store& store, const DbCommandOptions& opt, std::ostream& out) {
  QTUNE_ASSIGN_OR_RETURN(std::vector<TrialRecord> rows, store.History(ToFilter(opt)));
  std::map<std::string, WorkloadRecord> workloads;  // for the table's dtype and shape
  if (!opt.json) {
    QTUNE_ASSIGN_OR_RETURN(std::vector<WorkloadRecord> all, store.Workloads());
    for (WorkloadRecord& w : all) workloads.emplace(w.workload_key, std::move(w));
  }
  Print(rows, opt, out,
        {{"JOB"}, {"SEQ", true}, {"TASK"}, {"DTYPE"}, {"SHAPE"}, {"STATUS"},
         {"MEDIAN_US", true}, {"MIN_US", true}, {"KERNEL"}, {"CONFIG"}, {"MESSAGE"}},
        [&](const TrialRecord& r) -> Cells {
          auto it = workloads.find(r.workload_key);
          bool known = it != workloads.end();
          bool ok = r.status == "OK";
          return {ShortJob(r.job_id), absl::StrCat(r.seq), r.task,
                  known ? it->second.dtype : "", known ? it->second.shape : r.workload_key,
                  r.status, ok ? Us(r.median_us) : "-", ok ? Us(r.min_us) : "-", r.kernel,
                  r.config, r.message};
        });
  return absl::OkStatus();
}

absl::Status Devices(Store& store, const DbCommandOptions& opt, std::ostream& out) {
  QTUNE_ASSIGN_OR_RETURN(std::vector<DeviceRecord> rows, store.Devices());
  if (opt.device_key) {
    std::erase_if(rows, [&](const DeviceRecord& d) { return d.device_key != *opt.device_key; });
  }
  Print(rows, opt, out,
        {{"DEVICE"}, {"ARCH"}, {"CPU"}, {"CORES", true}, {"FIRST_SEEN"}, {"LAST_SEEN"}},
        [](const DeviceRecord& r) -> Cells {
          return {r.device_key, r.arch, r.cpu_name, absl::StrCat(r.cores), r.first_seen,
                  r.last_seen};
        });
  return absl::OkStatus();
}

absl::Status Workloads(Store& store, const DbCommandOptions& opt, std::ostream& out) {
  QTUNE_ASSIGN_OR_RETURN(std::vector<WorkloadRecord> rows, store.Workloads(ToFilter(opt)));
  Print(rows, opt, out, {{"WORKLOAD"}, {"OP"}, {"DTYPE"}, {"SHAPE"}, {"MMACS", true}},
        [](const WorkloadRecord& r) -> Cells {
          return {r.workload_key, r.op_kind, r.dtype, r.shape,
                  absl::StrFormat("%.2f", static_cast<double>(r.macs) / 1e6)};
        });
  return absl::OkStatus();
}

absl::Status Jobs(Store& store, const DbCommandOptions& opt, std::ostream& out) {
  QTUNE_ASSIGN_OR_RETURN(std::vector<JobRecord> rows, store.Jobs(ToFilter(opt)));
  Print(rows, opt, out,
        {{"JOB"}, {"NAME"}, {"MODEL"}, {"DEVICE"}, {"STATE"}, {"CREATED"}, {"FINISHED"}},
        [](const JobRecord& r) -> Cells {
          return {r.job_id, r.name, r.model, r.device_key, r.state, r.created_at, r.finished_at};
        });
  return absl::OkStatus();
}

absl::Status Export(Store& store, const DbCommandOptions& opt, std::ostream& out) {
  Filter filter = ToFilter(opt);
  filter.limit = 0;
  if (opt.file.empty() || opt.file == "-") return store.Export(out, filter);
  // Written next to the target and renamed, so a failed export leaves no
  // truncated file behind.
  std::string tmp = opt.file + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file) return absl::FailedPreconditionError(absl::StrCat(tmp, ": cannot write"));
    absl::Status s = store.Export(file, filter);
    file.close();
    if (s.ok() && !file) s = absl::DataLossError(absl::StrCat(tmp, ": write failed"));
    if (!s.ok()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return s;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, opt.file, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat(opt.file, ": ", ec.message()));
  uintmax_t bytes = std::filesystem::file_size(opt.file, ec);
  if (opt.json) {
    out << json::Dump({{"file", opt.file}, {"bytes", static_cast<int64_t>(bytes)}}) << '\n';
  } else {
    out << "exported " << store.path() << " to " << opt.file << " (" << bytes << " bytes)\n";
  }
  return absl::OkStatus();
}

absl::Status Import(const DbCommandOptions& opt, std::ostream& out) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!opt.file.empty() && opt.file != "-") {
    file.open(opt.file, std::ios::binary);
    if (!file) return absl::NotFoundError(absl::StrCat(opt.file, ": cannot read"));
    in = &file;
  }
  std::error_code ec;
  const bool existed = std::filesystem::exists(opt.db_path, ec);
  absl::StatusOr<ImportStats> stats;
  {
    QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                           Store::Open(opt.db_path, Store::Mode::kCreateIfMissing));
    stats = store->Import(*in);
  }
  if (!stats.ok()) {
    if (!existed) {
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::filesystem::remove(opt.db_path + suffix, ec);
      }
    }
    return stats.status();
  }
  const ImportStats& s = *stats;
  if (opt.json) {
    out << json::Dump({{"devices", s.devices},
                       {"builds", s.builds},
                       {"workloads", s.workloads},
                       {"jobs", s.jobs},
                       {"tasks", s.tasks},
                       {"trials", s.trials},
                       {"skipped", s.skipped}})
        << '\n';
  } else {
    out << absl::StrFormat(
        "imported into %s: %d devices, %d device builds, %d workloads, %d jobs, %d tasks, "
        "%d trials; %d rows already present\n",
        opt.db_path, s.devices, s.builds, s.workloads, s.jobs, s.tasks, s.trials, s.skipped);
  }
  return absl::OkStatus();
}

// Counts read straight from the file (the Store API lists rows, it does not
// count them); trials from the maintained trial_counts table, so that the
// cost does not grow with the trials. `store` has already checked that the
// file is a qtune database.
absl::Status Stats(Store& store, const DbCommandOptions& opt, std::ostream& out) {
  QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<internal::Connection> conn,
                         internal::Connection::Open(store.path(), SQLITE_OPEN_READONLY));
  QTUNE_ASSIGN_OR_RETURN(internal::Transaction txn,
                         internal::Transaction::Begin(*conn, internal::Transaction::Kind::kRead));
  auto count = [&](const std::string& sql) -> absl::StatusOr<int64_t> {
    QTUNE_ASSIGN_OR_RETURN(internal::Query q, conn->Prepare(sql));
    QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
    return row ? q.Int(0) : 0;
  };
  using Groups = std::vector<std::pair<std::string, int64_t>>;
  auto groups = [&](const std::string& sql) -> absl::StatusOr<Groups> {
    Groups result;
    QTUNE_ASSIGN_OR_RETURN(internal::Query q, conn->Prepare(sql));
    while (true) {
      QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) return result;
      result.emplace_back(q.Text(0), q.Int(1));
    }
  };
  struct Count {
    const char* name;
    const char* sql;
    int64_t value = 0;
  };
  std::vector<Count> counts = {{"devices", "SELECT count(*) FROM devices"},
                               {"workloads", "SELECT count(*) FROM workloads"},
                               {"jobs", "SELECT count(*) FROM jobs"},
                               {"tasks", "SELECT count(*) FROM tasks"},
                               {"trials", "SELECT coalesce(sum(trials), 0) FROM trial_counts"},
                               {"best", "SELECT count(*) FROM best"}};
  for (Count& c : counts) {
    QTUNE_ASSIGN_OR_RETURN(c.value, count(c.sql));
  }
  QTUNE_ASSIGN_OR_RETURN(auto by_status,
                         groups("SELECT status, sum(trials) AS n FROM trial_counts "
                                "GROUP BY status ORDER BY n DESC, status"));
  QTUNE_ASSIGN_OR_RETURN(auto by_state,
                         groups("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state"));
  QTUNE_ASSIGN_OR_RETURN(auto by_dtype,
                         groups("SELECT w.dtype, sum(c.trials) FROM trial_counts c "
                                "JOIN workloads w ON w.id = c.workload_ref "
                                "GROUP BY w.dtype ORDER BY w.dtype"));
  QTUNE_ASSIGN_OR_RETURN(int64_t pages, count("PRAGMA page_count"));
  QTUNE_ASSIGN_OR_RETURN(int64_t page_size, count("PRAGMA page_size"));
  QTUNE_RETURN_IF_ERROR(txn.Commit());

  if (opt.json) {
    auto object = [](const Groups& g) {
      Json o = Json::object();
      for (const auto& [k, v] : g) o[k] = v;
      return o;
    };
    Json line = {{"path", store.path()}, {"schema_version", store.schema_version()}};
    for (const Count& c : counts) line[c.name] = c.value;
    line["trials_by_status"] = object(by_status);
    line["trials_by_dtype"] = object(by_dtype);
    line["jobs_by_state"] = object(by_state);
    line["db_bytes"] = pages * page_size;
    out << json::Dump(line) << '\n';
    return absl::OkStatus();
  }
  auto join = [](const Groups& g) {
    if (g.empty()) return std::string();
    return absl::StrCat(" (", absl::StrJoin(g, ", ", [](std::string* o, const auto& kv) {
                          absl::StrAppend(o, kv.first, " ", kv.second);
                        }),
                        ")");
  };
  TextTable table({{"ITEM"}, {"VALUE"}});
  table.Add({"path", store.path()});
  table.Add({"schema version", absl::StrCat(store.schema_version())});
  table.Add({"size", absl::StrFormat("%.1f KiB", static_cast<double>(pages * page_size) / 1024)});
  for (const Count& c : counts) {
    std::string value = absl::StrCat(c.value);
    if (absl::string_view(c.name) == "jobs") value += join(by_state);
    if (absl::string_view(c.name) == "trials") value += join(by_status) + join(by_dtype);
    if (absl::string_view(c.name) == "best") value += " (device, workload) pairs";
    table.Add({c.name, value});
  }
  table.Print(out);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunDbCommand(std::string_view sub_name, const DbCommandOptions& opt,
                          std::ostream& out) {
  const absl::string_view sub(sub_name.data(), sub_name.size());
  if (std::find(kCommands.begin(), kCommands.end(), sub) == kCommands.end()) {
    std::string what =
        sub.empty() ? "missing db command" : absl::StrCat("unknown db command '", sub, "'");
    return absl::InvalidArgumentError(
        absl::StrCat(what, "; valid: ", absl::StrJoin(kCommands, ", ")));
  }
  if (opt.db_path.empty()) return absl::InvalidArgumentError("--db FILE is required");
  if (opt.limit < 0) return absl::InvalidArgumentError("--limit must not be negative");
  if (sub == "import") return Import(opt, out);

  QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                         Store::Open(opt.db_path, Store::Mode::kReadOnly));
  if (sub == "best") return Best(*store, opt, out);
  if (sub == "history") return History(*store, opt, out);
  if (sub == "builds") return Builds(*store, opt, out);
  if (sub == "devices") return Devices(*store, opt, out);
  if (sub == "workloads") return Workloads(*store, opt, out);
  if (sub == "jobs") return Jobs(*store, opt, out);
  if (sub == "export") return Export(*store, opt, out);
  return Stats(*store, opt, out);
}

const char* DbCommandHelp() {
  return R"(usage: qtune db <command> --db FILE [options]

Queries the tuning database. Read commands never create or modify FILE.

commands:
  best       best configuration per (device, workload) of each device's current kernel
             build: latency, GOP/s, kernel, config (--build all: one row per build)
  history    every trial in insertion order, failures included with their reason
  builds     the kernel builds each device was seen with, the current one marked
  devices    devices the tuner has seen
  workloads  operators with their shapes and multiply-accumulate counts
  jobs       tuning jobs and their state (a job whose tuner died shows as interrupted;
             `qtune tune --job-name NAME` resumes it)
  export     write the database as JSON lines (round-trips exactly through import)
  import     read JSON lines written by export; rows already present are skipped;
             one transaction: a bad line changes nothing
  stats      row counts, trials by status and dtype, file size

options:
  --db FILE        the database file (required)
  --device KEY     only rows related to this device
  --workload KEY   only rows related to this workload
  --job ID         only rows related to this job
  --dtype T        only rows related to workloads of this dtype (int8, fp32)
  --build B        rows of kernel build B (an id from `db builds`), `current` (each
                   device's latest build; the default of best) or `all` (the default of
                   the others)
  --limit N        at most N rows: best and workloads the first N, history and jobs the last N
  --json           one JSON object per row and line instead of a table
  --file FILE      export: output file, import: input file ("-" = stdout / stdin, the default)
)";
}

}  // namespace qtune::db
