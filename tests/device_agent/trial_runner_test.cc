#include "device_agent/trial_runner.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "device_agent/machine_monitor.h"
#include "device_agent/measure_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "tests/device_agent/trial_test_util.h"

namespace qtune::agent {
namespace {

using ::testing::HasSubstr;

kernels::OpSpec SmallDense() { return Dense(1, 40, 24); }

// Quick settings: a few timed runs, no minimum time.
MeasureSettings Quick() {
  MeasureSettings s;
  s.warmup_runs = 1;
  s.min_repeat_ms = 0.5;
  s.min_repeats = 3;
  s.max_repeats = 20;
  return s;
}

void ExpectSaneOk(const proto::TrialResult& r, const MeasureSettings& s) {
  ASSERT_EQ(r.status(), proto::OK) << r.message();
  EXPECT_FALSE(r.kernel_name().empty());
  EXPECT_GE(r.repeats(), s.min_repeats);
  EXPECT_LE(r.repeats(), s.max_repeats);
  EXPECT_GT(r.median_us(), 0);
  EXPECT_GT(r.min_us(), 0);
  EXPECT_LE(r.min_us(), r.median_us());
  EXPECT_GE(r.stddev_us(), 0);
  EXPECT_GE(r.compile_ms(), 0);
  EXPECT_GE(r.verify_ms(), 0);
  EXPECT_GT(r.measure_ms(), 0);
  EXPECT_EQ(r.mismatches(), 0);
}

TEST(TrialRunnerTest, Int8ConvDefaultConfigIsOk) {
  TrialRunner runner(HostOptions());
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  MeasureSettings s = Quick();
  ExpectSaneOk(runner.Run(op, DefaultConfig(op), s), s);
  EXPECT_GT(runner.cached_bytes(), 0u);
  // The second trial reuses the cached instance.
  size_t cached = runner.cached_bytes();
  ExpectSaneOk(runner.Run(op, DefaultConfig(op), s), s);
  EXPECT_EQ(runner.cached_bytes(), cached);
}

TEST(TrialRunnerTest, Fp32ConvAndInt8DenseAreOk) {
  TrialRunner runner(HostOptions());
  MeasureSettings s = Quick();
  kernels::OpSpec conv = SmallConv(kernels::DType::kFp32);
  ExpectSaneOk(runner.Run(conv, DefaultConfig(conv), s), s);
  kernels::OpSpec dense = SmallDense();
  ExpectSaneOk(runner.Run(dense, DefaultConfig(dense), s), s);
}

TEST(TrialRunnerTest, SeveralValidConfigsAreOk) {
  TrialRunner runner(HostOptions());
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(op, kernels::HostTarget());
  ASSERT_TRUE(space.ok()) << space.status();
  MeasureSettings s = Quick();
  s.flush_cache = true;
  for (const kernels::Config& config : space->EnumerateValid(4)) {
    ExpectSaneOk(runner.Run(op, config, s), s);
  }
}

TEST(TrialRunnerTest, MaxRepeatsBoundsTheTimedRuns) {
  TrialRunner runner(HostOptions());
  kernels::OpSpec op = SmallDense();
  MeasureSettings s = Quick();
  s.min_repeat_ms = 60000;  // never reached: max_repeats stops the loop
  s.min_repeats = 2;
  s.max_repeats = 5;
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), s);
  ASSERT_EQ(r.status(), proto::OK) << r.message();
  EXPECT_EQ(r.repeats(), 5);
}

TEST(TrialRunnerTest, VerificationRunIsTheFirstWarmupRun) {
  TrialRunner runner(HostOptions());
  kernels::OpSpec op = SmallDense();
  MeasureSettings s = Quick();
  s.min_repeat_ms = 0;
  s.min_repeats = 3;
  s.max_repeats = 3;
  s.warmup_runs = 1;  // the verification run only
  ASSERT_EQ(runner.Run(op, DefaultConfig(op), s).status(), proto::OK);
  EXPECT_EQ(runner.kernel_runs(), 1 + 3);
  s.warmup_runs = 4;  // verification + 3 more untimed runs
  ASSERT_EQ(runner.Run(op, DefaultConfig(op), s).status(), proto::OK);
  EXPECT_EQ(runner.kernel_runs(), (1 + 3) + (4 + 3));
}

TEST(TrialRunnerTest, UnknownKnobIsInvalidConfig) {
  TrialRunner runner(HostOptions());
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  kernels::Config config = DefaultConfig(op);
  config["no_such_knob"] = 1;
  proto::TrialResult r = runner.Run(op, config, Quick());
  EXPECT_EQ(r.status(), proto::INVALID_CONFIG);
  EXPECT_THAT(r.message(), HasSubstr("no_such_knob"));
}

