#include "qtune/db/store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "common/json.h"
#include "db/migrations.h"
#include "db/record_json.h"
#include "db/sqlite.h"

namespace qtune::db {

using internal::Connection;
using internal::JsonFields;
using json::Json;
using internal::Query;
using internal::Transaction;

namespace {

// PRAGMA application_id of every qtune database: "qtun" in ASCII.
constexpr int64_t kApplicationId = 0x7174756e;

constexpr std::array<absl::string_view, 6> kJobStates = {"queued",    "running", "done",
                                                         "failed",    "cancelled",
                                                         "interrupted"};

int LatestVersion() { return internal::Migrations().back().version; }

std::string NewUuid() {
  std::random_device rd;
  std::array<uint8_t, 16> b;
  for (size_t i = 0; i < b.size(); i += 4) {
    uint32_t r = rd();
    std::memcpy(&b[i], &r, 4);
  }
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    absl::StrAppendFormat(&s, "%02x", b[i]);
  }
  return s;
}

absl::Status Invalid(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
}

// Prefixes the message of a non-OK status, keeping its code.
absl::Status Annotate(const absl::Status& status, absl::string_view prefix) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", status.message()));
}

// `value` * `unit`, rounded, as the small integer the trials table stores
// (0 for what is not finite or not positive).
int64_t Scaled(double value, double unit) {
  if (!std::isfinite(value) || !(value > 0)) return 0;
  return std::llround(std::min(value * unit, 1e15));
}

