// File: trial_runner.h
// Runs one trial in the current process: validate the config, build the
// kernel, verify its output against the reference, time it. The agent calls
// it only inside its worker process (worker.h), where a crash or hang costs
// nothing but the worker; tests call it in-process.
//
// Protocol of one trial (see docs/agent.md):
//   1. DescribeSpace(op, target) (UNIMPLEMENTED -> UNSUPPORTED) and
//      ConfigSpace::Validate(config) (-> INVALID_CONFIG with the reason);
//      the operator instance of (op, seed), cached and sealed (read-only,
//      checksummed); then on_instance_ready;
//   2. CreateKernel, timed as compile_ms (INVALID_ARGUMENT -> INVALID_CONFIG,
//      UNIMPLEMENTED -> UNSUPPORTED, other errors -> COMPILE_ERROR);
//   3. one run into the output, pre-filled with a pattern and between guard
//      zones (kernels::GuardedBuffer), then the checks, timed as verify_ms:
//      the instance's checksums (-> INTERNAL "... corrupted", the instance is
//      dropped), the guards and VerifyOutput (-> WRONG_OUTPUT with the
//      mismatch count and summary, or how far the kernel wrote outside);
//   4. warmup_runs - 1 more untimed runs (the verification run counts as the
//      first warm-up run), then timed runs, each timed on its own with a
//      steady clock after the output was refilled with a second pattern (and
//      optionally after a cache flush), neither timed, until min_repeats and
//      min_repeat_ms are both reached or max_repeats runs were timed. With a
//      MachineMonitor, the CPU time counters are read before and after the
//      timed runs; when the outside load exceeds the threshold
//      (OutsideLoadExceeds) the samples are discarded and the runs timed
//      again, at most max_remeasures times; the attempt kept is the first
//      undisturbed one, else the least loaded;
//   5. the checks of step 3 again on the last timed run's output (a wrong
//      value there is WRONG_OUTPUT "on a later run");
//   6. median/min/stddev/cv in microseconds, repeats, measure_ms (sum of the
//      kept attempt's timed runs), outside_load and remeasures, and, read
//      after the timed runs, cpu_mhz of the CPU the runner's thread is on and
//      temp_c.
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
#include "device_agent/machine_monitor.h"
#include "device_agent/measure_options.h"
#include "proto/qtune.pb.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/verify.h"

namespace qtune::agent {

// One kernel execution, as seen by TrialRunnerOptions::execute_for_testing.
struct KernelRun {
  // Per trial: 0 is the verification run, then the warm-up runs and the
  // timed runs in order.
  int index = 0;
  const void* input = nullptr;
  void* output = nullptr;  // output_bytes bytes
  size_t output_bytes = 0;
  std::function<absl::Status()> execute;  // runs the real kernel on (input, output)
};

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
  // Called once per trial when the config is valid and the operator
  // instance is ready (built and sealed, or from the cache), just before the
  // kernel is built: what follows is the kernel's time. The worker reports
  // it to the supervisor, which starts the kernel's deadline then.
  std::function<void()> on_instance_ready;
  // Readings around the timed runs (outside load, core frequency,
  // temperature). Null: none are taken; outside_load, cpu_mhz and temp_c stay
  // 0 and the runs are never timed again. The worker passes
  // NewSystemMonitor(); tests inject readings.
  std::shared_ptr<MachineMonitor> monitor;
  // The re-measure rule (measure_options.h): outside load in cores above
  // which the timed runs are discarded, and how often at most.
  double outside_load_threshold = kOutsideLoadThreshold;
  int max_remeasures = kMaxRemeasures;
  // Test-only fault injection: when set, every kernel execution of a trial
  // (verification, warm-up and timed runs) calls this instead of the kernel;
  // it may call run.execute (the real kernel) and/or write into run.output
  // (or anywhere else, to provoke a fault). Its status is the run's status.
  std::function<absl::Status(const KernelRun& run)> execute_for_testing;
  // Test-only: called with the trial's operator instance once it is ready
  // (built or from the cache), before the kernel is built; lets tests
  // corrupt the cached input or reference.
  std::function<void(kernels::OpInstance& instance)> tamper_instance_for_testing;
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
    std::shared_ptr<kernels::OpInstance> instance;
    size_t bytes = 0;
  };

  // The instance of (op, seed), from the cache or newly built and sealed
  // (read-only, checksummed: kernels::SealOpInstance).
  absl::StatusOr<std::shared_ptr<kernels::OpInstance>> GetInstance(const kernels::OpSpec& op,
                                                                   uint64_t seed);
  static std::string InstanceKey(const kernels::OpSpec& op, uint64_t seed);
  // Removes the instance of `key` from the cache (a no-op when absent).
  void DropInstance(const std::string& key);
  // DescribeSpace(op, target), memoised per (op, max_threads).
  absl::StatusOr<kernels::ConfigSpace> GetSpace(const kernels::OpSpec& op,
                                                const kernels::Target& target);
  // kernel.Execute (or the test hook), counted in kernel_runs_ and in
  // trial_runs_ (reset per trial).
  absl::Status Execute(kernels::Kernel& kernel, const void* input, void* output,
                       size_t output_bytes);
  void FlushCaches();

  TrialRunnerOptions options_;
  std::list<Entry> lru_;  // most recently used first
  std::map<std::string, std::list<Entry>::iterator> index_;
  size_t cached_bytes_ = 0;
  std::map<std::string, kernels::ConfigSpace> spaces_;
  kernels::GuardedBuffer output_;  // the output of the current trial's runs, with guards
  std::vector<uint8_t> flush_buffer_;
  uint8_t flush_round_ = 0;
  int64_t kernel_runs_ = 0;
  int trial_runs_ = 0;
};

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_TRIAL_RUNNER_H_
