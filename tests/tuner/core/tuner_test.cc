// The tuning loop against an in-process fake device and a real database.
#include "tuner/core/tuner.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/db/store.h"
#include "tuner/report/report.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using kernels::ConfigSpace;
using kernels::DType;
using testing::HasSubstr;

// A device with an 8-config space per op. Latency depends on the config and
// the dtype (int8 is 4x faster); tile=8,unroll=2 gives a wrong output.
class FakeRunner : public Runner {
 public:
  absl::StatusOr<proto::DeviceInfo> GetDeviceInfo() override {
    proto::DeviceInfo info;
    info.set_device_key(device_key);
    info.set_arch("x86_64");
    info.set_cpu_name("fake cpu");
    info.set_cores(1);
    info.set_kernel_build_id(kernel_build);
    return info;
  }

  absl::StatusOr<ConfigSpace> DescribeSpace(const kernels::OpSpec& op) override {
    ++describe_calls;
    if (op.kind == kernels::OpKind::kDense && dense_unimplemented) {
      return absl::UnimplementedError("no dense kernel on this device");
    }
    if (big_space) {
      std::vector<int64_t> tiles;
      for (int t = 1; t <= 64; ++t) tiles.push_back(t);
      return ConfigSpace::Create({{"tile", tiles, {}, ""}, {"unroll", {1, 2, 3, 4}, {}, ""}}, {},
                                 {{"tile", 1}, {"unroll", 1}});
    }
    return ConfigSpace::Create({{"tile", {1, 2, 4, 8}, {}, ""}, {"unroll", {1, 2}, {}, ""}}, {},
                               {{"tile", 1}, {"unroll", 1}});
  }

  double LatencyUs(const kernels::OpSpec& op, const Config& c) const {
    const double fp32 = flat ? 100.0 : 1000.0 / c.at("tile") + 10.0 * c.at("unroll");
    return op.dtype == DType::kInt8 ? fp32 / 4 : fp32;
  }

  absl::Status RunTrials(const kernels::OpSpec& op, const std::vector<Config>& configs,
                         const proto::MeasureOptions& options,
                         const std::function<void(const proto::TrialResult&)>& on_result) override {
    ++run_calls;
    last_options = options;
    // Completion order differs from request order.
    for (size_t j = configs.size(); j-- > 0;) {
      if (lose_device_after >= 0 && delivered >= lose_device_after) {
        return absl::UnavailableError("connection reset");
      }
      if (skip_index == static_cast<int>(j)) continue;
      const Config& c = configs[j];
      proto::TrialResult r;
      r.set_index(static_cast<int>(j));
      r.set_kernel_name(absl::StrCat("fake_tile", c.at("tile")));
      r.set_kernel_build_id(kernel_build);
      if (fail_dense && op.kind == kernels::OpKind::kDense) {
        r.set_status(proto::WRONG_OUTPUT);
        r.set_message("1 of 1000 outputs differ");
      } else if (c.at("tile") == timeout_tile && c.at("unroll") == 1) {
        r.set_status(proto::TIMEOUT);
        r.set_message("trial exceeded the deadline; worker killed");
      } else if (c.at("tile") == 8 && c.at("unroll") == 2) {
        r.set_status(proto::WRONG_OUTPUT);
        r.set_message("3 elements differ");
      } else {
        r.set_status(proto::OK);
        r.set_median_us(LatencyUs(op, c));
        r.set_min_us(LatencyUs(op, c) * 0.9);
        r.set_repeats(3);
        r.set_measure_ms(2.5);
      }
      if (clock != nullptr) clock->Advance(per_trial);
      on_result(r);
      ++delivered;
      if (cancel_after_first != nullptr) cancel_after_first->store(true);
    }
    return absl::OkStatus();
  }

  std::string device_key = "fake/test/1c";
  std::string kernel_build = "0.1.0-aaaaaaaaaaaa";
  bool big_space = false;       // 64 x 4 configs instead of 4 x 2
  bool fail_dense = false;      // every trial of a dense op is WRONG_OUTPUT
  int timeout_tile = -1;        // tile=timeout_tile,unroll=1 always times out
  const FakeClock* clock = nullptr;  // when set, every trial takes `per_trial` on it
  absl::Duration per_trial = absl::Milliseconds(100);
  bool flat = false;            // every config equally fast
  bool dense_unimplemented = false;
  int lose_device_after = -1;   // deliver this many results in total, then fail
  int skip_index = -1;          // never answer this config position
  std::atomic<bool>* cancel_after_first = nullptr;
  int delivered = 0;
  int describe_calls = 0;
  int run_calls = 0;
  proto::MeasureOptions last_options;
};

