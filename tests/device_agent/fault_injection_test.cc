// Kernels with injected faults must not pass a trial: writes outside the
// output, wrong values that show only on a later run, arithmetic that breaks
// only on edge values, and stray writes into the cached operator instance.
// Faults are injected through TrialRunnerOptions' test hooks.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "device_agent/trial_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/reference.h"
#include "qtune/kernels/verify.h"
#include "tests/device_agent/trial_test_util.h"

namespace qtune::agent {
namespace {

using ::testing::HasSubstr;

// Five timed runs after the verification run: executions 0 (verification)
// and 1..5 (timed).
MeasureSettings FiveTimedRuns() {
  MeasureSettings s;
  s.warmup_runs = 1;
  s.min_repeat_ms = 0;
  s.min_repeats = 5;
  s.max_repeats = 5;
  return s;
}

TrialRunnerOptions WithHook(std::function<absl::Status(const KernelRun&)> hook) {
  TrialRunnerOptions options = HostOptions();
  options.execute_for_testing = std::move(hook);
  return options;
}

// Makes the pages holding [p, p + bytes) writable again (tests only: they
// are read-only while an instance is cached).
void MakeWritable(const void* p, size_t bytes) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes + page - 1) / page * page;
  ASSERT_EQ(mprotect(reinterpret_cast<void*>(begin), end - begin, PROT_READ | PROT_WRITE), 0);
}

// --- Writes outside the output ---------------------------------------------

TEST(FaultInjectionTest, OneBytePastTheEndIsWrongOutput) {
  TrialRunner runner(WithHook([](const KernelRun& run) {
    absl::Status status = run.execute();
    static_cast<uint8_t*>(run.output)[run.output_bytes] ^= 0xFF;
    return status;
  }));
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::WRONG_OUTPUT) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("wrote 1 byte past the end of the 1260-byte output"));
  EXPECT_EQ(r.repeats(), 0);
}

TEST(FaultInjectionTest, WritesBeforeTheStartAreWrongOutput) {
  TrialRunner runner(WithHook([](const KernelRun& run) {
    absl::Status status = run.execute();
    static_cast<uint8_t*>(run.output)[-3] ^= 0xFF;
    return status;
  }));
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::WRONG_OUTPUT) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("wrote 3 bytes before the start of the 1260-byte output"));
}

TEST(FaultInjectionTest, OverrunInATimedRunOnlyIsWrongOutput) {
  // Correct in the verification run; 17 bytes too many in the third timed
  // run only. The guards are checked again after the last timed run.
  TrialRunner runner(WithHook([](const KernelRun& run) {
    absl::Status status = run.execute();
    if (run.index == 3) std::memset(static_cast<uint8_t*>(run.output) + run.output_bytes, 0, 17);
    return status;
  }));
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::WRONG_OUTPUT) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("wrote 17 bytes past the end of the 1260-byte output"));
}

// --- Wrong values on a later run --------------------------------------------

TEST(FaultInjectionTest, RaceShowingOnlyOnALaterRunIsWrongOutput) {
  // Like a threaded kernel whose race shows once its pool is warm: from the
  // third execution on, one output element is wrong.
  TrialRunner runner(WithHook([](const KernelRun& run) {
    absl::Status status = run.execute();
    if (run.index >= 2) static_cast<uint8_t*>(run.output)[run.output_bytes / 3] ^= 0x10;
    return status;
  }));
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::WRONG_OUTPUT) << r.message();
  EXPECT_EQ(r.mismatches(), 1);
  EXPECT_THAT(r.message(), HasSubstr("later run"));
  EXPECT_THAT(r.message(), HasSubstr("timed run 5 of 5"));
}

TEST(FaultInjectionTest, ElementLeftUnwrittenOnTheLastRunIsWrongOutput) {
  // The last run skips one element: what is left there from the earlier runs
  // is right, so only a refill of the output before the run exposes it.
  TrialRunner runner(WithHook([](const KernelRun& run) {
    if (run.index < 5) return run.execute();
    std::vector<uint8_t> keep(static_cast<uint8_t*>(run.output),
                              static_cast<uint8_t*>(run.output) + run.output_bytes);
    absl::Status status = run.execute();
    // Undo the kernel's write of element 7, as if it had never stored it.
    static_cast<uint8_t*>(run.output)[7] = keep[7];
    return status;
  }));
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::WRONG_OUTPUT) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("first at 7"));
}

// --- Arithmetic that breaks only on edge values -------------------------------

// A dense u8 x s8 kernel in the style of SSSE3/AVX2 code without VNNI:
// activations shifted to s8 (x - 128), products of pairs of channels through
// vpmaddubsw (u8 x s8 -> saturating int16) with the usual sign trick for
// s8 x s8: |a| x sign(w, a), where the int8 negation of -128 wraps. Exact
// for weights in [-127, 127] (every pair sum <= 2 * 128 * 127 = 32512), wrong
// for -128 weights against negative a.
void SaturatingDense(const kernels::OpSpec& op, const kernels::OpData& d, const uint8_t* x,
                     uint8_t* y) {
  const kernels::QuantParams& q = d.quant;
  for (int n = 0; n < op.n; ++n) {
    for (int k = 0; k < op.k; ++k) {
      const int8_t* w = &d.weights_s8[static_cast<size_t>(k) * op.c];
      int32_t acc = d.bias_s32[k];
      int32_t sum_w = 0;
      for (int c = 0; c < op.c; c += 2) {
        int32_t pair = 0;
        for (int j = c; j < c + 2 && j < op.c; ++j) {
          const int a = static_cast<int>(x[static_cast<size_t>(n) * op.c + j]) - 128;
          const int magnitude = a < 0 ? -a : a;  // vpabsb, read as u8
          // vpsignb: -w wraps for w = -128.
          const int8_t signed_w = a < 0 ? static_cast<int8_t>(-w[j]) : (a == 0 ? 0 : w[j]);
          pair += magnitude * signed_w;
          sum_w += w[j];
        }
        acc += std::clamp(pair, -32768, 32767);  // vpmaddubsw saturates
      }
      acc += (128 - q.input_zero_point) * sum_w;  // zero point folded in
      y[static_cast<size_t>(n) * op.k + k] = kernels::Requantize(
          acc, q.requant_scale[k], q.output_zero_point, q.output_min, q.output_max);
    }
  }
}

