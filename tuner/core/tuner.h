// File: tuner.h
// The one-shot tuning loop behind `qtune tune`: for every task, ask the
// device for the op's configuration space, let a search strategy propose
// batches of configs, measure them through a Runner, and store every trial.
//
//   Runner ──DescribeSpace──▶ ConfigSpace ──▶ SearchStrategy ──batch──▶ Runner::RunTrials
//      ▲                                            ▲ Notify              │ TrialResult
//      └────────────── next batch ◀─────────────────┴── Store::AddTrials ◀┘ (one transaction)
//
// Database records of a job: the device (upserted once), one workload per
// task, the job (state "running" → "done" | "failed" | "cancelled", with the
// caller's args JSON), its tasks, and every trial with a job-wide sequence
// number. Configs measured earlier on the same device are read back as the
// strategies' history: they are not measured again, and their best still
// counts as the task's best (marked from_history).
//
// Thread-safety: Tune() uses `runner`, `store` and `observer` from the
// calling thread only. `cancel` may be set from any thread (e.g. a signal
// handler); the loop stops after the current batch.
#ifndef QTUNE_TUNER_CORE_TUNER_H_
#define QTUNE_TUNER_CORE_TUNER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "proto/qtune.pb.h"
#include "qtune/db/store.h"
#include "tuner/search/features.h"
#include "tuner/core/runner.h"
#include "tuner/search/search_strategy.h"
#include "tuner/core/tasks.h"

