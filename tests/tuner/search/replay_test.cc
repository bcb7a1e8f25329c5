#include "tuner/search/replay.h"

#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "qtune/db/store.h"
#include "tuner/search/model_guided_strategy.h"
#include "tuner/core/tuner.h"

namespace qtune::tuner {
namespace {

// Recorded trials of one workload: a sparse subset (21 of 36) of
// mr x nr x kernel, with a unique optimum at mr=4,nr=16,kernel=x86_avx2.
std::vector<db::TrialRecord> SyntheticTrials() {
  std::vector<db::TrialRecord> trials;
  int64_t seq = 1;
  for (int mr : {1, 2, 4, 8}) {
    for (int nr : {8, 16, 32}) {
      for (std::string kernel : {"generic", "x86_avx2", "x86_avx512"}) {
        if ((mr + nr + static_cast<int>(kernel.size())) % 2 != 0) continue;
        db::TrialRecord t;
        t.job_id = "job";
        t.seq = seq++;
        t.device_key = "dev";
        t.workload_key = "synthetic";
        t.task = "layer";
        t.config = absl::StrCat("kernel=", kernel, ",mr=", mr, ",nr=", nr);
        t.status = "OK";
        t.median_us = 100.0 + 10 * std::abs(mr - 4) + std::abs(nr - 16) +
                      (kernel == "x86_avx2" ? 0 : 7);
        trials.push_back(t);
      }
    }
  }
  return trials;
}

TEST(RecordedTaskTest, SpaceHoldsExactlyTheRecordedOkConfigs) {
  std::vector<db::TrialRecord> trials = SyntheticTrials();
  const size_t n = trials.size();
  ASSERT_EQ(n, 21u);
  db::TrialRecord failed = trials[0];
  failed.config = "kernel=generic,mr=3,nr=8";  // not OK: not in the space
  failed.status = "WRONG_OUTPUT";
  trials.push_back(failed);
  db::TrialRecord other = trials[0];
  other.config = "mr=2,tile=4";  // another knob set: skipped
  trials.push_back(other);
  db::TrialRecord slower = trials[1];
  slower.median_us += 50;  // measured twice: the lower median counts
  trials.push_back(slower);

  absl::StatusOr<RecordedTask> task = RecordedTaskFromTrials(trials);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->device_key, "dev");
  EXPECT_EQ(task->workload_key, "synthetic");
  EXPECT_EQ(task->skipped, 1);
  EXPECT_EQ(task->latency_us.size(), n);
  EXPECT_EQ(task->space.CountValid(), n);
  std::set<std::string> recorded;
  for (size_t i = 0; i < n; ++i) recorded.insert(trials[i].config);
  task->space.ForEachValid([&](const kernels::Config& c) {
    EXPECT_TRUE(recorded.count(task->space.ToString(c))) << task->space.ToString(c);
    EXPECT_TRUE(task->latency_us.count(c));
    return true;
  });
  absl::StatusOr<kernels::Config> c = task->space.Parse(trials[1].config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(task->latency_us.at(*c), trials[1].median_us);
  EXPECT_EQ(task->best_known_us, 100.0);
  EXPECT_FALSE(task->space.Parse("kernel=generic,mr=3,nr=8").ok());
}

TEST(RecordedTaskTest, NoOkTrialIsNotFound) {
  std::vector<db::TrialRecord> trials = SyntheticTrials();
  for (auto& t : trials) t.status = "TIMEOUT";
  EXPECT_TRUE(absl::IsNotFound(RecordedTaskFromTrials(trials).status()));
}

TEST(ReplayTest, DeterministicForASeed) {
  absl::StatusOr<RecordedTask> task = RecordedTaskFromTrials(SyntheticTrials());
  ASSERT_TRUE(task.ok()) << task.status();
  for (std::string strategy : {"random", "model"}) {
    ReplayOptions options;
    options.strategy = strategy;
    options.budget = 10;
    options.repeats = 3;
    options.batch_size = 2;
    options.checkpoints = {1, 2, 4, 8};
    absl::StatusOr<ReplayReport> a = Replay({*task}, options);
    absl::StatusOr<ReplayReport> b = Replay({*task}, options);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    std::ostringstream ja, jb;
    PrintReplayJson(*a, ja);
    PrintReplayJson(*b, jb);
    EXPECT_EQ(ja.str(), jb.str()) << strategy;
    ASSERT_EQ(a->tasks.size(), 1u);
    for (const auto& r : a->tasks[0].mean_ratio) {
      ASSERT_TRUE(r.has_value());
      EXPECT_GT(*r, 0.0);
      EXPECT_LE(*r, 1.0);
    }
  }
}

// SyntheticTrials() recorded for `op` (so that the replay knows its shape).
RecordedTask RecordedFor(const std::string& op_text, double scale) {
  const kernels::OpSpec op = kernels::ParseOpSpec(op_text).value();
  std::vector<db::TrialRecord> trials = SyntheticTrials();
  for (db::TrialRecord& t : trials) {
    t.workload_key = kernels::CanonicalKey(op);
    t.median_us *= scale;
  }
  return RecordedTaskFromTrials(trials).value();
}

TEST(ReplayTest, TransferComesFromTheOtherTasksOfTheSameKind) {
  const std::vector<RecordedTask> tasks = {
      RecordedFor("conv2d/int8/N=1,H=56,W=56,C=64,K=64,R=3,S=3,stride=1,pad=1", 1.0),
      RecordedFor("conv2d/int8/N=1,H=28,W=28,C=128,K=128,R=3,S=3,stride=1,pad=1", 2.0),
      RecordedFor("dense/int8/N=1,C=512,K=1000", 0.1)};
  ASSERT_TRUE(tasks[0].op.has_value());
  ReplayOptions options;
  options.strategy = "model";
  options.transfer_trials = 5;
  const TransferData data = ReplayTransfer(tasks, 0, options);
  ASSERT_EQ(data.groups.size(), 1u);  // not itself, not the dense op
  EXPECT_EQ(data.groups[0].workload_key, tasks[1].workload_key);
  EXPECT_EQ(data.groups[0].trials.size(), 5u);
  // The seed is the best of the 5 transferred configs, valid in task 0's space.
  ASSERT_EQ(data.seeds.size(), 1u);
  EXPECT_TRUE(tasks[0].space.IsValid(data.seeds[0]));

  options.transfer = true;
  options.budget = 6;
  options.repeats = 2;
  options.batch_size = 2;
  options.checkpoints = {2, 4};
  absl::StatusOr<ReplayReport> a = Replay(tasks, options);
  absl::StatusOr<ReplayReport> b = Replay(tasks, options);
  ASSERT_TRUE(a.ok()) << a.status();
  std::ostringstream ja, jb;
  PrintReplayJson(*a, ja);
  PrintReplayJson(*b, jb);
  EXPECT_EQ(ja.str(), jb.str());
  EXPECT_EQ(a->tasks[0].unrecorded, 0);
}

TEST(ReplayTest, FullBudgetFindsTheBestAndNothingUnrecorded) {
  absl::StatusOr<RecordedTask> task = RecordedTaskFromTrials(SyntheticTrials());
  ASSERT_TRUE(task.ok()) << task.status();
  for (std::string strategy : {"random", "grid", "model"}) {
    ReplayOptions options;
    options.strategy = strategy;
    options.budget = 64;  // more than the 21 recorded configs
    options.repeats = 2;
    absl::StatusOr<ReplayReport> report = Replay({*task}, options);
    ASSERT_TRUE(report.ok()) << report.status();
    const ReplayTaskResult& r = report->tasks[0];
    EXPECT_EQ(r.unrecorded, 0) << strategy;
    EXPECT_EQ(r.mean_trials, 21.0) << strategy;  // the space ran out at the recorded set
    ASSERT_EQ(r.mean_ratio.size(), 5u);
    // @32 and @64 cover every recorded config; @128 is beyond the budget.
    EXPECT_DOUBLE_EQ(*r.mean_ratio[2], 1.0) << strategy;
    EXPECT_DOUBLE_EQ(*r.mean_ratio[3], 1.0) << strategy;
    EXPECT_FALSE(r.mean_ratio[4].has_value());
    EXPECT_DOUBLE_EQ(*report->median_ratio[3], 1.0);
  }
}

TEST(ReplayTest, BadOptionsAreInvalidArgument) {
  absl::StatusOr<RecordedTask> task = RecordedTaskFromTrials(SyntheticTrials());
  ASSERT_TRUE(task.ok()) << task.status();
  ReplayOptions options;
  options.budget = 0;
  EXPECT_EQ(ReplayOne(*task, options).status().code(), absl::StatusCode::kInvalidArgument);
  options = ReplayOptions();
  options.repeats = 0;
  EXPECT_EQ(ReplayOne(*task, options).status().code(), absl::StatusCode::kInvalidArgument);
  options = ReplayOptions();
  options.strategy = "nope";
  absl::Status s = ReplayOne(*task, options).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()).find('\n'), std::string::npos);
}