bool IsStatusName(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// ---------------------------------------------------------------------------
// Validation of records on the way in (AddTrials, Import).

absl::Status ValidateDevice(const DeviceRecord& d) {
  if (d.device_key.empty()) return Invalid("device", "empty device_key");
  if (d.cores < 0) return Invalid(d.device_key, "negative cores");
  return absl::OkStatus();
}

absl::Status ValidateWorkload(const WorkloadRecord& w) {
  if (w.workload_key.empty()) return Invalid("workload", "empty workload_key");
  if (w.op_kind.empty()) return Invalid(w.workload_key, "empty op_kind");
  if (w.dtype.empty()) return Invalid(w.workload_key, "empty dtype");
  if (w.macs < 0) return Invalid(w.workload_key, "negative macs");
  return absl::OkStatus();
}

absl::Status ValidateJobState(absl::string_view state) {
  if (std::find(kJobStates.begin(), kJobStates.end(), state) == kJobStates.end()) {
    return absl::InvalidArgumentError(absl::StrCat("job state '", state, "' is not one of ",
                                                   absl::StrJoin(kJobStates, ", ")));
  }
  return absl::OkStatus();
}

absl::Status ValidateTask(const TaskRecord& t) {
  if (t.job_id.empty()) return Invalid("task", "empty job_id");
  if (t.name.empty()) return Invalid("task", "empty name");
  if (t.workload_key.empty()) return Invalid(t.name, "empty workload_key");
  if (t.occurrences < 0) return Invalid(t.name, "negative occurrences");
  return absl::OkStatus();
}

absl::Status ValidateTrial(const TrialRecord& t) {
  if (t.job_id.empty()) return absl::InvalidArgumentError("empty job_id");
  if (t.seq < 0) return absl::InvalidArgumentError("negative seq");
  if (t.device_key.empty()) return absl::InvalidArgumentError("empty device_key");
  if (t.workload_key.empty()) return absl::InvalidArgumentError("empty workload_key");
  if (!IsStatusName(t.status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("status '", t.status, "' is not a TrialStatus name"));
  }
  if (t.repeats < 0) return absl::InvalidArgumentError("negative repeats");
  if (t.remeasures < 0) return absl::InvalidArgumentError("negative remeasures");
  const std::pair<const char*, double> numbers[] = {
      {"median_us", t.median_us},   {"min_us", t.min_us},         {"stddev_us", t.stddev_us},
      {"compile_ms", t.compile_ms}, {"measure_ms", t.measure_ms}, {"cv", t.cv},
      {"outside_load", t.outside_load}, {"cpu_mhz", t.cpu_mhz},   {"temp_c", t.temp_c}};
  for (const auto& [name, value] : numbers) {
    if (!std::isfinite(value) || value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be finite and not negative, got ", value));
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Row readers: each SELECT below lists its columns in the order its reader
// expects.

constexpr char kDeviceSelect[] =
    "SELECT d.device_key, d.arch, d.cpu_name, d.cores, d.info_json, d.first_seen, d.last_seen "
    "FROM devices d";

DeviceRecord ReadDevice(const Query& q) {
  DeviceRecord r;
  r.device_key = q.Text(0);
  r.arch = q.Text(1);
  r.cpu_name = q.Text(2);
  r.cores = static_cast<int32_t>(q.Int(3));
  r.info_json = q.Text(4);
  r.first_seen = q.Text(5);
  r.last_seen = q.Text(6);
  return r;
}

constexpr char kWorkloadSelect[] =
    "SELECT w.workload_key, w.op_kind, w.dtype, w.shape, w.macs FROM workloads w";

WorkloadRecord ReadWorkload(const Query& q) {
  WorkloadRecord r;
  r.workload_key = q.Text(0);
  r.op_kind = q.Text(1);
  r.dtype = q.Text(2);
  r.shape = q.Text(3);
  r.macs = q.Int(4);
  return r;
}

constexpr char kJobSelect[] =
    "SELECT j.job_id, j.model, jd.device_key, j.state, j.args_json, j.created_at, "
    "j.finished_at, j.name, j.owner, j.heartbeat_at FROM jobs j "
    "JOIN devices jd ON jd.id = j.device_ref";

// As stored: a job of a dead owner still says "running" (see ReadJob).
JobRecord ReadStoredJob(const Query& q) {
  JobRecord r;
  r.job_id = q.Text(0);
  r.model = q.Text(1);
  r.device_key = q.Text(2);
  r.state = q.Text(3);
  r.args_json = q.Text(4);
  r.created_at = q.Text(5);
  r.finished_at = q.Text(6);
  r.name = q.Text(7);
  r.owner = q.Text(8);
  r.heartbeat_at = q.Text(9);
  return r;
}

// As reported: a running job whose owner is gone is interrupted.
JobRecord ReadJob(const Query& q) {
  JobRecord r = ReadStoredJob(q);
  if (r.state == "running" && JobOwnerGone(r.owner, r.heartbeat_at)) r.state = "interrupted";
  return r;
}

constexpr char kTaskSelect[] =
    "SELECT kj.job_id, k.name, kw.workload_key, k.occurrences FROM tasks k "
    "JOIN jobs kj ON kj.id = k.job_ref JOIN workloads kw ON kw.id = k.workload_ref";

TaskRecord ReadTask(const Query& q) {
  TaskRecord r;
  r.job_id = q.Text(0);
  r.name = q.Text(1);
  r.workload_key = q.Text(2);
  r.occurrences = static_cast<int32_t>(q.Int(3));
  return r;
}

constexpr char kTrialColumns[] =
    "SELECT tj.job_id, t.seq, td.device_key, tw.workload_key, t.task, t.config, "
    "t.config_json, t.status, t.message, t.kernel, t.median_us, t.min_us, t.stddev_us, "
    "t.repeats, t.compile_ms, t.measure_ms, t.created_at, tb.build_id, ts.settings, "
    "t.cv_permille, t.load_centicores, t.remeasures, t.cpu_mhz, t.temp_decidegrees ";
constexpr char kTrialJoins[] =
    " JOIN jobs tj ON tj.id = t.job_ref JOIN devices td ON td.id = t.device_ref "
    "JOIN workloads tw ON tw.id = t.workload_ref JOIN builds tb ON tb.id = t.build_ref "
    "JOIN settings ts ON ts.id = t.settings_ref";

// The trial columns ReadTrial expects, from `trials t` (and an optional
// INDEXED BY clause).
std::string TrialSelect(absl::string_view indexed_by = "") {
  return absl::StrCat(kTrialColumns, "FROM trials t",
                      indexed_by.empty() ? "" : absl::StrCat(" INDEXED BY ", indexed_by),
                      kTrialJoins);
}

TrialRecord ReadTrial(const Query& q) {
  TrialRecord r;
  r.job_id = q.Text(0);
  r.seq = q.Int(1);
  r.device_key = q.Text(2);
  r.workload_key = q.Text(3);
  r.task = q.Text(4);
  r.config = q.Text(5);
  r.config_json = q.Text(6);
  r.status = q.Text(7);
  r.message = q.Text(8);
  r.kernel = q.Text(9);
  r.median_us = q.Double(10);
  r.min_us = q.Double(11);
  r.stddev_us = q.Double(12);
  r.repeats = static_cast<int32_t>(q.Int(13));
  r.compile_ms = q.Double(14);
  r.measure_ms = q.Double(15);
  r.created_at = q.Text(16);
  r.build_id = q.Text(17);
  r.settings = q.Text(18);
  r.cv = static_cast<double>(q.Int(19)) / 1000.0;
  r.outside_load = static_cast<double>(q.Int(20)) / 100.0;
  r.remeasures = static_cast<int32_t>(q.Int(21));
  r.cpu_mhz = static_cast<double>(q.Int(22));
  r.temp_c = static_cast<double>(q.Int(23)) / 10.0;
  return r;
}

// Followed by the view: `best` (current builds) or `best_by_build`.
constexpr char kBestColumns[] =
    "SELECT device_key, workload_key, op_kind, dtype, shape, macs, config, config_json, "
    "kernel, median_us, min_us, trials, ok_trials, job_id, created_at, build_id FROM ";

BestRecord ReadBest(const Query& q) {
  BestRecord r;
  r.device_key = q.Text(0);
  r.workload_key = q.Text(1);
  r.op_kind = q.Text(2);
  r.dtype = q.Text(3);
  r.shape = q.Text(4);
  r.macs = q.Int(5);
  r.config = q.Text(6);
  r.config_json = q.Text(7);
  r.kernel = q.Text(8);
  r.median_us = q.Double(9);
  r.min_us = q.Double(10);
  r.trials = q.Int(11);
  r.ok_trials = q.Int(12);
  r.job_id = q.Text(13);
  r.created_at = q.Text(14);
  r.build_id = q.Text(15);
  return r;
}

// Trial counts from the maintained trial_counts table.
constexpr char kBuildSelect[] =
    "SELECT d.device_key, b.build_id, x.info_json, x.first_seen, x.last_seen, "
    "(SELECT coalesce(sum(c.trials), 0) FROM trial_counts c WHERE c.device_ref = x.device_ref "
    "AND c.build_ref = x.build_ref), "
    "(SELECT coalesce(sum(c.trials), 0) FROM trial_counts c WHERE c.device_ref = x.device_ref "
    "AND c.build_ref = x.build_ref AND c.status = 'OK'), "
    "EXISTS (SELECT 1 FROM current_builds c WHERE c.device_ref = x.device_ref "
    "AND c.build_ref = x.build_ref) "
    "FROM device_builds x JOIN devices d ON d.id = x.device_ref "
    "JOIN builds b ON b.id = x.build_ref";

BuildRecord ReadBuild(const Query& q) {
  BuildRecord r;
  r.device_key = q.Text(0);
  r.build_id = q.Text(1);
  r.info_json = q.Text(2);
  r.first_seen = q.Text(3);
  r.last_seen = q.Text(4);
  r.trials = q.Int(5);
  r.ok_trials = q.Int(6);
  r.current = q.Int(7) != 0;
  return r;
}

constexpr char kCountSelect[] =
    "SELECT cd.device_key, cw.workload_key, cb.build_id, cs.settings, c.status, c.trials "
    "FROM trial_counts c JOIN devices cd ON cd.id = c.device_ref "
    "JOIN workloads cw ON cw.id = c.workload_ref JOIN builds cb ON cb.id = c.build_ref "
    "JOIN settings cs ON cs.id = c.settings_ref";

TrialCount ReadCount(const Query& q) {
  TrialCount r;
  r.device_key = q.Text(0);
  r.workload_key = q.Text(1);
  r.build_id = q.Text(2);
  r.settings = q.Text(3);
  r.status = q.Text(4);
  r.trials = q.Int(5);
  return r;
}

// ---------------------------------------------------------------------------
// Filters as SQL. Each method returns a condition on one table's alias that
// holds for rows related to every set member of the filter ("1" for an empty
// filter) and appends the values of its `?` parameters to `binds`, in text
// order. Subqueries use the aliases xk/xt so as not to shadow the caller's.

class FilterSql {
 public:
  explicit FilterSql(const Filter& f) : f_(f) {}

  bool empty() const {
    return !f_.device_key && !f_.workload_key && !f_.job_id && !f_.dtype && !f_.build_id &&
           !f_.settings;
  }

  std::string Trials(absl::string_view t) {
    std::vector<std::string> terms;
    if (f_.job_id) terms.push_back(absl::StrCat(t, ".job_ref = ", Job()));
    AddSliceTerms(t, terms);
    return And(terms);
  }

  // Conditions on trial_counts `c`.
  std::string Counts(absl::string_view c) {
    std::vector<std::string> terms;
    AddSliceTerms(c, terms);
    return And(terms);
  }

  // Conditions on device_builds `x`.
  std::string Builds(absl::string_view x) {
    std::vector<std::string> terms;
    if (f_.device_key) terms.push_back(absl::StrCat(x, ".device_ref = ", Device()));
    AddBuildTerm(x, terms);
    return And(terms);
  }

  std::string Tasks(absl::string_view k) {
    std::vector<std::string> terms;
    if (f_.device_key) {
      terms.push_back(
          absl::StrCat(k, ".job_ref IN (SELECT id FROM jobs WHERE device_ref = ", Device(), ")"));
    }
    if (f_.workload_key) terms.push_back(absl::StrCat(k, ".workload_ref = ", Workload()));
    if (f_.job_id) terms.push_back(absl::StrCat(k, ".job_ref = ", Job()));
    if (f_.dtype) terms.push_back(absl::StrCat(k, ".workload_ref IN ", Dtype()));
    return And(terms);
  }

  std::string Jobs(absl::string_view j) {
    std::vector<std::string> terms;
    if (f_.device_key) terms.push_back(absl::StrCat(j, ".device_ref = ", Device()));
    if (f_.job_id) terms.push_back(absl::StrCat(j, ".job_id = ", Param(*f_.job_id)));
    auto in_job = [&](absl::string_view workload_condition_k, absl::string_view cond_t) {
      return absl::StrCat("(EXISTS (SELECT 1 FROM tasks xk WHERE xk.job_ref = ", j,
                          ".id AND xk.workload_ref ", workload_condition_k,
                          ") OR EXISTS (SELECT 1 FROM trials xt WHERE xt.job_ref = ", j,
                          ".id AND xt.workload_ref ", cond_t, "))");
    };
    if (f_.workload_key) {
      std::string a = absl::StrCat("= ", Workload());
      std::string b = absl::StrCat("= ", Workload());
      terms.push_back(in_job(a, b));
    }
    if (f_.dtype) {
      std::string a = absl::StrCat("IN ", Dtype());
      std::string b = absl::StrCat("IN ", Dtype());
      terms.push_back(in_job(a, b));
    }
    return And(terms);
  }

  std::string Workloads(absl::string_view w) {
    std::vector<std::string> terms;
    if (f_.workload_key) {
      terms.push_back(absl::StrCat(w, ".workload_key = ", Param(*f_.workload_key)));
    }
    if (f_.dtype) terms.push_back(absl::StrCat(w, ".dtype = ", Param(*f_.dtype)));
    if (f_.device_key) {
      terms.push_back(absl::StrCat("EXISTS (SELECT 1 FROM trials xt WHERE xt.workload_ref = ", w,
                                   ".id AND xt.device_ref = ", Device(), ")"));
    }
    if (f_.job_id) {
      std::string a = Job();
      std::string b = Job();
      terms.push_back(absl::StrCat("(EXISTS (SELECT 1 FROM tasks xk WHERE xk.workload_ref = ", w,
                                   ".id AND xk.job_ref = ", a,
                                   ") OR EXISTS (SELECT 1 FROM trials xt WHERE xt.workload_ref = ",
                                   w, ".id AND xt.job_ref = ", b, "))"));
    }
    return And(terms);
  }

  std::string Devices(absl::string_view d) {
    std::vector<std::string> terms;
    if (f_.device_key) {
      terms.push_back(absl::StrCat(d, ".device_key = ", Param(*f_.device_key)));
    }
    if (f_.job_id) {
      terms.push_back(absl::StrCat(d, ".id = (SELECT device_ref FROM jobs WHERE job_id = ",
                                   Param(*f_.job_id), ")"));
    }
    if (f_.workload_key) {
      terms.push_back(absl::StrCat("EXISTS (SELECT 1 FROM trials xt WHERE xt.device_ref = ", d,
                                   ".id AND xt.workload_ref = ", Workload(), ")"));
    }
    if (f_.dtype) {
      terms.push_back(absl::StrCat("EXISTS (SELECT 1 FROM trials xt WHERE xt.device_ref = ", d,
                                   ".id AND xt.workload_ref IN ", Dtype(), ")"));
    }
    return And(terms);
  }

  // Conditions on the columns of the `best` view.
  std::string Best() {
    std::vector<std::string> terms;
    auto eq = [&](const char* column, const std::optional<std::string>& value) {
      if (value) terms.push_back(absl::StrCat(column, " = ", Param(*value)));
    };
    eq("device_key", f_.device_key);
    eq("workload_key", f_.workload_key);
    eq("job_id", f_.job_id);
    eq("dtype", f_.dtype);
    eq("build_id", f_.build_id);
    return And(terms);
  }

  std::vector<std::string> binds;

 private:
  // A `?` bound to `value`; call in the order the text is assembled.
  std::string Param(const std::string& value) {
    binds.push_back(value);
    return "?";
  }
  std::string Device() {
    return absl::StrCat("(SELECT id FROM devices WHERE device_key = ", Param(*f_.device_key), ")");
  }
  std::string Workload() {
    return absl::StrCat("(SELECT id FROM workloads WHERE workload_key = ", Param(*f_.workload_key),
                        ")");
  }
  std::string Job() {
    return absl::StrCat("(SELECT id FROM jobs WHERE job_id = ", Param(*f_.job_id), ")");
  }
  std::string Dtype() {
    return absl::StrCat("(SELECT id FROM workloads WHERE dtype = ", Param(*f_.dtype), ")");
  }
  // Device, workload, dtype, build and settings, on a table `a` with the
  // columns of a slice (trials, trial_counts).
  void AddSliceTerms(absl::string_view a, std::vector<std::string>& terms) {
    if (f_.device_key) terms.push_back(absl::StrCat(a, ".device_ref = ", Device()));
    if (f_.workload_key) terms.push_back(absl::StrCat(a, ".workload_ref = ", Workload()));
    if (f_.dtype) terms.push_back(absl::StrCat(a, ".workload_ref IN ", Dtype()));
    AddBuildTerm(a, terms);
    if (f_.settings) {
      terms.push_back(absl::StrCat(a, ".settings_ref = (SELECT id FROM settings WHERE settings = ",
                                   Param(*f_.settings), ")"));
    }
  }
  // The filter's builds, on a table `a` with device_ref and build_ref.
  void AddBuildTerm(absl::string_view a, std::vector<std::string>& terms) {
    if (f_.build_id) {
      terms.push_back(absl::StrCat(a, ".build_ref = ", Build()));
    } else if (f_.builds == Filter::Builds::kCurrent) {
      terms.push_back(absl::StrCat("EXISTS (SELECT 1 FROM current_builds xc WHERE xc.device_ref = ",
                                   a, ".device_ref AND xc.build_ref = ", a, ".build_ref)"));
    }
  }
  std::string Build() {
    return absl::StrCat("(SELECT id FROM builds WHERE build_id = ", Param(*f_.build_id), ")");
  }
  static std::string And(const std::vector<std::string>& terms) {
    if (terms.empty()) return "1";
    return absl::StrCat("(", absl::StrJoin(terms, " AND "), ")");
  }

  const Filter& f_;
};

// Runs `sql` with text parameters `binds` (then `limit` when positive) and
// calls `fn(query)` for every row.
template <typename Fn>
absl::Status ForEachRow(Connection& conn, const std::string& sql,
                        const std::vector<std::string>& binds, int64_t limit, Fn fn) {
  QTUNE_ASSIGN_OR_RETURN(Query q, conn.Prepare(sql));
  for (const std::string& b : binds) q.BindText(b);
  if (limit > 0) q.BindInt(limit);
  while (true) {
    QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return absl::OkStatus();
    QTUNE_RETURN_IF_ERROR(fn(q));
  }
}

template <typename Record, typename Reader>
absl::StatusOr<std::vector<Record>> Collect(Connection& conn, const std::string& sql,
                                            const std::vector<std::string>& binds,
                                            int64_t limit, Reader read) {
  std::vector<Record> out;
  QTUNE_RETURN_IF_ERROR(ForEachRow(conn, sql, binds, limit, [&](const Query& q) {
    out.push_back(read(q));
    return absl::OkStatus();
  }));
  return out;
}

// ---------------------------------------------------------------------------
// Opening and migrating.

struct DbState {
  int64_t application_id = 0;
  int64_t objects = 0;  // rows of sqlite_schema
  int version = 0;      // highest schema_version row, for qtune databases
  bool uninitialized() const { return application_id == 0 && objects == 0; }
};

absl::StatusOr<int64_t> ScalarInt(Connection& conn, const std::string& sql) {
  QTUNE_ASSIGN_OR_RETURN(Query q, conn.Prepare(sql));
  QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return absl::InternalError(absl::StrCat("no result for: ", sql));
  return q.Int(0);
}

absl::StatusOr<DbState> ReadState(Connection& conn) {
  DbState s;
  QTUNE_ASSIGN_OR_RETURN(s.application_id, ScalarInt(conn, "PRAGMA application_id"));
  QTUNE_ASSIGN_OR_RETURN(s.objects, ScalarInt(conn, "SELECT count(*) FROM sqlite_schema"));
  if (s.application_id == kApplicationId && s.objects > 0) {
    QTUNE_ASSIGN_OR_RETURN(int64_t v,
                           ScalarInt(conn, "SELECT coalesce(max(version), 0) FROM schema_version"));
    s.version = static_cast<int>(v);
  }
  return s;
}

absl::Status NotOurs(const std::string& path, uint32_t application_id) {
  if (application_id == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a qtune database (a SQLite database of another program)"));
  }
  return absl::FailedPreconditionError(absl::StrFormat(
      "%s is not a qtune database (SQLite application_id 0x%08x)", path, application_id));
}

// OK when the file holds a qtune database this build can use, or nothing yet.
absl::Status CheckState(const std::string& path, const DbState& s) {
  if (s.uninitialized()) return absl::OkStatus();
  if (s.application_id != kApplicationId) {
    return NotOurs(path, static_cast<uint32_t>(s.application_id));
  }
  if (s.version > LatestVersion()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " has schema version ", s.version, ", newer than this qtune (",
                     LatestVersion(), "); use a newer qtune"));
  }
  return absl::OkStatus();
}

// Checks an existing file from its first 100 bytes, without SQLite: a
// read-only SQLite connection to a WAL database would create -wal and -shm
// files next to a file we are about to refuse. qtune writes its
// application_id before switching a new file to WAL, so the main file's
// header always carries it. Returns true for an empty file.
absl::StatusOr<bool> CheckHeader(const std::string& path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat(path, ": ", ec.message()));
  if (st.type() != std::filesystem::file_type::regular) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat(path, ": cannot read"));
  unsigned char header[100];
  in.read(reinterpret_cast<char*>(header), sizeof(header));
  std::streamsize n = in.gcount();
  if (n == 0) return true;
  static constexpr char kMagic[] = "SQLite format 3";  // 16 bytes with the NUL
  if (n < static_cast<std::streamsize>(sizeof(header)) ||
      std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a SQLite database"));
  }
  // Big-endian 32-bit application id at offset 68 of the database header.
  uint32_t id = (uint32_t{header[68]} << 24) | (uint32_t{header[69]} << 16) |
                (uint32_t{header[70]} << 8) | uint32_t{header[71]};
  if (id != kApplicationId) return NotOurs(path, id);
  return false;
}

