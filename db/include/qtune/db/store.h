// File: store.h
// The tuning database: one SQLite file (WAL mode) holding devices, workloads,
// jobs, the tasks of each job, and every trial (failures included, with their
// reason). The best configuration per (device, workload) is a view over a
// table that is kept up to date as trials are stored, so that it costs the
// same for a million trials as for a thousand. The schema is documented in
// docs/db-schema.md and created by ordered migrations
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
#include "common/clock.h"

namespace qtune::db {

// Timestamps are UTC ISO-8601 strings with millisecond precision,
// "2026-11-28T09:24:47.123Z".
std::string NowTimestamp();

// The kernel build of trials recorded before builds were tracked (schema
// version 1), and of records that name none.
inline constexpr char kUnknownBuild[] = "unknown";
// The measurement settings of such trials.
inline constexpr char kUnknownSettings[] = "unknown";

struct DeviceRecord {
  std::string device_key;  // natural key
  std::string arch;
  std::string cpu_name;
  int32_t cores = 0;
  std::string info_json;   // the latest DeviceInfo message as JSON
  std::string first_seen;  // set by the store
  std::string last_seen;   // set by the store
  // UpsertDevice: the kernel build the device is seen with now (empty =
  // kUnknownBuild); it becomes the device's current build, and info_json is
  // also kept per (device, build). Not read back by Devices().
  std::string build_id;
};

// One kernel build a device was seen with (`qtune db builds`).
struct BuildRecord {
  std::string device_key;
  std::string build_id;
  std::string info_json;   // the DeviceInfo the agent of this build reported
  std::string first_seen;
  std::string last_seen;
  int64_t trials = 0;      // trials of this (device, build)
  int64_t ok_trials = 0;
  bool current = false;    // the device's current build: the latest seen
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
  // "queued" (created by the daemon, not started yet), "running", "done",
  // "failed", "cancelled" or "interrupted". Jobs() and
  // FindJob() report a "running" job whose owner is gone (JobOwnerGone) as
  // "interrupted" even before anything has written that state.
  std::string state;
  std::string args_json;    // the job's options as JSON
  std::string created_at;   // set by the store
  std::string finished_at;  // empty while running
  std::string name;         // optional, unique among jobs when not empty
  std::string owner;        // the process running it (CurrentJobOwner()); set by CreateJob
  std::string heartbeat_at; // the owner's last sign of life (CreateJob, AddTrials, Heartbeat)
};

// The job owner string of this process: "host:pid:start".
std::string CurrentJobOwner();
// Whether the process `owner` names is known to be gone: it ran on this host
// and no process with its pid and start time exists. Owners on other hosts
// (and empty ones) are judged by the heartbeat instead: gone when
// `heartbeat_at` is older than kJobHeartbeatTimeout (or empty).
bool JobOwnerGone(const std::string& owner, const std::string& heartbeat_at,
                  const Clock& clock = Clock::Real());
// A job's owner writes a heartbeat with every batch of trials; a running job
// on another host without one for this long counts as interrupted.
inline constexpr int kJobHeartbeatTimeoutSeconds = 15 * 60;

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
  std::string build_id;      // kernel build that measured it; empty = kUnknownBuild
  std::string settings;      // measurement settings (canonical text); empty = kUnknownSettings
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
  // What the agent saw while timing (0 = not measured or not readable),
  // stored to the stated precision: coefficient of variation of the timed
  // runs (0.001), load from other processes in cores (0.01; TrialResult
  // .outside_load), re-measurements because of it, core frequency (1 MHz),
  // hottest thermal zone (0.1 °C).
  double cv = 0;
  double outside_load = 0;
  int32_t remeasures = 0;
  double cpu_mhz = 0;
  double temp_c = 0;
};

struct BestRecord {
  std::string device_key;
  std::string workload_key;
  std::string op_kind;
  std::string dtype;
  std::string shape;
  int64_t macs = 0;
  std::string build_id;      // the kernel build whose trials are ranked
  std::string config;
  std::string config_json;
  std::string kernel;
  double median_us = 0;
  double min_us = 0;
  int64_t trials = 0;        // all trials of this (device, workload, build)
  int64_t ok_trials = 0;
  std::string job_id;        // job that found the best
  std::string created_at;
};

struct Filter {
  std::optional<std::string> device_key;
  std::optional<std::string> workload_key;
  std::optional<std::string> job_id;
  std::optional<std::string> dtype;
  std::optional<std::string> settings;  // trials and their counts only
  // Kernel builds: a build id selects that build's rows; otherwise `builds`
  // decides. kDefault is kCurrent for Best() and kAll for the others.
  enum class Builds { kDefault, kCurrent, kAll };
  std::optional<std::string> build_id;
  Builds builds = Builds::kDefault;
  int64_t limit = 0;         // 0 = no limit
};