TEST(TrialRunnerTest, ValueOutsideTheSpaceIsInvalidConfig) {
  TrialRunner runner(HostOptions());
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(op, kernels::HostTarget());
  ASSERT_TRUE(space.ok()) << space.status();
  ASSERT_FALSE(space->knobs().empty());
  const kernels::Knob& knob = space->knobs().front();
  kernels::Config config = space->default_config();
  int64_t outside = 1;
  for (int64_t v : knob.values) outside = std::max(outside, v + 1000);
  config[knob.name] = outside;
  proto::TrialResult r = runner.Run(op, config, Quick());
  EXPECT_EQ(r.status(), proto::INVALID_CONFIG);
  EXPECT_FALSE(r.message().empty());
  // A missing knob is outside the space as well.
  config = space->default_config();
  config.erase(knob.name);
  EXPECT_EQ(runner.Run(op, config, Quick()).status(), proto::INVALID_CONFIG);
}

TEST(TrialRunnerTest, NoKernelPathIsUnsupported) {
  TrialRunnerOptions options = HostOptions();
  options.target.paths.clear();  // DescribeSpace finds no kernel family
  TrialRunner runner(options);
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), Quick());
  EXPECT_EQ(r.status(), proto::UNSUPPORTED);
  EXPECT_FALSE(r.message().empty());
}

TEST(TrialRunnerTest, CorruptedOutputIsWrongOutput) {
  TrialRunnerOptions options = HostOptions();
  options.execute_for_testing = [](const KernelRun& run) {
    absl::Status status = run.execute();
    if (run.index == 0 && run.output_bytes > 0) {
      static_cast<unsigned char*>(run.output)[run.output_bytes / 2] ^= 0x01;
    }
    return status;
  };
  TrialRunner runner(options);
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), Quick());
  EXPECT_EQ(r.status(), proto::WRONG_OUTPUT);
  EXPECT_EQ(r.mismatches(), 1);
  EXPECT_FALSE(r.message().empty());
  EXPECT_FALSE(r.kernel_name().empty());
  EXPECT_EQ(r.repeats(), 0);
}

TEST(TrialRunnerTest, ThreadsOptionCapsTheThreadsKnob) {
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(op, kernels::HostTarget());
  ASSERT_TRUE(space.ok()) << space.status();
  const kernels::Knob* threads = space->FindKnob("threads");
  if (threads == nullptr || kernels::HostTarget().max_threads < 2) {
    GTEST_SKIP() << "no multi-valued threads knob on this host";
  }
  kernels::Config config;
  for (const kernels::Config& c : space->EnumerateValid()) {
    if (c.at("threads") >= 2) {
      config = c;
      break;
    }
  }
  if (config.empty()) GTEST_SKIP() << "no valid config with threads >= 2";
  TrialRunner runner(HostOptions());
  MeasureSettings s = Quick();
  s.threads = 1;
  EXPECT_EQ(runner.Run(op, config, s).status(), proto::INVALID_CONFIG);
}

TEST(TrialRunnerTest, CacheStaysWithinItsBound) {
  MeasureSettings s = Quick();
  kernels::OpSpec conv = SmallConv(kernels::DType::kInt8);
  kernels::OpSpec dense = SmallDense();

  TrialRunner unbounded(HostOptions());
  ExpectSaneOk(unbounded.Run(conv, DefaultConfig(conv), s), s);
  size_t conv_bytes = unbounded.cached_bytes();
  ExpectSaneOk(unbounded.Run(dense, DefaultConfig(dense), s), s);
  size_t dense_bytes = unbounded.cached_bytes() - conv_bytes;
  ASSERT_GT(dense_bytes, 0u);

  TrialRunnerOptions options = HostOptions();
  options.cache_bytes = 1;  // every new instance evicts the previous one
  TrialRunner bounded(options);
  ExpectSaneOk(bounded.Run(conv, DefaultConfig(conv), s), s);
  EXPECT_EQ(bounded.cached_bytes(), conv_bytes);
  ExpectSaneOk(bounded.Run(dense, DefaultConfig(dense), s), s);
  EXPECT_EQ(bounded.cached_bytes(), dense_bytes);
  ExpectSaneOk(bounded.Run(conv, DefaultConfig(conv), s), s);
  EXPECT_EQ(bounded.cached_bytes(), conv_bytes);
}

TEST(TrialRunnerTest, DifferentSeedsAreVerifiedAgainstTheirOwnReference) {
  TrialRunner runner(HostOptions());
  kernels::OpSpec op = SmallDense();
  MeasureSettings s = Quick();
  s.seed = 42;
  ExpectSaneOk(runner.Run(op, DefaultConfig(op), s), s);
  s.seed = 43;
  ExpectSaneOk(runner.Run(op, DefaultConfig(op), s), s);
}

// --- Outside load and re-measures, with injected readings --------------------

// Scripted readings: attempt i (reads 2i and 2i+1) sees outside_cores[i] cores
// of outside load over 1 s on 2 CPUs; nullopt past the script.
class ScriptedMonitor final : public MachineMonitor {
 public:
  explicit ScriptedMonitor(std::vector<double> outside_cores)
      : outside_cores_(std::move(outside_cores)) {}