// "file:" URI for `path` (percent-encoding what URIs reserve).
std::string FileUri(const std::string& path) {
  std::string uri = "file:";
  for (char c : path) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '/' || c == '.' || c == '-' || c == '_' || c == '~') {
      uri.push_back(c);
    } else {
      absl::StrAppendFormat(&uri, "%%%02X", u);
    }
  }
  return uri;
}

// A read-only connection for inspecting a qtune file. Without a -wal file
// every committed transaction is in the main file, and the connection is
// opened `immutable` so that it creates no -wal/-shm files either.
absl::StatusOr<std::unique_ptr<Connection>> OpenProbe(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path + "-wal", ec)) {
    return Connection::Open(path, SQLITE_OPEN_READONLY);
  }
  return Connection::Open(FileUri(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
}

// Reads and checks the state of an existing qtune file through `conn`.
absl::StatusOr<DbState> ProbeState(Connection& conn, const std::string& path) {
  absl::StatusOr<DbState> state = ReadState(conn);
  if (!state.ok()) {
    if (absl::IsUnavailable(state.status())) return state.status();
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is not a usable qtune database (", state.status().message(), ")"));
  }
  QTUNE_RETURN_IF_ERROR(CheckState(path, *state));
  return state;
}

absl::Status Migrate(Connection& conn, const std::string& path, int* version) {
  QTUNE_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(conn, Transaction::Kind::kWrite));
  // Checked again under the write lock: another process may have initialized
  // the file since the read-only probe.
  QTUNE_ASSIGN_OR_RETURN(DbState state, ReadState(conn));
  QTUNE_RETURN_IF_ERROR(CheckState(path, state));
  if (state.uninitialized()) {
    QTUNE_RETURN_IF_ERROR(conn.Exec(absl::StrCat("PRAGMA application_id = ", kApplicationId)));
  }
  for (const internal::Migration& m : internal::Migrations()) {
    if (m.version <= state.version) continue;
    QTUNE_RETURN_IF_ERROR(
        Annotate(conn.Exec(m.sql), absl::StrFormat("migration %04d_%s", m.version, m.name)));
    QTUNE_ASSIGN_OR_RETURN(
        Query q, conn.Prepare("INSERT INTO schema_version (version, name, applied_at) "
                              "VALUES (?, ?, ?)"));
    QTUNE_RETURN_IF_ERROR(q.BindInt(m.version).BindText(m.name).BindText(NowTimestamp()).Run());
  }
  QTUNE_RETURN_IF_ERROR(txn.Commit());
  *version = LatestVersion();
  return absl::OkStatus();
}

