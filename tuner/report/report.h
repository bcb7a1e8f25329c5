// File: report.h
// How `qtune tune` shows a job: a one-line progress bar on a terminal, JSON
// lines otherwise, and the final per-layer table (text or JSON lines).
//
// JSON lines (one object per line, "event" first):
//   job_start  {job_id, device_key, tasks, db}
//   task_start {index, of, task, layer, dtype, shape, workload_key}
//   batch      {index, task, batch_trials, trials, ok_trials, best_us, best_kernel, best_config}
//   task_done  {index, task, trials, ok_trials, history_trials, space_size, best_us, status}
//   row        {layer, dtype, shape, occurrences, macs, trials, best_us, gops, kernel,
//               config, from_history, int8_speedup}
//   total      {dtype, layers, weighted_us} per dtype, then
//              {dtype: "int8/fp32", layers, speedup} when both were tuned
//   summary    {state, job_id, db, device_key, trials, wall_s, measure_s,
//               overhead_ms_per_trial}
//
// Thread-safety: observers are used by the thread running Tune().
#ifndef QTUNE_TUNER_REPORT_REPORT_H_
#define QTUNE_TUNER_REPORT_REPORT_H_

#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "proto/qtune.pb.h"
#include "tuner/core/tuner.h"

namespace qtune::tuner {

// One row of the final table: a task with its best result.
struct TableRow {
  const TaskOutcome* task = nullptr;  // points into the report
  std::optional<double> gops;         // 2 * MACs / best latency
  std::optional<double> int8_speedup; // int8 rows: same layer's fp32 best / this best
};

// Occurrence-weighted sum of best latencies of one dtype.
struct DTypeTotal {
  std::string dtype;
  int layers = 0;          // layers with a best result
  double weighted_us = 0;
};

struct Table {
  std::vector<TableRow> rows;       // task order
  std::vector<DTypeTotal> totals;   // in order of first appearance
  // Over layers tuned in both int8 and fp32: sum fp32 / sum int8 (weighted).
  std::optional<double> int8_speedup;
  int speedup_layers = 0;
};

Table BuildTable(const TuneReport& report);

// The human-readable table with a weighted total line.
void PrintTable(const Table& table, std::ostream& out);
// The table as "row" and "total" JSON lines.
void PrintTableJson(const Table& table, std::ostream& out);
// The final "summary" JSON line.
void PrintSummaryJson(const TuneReport& report, const std::string& db_path, std::ostream& out);
// A one-line human summary (trials, wall, measure, overhead, job id, db).
void PrintSummary(const TuneReport& report, const std::string& db_path, std::ostream& out);

// Redraws one status line on `tty` (a terminal) with "\r": task i/n, the
// task's trials, its best so far, elapsed time. Finish() ends the line.
class ProgressBar final : public TuneObserver {
 public:
  // `trials_per_task` is the bar's denominator; `clock` (not owned) times
  // the job.
  ProgressBar(std::FILE* tty, int trials_per_task, const Clock& clock = Clock::Real())
      : tty_(tty), trials_per_task_(trials_per_task), clock_(clock), start_(clock.Now()) {}
  void OnJobStart(const TuneReport& report, size_t num_tasks) override;
  void OnTaskStart(size_t index, const TaskOutcome& task) override;
  void OnTrial(size_t index, const TaskOutcome& task, const db::TrialRecord& trial) override;
  void OnTaskEnd(size_t index, const TaskOutcome& task) override;
  void Finish();

 private:
  void Draw(size_t index, const TaskOutcome& task);

  std::FILE* tty_;
  int trials_per_task_;
  const Clock& clock_;
  size_t num_tasks_ = 0;
  absl::Time start_;
  size_t last_width_ = 0;
  bool drawn_ = false;
};

// Writes job_start / task_start / batch / task_done events.
class JsonLinesObserver final : public TuneObserver {
 public:
  JsonLinesObserver(std::ostream& out, std::string db_path)
      : out_(out), db_path_(std::move(db_path)) {}
  void OnJobStart(const TuneReport& report, size_t num_tasks) override;
  void OnTaskStart(size_t index, const TaskOutcome& task) override;
  void OnBatch(size_t index, const TaskOutcome& task, int64_t batch_trials) override;
  void OnTaskEnd(size_t index, const TaskOutcome& task) override;

 private:
  std::ostream& out_;
  std::string db_path_;
  size_t num_tasks_ = 0;
};

// The report of a daemon job from its status (`qtune watch`), for the same
// table as `qtune tune`: tasks whose workload key does not parse are left out.
TuneReport ReportOf(const proto::JobStatus& status);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_REPORT_REPORT_H_