TEST(ReplayTest, LoadsTasksFromAStore) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/replay_test.db");
  std::remove(path.c_str());
  absl::StatusOr<std::unique_ptr<db::Store>> store = db::Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  db::DeviceRecord device;
  device.device_key = "dev";
  device.info_json = R"({"deviceKey":"dev","cores":2,"caches":[{"level":2,"sizeBytes":"2097152"}]})";
  ASSERT_TRUE((*store)->UpsertDevice(device).ok());
  absl::Status up;
  db::WorkloadRecord workload;
  workload.workload_key = "synthetic";
  workload.op_kind = "dense";
  workload.dtype = "int8";
  workload.shape = "synthetic";
  workload.macs = 1;
  up = (*store)->UpsertWorkload(workload);
  ASSERT_TRUE(up.ok()) << up;
  db::JobRecord job;
  job.device_key = "dev";
  job.state = "done";
  absl::StatusOr<std::string> job_id = (*store)->CreateJob(job);
  ASSERT_TRUE(job_id.ok()) << job_id.status();
  std::vector<db::TrialRecord> trials = SyntheticTrials();
  for (auto& t : trials) t.job_id = *job_id;
  up = (*store)->AddTrials(trials);
  ASSERT_TRUE(up.ok()) << up;

  absl::StatusOr<std::vector<RecordedTask>> tasks = LoadRecordedTasks(**store, std::nullopt);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 1u);
  EXPECT_EQ((*tasks)[0].latency_us.size(), 21u);
  EXPECT_EQ((*tasks)[0].caches.cores, 2);
  EXPECT_EQ((*tasks)[0].caches.l2_bytes, 2097152);
  EXPECT_TRUE(absl::IsNotFound(LoadRecordedTasks(**store, std::string("other")).status()));
  std::remove(path.c_str());
}