absl::Status CheckMigrationList() {
  int expected = 1;
  for (const internal::Migration& m : internal::Migrations()) {
    if (m.version != expected++) {
      return absl::InternalError("embedded migrations are not numbered 1, 2, 3, ...");
    }
  }
  return expected > 1 ? absl::OkStatus() : absl::InternalError("no embedded migrations");
}

}  // namespace

std::string NowTimestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         static_cast<int>(ms % 1000));
}

namespace {

std::string HostName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "localhost";
  std::string name(host);
  std::replace(name.begin(), name.end(), ':', '_');
  return name;
}

// Start time of process `pid` in clock ticks since boot (field 22 of
// /proc/PID/stat), or empty when there is no such process.
std::string ProcessStart(int64_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may hold spaces.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state), so field 22 is fields[19].
  return fields.size() > 19 ? std::string(fields[19]) : "";
}

bool HeartbeatStale(const std::string& heartbeat_at, const Clock& clock) {
  absl::Time beat;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", heartbeat_at, &beat, &error)) return true;
  return clock.Now() - beat > absl::Seconds(kJobHeartbeatTimeoutSeconds);
}

}  // namespace

std::string CurrentJobOwner() {
  return absl::StrCat(HostName(), ":", getpid(), ":", ProcessStart(getpid()));
}

bool JobOwnerGone(const std::string& owner, const std::string& heartbeat_at, const Clock& clock) {
  std::vector<std::string> parts = absl::StrSplit(owner, ':');
  int64_t pid = 0;
  if (parts.size() == 3 && parts[0] == HostName() && absl::SimpleAtoi(parts[1], &pid) &&
      pid > 0 && !parts[2].empty()) {
    return ProcessStart(pid) != parts[2];
  }
  return HeartbeatStale(heartbeat_at, clock);
}

namespace {
// device_ref, workload_ref, build_ref, settings_ref of a Slice.
using SliceRefs = std::array<int64_t, 4>;
}  // namespace

struct Store::Impl {
  std::string path;
  bool read_only = false;
  int schema_version = 0;
  std::unique_ptr<Connection> conn;

  absl::Status Writable() const {
    if (read_only) return absl::FailedPreconditionError(absl::StrCat(path, " is open read-only"));
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> IdOf(absl::string_view what, const char* sql, const std::string& key) {
    QTUNE_ASSIGN_OR_RETURN(Query q, conn->Prepare(sql));
    q.BindText(key);
    QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return absl::NotFoundError(absl::StrCat(what, " '", key, "' not found"));
    return q.Int(0);
  }
  absl::StatusOr<int64_t> DeviceId(const std::string& key) {
    return IdOf("device", "SELECT id FROM devices WHERE device_key = ?", key);
  }
  absl::StatusOr<int64_t> WorkloadId(const std::string& key) {
    return IdOf("workload", "SELECT id FROM workloads WHERE workload_key = ?", key);
  }
  absl::StatusOr<int64_t> JobId(const std::string& key) {
    return IdOf("job", "SELECT id FROM jobs WHERE job_id = ?", key);
  }
  // The row ids of a slice's device, workload, build and settings; nullopt
  // when one of them is not in the database (then the slice has no trials).
  absl::StatusOr<std::optional<SliceRefs>> FindSlice(const Slice& slice) {
    const std::pair<const char*, std::string> lookups[] = {
        {"SELECT id FROM devices WHERE device_key = ?", slice.device_key},
        {"SELECT id FROM workloads WHERE workload_key = ?", slice.workload_key},
        {"SELECT id FROM builds WHERE build_id = ?",
         slice.build_id.empty() ? kUnknownBuild : slice.build_id},
        {"SELECT id FROM settings WHERE settings = ?",
         slice.settings.empty() ? kUnknownSettings : slice.settings}};
    SliceRefs refs;
    for (size_t i = 0; i < refs.size(); ++i) {
      absl::StatusOr<int64_t> id = IdOf("", lookups[i].first, lookups[i].second);
      if (absl::IsNotFound(id.status())) return std::nullopt;
      QTUNE_RETURN_IF_ERROR(id.status());
      refs[i] = *id;
    }
    return refs;
  }
  // The row id of a build / settings text, inserted when new.
  absl::StatusOr<int64_t> BuildRef(const std::string& build_id) {
    return InternedId("builds", "build_id", build_id.empty() ? kUnknownBuild : build_id);
  }
  absl::StatusOr<int64_t> SettingsRef(const std::string& settings) {
    return InternedId("settings", "settings", settings.empty() ? kUnknownSettings : settings);
  }
  absl::StatusOr<int64_t> InternedId(absl::string_view table, absl::string_view column,
                                     const std::string& value) {
    QTUNE_ASSIGN_OR_RETURN(
        Query insert, conn->Prepare(absl::StrCat("INSERT INTO ", table, " (", column,
                                                 ") VALUES (?) ON CONFLICT DO NOTHING")));
    QTUNE_RETURN_IF_ERROR(insert.BindText(value).Run());
    QTUNE_ASSIGN_OR_RETURN(
        Query q, conn->Prepare(absl::StrCat("SELECT id FROM ", table, " WHERE ", column, " = ?")));
    q.BindText(value);
    QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return absl::InternalError(absl::StrCat("no ", table, " row for '", value, "'"));
    return q.Int(0);
  }

  // Records that `device` was seen with `build` between `first` and `last`:
  // widens the (device, build) row's time span, and sets its info when
  // `info_json` is not empty.
  absl::Status SeenWithBuild(int64_t device, int64_t build, const std::string& info_json,
                             const std::string& first, const std::string& last) {
    QTUNE_ASSIGN_OR_RETURN(
        Query q,
        conn->Prepare(
            "INSERT INTO device_builds (device_ref, build_ref, info_json, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_ref, build_ref) DO UPDATE SET "
            "info_json = CASE WHEN excluded.info_json = '' THEN info_json "
            "ELSE excluded.info_json END, "
            "first_seen = min(first_seen, excluded.first_seen), "
            "last_seen = max(last_seen, excluded.last_seen)"));
    return q.BindInt(device).BindInt(build).BindText(info_json).BindText(first).BindText(last).Run();
  }

  // The INSERT of each table. With `skip_existing`, a row whose natural key
  // exists is left as it is (Changes() == 0); otherwise devices, workloads
  // and tasks are updated and jobs and trials fail with ALREADY_EXISTS.
  absl::Status InsertDevice(const DeviceRecord& d, bool skip_existing) {
    std::string sql =
        "INSERT INTO devices (device_key, arch, cpu_name, cores, info_json, first_seen, "
        "last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_key) DO ";
    sql += skip_existing ? "NOTHING"
                         : "UPDATE SET arch = excluded.arch, cpu_name = excluded.cpu_name, "
                           "cores = excluded.cores, info_json = excluded.info_json, "
                           "last_seen = excluded.last_seen";
    QTUNE_ASSIGN_OR_RETURN(Query q, conn->Prepare(sql));
    return q.BindText(d.device_key)
        .BindText(d.arch)
        .BindText(d.cpu_name)
        .BindInt(d.cores)
        .BindText(d.info_json)
        .BindText(d.first_seen)
        .BindText(d.last_seen)
        .Run();
  }

  // One line of the "builds" table of Export().
  absl::Status InsertBuild(const BuildRecord& b) {
    QTUNE_ASSIGN_OR_RETURN(int64_t device, DeviceId(b.device_key));
    QTUNE_ASSIGN_OR_RETURN(int64_t build, BuildRef(b.build_id));
    QTUNE_ASSIGN_OR_RETURN(
        Query q, conn->Prepare("INSERT INTO device_builds (device_ref, build_ref, info_json, "
                               "first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
                               "ON CONFLICT (device_ref, build_ref) DO NOTHING"));
    return q.BindInt(device)
        .BindInt(build)
        .BindText(b.info_json)
        .BindText(b.first_seen)
        .BindText(b.last_seen)
        .Run();
  }

  absl::Status InsertWorkload(const WorkloadRecord& w, bool skip_existing) {
    std::string sql =
        "INSERT INTO workloads (workload_key, op_kind, dtype, shape, macs) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (workload_key) DO ";
    sql += skip_existing ? "NOTHING"
                         : "UPDATE SET op_kind = excluded.op_kind, dtype = excluded.dtype, "
                           "shape = excluded.shape, macs = excluded.macs";
    QTUNE_ASSIGN_OR_RETURN(Query q, conn->Prepare(sql));
    return q.BindText(w.workload_key)
        .BindText(w.op_kind)
        .BindText(w.dtype)
        .BindText(w.shape)
        .BindInt(w.macs)
        .Run();
  }

  absl::Status InsertJob(const JobRecord& j, bool skip_existing) {
    QTUNE_ASSIGN_OR_RETURN(int64_t device, DeviceId(j.device_key));
    if (!j.name.empty()) {
      // A name is unique; an imported job whose name is taken keeps its id
      // and loses the name rather than failing the import.
      QTUNE_ASSIGN_OR_RETURN(Query q, conn->Prepare("SELECT job_id FROM jobs WHERE name = ?"));
      q.BindText(j.name);
      QTUNE_ASSIGN_OR_RETURN(bool taken, q.Step());
      if (taken && q.Text(0) != j.job_id) {
        if (!skip_existing) {
          return absl::AlreadyExistsError(
              absl::StrCat("a job named '", j.name, "' already exists (", q.Text(0), ")"));
        }
        JobRecord renamed = j;
        renamed.name.clear();
        return InsertJob(renamed, skip_existing);
      }
    }
    std::string sql =
        "INSERT INTO jobs (job_id, model, device_ref, state, args_json, created_at, "
        "finished_at, name, owner, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    if (skip_existing) sql += " ON CONFLICT (job_id) DO NOTHING";
    QTUNE_ASSIGN_OR_RETURN(Query q, conn->Prepare(sql));
    absl::Status s = q.BindText(j.job_id)
                         .BindText(j.model)
                         .BindInt(device)
                         .BindText(j.state)
                         .BindText(j.args_json)
                         .BindText(j.created_at)
                         .BindText(j.finished_at)
                         .BindText(j.name)
                         .BindText(j.owner)
                         .BindText(j.heartbeat_at)
                         .Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(absl::StrCat("job '", j.job_id, "' already exists"));
    }
    return s;
  }