class CountingObserver : public TuneObserver {
 public:
  void OnJobStart(const TuneReport&, size_t n) override { tasks = n; }
  void OnTaskStart(size_t, const TaskOutcome&) override { ++started; }
  void OnTrial(size_t, const TaskOutcome&, const db::TrialRecord& t) override {
    ++trials;
    EXPECT_FALSE(t.config.empty());
  }
  void OnBatch(size_t, const TaskOutcome&, int64_t n) override {
    ++batches;
    batch_trials += n;
  }
  void OnTaskEnd(size_t, const TaskOutcome&) override { ++ended; }
  size_t tasks = 0;
  int started = 0, ended = 0, trials = 0, batches = 0;
  int64_t batch_trials = 0;
};

class TunerTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(testing::TempDir(), "/tuner_test_", getpid(), "_",
                         testing::UnitTest::GetInstance()->current_test_info()->name(), ".db");
    std::remove(path_.c_str());
    absl::StatusOr<std::unique_ptr<db::Store>> store = db::Store::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
  }

  static std::vector<Task> Tasks(const std::vector<std::string>& layers,
                                 std::vector<DType> dtypes = {DType::kInt8, DType::kFp32}) {
    absl::StatusOr<std::vector<Task>> tasks = ExtractTasks(**FindModel("resnet18"), dtypes, layers);
    EXPECT_TRUE(tasks.ok()) << tasks.status();
    return *tasks;
  }

  static TuneOptions Options(int trials, int batch) {
    TuneOptions o;
    o.model = "resnet18";
    o.trials_per_task = trials;
    o.batch_size = batch;
    o.args_json = "{\"test\":true}";
    return o;
  }

  db::JobRecord Job(const std::string& job_id) {
    db::Filter f;
    f.job_id = job_id;
    absl::StatusOr<std::vector<db::JobRecord>> jobs = store_->Jobs(f);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    EXPECT_EQ(jobs->size(), 1u);
    return jobs->empty() ? db::JobRecord() : jobs->front();
  }

  std::vector<db::TrialRecord> Trials(const std::string& job_id) {
    db::Filter f;
    f.job_id = job_id;
    absl::StatusOr<std::vector<db::TrialRecord>> trials = store_->History(f);
    EXPECT_TRUE(trials.ok()) << trials.status();
    return *trials;
  }

  std::string path_;
  std::unique_ptr<db::Store> store_;
  FakeRunner runner_;
};

TEST_F(TunerTest, TunesEveryTaskAndRecordsEverything) {
  const std::vector<Task> tasks = Tasks({"layer4.0.downsample", "fc"});
  ASSERT_EQ(tasks.size(), 4u);
  CountingObserver observer;
  TuneReport report;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(5, 2), &observer, &report).ok());

  EXPECT_EQ(report.state, "done");
  EXPECT_EQ(report.device_key, "fake/test/1c");
  EXPECT_EQ(report.trials, 20);
  ASSERT_EQ(report.tasks.size(), 4u);
  for (const TaskOutcome& t : report.tasks) {
    EXPECT_TRUE(t.status.ok());
    EXPECT_EQ(t.trials, 5);
    EXPECT_EQ(t.space_size, 8u);
    EXPECT_EQ(t.workload_key, kernels::CanonicalKey(t.task.op));
    ASSERT_TRUE(t.best.has_value());
    EXPECT_FALSE(t.best->from_history);
    EXPECT_EQ(t.best->job_id, report.job_id);
  }
  EXPECT_DOUBLE_EQ(report.measure_s, report.tasks[0].ok_trials * 0.0025 +
                                         report.tasks[1].ok_trials * 0.0025 +
                                         report.tasks[2].ok_trials * 0.0025 +
                                         report.tasks[3].ok_trials * 0.0025);
  EXPECT_GE(report.wall_s, 0);
  EXPECT_NEAR(report.overhead_ms_per_trial,
              (report.wall_s - report.measure_s) * 1000 / report.trials, 1e-9);

  EXPECT_EQ(observer.tasks, 4u);
  EXPECT_EQ(observer.started, 4);
  EXPECT_EQ(observer.ended, 4);
  EXPECT_EQ(observer.trials, 20);
  EXPECT_EQ(observer.batch_trials, 20);
  EXPECT_EQ(observer.batches, 12);  // 2 + 2 + 1 per task
  EXPECT_EQ(runner_.run_calls, 12);
  EXPECT_EQ(runner_.last_options.min_repeat_ms(), DefaultMeasureOptions().min_repeat_ms());

  // The database: job, tasks, device, workloads, every trial with its seq.
  db::JobRecord job = Job(report.job_id);
  EXPECT_EQ(job.state, "done");
  EXPECT_EQ(job.model, "resnet18");
  EXPECT_EQ(job.device_key, "fake/test/1c");
  EXPECT_EQ(job.args_json, "{\"test\":true}");
  EXPECT_FALSE(job.finished_at.empty());
  db::Filter f;
  f.job_id = report.job_id;
  absl::StatusOr<std::vector<db::TaskRecord>> task_records = store_->Tasks(f);
  ASSERT_TRUE(task_records.ok()) << task_records.status();
  ASSERT_EQ(task_records->size(), 4u);
  absl::StatusOr<std::vector<db::DeviceRecord>> devices = store_->Devices();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ(devices->front().cores, 1);
  absl::StatusOr<std::vector<db::WorkloadRecord>> workloads = store_->Workloads();
  ASSERT_TRUE(workloads.ok());
  EXPECT_EQ(workloads->size(), 4u);

  std::vector<db::TrialRecord> trials = Trials(report.job_id);
  ASSERT_EQ(trials.size(), 20u);
  std::set<int64_t> seqs;
  std::map<std::string, std::set<std::string>> configs_by_task;
  for (const db::TrialRecord& t : trials) {
    seqs.insert(t.seq);
    EXPECT_TRUE(configs_by_task[t.task].insert(t.config).second) << "repeated " << t.config;
    EXPECT_EQ(t.device_key, "fake/test/1c");
    EXPECT_THAT(t.config, testing::MatchesRegex("tile=[0-9]+,unroll=[0-9]+"));
    EXPECT_THAT(t.config_json, testing::MatchesRegex("\\{\"tile\":[0-9]+,\"unroll\":[0-9]+\\}"));
    if (t.status == "OK") {
      EXPECT_GT(t.median_us, 0);
      EXPECT_EQ(t.message, "");
    } else {
      EXPECT_EQ(t.status, "WRONG_OUTPUT");
      EXPECT_EQ(t.message, "3 elements differ");
    }
  }
  EXPECT_EQ(seqs.size(), 20u);
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), 20);

  // The reported best is the fastest OK trial of the task.
  for (const TaskOutcome& t : report.tasks) {
    double best = 1e300;
    for (const db::TrialRecord& r : trials) {
      if (r.task == t.task.name && r.status == "OK") best = std::min(best, r.median_us);
    }
    EXPECT_DOUBLE_EQ(t.best->median_us, best) << t.task.name;
  }
}

