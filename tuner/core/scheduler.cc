#include "tuner/core/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace qtune::tuner {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

std::string_view TaskEndName(TaskEnd end) {
  switch (end) {
    case TaskEnd::kActive: return "active";
    case TaskEnd::kCapped: return "capped";
    case TaskEnd::kConverged: return "converged";
    case TaskEnd::kFinished: return "finished";
  }
  return "?";
}

TaskScheduler::TaskScheduler(std::vector<double> weights, SchedulerOptions options)
    : options_(options) {
  tasks_.resize(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    tasks_[i].weight = weights[i] > 0 && std::isfinite(weights[i]) ? weights[i] : 1.0;
    tasks_[i].baseline = kInf;
  }
}

void TaskScheduler::SetBaseline(size_t task, double best_us, int64_t trials) {
  if (best_us > 0 && std::isfinite(best_us)) {
    tasks_[task].baseline = std::min(tasks_[task].baseline, best_us);
    tasks_[task].history += std::max<int64_t>(trials, 0);
  }
}

void TaskScheduler::EndWarmup(size_t task) { tasks_[task].warm_done = true; }

void TaskScheduler::Finish(size_t task) { tasks_[task].finished = true; }

void TaskScheduler::Record(size_t task, const std::vector<double>& latencies_us) {
  State& s = tasks_[task];
  double best = s.best.empty() ? s.baseline : s.best.back();
  for (double us : latencies_us) {
    if (us > 0 && std::isfinite(us)) best = std::min(best, us);
    s.best.push_back(best);
  }
}

double TaskScheduler::best(size_t task) const {
  const State& s = tasks_[task];
  return s.best.empty() ? s.baseline : s.best.back();
}

double TaskScheduler::BestBefore(const State& s, int64_t n) const {
  const int64_t t = static_cast<int64_t>(s.best.size());
  return t > n ? s.best[t - n - 1] : s.baseline;
}

bool TaskScheduler::in_warmup(size_t task) const {
  const State& s = tasks_[task];
  return !s.warm_done && end(task) == TaskEnd::kActive &&
         trials(task) < options_.warm_trials;
}

TaskEnd TaskScheduler::end(size_t task) const {
  const State& s = tasks_[task];
  if (s.finished) return TaskEnd::kFinished;
  const int64_t t = trials(task);
  if (options_.max_trials > 0 && t >= options_.max_trials) return TaskEnd::kCapped;
  // Convergence is judged only after the warm-up trials; earlier jobs'
  // trials count toward the window.
  if (options_.patience > 0 && t >= options_.warm_trials &&
      t + s.history >= options_.patience) {
    const double now = best(task);
    const double before = BestBefore(s, options_.patience);
    if (std::isfinite(now) && before <= now * (1.0 + options_.converge_gain)) {
      return TaskEnd::kConverged;
    }
  }
  return TaskEnd::kActive;
}

double TaskScheduler::ExpectedGain(size_t task) const {
  const State& s = tasks_[task];
  const double now = best(task);
  if (!std::isfinite(now)) return kInf;
  const double before = BestBefore(s, options_.window);
  double improvement = std::isfinite(before) ? (before - now) / now : 0.0;
  improvement = std::max(improvement, options_.min_improvement);
  return s.weight * now * improvement;
}

std::optional<size_t> TaskScheduler::Next() const {
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (in_warmup(i)) return i;
  }
  std::optional<size_t> pick;
  double pick_gain = -1;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (end(i) != TaskEnd::kActive) continue;
    const double gain = ExpectedGain(i);
    if (gain > pick_gain) {
      pick = i;
      pick_gain = gain;
    }
  }
  return pick;
}

}  // namespace qtune::tuner