  absl::Status InsertTask(const TaskRecord& t, bool skip_existing) {
    QTUNE_ASSIGN_OR_RETURN(int64_t job, JobId(t.job_id));
    QTUNE_ASSIGN_OR_RETURN(int64_t workload, WorkloadId(t.workload_key));
    std::string sql =
        "INSERT INTO tasks (job_ref, name, workload_ref, occurrences) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (job_ref, name) DO ";
    sql += skip_existing ? "NOTHING"
                         : "UPDATE SET workload_ref = excluded.workload_ref, "
                           "occurrences = excluded.occurrences";
    QTUNE_ASSIGN_OR_RETURN(Query q, conn->Prepare(sql));
    return q.BindInt(job).BindText(t.name).BindInt(workload).BindInt(t.occurrences).Run();
  }

  absl::Status InsertTrial(const TrialRecord& t, bool skip_existing) {
    QTUNE_ASSIGN_OR_RETURN(int64_t job, JobId(t.job_id));
    QTUNE_ASSIGN_OR_RETURN(int64_t device, DeviceId(t.device_key));
    QTUNE_ASSIGN_OR_RETURN(int64_t workload, WorkloadId(t.workload_key));
    QTUNE_ASSIGN_OR_RETURN(int64_t build, BuildRef(t.build_id));
    QTUNE_ASSIGN_OR_RETURN(int64_t settings, SettingsRef(t.settings));
    const std::string created_at = t.created_at.empty() ? NowTimestamp() : t.created_at;
    std::string sql =
        "INSERT INTO trials (job_ref, seq, device_ref, workload_ref, build_ref, settings_ref, "
        "task, config, config_json, status, message, kernel, median_us, min_us, stddev_us, "
        "repeats, compile_ms, measure_ms, created_at, cv_permille, load_centicores, remeasures, "
        "cpu_mhz, temp_decidegrees) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    if (skip_existing) sql += " ON CONFLICT (job_ref, seq) DO NOTHING";
    QTUNE_ASSIGN_OR_RETURN(Query q, conn->Prepare(sql));
    absl::Status s = q.BindInt(job)
                         .BindInt(t.seq)
                         .BindInt(device)
                         .BindInt(workload)
                         .BindInt(build)
                         .BindInt(settings)
                         .BindText(t.task)
                         .BindText(t.config)
                         .BindText(t.config_json)
                         .BindText(t.status)
                         .BindText(t.message)
                         .BindText(t.kernel)
                         .BindDouble(t.median_us)
                         .BindDouble(t.min_us)
                         .BindDouble(t.stddev_us)
                         .BindInt(t.repeats)
                         .BindDouble(t.compile_ms)
                         .BindDouble(t.measure_ms)
                         .BindText(created_at)
                         .BindInt(Scaled(t.cv, 1000))
                         .BindInt(Scaled(t.outside_load, 100))
                         .BindInt(t.remeasures)
                         .BindInt(Scaled(t.cpu_mhz, 1))
                         .BindInt(Scaled(t.temp_c, 10))
                         .Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(
          absl::StrCat("trial ", t.seq, " of job '", t.job_id, "' already exists"));
    }
    QTUNE_RETURN_IF_ERROR(s);
    if (conn->Changes() == 0) return absl::OkStatus();  // skipped: already present
    return SeenWithBuild(device, build, "", created_at, created_at);
  }

  // Reads one Export() line into the database; adds to `stats`.
  absl::Status ImportLine(absl::string_view line, ImportStats& stats) {
    QTUNE_ASSIGN_OR_RETURN(Json object, json::ParseObject(line));
    JsonFields fields(object);
    std::string table;
    QTUNE_RETURN_IF_ERROR(fields.GetString("table", &table, /*required=*/true));
    int64_t* added = nullptr;
    if (table == "devices") {
      DeviceRecord r;
      QTUNE_RETURN_IF_ERROR(internal::ReadFields(fields, &r));
      QTUNE_RETURN_IF_ERROR(ValidateDevice(r));
      if (r.first_seen.empty()) r.first_seen = NowTimestamp();
      if (r.last_seen.empty()) r.last_seen = r.first_seen;
      QTUNE_RETURN_IF_ERROR(InsertDevice(r, /*skip_existing=*/true));
      added = &stats.devices;
    } else if (table == "builds") {
      BuildRecord r;
      QTUNE_RETURN_IF_ERROR(internal::ReadFields(fields, &r));
      if (r.device_key.empty()) return Invalid("build", "empty device_key");
      if (r.build_id.empty()) return Invalid("build", "empty build_id");
      if (r.first_seen.empty()) r.first_seen = NowTimestamp();
      if (r.last_seen.empty()) r.last_seen = r.first_seen;
      QTUNE_RETURN_IF_ERROR(InsertBuild(r));
      added = &stats.builds;
    } else if (table == "workloads") {
      WorkloadRecord r;
      QTUNE_RETURN_IF_ERROR(internal::ReadFields(fields, &r));
      QTUNE_RETURN_IF_ERROR(ValidateWorkload(r));
      QTUNE_RETURN_IF_ERROR(InsertWorkload(r, /*skip_existing=*/true));
      added = &stats.workloads;
    } else if (table == "jobs") {
      JobRecord r;
      QTUNE_RETURN_IF_ERROR(internal::ReadFields(fields, &r));
      QTUNE_RETURN_IF_ERROR(ValidateJobState(r.state));
      if (r.created_at.empty()) r.created_at = NowTimestamp();
      QTUNE_RETURN_IF_ERROR(InsertJob(r, /*skip_existing=*/true));
      added = &stats.jobs;
    } else if (table == "tasks") {
      TaskRecord r;
      QTUNE_RETURN_IF_ERROR(internal::ReadFields(fields, &r));
      QTUNE_RETURN_IF_ERROR(ValidateTask(r));
      QTUNE_RETURN_IF_ERROR(InsertTask(r, /*skip_existing=*/true));
      added = &stats.tasks;
    } else if (table == "trials") {
      TrialRecord r;
      QTUNE_RETURN_IF_ERROR(internal::ReadFields(fields, &r));
      QTUNE_RETURN_IF_ERROR(ValidateTrial(r));
      QTUNE_RETURN_IF_ERROR(InsertTrial(r, /*skip_existing=*/true));
      added = &stats.trials;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown table \"", table,
          "\" (expected devices, builds, workloads, jobs, tasks or trials)"));
    }
    if (conn->Changes() > 0) {
      ++*added;
    } else {
      ++stats.skipped;
    }
    return absl::OkStatus();
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