TEST_F(TunerTest, StopsWhenTheSpaceIsExhausted) {
  TuneReport report;
  ASSERT_TRUE(Tune(runner_, *store_, Tasks({"fc"}, {DType::kInt8}), Options(100, 3), nullptr,
                   &report)
                  .ok());
  ASSERT_EQ(report.tasks.size(), 1u);
  EXPECT_EQ(report.tasks[0].trials, 8);
  EXPECT_EQ(report.tasks[0].ok_trials, 7);
  // Best of the whole space: tile=8, unroll=1 (tile=8, unroll=2 is wrong).
  EXPECT_EQ(report.tasks[0].best->config, "tile=8,unroll=1");
  EXPECT_EQ(report.tasks[0].best->kernel, "fake_tile8");
}

TEST_F(TunerTest, LaterJobsSkipConfigsMeasuredBefore) {
  const std::vector<Task> tasks = Tasks({"fc"}, {DType::kFp32});
  TuneReport first, second, third;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(5, 8), nullptr, &first).ok());
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(5, 8), nullptr, &second).ok());
  EXPECT_EQ(second.tasks[0].trials, 3);  // what the first job left of the 8
  EXPECT_EQ(second.tasks[0].history_trials, 5);
  std::set<std::string> configs;
  for (const auto* job : {&first, &second}) {
    for (const db::TrialRecord& t : Trials(job->job_id)) {
      EXPECT_TRUE(configs.insert(t.config).second) << t.config;
    }
  }
  EXPECT_EQ(configs.size(), 8u);

  // Nothing left: no trial, the best comes from history.
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(5, 8), nullptr, &third).ok());
  EXPECT_EQ(third.tasks[0].trials, 0);
  ASSERT_TRUE(third.tasks[0].best.has_value());
  EXPECT_TRUE(third.tasks[0].best->from_history);
  EXPECT_EQ(third.tasks[0].best->config, "tile=8,unroll=1");
  EXPECT_NE(third.tasks[0].best->job_id, third.job_id);

  // Without history the space is measured again.
  TuneOptions fresh = Options(5, 8);
  fresh.use_history = false;
  TuneReport fourth;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, fresh, nullptr, &fourth).ok());
  EXPECT_EQ(fourth.tasks[0].trials, 5);
  EXPECT_EQ(fourth.tasks[0].history_trials, 0);
}

TEST_F(TunerTest, LostDeviceFailsTheJobAndKeepsDeliveredTrials) {
  runner_.lose_device_after = 3;
  TuneReport report;
  absl::Status status =
      Tune(runner_, *store_, Tasks({"fc"}, {DType::kInt8}), Options(10, 2), nullptr, &report);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(report.state, "failed");
  EXPECT_EQ(report.trials, 3);
  EXPECT_EQ(Job(report.job_id).state, "failed");
  EXPECT_EQ(Trials(report.job_id).size(), 3u);
}