TEST(TaskStrategyTest, CachesAndOpReachTheModelGuidedStrategy) {
  proto::DeviceInfo info;
  info.set_cores(4);
  for (auto [level, size] : {std::pair{1, 49152}, {2, 1 << 21}, {3, 1 << 25}}) {
    proto::CacheLevel* c = info.add_caches();
    c->set_level(level);
    c->set_size_bytes(size);
  }
  DeviceCaches caches = CachesOf(info);
  EXPECT_EQ(caches.l1d_bytes, 49152);
  EXPECT_EQ(caches.l2_bytes, 1 << 21);
  EXPECT_EQ(caches.l3_bytes, 1 << 25);
  EXPECT_EQ(caches.cores, 4);
  EXPECT_EQ(CachesOf(proto::DeviceInfo()).l2_bytes, DeviceCaches().l2_bytes);

  absl::StatusOr<kernels::OpSpec> op = kernels::ParseOpSpec(
      "dense/int8/N=1,H=1,W=1,C=512,K=1000,R=1,S=1,stride=1x1,pad=0x0x0x0,dilation=1x1,"
      "groups=1,act=none");
  ASSERT_TRUE(op.ok()) << op.status();
  absl::StatusOr<std::unique_ptr<SearchStrategy>> model = MakeTaskStrategy("model", *op, caches);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_NE(dynamic_cast<ModelGuidedStrategy*>(model->get()), nullptr);
  absl::StatusOr<std::unique_ptr<SearchStrategy>> random = MakeTaskStrategy("random", *op, caches);
  ASSERT_TRUE(random.ok()) << random.status();
  EXPECT_EQ((*random)->name(), "random");
  EXPECT_EQ(MakeTaskStrategy("nope", *op, caches).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qtune::tuner