int Store::schema_version() const { return impl_->schema_version; }
const std::string& Store::path() const { return impl_->path; }

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path, Mode mode) {
  QTUNE_RETURN_IF_ERROR(CheckMigrationList());
  if (path.empty()) return absl::InvalidArgumentError("empty database path");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->read_only = mode == Mode::kReadOnly;

  std::error_code ec;
  bool exists = std::filesystem::exists(path, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat(path, ": ", ec.message()));
  if (!exists && mode != Mode::kCreateIfMissing) {
    return absl::NotFoundError(absl::StrCat(path, ": no such database"));
  }

  bool empty = !exists;
  if (exists) {
    QTUNE_ASSIGN_OR_RETURN(empty, CheckHeader(path));
    if (empty && mode == Mode::kReadOnly) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is an empty file, not a qtune database"));
    }
  }
  if (!empty) {
    // A qtune file: check its schema version before writing anything.
    auto probe = OpenProbe(path);
    if (!probe.ok()) return Annotate(probe.status(), path);
    QTUNE_ASSIGN_OR_RETURN(DbState state, ProbeState(**probe, path));
    if (mode == Mode::kReadOnly) {
      // The store's own connection sees concurrent writers; check again
      // through it in case the file changed since the probe.
      auto conn = Connection::Open(path, SQLITE_OPEN_READONLY);
      if (!conn.ok()) return Annotate(conn.status(), path);
      QTUNE_ASSIGN_OR_RETURN(state, ProbeState(**conn, path));
      if (state.version < LatestVersion()) {
        return absl::FailedPreconditionError(absl::StrCat(
            path, " has schema version ", state.version, "; open it for writing once to ",
            "upgrade it to version ", LatestVersion()));
      }
      impl->schema_version = state.version;
      impl->conn = std::move(*conn);
      return std::unique_ptr<Store>(new Store(std::move(impl)));
    }
  }

  int flags = SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE);
  auto conn = Connection::Open(path, flags);
  if (!conn.ok()) return Annotate(conn.status(), path);
  impl->conn = std::move(*conn);
  Connection& c = *impl->conn;
  if (empty) {
    // Mark the file as qtune's before WAL mode exists, so that the id sits
    // in the main file's header (see CheckHeader).
    QTUNE_RETURN_IF_ERROR(c.Exec(absl::StrCat("PRAGMA application_id = ", kApplicationId)));
  }
  {
    QTUNE_ASSIGN_OR_RETURN(Query q, c.Prepare("PRAGMA journal_mode = WAL"));
    QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row || q.Text(0) != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": cannot switch to WAL mode (", row ? q.Text(0) : "", ")"));
    }
  }
  QTUNE_RETURN_IF_ERROR(c.Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"));
  QTUNE_RETURN_IF_ERROR(Migrate(c, path, &impl->schema_version));
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

absl::Status Store::UpsertDevice(const DeviceRecord& device) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  QTUNE_RETURN_IF_ERROR(ValidateDevice(device));
  DeviceRecord d = device;
  d.first_seen = d.last_seen = NowTimestamp();
  QTUNE_ASSIGN_OR_RETURN(Transaction txn,
                         Transaction::Begin(*impl_->conn, Transaction::Kind::kWrite));
  QTUNE_RETURN_IF_ERROR(impl_->InsertDevice(d, /*skip_existing=*/false));
  QTUNE_ASSIGN_OR_RETURN(int64_t device_ref, impl_->DeviceId(d.device_key));
  QTUNE_ASSIGN_OR_RETURN(int64_t build_ref, impl_->BuildRef(d.build_id));
  QTUNE_RETURN_IF_ERROR(
      impl_->SeenWithBuild(device_ref, build_ref, d.info_json, d.last_seen, d.last_seen));
  return txn.Commit();
}

absl::Status Store::UpsertWorkload(const WorkloadRecord& workload) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  QTUNE_RETURN_IF_ERROR(ValidateWorkload(workload));
  return impl_->InsertWorkload(workload, /*skip_existing=*/false);
}

absl::StatusOr<std::string> Store::CreateJob(const JobRecord& job) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  JobRecord j = job;
  if (j.job_id.empty()) j.job_id = NewUuid();
  if (j.state.empty()) j.state = "running";
  QTUNE_RETURN_IF_ERROR(ValidateJobState(j.state));
  j.created_at = NowTimestamp();
  j.finished_at = j.state == "running" || j.state == "queued" ? "" : j.created_at;
  j.owner = CurrentJobOwner();
  j.heartbeat_at = j.created_at;
  QTUNE_RETURN_IF_ERROR(impl_->InsertJob(j, /*skip_existing=*/false));
  return j.job_id;
}

absl::StatusOr<JobRecord> Store::FindJob(const std::string& name) const {
  if (name.empty()) return absl::InvalidArgumentError("empty job name");
  QTUNE_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs,
                         Collect<JobRecord>(*impl_->conn, absl::StrCat(kJobSelect, " WHERE j.name = ?"),
                                            {name}, 0, ReadJob));
  if (jobs.empty()) return absl::NotFoundError(absl::StrCat("no job named '", name, "'"));
  return jobs.front();
}

absl::Status Store::ResumeJob(const std::string& job_id) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  QTUNE_ASSIGN_OR_RETURN(Transaction txn,
                         Transaction::Begin(*impl_->conn, Transaction::Kind::kWrite));
  QTUNE_ASSIGN_OR_RETURN(
      std::vector<JobRecord> jobs,
      Collect<JobRecord>(*impl_->conn, absl::StrCat(kJobSelect, " WHERE j.job_id = ?"), {job_id},
                         0, ReadJob));
  if (jobs.empty()) return absl::NotFoundError(absl::StrCat("job '", job_id, "' not found"));
  const JobRecord& job = jobs.front();
  if (job.state == "done") {
    return absl::FailedPreconditionError(
        absl::StrCat("job '", job_id, "' is done (finished ", job.finished_at, ")"));
  }
  if (job.state == "running") {
    return absl::FailedPreconditionError(
        absl::StrCat("job '", job_id, "' is still running (owner ", job.owner, ", last heartbeat ",
                     job.heartbeat_at, ")"));
  }
  const std::string now = NowTimestamp();
  QTUNE_ASSIGN_OR_RETURN(
      Query q, impl_->conn->Prepare("UPDATE jobs SET state = 'running', finished_at = '', "
                                    "owner = ?, heartbeat_at = ? WHERE job_id = ?"));
  QTUNE_RETURN_IF_ERROR(q.BindText(CurrentJobOwner()).BindText(now).BindText(job_id).Run());
  return txn.Commit();
}

absl::Status Store::AddPoolAgent(const std::string& address) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  if (address.empty()) return absl::InvalidArgumentError("empty agent address");
  QTUNE_ASSIGN_OR_RETURN(
      Query q, impl_->conn->Prepare("INSERT INTO pool_agents (address, added_at) VALUES (?, ?) "
                                    "ON CONFLICT (address) DO NOTHING"));
  return q.BindText(address).BindText(NowTimestamp()).Run();
}

absl::StatusOr<std::vector<std::string>> Store::PoolAgents() const {
  std::vector<std::string> out;
  QTUNE_RETURN_IF_ERROR(ForEachRow(*impl_->conn, "SELECT address FROM pool_agents ORDER BY id", {},
                                   0, [&](const Query& q) {
                                     out.push_back(q.Text(0));
                                     return absl::OkStatus();
                                   }));
  return out;
}

absl::Status Store::Heartbeat(const std::string& job_id) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  QTUNE_ASSIGN_OR_RETURN(Query q,
                         impl_->conn->Prepare("UPDATE jobs SET heartbeat_at = ? WHERE job_id = ?"));
  QTUNE_RETURN_IF_ERROR(q.BindText(NowTimestamp()).BindText(job_id).Run());
  if (impl_->conn->Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("job '", job_id, "' not found"));
  }
  return absl::OkStatus();
}

