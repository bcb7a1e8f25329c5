// File: trial_runner.h
// Runs one trial in the current process: validate the config, build the
// kernel, verify its output against the reference, time it. The agent calls
// it only inside its worker process (worker.h), where a crash or hang costs
// nothing but the worker; tests call it in-process.
//
// Protocol of one trial (see docs/agent.md):
//   1. DescribeSpace(op, target) (UNIMPLEMENTED -> UNSUPPORTED) and
//      ConfigSpace::Validate(config) (-> INVALID_CONFIG with the reason);
//   2. CreateKernel, timed as compile_ms (INVALID_ARGUMENT -> INVALID_CONFIG,
//      UNIMPLEMENTED -> UNSUPPORTED, other errors -> COMPILE_ERROR);
//   3. one run on the cached operator instance and VerifyOutput, timed as
//      verify_ms (-> WRONG_OUTPUT with the mismatch count and summary);
//   4. warmup_runs - 1 more untimed runs (the verification run counts as the
//      first warm-up run), then timed runs, each timed on its own with a
//      steady clock (optionally after a cache flush), until min_repeats and
//      min_repeat_ms are both reached or max_repeats runs were timed;
//   5. median/min/stddev in microseconds, repeats, measure_ms (sum of the
//      timed runs).
#ifndef QTUNE_DEVICE_AGENT_TRIAL_RUNNER_H_
#define QTUNE_DEVICE_AGENT_TRIAL_RUNNER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "device_agent/measure_options.h"
#include "proto/qtune.pb.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/verify.h"

namespace qtune::agent {

struct TrialRunnerOptions {
  // The kernel paths and thread bound trials may use.
  kernels::Target target;
  // Upper bound on the bytes of cached operator instances (inputs, constants,
  // reference outputs); least recently used ones are dropped first. The
  // instance in use is kept even when it alone exceeds the bound.
  size_t cache_bytes = size_t{256} << 20;
  // Size of the buffer written between timed runs when flush_cache is set;
  // should exceed the last-level cache.
  size_t flush_bytes = size_t{32} << 20;
  // Test-only: called on the output of the verification run before it is
  // compared with the reference (lets tests provoke WRONG_OUTPUT).
  std::function<void(void* output, size_t bytes)> corrupt_output_for_testing;
};

// Not thread-safe: one trial at a time.
class TrialRunner {
 public:
  explicit TrialRunner(TrialRunnerOptions options);
  ~TrialRunner();

  TrialRunner(const TrialRunner&) = delete;
  TrialRunner& operator=(const TrialRunner&) = delete;

  // Runs one trial. Every failure is a status in the result (never an error
  // of the call); result.index is left 0 for the caller to set.
  proto::TrialResult Run(const kernels::OpSpec& op, const kernels::Config& config,
                         const MeasureSettings& settings);

  // Bytes held by cached operator instances.
  size_t cached_bytes() const { return cached_bytes_; }

  // Kernel executions so far, over all trials: verification, warm-up and
  // timed runs.
  int64_t kernel_runs() const { return kernel_runs_; }

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const kernels::OpInstance> instance;
    size_t bytes = 0;
  };

  // The instance of (op, seed), from the cache or newly built.
  absl::StatusOr<std::shared_ptr<const kernels::OpInstance>> GetInstance(const kernels::OpSpec& op,
                                                                        uint64_t seed);
  // DescribeSpace(op, target), memoised per (op, max_threads).
  absl::StatusOr<kernels::ConfigSpace> GetSpace(const kernels::OpSpec& op,
                                                const kernels::Target& target);
  // kernel.Execute, counted in kernel_runs_.
  absl::Status Execute(kernels::Kernel& kernel, const void* input, void* output);
  void FlushCaches();

  TrialRunnerOptions options_;
  std::list<Entry> lru_;  // most recently used first
  std::map<std::string, std::list<Entry>::iterator> index_;
  size_t cached_bytes_ = 0;
  std::map<std::string, kernels::ConfigSpace> spaces_;
  kernels::AlignedBuffer output_;  // the output of the current trial's runs
  std::vector<uint8_t> flush_buffer_;
  uint8_t flush_round_ = 0;
  int64_t kernel_runs_ = 0;
};

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_TRIAL_RUNNER_H_