TEST(FaultInjectionTest, SaturatingMultiplyFailsOnEdgeValues) {
  const kernels::OpSpec op = Dense(4, 256, 48);
  constexpr uint64_t kSeed = 1;  // the tuner's default
  // The trial's data, built the same way (same op, same seed) for the fake.
  absl::StatusOr<std::unique_ptr<kernels::OpInstance>> inst = kernels::MakeOpInstance(op, kSeed);
  ASSERT_TRUE(inst.ok()) << inst.status();
  const kernels::OpData& data = (*inst)->data;
  int minus_128 = 0;
  for (int8_t w : data.weights_s8) minus_128 += w == -128;
  EXPECT_GT(minus_128, 0) << "the inputs have no -128 weight";

  // The fake is exact on the same inputs with the weights held to [-127, 127]
  // (the old input recipe's range): only the edge values expose it.
  kernels::OpData narrow = data;
  for (int8_t& w : narrow.weights_s8) w = std::max<int8_t>(w, -127);
  std::vector<uint8_t> want(op.output_elements()), got(op.output_elements());
  ASSERT_TRUE(kernels::RunReference(op, narrow, (*inst)->input.data(), want.data()).ok());
  SaturatingDense(op, narrow, (*inst)->input.as<uint8_t>(), got.data());
  EXPECT_EQ(got, want) << "the fake kernel should be exact without -128 weights";

  TrialRunner runner(WithHook([&](const KernelRun& run) {
    SaturatingDense(op, data, static_cast<const uint8_t*>(run.input),
                    static_cast<uint8_t*>(run.output));
    return absl::OkStatus();
  }));
  MeasureSettings s = FiveTimedRuns();
  s.seed = kSeed;
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), s);
  EXPECT_EQ(r.status(), proto::WRONG_OUTPUT) << r.message();
  EXPECT_GT(r.mismatches(), 0);
}

// --- Stray writes into the cached operator instance -------------------------

TEST(FaultInjectionTest, CorruptedReferenceIsInternalAndTheInstanceIsRebuilt) {
  bool tamper = true;
  TrialRunnerOptions options = WithHook(nullptr);
  options.tamper_instance_for_testing = [&](kernels::OpInstance& inst) {
    if (!tamper) return;
    MakeWritable(inst.reference.data(), inst.reference.size());
    inst.reference.as<uint8_t>()[5] ^= 0x01;
  };
  TrialRunner runner(options);
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::INTERNAL) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("reference corrupted"));
  EXPECT_EQ(runner.cached_bytes(), 0u);  // dropped
  tamper = false;
  r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::OK) << r.message();
}

TEST(FaultInjectionTest, CorruptedInputIsInternal) {
  TrialRunnerOptions options = WithHook(nullptr);
  options.tamper_instance_for_testing = [&](kernels::OpInstance& inst) {
    MakeWritable(inst.input.data(), inst.input.size());
    inst.input.as<uint8_t>()[11] ^= 0x40;
  };
  TrialRunner runner(options);
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::INTERNAL) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("input corrupted"));
}

TEST(FaultInjectionTest, CorruptedConstantsAreInternal) {
  // Weights live in the instance too; a kernel built later would pack the
  // corrupted ones and be blamed for the reference's data.
  TrialRunnerOptions options = WithHook(nullptr);
  options.tamper_instance_for_testing = [&](kernels::OpInstance& inst) {
    inst.data.weights_s8[2] = static_cast<int8_t>(inst.data.weights_s8[2] ^ 0x04);
  };
  TrialRunner runner(options);
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  proto::TrialResult r = runner.Run(op, DefaultConfig(op), FiveTimedRuns());
  EXPECT_EQ(r.status(), proto::INTERNAL) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("constants corrupted"));
}

// A kernel writing into its (read-only) input or the reference crashes; in
// the agent that kills only the worker, and the trial is CRASH.
TEST(FaultInjectionDeathTest, KernelWritingItsInputCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  kernels::Config config = DefaultConfig(op);
  EXPECT_EXIT(
      {
        TrialRunner runner(WithHook([](const KernelRun& run) {
          absl::Status status = run.execute();
          const_cast<uint8_t*>(static_cast<const uint8_t*>(run.input))[0] ^= 0x01;
          return status;
        }));
        runner.Run(op, config, FiveTimedRuns());
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(FaultInjectionDeathTest, KernelWritingTheReferenceCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  kernels::OpSpec op = SmallConv(kernels::DType::kInt8);
  kernels::Config config = DefaultConfig(op);
  EXPECT_EXIT(
      {
        uint8_t* reference = nullptr;
        TrialRunnerOptions options = WithHook([&](const KernelRun& run) {
          absl::Status status = run.execute();
          reference[0] ^= 0x01;
          return status;
        });
        options.tamper_instance_for_testing = [&](kernels::OpInstance& inst) {
          reference = inst.reference.as<uint8_t>();
        };
        TrialRunner runner(options);
        runner.Run(op, config, FiveTimedRuns());
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

}  // namespace
}  // namespace qtune::agent