TEST_F(TunerTest, UndescribableTaskFailsTheJobAfterTheOthers) {
  runner_.dense_unimplemented = true;
  TuneReport report;
  absl::Status status = Tune(runner_, *store_, Tasks({"fc", "layer4.0.downsample"}, {DType::kInt8}),
                             Options(2, 2), nullptr, &report);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(status.message(), HasSubstr("1 of 2 tasks could not be tuned; fc/int8"));
  EXPECT_THAT(status.message(), HasSubstr("no dense kernel"));
  ASSERT_EQ(report.tasks.size(), 2u);  // model order: the downsample, then fc
  EXPECT_TRUE(report.tasks[0].status.ok());
  EXPECT_EQ(report.tasks[0].trials, 2);
  EXPECT_EQ(report.tasks[1].status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(report.tasks[1].trials, 0);
  EXPECT_EQ(Job(report.job_id).state, "failed");
}

TEST_F(TunerTest, MissingResultIsRecorded) {
  runner_.skip_index = 0;
  TuneReport report;
  ASSERT_TRUE(
      Tune(runner_, *store_, Tasks({"fc"}, {DType::kInt8}), Options(2, 2), nullptr, &report).ok());
  std::vector<db::TrialRecord> trials = Trials(report.job_id);
  ASSERT_EQ(trials.size(), 2u);
  int internal = 0;
  for (const db::TrialRecord& t : trials) {
    if (t.status == "INTERNAL") {
      ++internal;
      EXPECT_THAT(t.message, HasSubstr("no result"));
    }
  }
  EXPECT_EQ(internal, 1);
}

TEST_F(TunerTest, CancelStopsAfterTheBatch) {
  std::atomic<bool> cancel{false};
  runner_.cancel_after_first = &cancel;
  TuneOptions options = Options(8, 2);
  options.cancel = &cancel;
  TuneReport report;
  absl::Status status =
      Tune(runner_, *store_, Tasks({"fc"}), options, nullptr, &report);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(report.state, "cancelled");
  EXPECT_EQ(report.trials, 2);
  EXPECT_EQ(Job(report.job_id).state, "cancelled");
}

TEST_F(TunerTest, TimeBudgetLeavesOneBatchPerTask) {
  TuneOptions options = Options(8, 2);
  options.time_budget = absl::Nanoseconds(1);
  TuneReport report;
  ASSERT_TRUE(Tune(runner_, *store_, Tasks({"fc", "layer4.0.downsample"}), options, nullptr,
                   &report)
                  .ok());
  for (const TaskOutcome& t : report.tasks) EXPECT_EQ(t.trials, 2) << t.task.name;
}

TEST_F(TunerTest, RejectsBadOptionsBeforeCreatingAJob) {
  TuneReport report;
  TuneOptions options = Options(4, 2);
  options.strategy = "nope";
  EXPECT_EQ(Tune(runner_, *store_, Tasks({"fc"}), options, nullptr, &report).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(report.job_id.empty());
  absl::StatusOr<std::vector<db::JobRecord>> jobs = store_->Jobs();
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
}

TEST_F(TunerTest, TableHasSpeedupsAndWeightedTotals) {
  TuneReport report;
  ASSERT_TRUE(Tune(runner_, *store_, Tasks({"layer1.0-1.conv1", "fc"}), Options(8, 8), nullptr,
                   &report)
                  .ok());
  Table table = BuildTable(report);
  ASSERT_EQ(table.rows.size(), 4u);
  // The fake's int8 is 4x faster than its fp32 on every config.
  for (const TableRow& row : table.rows) {
    ASSERT_TRUE(row.gops.has_value());
    const TaskOutcome& t = *row.task;
    EXPECT_DOUBLE_EQ(*row.gops, 2.0 * t.task.op.macs() / (t.best->median_us * 1e3));
    if (t.task.dtype == DType::kInt8) {
      ASSERT_TRUE(row.int8_speedup.has_value());
      EXPECT_DOUBLE_EQ(*row.int8_speedup, 4.0);
    } else {
      EXPECT_FALSE(row.int8_speedup.has_value());
    }
  }
  ASSERT_EQ(table.totals.size(), 2u);
  EXPECT_EQ(table.totals[0].dtype, "int8");
  // layer1.0-1.conv1 occurs twice, fc once; the best fp32 latency is 135 us.
  EXPECT_DOUBLE_EQ(table.totals[1].weighted_us, 3 * 135.0);
  EXPECT_DOUBLE_EQ(table.totals[0].weighted_us, 3 * 135.0 / 4);
  ASSERT_TRUE(table.int8_speedup.has_value());
  EXPECT_DOUBLE_EQ(*table.int8_speedup, 4.0);

  std::ostringstream text, json;
  PrintTable(table, text);
  EXPECT_THAT(text.str(), HasSubstr("layer1.0-1.conv1"));
  EXPECT_THAT(text.str(), HasSubstr("4.00x"));
  PrintTableJson(table, json);
  PrintSummaryJson(report, path_, json);
  std::string line;
  int rows = 0, lines = 0;
  std::istringstream in(json.str());
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
    if (line.find("\"event\":\"row\"") != std::string::npos) ++rows;
  }
  EXPECT_EQ(rows, 4);
  EXPECT_EQ(lines, 4 + 3 + 1);  // rows, totals (int8, fp32, speedup), summary
  EXPECT_THAT(json.str(), HasSubstr("\"overhead_ms_per_trial\":"));
}

}  // namespace
}  // namespace qtune::tuner