absl::Status Store::FinishJob(const std::string& job_id, const std::string& state) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  QTUNE_RETURN_IF_ERROR(ValidateJobState(state));
  if (state == "running" || state == "queued") {
    return absl::InvalidArgumentError(
        absl::StrCat("FinishJob needs a final state, not '", state, "'"));
  }
  QTUNE_ASSIGN_OR_RETURN(
      Query q, impl_->conn->Prepare("UPDATE jobs SET state = ?, finished_at = ? WHERE job_id = ?"));
  QTUNE_RETURN_IF_ERROR(q.BindText(state).BindText(NowTimestamp()).BindText(job_id).Run());
  if (impl_->conn->Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("job '", job_id, "' not found"));
  }
  return absl::OkStatus();
}

absl::Status Store::AddTasks(const std::vector<TaskRecord>& tasks) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  for (const TaskRecord& t : tasks) QTUNE_RETURN_IF_ERROR(ValidateTask(t));
  QTUNE_ASSIGN_OR_RETURN(Transaction txn,
                         Transaction::Begin(*impl_->conn, Transaction::Kind::kWrite));
  for (const TaskRecord& t : tasks) {
    QTUNE_RETURN_IF_ERROR(
        Annotate(impl_->InsertTask(t, /*skip_existing=*/false), absl::StrCat("task ", t.name)));
  }
  return txn.Commit();
}

absl::Status Store::AddTrials(const std::vector<TrialRecord>& trials) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  auto where = [&](size_t i) {
    return absl::StrCat("trial #", i, " of the batch (job '", trials[i].job_id, "', seq ",
                        trials[i].seq, ")");
  };
  for (size_t i = 0; i < trials.size(); ++i) {
    QTUNE_RETURN_IF_ERROR(Annotate(ValidateTrial(trials[i]), where(i)));
  }
  if (trials.empty()) return absl::OkStatus();
  QTUNE_ASSIGN_OR_RETURN(Transaction txn,
                         Transaction::Begin(*impl_->conn, Transaction::Kind::kWrite));
  std::vector<std::string> jobs;
  for (size_t i = 0; i < trials.size(); ++i) {
    QTUNE_RETURN_IF_ERROR(
        Annotate(impl_->InsertTrial(trials[i], /*skip_existing=*/false), where(i)));
    if (std::find(jobs.begin(), jobs.end(), trials[i].job_id) == jobs.end()) {
      jobs.push_back(trials[i].job_id);
    }
  }
  for (const std::string& job : jobs) QTUNE_RETURN_IF_ERROR(Heartbeat(job));
  return txn.Commit();
}

absl::StatusOr<std::vector<DeviceRecord>> Store::Devices() const {
  return Collect<DeviceRecord>(*impl_->conn, absl::StrCat(kDeviceSelect, " ORDER BY d.device_key"),
                               {}, 0, ReadDevice);
}

absl::StatusOr<std::vector<WorkloadRecord>> Store::Workloads(const Filter& filter) const {
  FilterSql f(filter);
  std::string sql = absl::StrCat(kWorkloadSelect, " WHERE ", f.Workloads("w"),
                                 " ORDER BY w.workload_key", filter.limit > 0 ? " LIMIT ?" : "");
  return Collect<WorkloadRecord>(*impl_->conn, sql, f.binds, filter.limit, ReadWorkload);
}

absl::StatusOr<std::vector<JobRecord>> Store::Jobs(const Filter& filter) const {
  FilterSql f(filter);
  // With a limit: the most recent jobs, still listed oldest first.
  std::string sql =
      absl::StrCat(kJobSelect, " WHERE ", f.Jobs("j"),
                   filter.limit > 0 ? " ORDER BY j.created_at DESC, j.job_id DESC LIMIT ?"
                                    : " ORDER BY j.created_at, j.job_id");
  QTUNE_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs,
                         Collect<JobRecord>(*impl_->conn, sql, f.binds, filter.limit, ReadJob));
  if (filter.limit > 0) std::reverse(jobs.begin(), jobs.end());
  return jobs;
}

absl::StatusOr<std::vector<TaskRecord>> Store::Tasks(const Filter& filter) const {
  FilterSql f(filter);
  std::string sql =
      absl::StrCat(kTaskSelect, " WHERE ", f.Tasks("k"), " ORDER BY kj.created_at, kj.job_id, k.id",
                   filter.limit > 0 ? " LIMIT ?" : "");
  return Collect<TaskRecord>(*impl_->conn, sql, f.binds, filter.limit, ReadTask);
}

absl::StatusOr<std::vector<TrialRecord>> Store::History(const Filter& filter) const {
  FilterSql f(filter);
  // With a limit: the most recent trials, still listed in insertion order.
  std::string sql =
      absl::StrCat(TrialSelect(), " WHERE ", f.Trials("t"),
                   filter.limit > 0 ? " ORDER BY t.id DESC LIMIT ?" : " ORDER BY t.id");
  QTUNE_ASSIGN_OR_RETURN(std::vector<TrialRecord> trials,
                         Collect<TrialRecord>(*impl_->conn, sql, f.binds, filter.limit, ReadTrial));
  if (filter.limit > 0) std::reverse(trials.begin(), trials.end());
  return trials;
}

absl::StatusOr<std::vector<BestRecord>> Store::Best(const Filter& filter) const {
  FilterSql f(filter);
  const bool by_build = filter.builds == Filter::Builds::kAll || filter.build_id.has_value();
  std::string sql = absl::StrCat(kBestColumns, by_build ? "best_by_build" : "best", " WHERE ",
                                 f.Best(), " ORDER BY device_key, median_us, workload_key",
                                 by_build ? ", build_id" : "", filter.limit > 0 ? " LIMIT ?" : "");
  return Collect<BestRecord>(*impl_->conn, sql, f.binds, filter.limit, ReadBest);
}

absl::StatusOr<std::vector<BuildRecord>> Store::Builds(const Filter& filter) const {
  FilterSql f(filter);
  std::string sql = absl::StrCat(kBuildSelect, " WHERE ", f.Builds("x"),
                                 " ORDER BY d.device_key, x.first_seen, x.id",
                                 filter.limit > 0 ? " LIMIT ?" : "");
  return Collect<BuildRecord>(*impl_->conn, sql, f.binds, filter.limit, ReadBuild);
}

absl::StatusOr<std::vector<TrialCount>> Store::TrialCounts(const Filter& filter) const {
  if (filter.job_id) {
    return absl::InvalidArgumentError("trial counts are kept per slice, not per job");
  }
  FilterSql f(filter);
  std::string sql = absl::StrCat(
      kCountSelect, " WHERE ", f.Counts("c"),
      " ORDER BY cd.device_key, cw.workload_key, cb.build_id, cs.settings, c.status",
      filter.limit > 0 ? " LIMIT ?" : "");
  return Collect<TrialCount>(*impl_->conn, sql, f.binds, filter.limit, ReadCount);
}

absl::StatusOr<std::vector<std::string>> Store::MeasuredConfigs(
    const Slice& slice, const std::vector<std::string>& retry) const {
  std::vector<std::string> configs;
  QTUNE_ASSIGN_OR_RETURN(std::optional<SliceRefs> refs, impl_->FindSlice(slice));
  if (!refs) return configs;
  // Entries come in (config, status) order. After this many entries of one
  // config the rest of its run is skipped with a new seek past it.
  constexpr int64_t kRunBeforeSeek = 4;
  auto add = [&](std::string config, int64_t entries, const std::string& status) {
    if (entries == 1 && std::find(retry.begin(), retry.end(), status) != retry.end()) return;
    configs.push_back(std::move(config));
  };
  std::optional<std::string> after;
  while (true) {
    QTUNE_ASSIGN_OR_RETURN(
        Query q, impl_->conn->Prepare(absl::StrCat(
                     "SELECT config, status FROM trials INDEXED BY trials_config "
                     "WHERE device_ref = ? AND workload_ref = ? AND build_ref = ? "
                     "AND settings_ref = ?",
                     after ? " AND config > ?" : "", " ORDER BY config, status")));
    for (int64_t ref : *refs) q.BindInt(ref);
    if (after) q.BindText(*after);
    std::string current, status;
    int64_t entries = 0;
    bool skip_run = false;
    while (true) {
      QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      std::string config = q.Text(0);
      if (entries > 0 && config == current) {
        if (++entries > kRunBeforeSeek) {
          skip_run = true;
          break;
        }
        continue;
      }
      if (entries > 0) add(std::move(current), entries, status);
      current = std::move(config);
      status = q.Text(1);
      entries = 1;
    }
    if (entries > 0) add(current, entries, status);
    if (!skip_run) return configs;
    after = std::move(current);
  }
}

