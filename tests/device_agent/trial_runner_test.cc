#include "device_agent/trial_runner.h"

#include <cstdint>
#include <string>

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

}  // namespace
}  // namespace qtune::agent
