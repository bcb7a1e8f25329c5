#include "tuner/core/scheduler.h"

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "gtest/gtest.h"

namespace qtune::tuner {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

SchedulerOptions Small() {
  SchedulerOptions o;
  o.warm_trials = 4;
  o.patience = 4;
  o.window = 2;
  return o;
}

TEST(TaskSchedulerTest, WarmsTasksUpInOrder) {
  TaskScheduler s({1, 1, 1}, Small());
  EXPECT_EQ(s.Next(), 0u);
  s.Record(0, {10, 9});
  EXPECT_EQ(s.Next(), 0u);
  s.Record(0, {8, 7});
  EXPECT_FALSE(s.in_warmup(0));
  EXPECT_EQ(s.Next(), 1u);
  s.EndWarmup(1);  // e.g. its time share ran out
  EXPECT_EQ(s.Next(), 2u);
}

TEST(TaskSchedulerTest, PicksTheLargestExpectedGainAfterWarmup) {
  SchedulerOptions o = Small();
  o.patience = 0;
  // Over the last 2 trials: task 0 (weight 1) went 150 -> 100 us, gain
  // 1 x 100 x 0.5 = 50; task 1 (weight 3) went 80 -> 50 us, 3 x 50 x 0.6 = 90.
  TaskScheduler s({1, 3}, o);
  s.Record(0, {200, 150, 110, 100});
  s.Record(1, {100, 80, 55, 50});
  EXPECT_NEAR(s.ExpectedGain(0), 50, 1e-9);
  EXPECT_NEAR(s.ExpectedGain(1), 90, 1e-9);
  EXPECT_EQ(s.Next(), 1u);
  // A flat task still has the floor gain, proportional to weight x latency.
  s.Record(1, {60, 70});
  EXPECT_NEAR(s.ExpectedGain(1), 3 * 50 * o.min_improvement, 1e-9);
  EXPECT_EQ(s.Next(), 0u);
}

TEST(TaskSchedulerTest, TaskWithoutAnyWorkingConfigComesFirst) {
  SchedulerOptions o = Small();
  o.patience = 0;
  TaskScheduler s({1, 1}, o);
  s.Record(0, {5, 4, 3, 2});
  s.Record(1, {0, kInf, -1, 0});  // failed trials
  EXPECT_EQ(s.best(1), kInf);
  EXPECT_EQ(s.ExpectedGain(1), kInf);
  EXPECT_EQ(s.Next(), 1u);
}

TEST(TaskSchedulerTest, ConvergesAfterPatienceWithoutGain) {
  TaskScheduler s({1}, Small());
  s.Record(0, {100, 90, 80, 70});
  EXPECT_EQ(s.end(0), TaskEnd::kActive);  // improved within the last 4
  s.Record(0, {71, 70.5, 72});
  EXPECT_EQ(s.end(0), TaskEnd::kActive);  // only 3 flat trials
  s.Record(0, {75});
  EXPECT_EQ(s.end(0), TaskEnd::kConverged);
  EXPECT_EQ(s.Next(), std::nullopt);
}

TEST(TaskSchedulerTest, ConvergenceWaitsForTheWarmup) {
  SchedulerOptions o = Small();
  o.warm_trials = 8;
  TaskScheduler s({1}, o);
  s.Record(0, {10, 10, 10, 10, 10});
  EXPECT_EQ(s.end(0), TaskEnd::kActive);
  s.Record(0, {10, 10, 10});
  EXPECT_EQ(s.end(0), TaskEnd::kConverged);
}

TEST(TaskSchedulerTest, BaselineFromHistoryCounts) {
  TaskScheduler s({1}, Small());
  s.SetBaseline(0, 50);
  s.Record(0, {60, 70, 55, 80});
  EXPECT_EQ(s.best(0), 50);
  EXPECT_EQ(s.end(0), TaskEnd::kConverged);  // nothing beat the earlier best
}

TEST(TaskSchedulerTest, HistoryTrialsCountTowardThePatience) {
  SchedulerOptions o = Small();
  o.patience = 8;
  TaskScheduler fresh({1}, o), retune({1}, o);
  fresh.SetBaseline(0, 50);
  retune.SetBaseline(0, 50, /*trials=*/100);
  for (TaskScheduler* s : {&fresh, &retune}) s->Record(0, {60, 70, 55, 80});
  EXPECT_EQ(fresh.end(0), TaskEnd::kActive);       // 4 of 8 trials
  EXPECT_EQ(retune.end(0), TaskEnd::kConverged);   // warm-up done, nothing beat history
}

TEST(TaskSchedulerTest, CapAndFinishEndTasks) {
  SchedulerOptions o = Small();
  o.max_trials = 3;
  o.patience = 0;
  TaskScheduler s({1, 1}, o);
  s.Record(0, {3, 2, 1});
  EXPECT_EQ(s.end(0), TaskEnd::kCapped);
  EXPECT_FALSE(s.in_warmup(0));
  EXPECT_EQ(s.Next(), 1u);
  s.Finish(1);
  EXPECT_EQ(s.end(1), TaskEnd::kFinished);
  EXPECT_EQ(s.Next(), std::nullopt);
  EXPECT_EQ(TaskEndName(TaskEnd::kConverged), "converged");
}

}  // namespace
}  // namespace qtune::tuner