absl::StatusOr<std::vector<TrialRecord>> Store::Sample(const Slice& slice, int best,
                                                       int spread) const {
  if (best < 1 || spread < 0) {
    return absl::InvalidArgumentError("a sample needs best >= 1 and spread >= 0");
  }
  std::vector<TrialRecord> sample;
  QTUNE_ASSIGN_OR_RETURN(std::optional<SliceRefs> refs, impl_->FindSlice(slice));
  if (!refs) return sample;
  // The first trial of the slice, in the order of `best`, whose median is
  // above the last one taken and at least `at_least`: one index seek.
  const double any = -std::numeric_limits<double>::infinity();
  double last_median = any;
  auto next = [&](double at_least) -> absl::StatusOr<bool> {
    QTUNE_ASSIGN_OR_RETURN(
        Query q, impl_->conn->Prepare(absl::StrCat(
                     TrialSelect("trials_ok"),
                     " WHERE t.device_ref = ? AND t.workload_ref = ? AND t.build_ref = ? "
                     "AND t.settings_ref = ? AND t.status = 'OK' AND t.median_us >= ? "
                     "ORDER BY t.median_us, t.min_us, t.id LIMIT 1")));
    for (int64_t ref : *refs) q.BindInt(ref);
    const double above_last = std::nextafter(last_median, std::numeric_limits<double>::infinity());
    q.BindDouble(std::max(at_least, above_last));
    QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return false;
    sample.push_back(ReadTrial(q));
    last_median = sample.back().median_us;
    return true;
  };
  for (int i = 0; i < best; ++i) {
    QTUNE_ASSIGN_OR_RETURN(bool found, next(any));
    if (!found) return sample;  // the slice has no more
  }
  if (spread == 0) return sample;
  double slowest = 0;
  {
    QTUNE_ASSIGN_OR_RETURN(
        Query q, impl_->conn->Prepare(
                     "SELECT median_us FROM trials INDEXED BY trials_ok "
                     "WHERE device_ref = ? AND workload_ref = ? AND build_ref = ? "
                     "AND settings_ref = ? AND status = 'OK' ORDER BY median_us DESC LIMIT 1"));
    for (int64_t ref : *refs) q.BindInt(ref);
    QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return sample;
    slowest = q.Double(0);
  }
  const double from = last_median;
  for (int j = 1; j <= spread; ++j) {
    const double f = static_cast<double>(j) / spread;
    // Log spacing needs positive latencies; linear spacing otherwise.
    double at = from > 0 ? from * std::pow(slowest / from, f) : from + (slowest - from) * f;
    if (j == spread) at = slowest;
    QTUNE_ASSIGN_OR_RETURN(bool found, next(at));
    if (!found) break;
  }
  return sample;
}

absl::StatusOr<std::string> Store::CurrentBuild(const std::string& device_key) const {
  QTUNE_ASSIGN_OR_RETURN(
      Query q, impl_->conn->Prepare("SELECT b.build_id FROM current_builds c "
                                    "JOIN builds b ON b.id = c.build_ref "
                                    "JOIN devices d ON d.id = c.device_ref WHERE d.device_key = ?"));
  q.BindText(device_key);
  QTUNE_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("device '", device_key, "' not found"));
  return q.Text(0);
}

absl::Status Store::Export(std::ostream& out, const Filter& filter) const {
  Connection& conn = *impl_->conn;
  // One read transaction: every table is read from the same snapshot.
  QTUNE_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(conn, Transaction::Kind::kRead));

  // A filter selects the trials, tasks and jobs related to it; the export
  // then holds those plus every row they reference, so that it imports on
  // its own. Without a filter every row is exported.
  const bool all = FilterSql(filter).empty();
  auto selection = [&](FilterSql& f) {
    std::string trials = f.Trials("t");
    std::string tasks = f.Tasks("k");
    std::string jobs = f.Jobs("j");
    return absl::StrCat(
        "WITH sel_trials AS (SELECT id, job_ref, device_ref, workload_ref FROM trials t WHERE ",
        trials, "), sel_tasks AS (SELECT id, job_ref, workload_ref FROM tasks k WHERE ", tasks,
        "), sel_jobs AS (SELECT id, device_ref FROM jobs j WHERE ", jobs,
        " OR id IN (SELECT job_ref FROM sel_trials) OR id IN (SELECT job_ref FROM sel_tasks)) ");
  };

  auto write = [&out](absl::string_view table, const auto& record) {
    Json line = {{"table", table}};
    internal::AddFields(line, record);
    out << json::Dump(line) << '\n';
    return out ? absl::OkStatus() : absl::DataLossError("export: write failed");
  };

  // Rows about the exported devices: all of them without a filter; else the
  // matching devices and those of the selected jobs and trials.
  auto device_rows = [&](const char* select, const char* order, auto write_row) {
    FilterSql f(filter);
    std::string sql = absl::StrCat(select, order);
    if (!all) {
      std::string with = selection(f);  // binds in text order: WITH first
      std::string match = f.Devices("d");
      sql = absl::StrCat(with, select, " WHERE ", match,
                         " OR d.id IN (SELECT device_ref FROM sel_jobs)"
                         " OR d.id IN (SELECT device_ref FROM sel_trials)",
                         order);
    }
    return ForEachRow(conn, sql, f.binds, 0, write_row);
  };
  QTUNE_RETURN_IF_ERROR(device_rows(kDeviceSelect, " ORDER BY d.device_key", [&](const Query& q) {
    return write("devices", ReadDevice(q));
  }));
  // Their builds; trials name their build again.
  QTUNE_RETURN_IF_ERROR(device_rows(kBuildSelect, " ORDER BY d.device_key, x.first_seen, x.id",
                                    [&](const Query& q) { return write("builds", ReadBuild(q)); }));
  {
    FilterSql f(filter);
    std::string sql = absl::StrCat(kWorkloadSelect, " ORDER BY w.workload_key");
    if (!all) {
      std::string with = selection(f);
      std::string match = f.Workloads("w");
      sql = absl::StrCat(with, kWorkloadSelect, " WHERE ", match,
                         " OR w.id IN (SELECT workload_ref FROM sel_trials)"
                         " OR w.id IN (SELECT workload_ref FROM sel_tasks)"
                         " ORDER BY w.workload_key");
    }
    QTUNE_RETURN_IF_ERROR(ForEachRow(conn, sql, f.binds, 0, [&](const Query& q) {
      return write("workloads", ReadWorkload(q));
    }));
  }
  {
    FilterSql f(filter);
    std::string sql = absl::StrCat(all ? "" : selection(f), kJobSelect,
                                   all ? "" : " WHERE j.id IN (SELECT id FROM sel_jobs)",
                                   " ORDER BY j.created_at, j.job_id");
    QTUNE_RETURN_IF_ERROR(ForEachRow(conn, sql, f.binds, 0, [&](const Query& q) {
      return write("jobs", ReadJob(q));
    }));
  }
  {
    FilterSql f(filter);
    std::string sql = absl::StrCat(kTaskSelect, " WHERE ", f.Tasks("k"),
                                   " ORDER BY kj.created_at, kj.job_id, k.id");
    QTUNE_RETURN_IF_ERROR(ForEachRow(conn, sql, f.binds, 0, [&](const Query& q) {
      return write("tasks", ReadTask(q));
    }));
  }
  {
    FilterSql f(filter);
    std::string sql = absl::StrCat(TrialSelect(), " WHERE ", f.Trials("t"),
                                   " ORDER BY tj.created_at, tj.job_id, t.seq");
    QTUNE_RETURN_IF_ERROR(ForEachRow(conn, sql, f.binds, 0, [&](const Query& q) {
      return write("trials", ReadTrial(q));
    }));
  }
  out.flush();
  if (!out) return absl::DataLossError("export: write failed");
  return txn.Commit();
}

absl::StatusOr<ImportStats> Store::Import(std::istream& in) {
  QTUNE_RETURN_IF_ERROR(impl_->Writable());
  QTUNE_ASSIGN_OR_RETURN(Transaction txn,
                         Transaction::Begin(*impl_->conn, Transaction::Kind::kWrite));
  ImportStats stats;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    QTUNE_RETURN_IF_ERROR(
        Annotate(impl_->ImportLine(line, stats), absl::StrCat("import line ", number)));
  }
  if (in.bad()) return absl::DataLossError("import: read failed");
  QTUNE_RETURN_IF_ERROR(txn.Commit());
  return stats;
}

}  // namespace qtune::db