// The trials of one (device, workload, kernel build, measurement settings):
// the unit whose latencies compare. Empty build_id / settings stand for
// kUnknownBuild / kUnknownSettings.
struct Slice {
  std::string device_key;
  std::string workload_key;
  std::string build_id;
  std::string settings;
};

// How many trials of one slice have one status (Store::TrialCounts).
struct TrialCount {
  std::string device_key;
  std::string workload_key;
  std::string build_id;
  std::string settings;
  std::string status;
  int64_t trials = 0;
};

struct ImportStats {
  int64_t devices = 0, workloads = 0, jobs = 0, tasks = 0, trials = 0;  // rows added
  int64_t builds = 0;        // (device, build) rows added
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
  // Inserts the job (its device must exist), owned by this process;
  // returns its job_id. ALREADY_EXISTS when job.name is taken.
  absl::StatusOr<std::string> CreateJob(const JobRecord& job);
  absl::Status FinishJob(const std::string& job_id, const std::string& state);
  // The job named `name` (NOT_FOUND when none), its state as Jobs() reports it.
  absl::StatusOr<JobRecord> FindJob(const std::string& name) const;
  // Takes over a job that is not running (queued, interrupted, failed or
  // cancelled): state "running", this process as its owner, no finish
  // time. FAILED_PRECONDITION when it is done or still running elsewhere.
  absl::Status ResumeJob(const std::string& job_id);
  // Marks the job as alive now (AddTrials does so for the jobs of a batch).
  absl::Status Heartbeat(const std::string& job_id);

  // Agents a daemon was asked to dial (`qtune devices add`), so that a
  // restarted daemon dials them again; addresses only, in the order added.
  absl::Status AddPoolAgent(const std::string& address);
  absl::StatusOr<std::vector<std::string>> PoolAgents() const;
  absl::Status AddTasks(const std::vector<TaskRecord>& tasks);
  // All trials in one transaction: either every row lands or none.
  absl::Status AddTrials(const std::vector<TrialRecord>& trials);

  absl::StatusOr<std::vector<DeviceRecord>> Devices() const;
  absl::StatusOr<std::vector<WorkloadRecord>> Workloads(const Filter& filter = {}) const;
  absl::StatusOr<std::vector<JobRecord>> Jobs(const Filter& filter = {}) const;
  absl::StatusOr<std::vector<TaskRecord>> Tasks(const Filter& filter = {}) const;
  // Trials in insertion order (filter by device, workload, job, dtype, build,
  // settings); with filter.limit, the most recent `limit` trials (Jobs
  // likewise).
  absl::StatusOr<std::vector<TrialRecord>> History(const Filter& filter = {}) const;
  // Best OK trial per (device, workload) of each device's current build (or
  // of filter.build_id; one row per build with Builds::kAll), lowest median
  // latency first within a device. Read from the maintained best table: the
  // cost follows the number of (device, workload, build) triples.
  absl::StatusOr<std::vector<BestRecord>> Best(const Filter& filter = {}) const;
  // Trial counts per slice and status (filter: device, workload, dtype,
  // build, settings; not job), by device, workload, build, settings, status.
  // Read from a table kept up to date as trials are stored: the cost follows
  // the number of slices, not of trials.
  absl::StatusOr<std::vector<TrialCount>> TrialCounts(const Filter& filter = {}) const;
  // The distinct configs measured in `slice`, in config order, except those
  // whose only trial there has a status in `retry` (a lone TIMEOUT may be
  // worth measuring again). Reads only the trials_config index, and a run of
  // trials of one config costs one index seek: the cost follows the distinct
  // configs, not the trials.
  absl::StatusOr<std::vector<std::string>> MeasuredConfigs(
      const Slice& slice, const std::vector<std::string>& retry = {}) const;
  // A bounded sample of the OK trials of `slice`, fastest first, read
  // through the trials_ok index with one seek per trial, without visiting
  // the others: the `best` fastest, then, for each of `spread` latencies
  // spaced evenly on a log scale from the slowest of those to the slowest of
  // the slice, the fastest trial at or above it. Trials rank like `best`
  // (median, then min latency, then insertion), and a trial whose median
  // equals that of one already taken (a copy, or a re-measurement that timed
  // the same) is skipped, so a sample may hold fewer than best + spread
  // trials. INVALID_ARGUMENT unless best >= 1 and spread >= 0.
  absl::StatusOr<std::vector<TrialRecord>> Sample(const Slice& slice, int best,
                                                  int spread) const;
  // The builds each device was seen with (filter: device, build), by device
  // then first appearance.
  absl::StatusOr<std::vector<BuildRecord>> Builds(const Filter& filter = {}) const;
  // The current build of `device_key` (kUnknownBuild for a device recorded
  // before builds were tracked); NOT_FOUND for an unknown device.
  absl::StatusOr<std::string> CurrentBuild(const std::string& device_key) const;

  // JSON lines, one object per row with a "table" member, using natural keys
  // only (no row ids), in a deterministic order: devices, builds (per
  // device), workloads, jobs, tasks, trials. Doubles are written so that they parse back to the same
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