namespace qtune::tuner {
namespace {

TEST_F(TunerTest, WithABudgetAndNoCapTasksRunUntilExhausted) {
  TuneOptions options = Options(0, 2);
  options.time_budget = absl::Minutes(5);
  options.warm_trials = 2;
  options.patience = 0;
  TuneReport report;
  CountingObserver observer;
  ASSERT_TRUE(Tune(runner_, *store_, Tasks({"fc", "layer4.0.downsample"}), options, &observer,
                   &report)
                  .ok());
  ASSERT_EQ(report.tasks.size(), 4u);
  for (const TaskOutcome& t : report.tasks) {
    EXPECT_EQ(t.trials, 8) << t.task.name;  // the whole 8-config space
    EXPECT_EQ(t.end_reason, "exhausted") << t.task.name;
  }
  EXPECT_EQ(observer.started, 4);
  EXPECT_EQ(observer.ended, 4);
}

TEST_F(TunerTest, ConvergedTasksStopEarly) {
  runner_.flat = true;
  TuneOptions options = Options(0, 1);
  options.strategy = "grid";
  options.time_budget = absl::Minutes(5);
  options.warm_trials = 2;
  options.patience = 2;
  TuneReport report;
  ASSERT_TRUE(Tune(runner_, *store_, Tasks({"fc"}, {DType::kInt8}), options, nullptr, &report)
                  .ok());
  ASSERT_EQ(report.tasks.size(), 1u);
  EXPECT_EQ(report.tasks[0].end_reason, "converged");
  EXPECT_LT(report.tasks[0].trials, 8);
}

TEST_F(TunerTest, UnlimitedTrialsNeedABudget) {
  TuneReport report;
  EXPECT_EQ(Tune(runner_, *store_, Tasks({"fc"}), Options(0, 2), nullptr, &report).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TunerTest, TransferSeedsANewDeviceFromRecordsOfAnotherDevice) {
  const std::vector<Task> tasks = Tasks({"fc"}, {DType::kInt8});
  TuneOptions first = Options(8, 8);
  first.strategy = "random";
  TuneReport done;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, first, nullptr, &done).ok());
  ASSERT_TRUE(done.tasks[0].best.has_value());
  const std::string best_config = done.tasks[0].best->config;  // tile=8,unroll=1

  FakeRunner other;
  other.device_key = "fake/other/2c";
  TuneOptions options = Options(2, 2);
  options.strategy = "model";
  TuneReport report;
  ASSERT_TRUE(Tune(other, *store_, tasks, options, nullptr, &report).ok());
  EXPECT_EQ(report.tasks[0].transfer_sources, 1);
  EXPECT_EQ(report.tasks[0].transfer_seeds, 1);
  // The first batch holds the transferred best (the fake answers out of order).
  std::vector<db::TrialRecord> trials = Trials(report.job_id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_TRUE(trials[0].config == best_config || trials[1].config == best_config);
  EXPECT_EQ(trials[0].device_key, "fake/other/2c");

  // --notransfer starts from scratch.
  FakeRunner third;
  third.device_key = "fake/third/1c";
  options.transfer = false;
  ASSERT_TRUE(Tune(third, *store_, tasks, options, nullptr, &report).ok());
  EXPECT_EQ(report.tasks[0].transfer_sources, 0);
}

// ---------------------------------------------------------------------------
// Results you can trust: builds, failing layers, retries, resumed jobs.

TEST_F(TunerTest, ANewKernelBuildDoesNotReuseHistoryAndBestShowsOnlyIt) {
  const std::vector<Task> tasks = Tasks({"fc"}, {DType::kFp32});
  TuneReport old_build, new_build;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(5, 8), nullptr, &old_build).ok());
  EXPECT_EQ(old_build.kernel_build, "0.1.0-aaaaaaaaaaaa");

