// File: scheduler.h
// The task scheduler of a tuning job: decides which task (layer x dtype) gets
// the next batch of trials.
//
// Two phases:
//  1. Warm-up, in task order: each task is measured until it has
//     `warm_trials` trials (or its cap), so that every layer reaches a
//     useful configuration early and a progress display can walk the tasks.
//  2. Gain-driven: the next batch goes to the active task with the largest
//     expected end-to-end gain
//         weight (occurrences) x best latency (us) x expected improvement,
//     where the expected improvement is the relative gain of the task's best
//     over its last `window` trials (at least `min_improvement`). A task
//     leaves the rotation when it reaches its cap, when its space is
//     exhausted (Finish), or when it has converged: its best did not improve
//     by more than `converge_gain` over its last `patience` trials.
// Next() returns none when no task is left; the caller also stops at its own
// deadline.
//
//   TaskScheduler s(weights, options);
//   while (std::optional<size_t> t = s.Next()) {
//     ... measure a batch of task *t ...
//     s.Record(*t, latencies_us);       // +inf for failed trials
//   }
//
// Thread-safety: one thread at a time. Deterministic.
#ifndef QTUNE_TUNER_CORE_SCHEDULER_H_
#define QTUNE_TUNER_CORE_SCHEDULER_H_

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace qtune::tuner {

struct SchedulerOptions {
  int64_t warm_trials = 64;      // phase 1 trials per task (capped by max_trials)
  int64_t max_trials = 0;        // per-task cap; 0 = none
  int64_t patience = 64;         // convergence window in trials; 0 = never converge
  double converge_gain = 0.01;   // relative gain below which a window counts as flat
  int64_t window = 32;           // trials over which the recent gain is measured
  double min_improvement = 1e-3; // floor of the expected improvement
};

// Why a task left the rotation.
enum class TaskEnd { kActive, kCapped, kConverged, kFinished };
std::string_view TaskEndName(TaskEnd end);

class TaskScheduler {
 public:
  // One weight (> 0, e.g. occurrences in the model) per task.
  TaskScheduler(std::vector<double> weights, SchedulerOptions options);

  // The best latency a task already has from `trials` trials of earlier jobs
  // (history). Those trials count toward the patience window, so a re-tune
  // that finds nothing better stops after its warm-up.
  void SetBaseline(size_t task, double best_us, int64_t trials = 0);
  // Ends phase 1 for `task` (e.g. its time share is used up).
  void EndWarmup(size_t task);
  // Takes `task` out of the rotation (space exhausted, or it failed).
  void Finish(size_t task);

  // The task to measure next, or none when every task has ended.
  std::optional<size_t> Next() const;
  // The latencies (us) of a batch of `task`'s trials, in measuring order;
  // failed trials as +inf or any non-positive value.
  void Record(size_t task, const std::vector<double>& latencies_us);

  int64_t trials(size_t task) const { return tasks_[task].best.size(); }
  // Best latency so far (baseline included); +inf when none.
  double best(size_t task) const;
  bool in_warmup(size_t task) const;
  TaskEnd end(size_t task) const;
  // weight x best x expected improvement; +inf for a task without any OK
  // trial yet (it needs one before anything else).
  double ExpectedGain(size_t task) const;

 private:
  struct State {
    double weight = 1;
    double baseline = 0;        // +inf when none
    int64_t history = 0;        // trials behind the baseline
    std::vector<double> best;   // best so far after each trial
    bool warm_done = false;
    bool finished = false;
  };
  // Best before the last `n` trials (the baseline if fewer were made).
  double BestBefore(const State& s, int64_t n) const;

  std::vector<State> tasks_;
  SchedulerOptions options_;
};

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CORE_SCHEDULER_H_