  std::optional<CpuTimes> ReadCpuTimes() override {
    const size_t attempt = static_cast<size_t>(reads_ / 2);
    const bool after = reads_ % 2 == 1;
    ++reads_;
    if (attempt >= outside_cores_.size()) return std::nullopt;
    CpuTimes t;
    t.cpus = 2;
    t.tick_s = 0.01;
    t.wall_s = 100.0 * attempt + (after ? 1.0 : 0.0);
    // The trial's own 1 s of CPU time is busy time too; it is subtracted.
    t.self_s = 50.0 * attempt + (after ? 1.0 : 0.0);
    t.busy_s = 70.0 * attempt + (after ? 1.0 + outside_cores_[attempt] : 0.0);
    return t;
  }
  double CpuMhz(int cpu) override {
    cpu_asked = cpu;
    return 2400;
  }
  double TemperatureC() override { return 55.5; }

  int reads() const { return reads_; }
  int cpu_asked = -2;

 private:
  std::vector<double> outside_cores_;
  int reads_ = 0;
};

struct LoadCase {
  std::vector<double> outside_cores;  // per attempt
  int expected_remeasures;
  double expected_outside_load;
};

proto::TrialResult RunWithReadings(std::shared_ptr<ScriptedMonitor> monitor, int max_remeasures,
                                   int64_t* timed_runs) {
  TrialRunnerOptions options = HostOptions();
  options.monitor = monitor;
  options.max_remeasures = max_remeasures;
  TrialRunner runner(options);
  const kernels::OpSpec op = SmallDense();
  const MeasureSettings s = Quick();
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), s);
  *timed_runs = runner.kernel_runs() - 1;  // all but the verification run (warmup_runs 1)
  return r;
}

TEST(TrialRunnerTest, OutsideLoadAboveTheThresholdIsTimedAgain) {
  const LoadCase cases[] = {
      {{0.0}, 0, 0.0},             // quiet
      {{0.2}, 0, 0.2},             // below the threshold (0.25)
      {{0.26}, 0, 0.26},           // above, but within the ticks' resolution (2 x 10 ms)
      {{1.0, 0.1}, 1, 0.1},        // disturbed once, then quiet: the quiet attempt
      {{1.0, 0.9, 0.1}, 2, 0.1},   // disturbed twice
      {{1.0, 0.6, 0.8}, 2, 0.6},   // always disturbed: the least loaded attempt
  };
  for (const LoadCase& c : cases) {
    auto monitor = std::make_shared<ScriptedMonitor>(c.outside_cores);
    int64_t timed_runs = 0;
    const proto::TrialResult r = RunWithReadings(monitor, kMaxRemeasures, &timed_runs);
    SCOPED_TRACE(::testing::PrintToString(c.outside_cores));
    ExpectSaneOk(r, Quick());
    EXPECT_EQ(r.remeasures(), c.expected_remeasures);
    EXPECT_NEAR(r.outside_load(), c.expected_outside_load, 1e-9);
    EXPECT_EQ(monitor->reads(), 2 * (c.expected_remeasures + 1));
    // Every attempt timed at least min_repeats runs.
    EXPECT_GE(timed_runs, int64_t{Quick().min_repeats} * (c.expected_remeasures + 1));
    EXPECT_GE(r.cv(), 0);
    EXPECT_EQ(r.cpu_mhz(), 2400);
    EXPECT_EQ(r.temp_c(), 55.5);
    EXPECT_GE(monitor->cpu_asked, 0);  // sched_getcpu() of the runner's thread
  }
}

TEST(TrialRunnerTest, RemeasuresCanBeTurnedOff) {
  auto monitor = std::make_shared<ScriptedMonitor>(std::vector<double>{1.5});
  int64_t timed_runs = 0;
  const proto::TrialResult r = RunWithReadings(monitor, 0, &timed_runs);
  ExpectSaneOk(r, Quick());
  EXPECT_EQ(r.remeasures(), 0);
  EXPECT_NEAR(r.outside_load(), 1.5, 1e-9);
}

TEST(TrialRunnerTest, UnreadableCountersMeanNoRemeasure) {
  auto monitor = std::make_shared<ScriptedMonitor>(std::vector<double>{});
  int64_t timed_runs = 0;
  const proto::TrialResult r = RunWithReadings(monitor, kMaxRemeasures, &timed_runs);
  ExpectSaneOk(r, Quick());
  EXPECT_EQ(r.remeasures(), 0);
  EXPECT_EQ(r.outside_load(), 0);
  EXPECT_EQ(r.cpu_mhz(), 2400);  // the other readings still count
}

TEST(TrialRunnerTest, WithoutAMonitorTheReadingsStayZero) {
  TrialRunner runner(HostOptions());
  const kernels::OpSpec op = SmallDense();
  const proto::TrialResult r = runner.Run(op, DefaultConfig(op), Quick());
  ExpectSaneOk(r, Quick());
  EXPECT_EQ(r.remeasures(), 0);
  EXPECT_EQ(r.outside_load(), 0);
  EXPECT_EQ(r.cpu_mhz(), 0);
  EXPECT_EQ(r.temp_c(), 0);
  EXPECT_GE(r.cv(), 0);
}

}  // namespace
}  // namespace qtune::agent