  runner_.kernel_build = "0.1.0-bbbbbbbbbbbb";
  runner_.flat = true;  // the new kernels time differently
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(5, 8), nullptr, &new_build).ok());
  EXPECT_EQ(new_build.tasks[0].history_trials, 0);  // nothing of the old build reused
  EXPECT_EQ(new_build.tasks[0].trials, 5);
  ASSERT_TRUE(new_build.tasks[0].best.has_value());
  EXPECT_FALSE(new_build.tasks[0].best->from_history);
  for (const db::TrialRecord& t : Trials(new_build.job_id)) {
    EXPECT_EQ(t.build_id, "0.1.0-bbbbbbbbbbbb");
    EXPECT_EQ(t.settings, MeasureSettingsKey(DefaultMeasureOptions()));
  }

  // `best` ranks the current build only; all builds on request.
  absl::StatusOr<std::vector<db::BestRecord>> best = store_->Best();
  ASSERT_TRUE(best.ok()) << best.status();
  ASSERT_EQ(best->size(), 1u);
  EXPECT_EQ((*best)[0].build_id, "0.1.0-bbbbbbbbbbbb");
  EXPECT_EQ((*best)[0].median_us, 100.0);  // not the old build's 135
  db::Filter all;
  all.builds = db::Filter::Builds::kAll;
  best = store_->Best(all);
  ASSERT_TRUE(best.ok());
  EXPECT_EQ(best->size(), 2u);
  absl::StatusOr<std::vector<db::BuildRecord>> builds = store_->Builds();
  ASSERT_TRUE(builds.ok());
  ASSERT_EQ(builds->size(), 2u);
  EXPECT_FALSE((*builds)[0].current);
  EXPECT_TRUE((*builds)[1].current);
  EXPECT_EQ((*builds)[1].trials, 5);
}

TEST_F(TunerTest, OlderBuildsFeedTheCostModelAsTransfer) {
  const std::vector<Task> tasks = Tasks({"fc"}, {DType::kInt8});
  TuneReport first, second;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(8, 8), nullptr, &first).ok());
  runner_.kernel_build = "0.1.0-bbbbbbbbbbbb";
  TuneOptions options = Options(2, 2);
  options.strategy = "model";
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &second).ok());
  EXPECT_EQ(second.tasks[0].history_trials, 0);
  EXPECT_EQ(second.tasks[0].transfer_sources, 1);  // the same op, older build
  EXPECT_EQ(second.tasks[0].transfer_seeds, 1);
}

TEST_F(TunerTest, OtherMeasurementSettingsAreNotHistory) {
  const std::vector<Task> tasks = Tasks({"fc"}, {DType::kFp32});
  TuneReport first, second;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(5, 8), nullptr, &first).ok());
  TuneOptions options = Options(5, 8);
  options.measure.set_threads(1);
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &second).ok());
  EXPECT_EQ(second.tasks[0].history_trials, 0);
  EXPECT_EQ(second.tasks[0].trials, 5);
}

TEST_F(TunerTest, UnderABudgetAnAlwaysFailingTaskStopsAndTheOthersFinish) {
  runner_.big_space = true;
  runner_.fail_dense = true;
  TuneOptions options = Options(0, 8);
  options.time_budget = absl::Minutes(5);
  options.warm_trials = 16;
  options.patience = 16;
  TuneReport report;
  absl::Status status = Tune(runner_, *store_, Tasks({"fc", "layer4.0.downsample"},
                                                     {DType::kInt8}),
                             options, nullptr, &report);
  ASSERT_EQ(report.tasks.size(), 2u);
  const bool fc_first = report.tasks[0].task.layer == "fc";
  const TaskOutcome& fc = report.tasks[fc_first ? 0 : 1];
  const TaskOutcome& conv = report.tasks[fc_first ? 1 : 0];
  EXPECT_EQ(fc.task.layer, "fc");
  EXPECT_EQ(fc.end_reason, "failed");
  EXPECT_EQ(fc.trials, kDefaultMaxFailuresInARow);
  EXPECT_THAT(fc.status.message(), HasSubstr("no OK trial in 32 tries (WRONG_OUTPUT 32)"));
  EXPECT_THAT(fc.status.message(), HasSubstr("e.g. WRONG_OUTPUT: 1 of 1000 outputs differ"));
  EXPECT_TRUE(conv.status.ok());
  EXPECT_EQ(conv.end_reason, "converged");
  EXPECT_TRUE(conv.best.has_value());
  // The job says which layer failed and why.
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("1 of 2 tasks could not be tuned; fc/int8"));
  EXPECT_EQ(report.state, "failed");
}

TEST_F(TunerTest, FailureLimitIsAnOption) {
  runner_.big_space = true;
  runner_.fail_dense = true;
  TuneOptions options = Options(20, 4);
  options.max_failures_in_a_row = 0;  // never give up: the trial cap ends it
  TuneReport report;
  Tune(runner_, *store_, Tasks({"fc"}, {DType::kInt8}), options, nullptr, &report).IgnoreError();
  ASSERT_EQ(report.tasks.size(), 1u);
  EXPECT_EQ(report.tasks[0].trials, 20);
  EXPECT_EQ(report.tasks[0].end_reason, "capped");
}

