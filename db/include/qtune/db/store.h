// File: store.h
// The tuning database: one SQLite file (WAL mode) holding devices, workloads,
// jobs, the tasks of each job, and every trial (failures included, with their
// reason). The best configuration per (device, workload) is a view. The
// schema is documented in docs/db-schema.md and created by ordered migrations
// (db/migrations/NNNN_*.sql) applied at Open().
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open("qtune.db"));
//   RETURN_IF_ERROR(store->UpsertDevice(device));
//   RETURN_IF_ERROR(store->AddTrials(batch));       // one transaction
//   ASSIGN_OR_RETURN(std::vector<BestRecord> best, store->Best({}));
//
// Thread-safety: a Store owns one SQLite connection and must be used by one
// thread at a time. Any number of Stores (threads or processes) may open the
// same file: readers never block the writer (WAL), writers wait up to the busy
// timeout (5 s) for each other.
#ifndef QTUNE_DB_STORE_H_
#define QTUNE_DB_STORE_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qtune::db {

// Timestamps are UTC ISO-8601 strings with millisecond precision,
// "2026-11-28T09:24:47.123Z".
std::string NowTimestamp();

struct DeviceRecord {
  std::string device_key;  // natural key
  std::string arch;
  std::string cpu_name;
  int32_t cores = 0;
  std::string info_json;   // the full DeviceInfo message as JSON
  std::string first_seen;  // set by the store
  std::string last_seen;   // set by the store
};

struct WorkloadRecord {
  std::string workload_key;  // natural key: kernels::CanonicalKey(op)
  std::string op_kind;       // "conv2d", "dense", ...
  std::string dtype;         // "int8", "fp32"
  std::string shape;         // kernels::ShapeString(op)
  int64_t macs = 0;
};

struct JobRecord {
  std::string job_id;       // natural key (random UUID), set by CreateJob when empty
  std::string model;
  std::string device_key;
  std::string state;        // "running", "done", "failed", "cancelled"
  std::string args_json;    // the job's options as JSON
  std::string created_at;   // set by the store
  std::string finished_at;  // empty while running
};

// One task of a job: a layer of the model and how often it occurs.
struct TaskRecord {
  std::string job_id;
  std::string name;          // e.g. "layer1.0.conv1"
  std::string workload_key;
  int32_t occurrences = 1;
};

struct TrialRecord {
  std::string job_id;
  int64_t seq = 0;           // position within the job; (job_id, seq) is the natural key
  std::string device_key;
  std::string workload_key;
  std::string task;          // task name, may be empty
  std::string config;        // canonical config string (ConfigSpace::ToString)
  std::string config_json;   // {"knob": value, ...}
  std::string status;        // TrialStatus name: "OK", "WRONG_OUTPUT", ...
  std::string message;       // why, for every status but OK
  std::string kernel;        // kernel name
  double median_us = 0;
  double min_us = 0;
  double stddev_us = 0;
  int32_t repeats = 0;
  double compile_ms = 0;
  double measure_ms = 0;
  std::string created_at;    // set by the store when empty
};

struct BestRecord {
  std::string device_key;
  std::string workload_key;
  std::string op_kind;
  std::string dtype;
  std::string shape;
  int64_t macs = 0;
  std::string config;
  std::string config_json;
  std::string kernel;
  double median_us = 0;
  double min_us = 0;
  int64_t trials = 0;        // all trials of this (device, workload)
  int64_t ok_trials = 0;
  std::string job_id;        // job that found the best
  std::string created_at;
};

struct Filter {
  std::optional<std::string> device_key;
  std::optional<std::string> workload_key;
  std::optional<std::string> job_id;
  std::optional<std::string> dtype;
  int64_t limit = 0;         // 0 = no limit
};

struct ImportStats {
  int64_t devices = 0, workloads = 0, jobs = 0, tasks = 0, trials = 0;  // rows added
  int64_t skipped = 0;       // rows already present (same natural key)
};

class Store {
 public:
  enum class Mode { kCreateIfMissing, kMustExist, kReadOnly };

  // Opens (and migrates) the database. FAILED_PRECONDITION with a one-line
  // reason when the file exists but is not a qtune database (or is newer than
  // this build); NOT_FOUND for kMustExist/kReadOnly on a missing file. Never
  // modifies a file it refuses.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                     Mode mode = Mode::kCreateIfMissing);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The highest migration applied.
  int schema_version() const;
  const std::string& path() const;

  absl::Status UpsertDevice(const DeviceRecord& device);
  absl::Status UpsertWorkload(const WorkloadRecord& workload);
  // Inserts the job (its device must exist); returns its job_id.
  absl::StatusOr<std::string> CreateJob(const JobRecord& job);
  absl::Status FinishJob(const std::string& job_id, const std::string& state);
  absl::Status AddTasks(const std::vector<TaskRecord>& tasks);
  // All trials in one transaction: either every row lands or none.
  absl::Status AddTrials(const std::vector<TrialRecord>& trials);

  absl::StatusOr<std::vector<DeviceRecord>> Devices() const;
  absl::StatusOr<std::vector<WorkloadRecord>> Workloads(const Filter& filter = {}) const;
  absl::StatusOr<std::vector<JobRecord>> Jobs(const Filter& filter = {}) const;
  absl::StatusOr<std::vector<TaskRecord>> Tasks(const Filter& filter = {}) const;
  // Trials in insertion order (filter by device, workload, job, dtype); with
  // filter.limit, the most recent `limit` trials (Jobs likewise).
  absl::StatusOr<std::vector<TrialRecord>> History(const Filter& filter = {}) const;
  // Best OK trial per (device, workload), lowest median latency first within
  // a device.
  absl::StatusOr<std::vector<BestRecord>> Best(const Filter& filter = {}) const;

  // JSON lines, one object per row with a "table" member, using natural keys
  // only (no row ids), in a deterministic order: devices, workloads, jobs,
  // tasks, trials. Doubles are written so that they parse back to the same
  // bits: Export(Import(Export(db))) == Export(db).
  absl::Status Export(std::ostream& out, const Filter& filter = {}) const;
  // Reads Export()'s format in one transaction; rows whose natural key exists
  // are skipped. A malformed line fails the whole import (nothing is written)
  // with its line number.
  absl::StatusOr<ImportStats> Import(std::istream& in);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qtune::db

#endif  // QTUNE_DB_STORE_H_