namespace qtune::tuner {

// Trials per task of `qtune tune` when --trials is not given: the budget
// under which a whole ResNet18 in int8 and fp32 (32 tasks) finishes in
// <= 5 minutes on a 2-core x86 host with the generic kernels (measured:
// 2048 trials in 134 s with the machine otherwise busy).
inline constexpr int kDefaultTrialsPerTask = 64;
// Configs sent to the device per RunTrials call (and per DB transaction).
inline constexpr int kDefaultBatchSize = 8;

// Measurement defaults of `qtune tune`.
proto::MeasureOptions DefaultMeasureOptions();

// The database record of `op`'s workload (key, kind, dtype, shape, MACs).
db::WorkloadRecord WorkloadRecordOf(const kernels::OpSpec& op);

// Trials without a 1% gain after which a task counts as converged.
inline constexpr int kDefaultPatience = 128;

// Failed trials in a row, without any OK trial of the task, after which the
// task is given up (ended "failed", with its dominant failure): four batches
// of the default size. A layer whose every config fails cannot hold the
// time budget: without an OK trial its expected gain is unbounded.
inline constexpr int kDefaultMaxFailuresInARow = 32;

// The measurement settings that decide a trial's timing, as canonical text
// ("warmup=1,min_ms=20,repeats=3..1000,threads=0,flush=0"); stored with every
// trial. History is reused only under the same settings and kernel build.
std::string MeasureSettingsKey(const proto::MeasureOptions& options);

// How much of a task's history is read (TuneOptions::use_history). The
// history is the task's slice: its trials on this device by this kernel
// build under these measurement settings. A slice of at most `read_all`
// trials is read whole, as the strategies' history. A larger one is read
// bounded, through indexes: the configs measured there (db::Store::
// MeasuredConfigs: never proposed again, not trained on), and a sample of
// its OK trials for the cost model and the task's best (db::Store::Sample):
// the `best` fastest, then `spread` more spread evenly over log latency up
// to the slowest. The cost then follows the distinct configs and the
// sample, not the trials recorded.
inline constexpr int64_t kHistoryReadAll = 256;
inline constexpr int kHistorySampleBest = 128;
inline constexpr int kHistorySampleSpread = 128;
struct HistoryLimits {
  int64_t read_all = kHistoryReadAll;
  int best = kHistorySampleBest;   // >= 1
  int spread = kHistorySampleSpread;  // >= 0
};

// How the trials are spread over the tasks (tuner/scheduler.h): first every
// task in order gets `warm_trials` (capped by trials_per_task), then batches
// go to the task with the largest expected gain (occurrences x latency x
// recent improvement) until every task is capped, converged (`patience`) or
// exhausted, or the time budget is spent.
struct TuneOptions {
  std::string model;             // recorded in the job
  std::string strategy = "model";
  // Measured configs per task, at most; 0 = no cap (only with a time budget).
  int trials_per_task = kDefaultTrialsPerTask;
  int warm_trials = kDefaultTrialsPerTask;      // >= 1
  int patience = kDefaultPatience;              // 0 = never stop a task early
  int batch_size = kDefaultBatchSize;           // >= 1
  uint64_t seed = 1;
  proto::MeasureOptions measure = DefaultMeasureOptions();
  // Skip configs already measured on this device by the same kernel build
  // under the same measurement settings (and count their best). A config
  // whose only record there is one TIMEOUT or CRASH is measured again.
  bool use_history = true;
  HistoryLimits history;
  // Seed the model-guided strategy from records of the same op on other
  // devices and of similar ops (tuner/transfer.h).
  bool transfer = true;
  // Wall-clock budget of the whole job; zero = none. During the warm-up each
  // task gets an equal share of what is left when it starts, and always at
  // least one batch; the rest goes to the scheduler until the deadline.
  absl::Duration time_budget = absl::ZeroDuration();
  // Tasks without an OK trial end "failed" after this many failed trials in
  // a row; 0 = never.
  int max_failures_in_a_row = kDefaultMaxFailuresInARow;
  // A name for the job. When a job of that name exists and is not running
  // (interrupted, failed or cancelled) it is resumed: its recorded trials
  // count as measured, and its tasks must be the ones given. FAILED_PRECONDITION
  // when it is done or still running; a new job otherwise.
  std::string job_name;
  // Adopts the existing job `job_id` (it must not be done or running
  // elsewhere), as a resumed job: its trials count as measured; a job
  // without tasks gets the given ones. Takes precedence over job_name.
  std::string job_id;
  std::string args_json = "{}";  // the job's options, stored with the job
  const std::atomic<bool>* cancel = nullptr;  // not owned; may be null
  // Like `cancel`, but the job ends "interrupted" (resumable) instead of
  // "cancelled": a daemon shutting down. Not owned; may be null.
  const std::atomic<bool>* interrupt = nullptr;
  // The time source of the budget, the warm-up shares and the report's
  // timings; not owned; null = Clock::Real().
  const Clock* clock = nullptr;
};

struct BestTrial {
  std::string config;   // canonical config string
  std::string kernel;
  double median_us = 0;
  std::string job_id;   // job that measured it
  bool from_history = false;  // measured by an earlier job
};

struct TaskOutcome {
  Task task;
  std::string workload_key;
  uint64_t space_size = 0;   // valid configs in the device's space
  int64_t trials = 0;        // measured by this job
  int64_t ok_trials = 0;
  // Trials recorded earlier in the task's slice (same device, build and
  // settings), by other jobs.
  int64_t history_trials = 0;
  int64_t failures_in_a_row = 0;  // trailing failed trials of this job
  std::optional<BestTrial> best;
  absl::Status status;       // non-OK: the task could not be tuned (why)
  // Why the task stopped: "capped" (trial cap), "converged" (no gain within
  // the patience), "exhausted" (no unmeasured config left), "deadline" (time
  // budget), "failed" (no space, or max_failures_in_a_row; `status` says
  // why); empty while it runs.
  std::string end_reason;
  int transfer_sources = 0;  // transfer groups the strategy was given
  int transfer_seeds = 0;
};

struct TuneReport {
  std::string job_id;
  std::string device_key;
  std::string kernel_build;  // the agent's kernel build id
  bool resumed = false;      // the job existed (job_name) and was resumed
  std::string state;         // final job state, empty if no job was created
  std::vector<TaskOutcome> tasks;  // one per task started, in task order
  int64_t trials = 0;
  double wall_s = 0;         // whole Tune() call
  double measure_s = 0;      // sum of TrialResult.measure_ms
  double overhead_ms_per_trial = 0;  // (wall - measure) / trials
};

// Progress callbacks; every method has an empty default. Called on the
// thread running Tune(); `index` is the task's position in the task list.
class TuneObserver {
 public:
  virtual ~TuneObserver() = default;
  virtual void OnJobStart(const TuneReport& report, size_t num_tasks) {}
  virtual void OnTaskStart(size_t index, const TaskOutcome& task) {}
  // After every trial result (before its batch is committed).
  virtual void OnTrial(size_t index, const TaskOutcome& task, const db::TrialRecord& trial) {}
  // After a batch was committed to the database.
  virtual void OnBatch(size_t index, const TaskOutcome& task, int64_t batch_trials) {}
  virtual void OnTaskEnd(size_t index, const TaskOutcome& task) {}
};

// Runs a tuning job for `tasks` on `runner`, recording into `store`.
// OnTaskStart is called when a task is first measured (in task order) and
// OnTaskEnd once, when it leaves the rotation or the job ends.
// Returns OK when every task was tuned (state "done"). A task whose space the
// device cannot describe is skipped, recorded in its outcome, and makes the
// job "failed" after the other tasks ran (the task's error code, with a
// message naming it and counting the failed tasks). A
// lost device, a database error or `cancel` stop the job at once (state
// "failed" or "cancelled"; trials of committed batches stay). `report` (not
// null) holds what was done in every case.
absl::Status Tune(Runner& runner, db::Store& store, const std::vector<Task>& tasks,
                  const TuneOptions& options, TuneObserver* observer, TuneReport* report);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CORE_TUNER_H_