TEST_F(TunerTest, ATimedOutConfigIsRetriedOnceInALaterJob) {
  runner_.timeout_tile = 2;
  const std::vector<Task> tasks = Tasks({"fc"}, {DType::kFp32});
  auto timeouts = [&](const TuneReport& r) {
    int n = 0;
    for (const db::TrialRecord& t : Trials(r.job_id)) n += t.status == "TIMEOUT";
    return n;
  };
  TuneReport first, second, third;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(8, 8), nullptr, &first).ok());
  EXPECT_EQ(first.tasks[0].trials, 8);  // the whole space, one TIMEOUT
  EXPECT_EQ(timeouts(first), 1);
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(8, 8), nullptr, &second).ok());
  EXPECT_EQ(second.tasks[0].trials, 1);  // only the timed-out config, again
  EXPECT_EQ(timeouts(second), 1);
  ASSERT_TRUE(Tune(runner_, *store_, tasks, Options(8, 8), nullptr, &third).ok());
  EXPECT_EQ(third.tasks[0].trials, 0);  // twice is enough
}

// A slice larger than HistoryLimits::read_all is read as its measured
// configs and a sample; the rules of a small one hold the same.
TuneOptions BoundedHistory(TuneOptions options) {
  options.history.read_all = 0;  // every slice counts as large
  options.history.best = 1;
  options.history.spread = 1;
  return options;
}

TEST_F(TunerTest, ALargeHistoryIsReadBoundedAndNothingIsMeasuredTwice) {
  const std::vector<Task> tasks = Tasks({"fc"}, {DType::kFp32});
  const TuneOptions options = BoundedHistory(Options(5, 8));
  TuneReport first, second, third;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &first).ok());
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &second).ok());
  EXPECT_EQ(second.tasks[0].history_trials, 5);  // counted, not read
  EXPECT_EQ(second.tasks[0].trials, 3);          // what the first job left of the 8
  std::set<std::string> configs;
  for (const auto* job : {&first, &second}) {
    for (const db::TrialRecord& t : Trials(job->job_id)) {
      EXPECT_TRUE(configs.insert(t.config).second) << t.config;
    }
  }
  EXPECT_EQ(configs.size(), 8u);
  // Nothing left: no trial, the best comes from the sample.
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &third).ok());
  EXPECT_EQ(third.tasks[0].trials, 0);
  EXPECT_EQ(third.tasks[0].history_trials, 8);
  ASSERT_TRUE(third.tasks[0].best.has_value());
  EXPECT_TRUE(third.tasks[0].best->from_history);
  EXPECT_EQ(third.tasks[0].best->config, "tile=8,unroll=1");

  TuneOptions bad_options = options;
  bad_options.history.best = 0;
  TuneReport bad;
  EXPECT_EQ(Tune(runner_, *store_, tasks, bad_options, nullptr, &bad).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(bad.job_id.empty());
}

TEST_F(TunerTest, ALargeHistoryRetriesATimedOutConfigOnce) {
  runner_.timeout_tile = 2;
  const std::vector<Task> tasks = Tasks({"fc"}, {DType::kFp32});
  const TuneOptions options = BoundedHistory(Options(8, 8));
  TuneReport first, second, third;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &first).ok());
  EXPECT_EQ(first.tasks[0].trials, 8);
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &second).ok());
  ASSERT_EQ(Trials(second.job_id).size(), 1u);
  EXPECT_EQ(Trials(second.job_id)[0].config, "tile=2,unroll=1");
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &third).ok());
  EXPECT_EQ(third.tasks[0].trials, 0);
}

