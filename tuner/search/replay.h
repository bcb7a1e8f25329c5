// File: replay.h
// Replay benchmark of search strategies (`qtune bench-search`): a strategy is
// run against trials already recorded in the database instead of a device,
// and scored by how close it gets to the best recorded latency within a few
// trials.
//
// It cannot cheat: for every (device, workload) the replay space holds
// exactly the recorded OK configs. Its knobs take the values observed in
// them, and one constraint (a prefix tree of the recorded value combinations,
// `(a==1 && (b==2 || b==4)) || (a==2 && b==4)`) makes every other
// combination invalid, so a strategy that keeps the SearchStrategy contract
// can only propose recorded configs. The oracle answers each proposal with
// its recorded latency (the lowest median when a config was measured more
// than once); a proposal that is not recorded would still be counted as a
// failed trial, and reported in `unrecorded`.
//
//   ASSIGN_OR_RETURN(auto store, db::Store::Open(path, db::Store::Mode::kReadOnly));
//   ASSIGN_OR_RETURN(std::vector<RecordedTask> tasks, LoadRecordedTasks(*store, {}));
//   ASSIGN_OR_RETURN(ReplayReport report, Replay(tasks, ReplayOptions{.strategy = "model"}));
//
// Ratio: best-known latency / best latency found after k trials (1.0 = the
// best recorded config was found; 0 when nothing was found yet), the mean
// over `repeats` runs with seeds seed*1000003 + repeat. Deterministic for a
// seed. Checkpoints beyond the budget have no value.
//
// Thread-safety: free functions, no shared state.
#ifndef QTUNE_TUNER_SEARCH_REPLAY_H_
#define QTUNE_TUNER_SEARCH_REPLAY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qtune/db/store.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"
#include "tuner/search/features.h"
#include "tuner/search/transfer.h"

namespace qtune::tuner {

// The recorded trials of one (device, workload), as a replay space.
struct RecordedTask {
  std::string device_key;
  std::string workload_key;
  std::string name;                    // the first task name recorded for it
  std::optional<kernels::OpSpec> op;   // parsed from the workload key
  DeviceCaches caches;                 // from the device's recorded info
  kernels::ConfigSpace space;          // valid configs == the recorded ones
  std::map<kernels::Config, double> latency_us;  // every valid config of `space`
  double best_known_us = 0;
  // OK trials left out: their config string did not parse, or named another
  // knob set than most trials of the workload (another version of the space).
  int64_t skipped = 0;
};

// Builds the replay space of `trials` (one device and workload; only "OK"
// trials are used). NOT_FOUND when none is usable.
absl::StatusOr<RecordedTask> RecordedTaskFromTrials(const std::vector<db::TrialRecord>& trials);

// Every (device, workload) with OK trials in `store`, optionally of one
// device, ordered by device then first appearance. NOT_FOUND when there is
// none (naming the device when one was given).
absl::StatusOr<std::vector<RecordedTask>> LoadRecordedTasks(
    const db::Store& store, const std::optional<std::string>& device_key);

struct ReplayOptions {
  std::string strategy = "random";
  int budget = 64;        // trials per run, >= 1
  int repeats = 20;       // runs per task, >= 1
  int batch_size = 8;     // configs per ProposeBatch, >= 1
  uint64_t seed = 1;
  std::vector<int> checkpoints = {8, 16, 32, 64, 128};  // trial counts, ascending
  // The replay space is very sparse (e.g. 200 recorded of 900k raw
  // combinations), so annealing by one-knob moves, which the model-guided
  // strategy uses on large spaces, meets almost only invalid neighbours,
  // unlike on the device's space. When set, the model-guided strategy scores
  // every unseen recorded config instead (its small-space path): the replay
  // then measures the cost model's ranking rather than the annealer.
  bool model_scores_all = true;
  // Leave-one-out transfer for the model-guided strategy: each task is given
  // the other recorded tasks of its kind and dtype (nearest first, as
  // LoadTransfer picks them), each cut to `transfer_trials` configs drawn at
  // random, as if those layers had been tuned before with that budget.
  bool transfer = false;
  int transfer_trials = 64;
};

struct ReplayTaskResult {
  std::string device_key;
  std::string workload_key;
  std::string name;
  size_t recorded_configs = 0;
  // Combinations of the observed knob values; recorded_configs / raw_configs
  // is how sparse the replay space is (a strategy's neighbourhood moves
  // meet more invalid configs than on the device's space).
  uint64_t raw_configs = 0;
  double best_known_us = 0;
  // Mean ratio per checkpoint (ReplayOptions::checkpoints); none beyond the budget.
  std::vector<std::optional<double>> mean_ratio;
  double mean_trials = 0;    // trials per run (< budget when the space ran out)
  int64_t unrecorded = 0;    // proposals outside the recorded set, all runs
};

struct ReplayReport {
  ReplayOptions options;
  std::vector<ReplayTaskResult> tasks;
  std::vector<std::optional<double>> median_ratio;  // over tasks, per checkpoint
};

// Replays one task. INVALID_ARGUMENT for bad options or an unknown strategy;
// a strategy's Init failure is returned as is.
absl::StatusOr<ReplayTaskResult> ReplayOne(const RecordedTask& task, const ReplayOptions& options,
                                           const TransferData* transfer = nullptr);
// The transfer data of tasks[target] from the other tasks (see
// ReplayOptions::transfer); deterministic for options.seed.
TransferData ReplayTransfer(const std::vector<RecordedTask>& tasks, size_t target,
                            const ReplayOptions& options);
absl::StatusOr<ReplayReport> Replay(const std::vector<RecordedTask>& tasks,
                                    const ReplayOptions& options);

// A fixed-width table (one row per task and a "median" row), or JSON lines
// (one object per task, then one with "summary":true).
void PrintReplayTable(const ReplayReport& report, std::ostream& out);
void PrintReplayJson(const ReplayReport& report, std::ostream& out);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_SEARCH_REPLAY_H_