TEST_F(TunerTest, ANamedJobResumesWhereItStopped) {
  std::atomic<bool> cancel{false};
  runner_.cancel_after_first = &cancel;
  const std::vector<Task> tasks = Tasks({"fc"});
  TuneOptions options = Options(6, 2);
  options.job_name = "nightly";
  options.cancel = &cancel;
  TuneReport stopped;
  EXPECT_EQ(Tune(runner_, *store_, tasks, options, nullptr, &stopped).code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(stopped.trials, 2);
  EXPECT_EQ(Job(stopped.job_id).name, "nightly");

  runner_.cancel_after_first = nullptr;
  cancel = false;
  TuneReport resumed;
  ASSERT_TRUE(Tune(runner_, *store_, tasks, options, nullptr, &resumed).ok());
  EXPECT_TRUE(resumed.resumed);
  EXPECT_EQ(resumed.job_id, stopped.job_id);
  EXPECT_EQ(Job(resumed.job_id).state, "done");
  // Exactly 6 trials per task, all distinct, numbered on from the first run.
  std::map<std::string, std::set<std::string>> configs;
  std::set<int64_t> seqs;
  for (const db::TrialRecord& t : Trials(resumed.job_id)) {
    EXPECT_TRUE(configs[t.workload_key].insert(t.config).second) << t.config;
    EXPECT_TRUE(seqs.insert(t.seq).second) << t.seq;
  }
  ASSERT_EQ(configs.size(), 2u);
  for (const auto& [workload, c] : configs) EXPECT_EQ(c.size(), 6u) << workload;
  for (const TaskOutcome& t : resumed.tasks) EXPECT_EQ(t.trials, 6) << t.task.name;

  // A done job is not resumed; nor is one asked for with other tasks.
  TuneReport again;
  absl::Status done = Tune(runner_, *store_, tasks, options, nullptr, &again);
  EXPECT_EQ(done.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(done.message(), HasSubstr("is done"));
  TuneOptions other = options;
  other.job_name = "other";
  TuneReport other_report;
  ASSERT_TRUE(Tune(runner_, *store_, Tasks({"fc"}, {DType::kInt8}), other, nullptr, &other_report)
                  .ok());
  ASSERT_TRUE(store_->FinishJob(other_report.job_id, "failed").ok());  // resumable
  absl::Status mismatch = Tune(runner_, *store_, tasks, other, nullptr, &again);
  EXPECT_EQ(mismatch.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(mismatch.message(), HasSubstr("other tasks"));
}

// ---------------------------------------------------------------------------
// Time, driven by a fake clock: every trial of the fake device takes 100 ms.

class TunerClockTest : public TunerTest {
 protected:
  TuneReport TuneFor(absl::Duration budget, int patience = 0, int warm_trials = 16) {
    FakeClock clock;
    runner_.clock = &clock;
    runner_.big_space = true;
    TuneOptions options = Options(0, 4);
    options.clock = &clock;
    options.time_budget = budget;
    options.patience = patience;
    options.warm_trials = warm_trials;
    options.strategy = "random";
    options.use_history = false;
    TuneReport report;
    EXPECT_TRUE(Tune(runner_, *store_, Tasks({"fc", "layer4.0.downsample"}, {DType::kInt8}),
                     options, nullptr, &report)
                    .ok());
    runner_.clock = nullptr;
    return report;
  }
};

// A batch starts only before the deadline, and every task gets at least one:
// a budget B buys max(2, ceil(B / 400 ms)) batches of 4 trials.
TEST_F(TunerClockTest, TheBudgetBuysWhatItSaysAtEveryValue) {
  for (int tenths = 1; tenths <= 120; tenths += 7) {
    const absl::Duration budget = absl::Milliseconds(100 * tenths);
    const TuneReport report = TuneFor(budget);
    const int64_t batches = std::max<int64_t>(2, (tenths + 3) / 4);
    EXPECT_EQ(report.trials, 4 * batches) << "budget " << budget;
    EXPECT_NEAR(report.wall_s, 0.4 * static_cast<double>(batches), 1e-9) << "budget " << budget;
    for (const TaskOutcome& t : report.tasks) {
      EXPECT_GE(t.trials, 4) << t.task.name << " budget " << budget;
      EXPECT_EQ(t.end_reason, "deadline") << t.task.name << " budget " << budget;
    }
  }
}

// During the warm-up each task gets an equal share of what is left when it
// starts: the first of two tasks half the budget, the second the rest.
TEST_F(TunerClockTest, WarmUpSharesSplitTheBudget) {
  const TuneReport report = TuneFor(absl::Seconds(4), /*patience=*/0, /*warm_trials=*/1000);
  ASSERT_EQ(report.tasks.size(), 2u);
  EXPECT_EQ(report.tasks[0].trials, 20);  // batches starting at 0, .4, ... 1.6 s: until 2 s
  EXPECT_EQ(report.tasks[1].trials, 20);  // 2.0 .. 3.6 s
}

TEST_F(TunerClockTest, SameClockSameJob) {
  const TuneReport a = TuneFor(absl::Seconds(3));
  const TuneReport b = TuneFor(absl::Seconds(3));
  std::vector<std::string> configs_a, configs_b;
  for (const db::TrialRecord& t : Trials(a.job_id)) configs_a.push_back(t.config);
  for (const db::TrialRecord& t : Trials(b.job_id)) configs_b.push_back(t.config);
  EXPECT_EQ(configs_a, configs_b);
}

// With a flat device nothing improves: a task converges at the first batch
// that ends its warm-up and holds more than `patience` trials (the window
// needs a best from before it), at every patience.
TEST_F(TunerClockTest, PatienceEndsFlatTasksAtEveryValue) {
  runner_.flat = true;
  for (int patience : {4, 8, 16, 24, 40, 64}) {
    const TuneReport report = TuneFor(absl::Hours(1), patience);
    for (const TaskOutcome& t : report.tasks) {
      const int64_t expected = (std::max(16, patience + 1) + 3) / 4 * 4;  // whole batches
      EXPECT_EQ(t.end_reason, "converged") << t.task.name << " patience " << patience;
      EXPECT_EQ(t.trials, expected) << t.task.name << " patience " << patience;
    }
  }
}

}  // namespace
}  // namespace qtune::tuner
