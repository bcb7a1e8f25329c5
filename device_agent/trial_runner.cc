#include "device_agent/trial_runner.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace qtune::agent {
namespace {

using Clock = std::chrono::steady_clock;

// Output fill patterns: before the verification run, and before every timed
// run (different, so that an element a kernel skips is caught even where the
// reference happens to equal one of them).
constexpr uint8_t kVerifyFill = 0xA5;
constexpr uint8_t kTimedFill = 0x5A;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

proto::TrialResult Failure(proto::TrialStatus status, std::string message) {
  proto::TrialResult result;
  result.set_status(status);
  result.set_message(std::move(message));
  return result;
}

size_t InstanceBytes(const kernels::OpInstance& instance) {
  const kernels::OpData& d = instance.data;
  return instance.input.size() + instance.reference.size() + instance.magnitude.size() +
         d.weights_s8.size() + d.bias_s32.size() * sizeof(int32_t) +
         d.quant.requant_scale.size() * sizeof(float) + d.weights_f32.size() * sizeof(float) +
         d.bias_f32.size() * sizeof(float);
}

// Median, minimum, sample standard deviation and coefficient of variation
// (stddev / mean) of `samples` (non-empty).
void SetStatistics(std::vector<double> samples, proto::TrialResult& result) {
  double sum = 0;
  for (double s : samples) sum += s;
  double mean = sum / samples.size();
  double sq = 0;
  for (double s : samples) sq += (s - mean) * (s - mean);
  std::sort(samples.begin(), samples.end());
  size_t n = samples.size();
  double median = n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  result.set_median_us(median);
  result.set_min_us(samples.front());
  const double stddev = n > 1 ? std::sqrt(sq / (n - 1)) : 0.0;
  result.set_stddev_us(stddev);
  result.set_cv(n > 1 && mean > 0 ? stddev / mean : 0.0);
  result.set_repeats(static_cast<int32_t>(n));
}

}  // namespace

TrialRunner::TrialRunner(TrialRunnerOptions options) : options_(std::move(options)) {}

TrialRunner::~TrialRunner() = default;

std::string TrialRunner::InstanceKey(const kernels::OpSpec& op, uint64_t seed) {
  return absl::StrCat(kernels::CanonicalKey(op), "#", seed);
}

absl::StatusOr<std::shared_ptr<kernels::OpInstance>> TrialRunner::GetInstance(
    const kernels::OpSpec& op, uint64_t seed) {
  std::string key = InstanceKey(op, seed);
  auto it = index_.find(key);
  if (it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return lru_.front().instance;
  }
  absl::StatusOr<std::unique_ptr<kernels::OpInstance>> made = kernels::MakeOpInstance(op, seed);
  if (!made.ok()) return made.status();
  std::shared_ptr<kernels::OpInstance> instance = std::move(made).value();
  // Shared by every kernel of this op from now on: read-only and checksummed.
  if (absl::Status sealed = kernels::SealOpInstance(*instance); !sealed.ok()) return sealed;
  size_t bytes = InstanceBytes(*instance);
  // Make room first, keeping at least the new instance.
  while (!lru_.empty() && cached_bytes_ + bytes > options_.cache_bytes) {
    cached_bytes_ -= lru_.back().bytes;
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{key, instance, bytes});
  index_[key] = lru_.begin();
  cached_bytes_ += bytes;
  return instance;
}

void TrialRunner::DropInstance(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return;
  cached_bytes_ -= it->second->bytes;
  lru_.erase(it->second);
  index_.erase(it);
}

absl::StatusOr<kernels::ConfigSpace> TrialRunner::GetSpace(const kernels::OpSpec& op,
                                                           const kernels::Target& target) {
  std::string key = absl::StrCat(kernels::CanonicalKey(op), "#", target.max_threads);
  auto it = spaces_.find(key);
  if (it != spaces_.end()) return it->second;
  absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(op, target);
  if (!space.ok()) return space.status();
  constexpr size_t kMaxSpaces = 256;
  if (spaces_.size() >= kMaxSpaces) spaces_.clear();
  spaces_.emplace(key, *space);
  return space;
}

absl::Status TrialRunner::Execute(kernels::Kernel& kernel, const void* input, void* output,
                                  size_t output_bytes) {
  ++kernel_runs_;
  const int index = trial_runs_++;
  if (!options_.execute_for_testing) return kernel.Execute(input, output);
  KernelRun run;
  run.index = index;
  run.input = input;
  run.output = output;
  run.output_bytes = output_bytes;
  run.execute = [&kernel, input, output] { return kernel.Execute(input, output); };
  return options_.execute_for_testing(run);
}

void TrialRunner::FlushCaches() {
  if (flush_buffer_.size() != options_.flush_bytes) flush_buffer_.assign(options_.flush_bytes, 0);
  // A different byte every time, so the stores cannot be elided.
  std::memset(flush_buffer_.data(), ++flush_round_, flush_buffer_.size());
  asm volatile("" : : "r"(flush_buffer_.data()) : "memory");
}

proto::TrialResult TrialRunner::Run(const kernels::OpSpec& op, const kernels::Config& config,
                                    const MeasureSettings& settings) {
  kernels::Target target = options_.target;
  if (settings.threads > 0) target.max_threads = std::min(target.max_threads, settings.threads);
  trial_runs_ = 0;

  // 1. The config must be in the op's space on this target.
  absl::StatusOr<kernels::ConfigSpace> space = GetSpace(op, target);
  if (!space.ok()) {
    if (space.status().code() == absl::StatusCode::kUnimplemented) {
      return Failure(proto::UNSUPPORTED, std::string(space.status().message()));
    }
    return Failure(proto::INTERNAL, absl::StrCat("DescribeSpace: ", space.status().message()));
  }
  if (absl::Status valid = space->Validate(config); !valid.ok()) {
    return Failure(proto::INVALID_CONFIG, std::string(valid.message()));
  }

  absl::StatusOr<std::shared_ptr<kernels::OpInstance>> instance = GetInstance(op, settings.seed);
  if (!instance.ok()) {
    return Failure(proto::INTERNAL,
                   absl::StrCat("cannot build the operator instance: ", instance.status().message()));
  }
  if (options_.tamper_instance_for_testing) options_.tamper_instance_for_testing(**instance);
  // Holds the instance even if it is dropped from the cache below.
  const std::shared_ptr<const kernels::OpInstance> held = *instance;
  const kernels::OpInstance& inst = *held;
  if (options_.on_instance_ready) options_.on_instance_ready();

  // 2. Build.
  Clock::time_point compile_start = Clock::now();
  absl::StatusOr<std::unique_ptr<kernels::Kernel>> kernel =
      kernels::CreateKernel(op, config, inst.data, target);
  double compile_ms = MillisSince(compile_start);
  if (!kernel.ok()) {
    proto::TrialStatus status = proto::COMPILE_ERROR;
    if (kernel.status().code() == absl::StatusCode::kInvalidArgument) status = proto::INVALID_CONFIG;
    if (kernel.status().code() == absl::StatusCode::kUnimplemented) status = proto::UNSUPPORTED;
    proto::TrialResult result = Failure(status, std::string(kernel.status().message()));
    result.set_compile_ms(compile_ms);
    return result;
  }
  proto::TrialResult result;
  result.set_kernel_name((*kernel)->name());
  result.set_compile_ms(compile_ms);
  auto fail = [&result](proto::TrialStatus status, std::string message) {
    result.set_status(status);
    result.set_message(std::move(message));
    return result;
  };
  // Checks the output (and guards, and the instance) after the verification
  // run (`later` false) or the last timed run: nullopt when all is well,
  // else the failed result.
  auto check_run = [&](bool later, size_t timed) -> std::optional<proto::TrialResult> {
    if (absl::Status intact = kernels::CheckOpInstance(inst); !intact.ok()) {
      DropInstance(InstanceKey(op, settings.seed));
      return fail(proto::INTERNAL, absl::StrCat(intact.message(), "; instance dropped"));
    }
    const kernels::GuardedBuffer::Breach breach = output_.CheckGuards();
    const kernels::VerifyResult verify = kernels::VerifyOutput(inst, output_.data());
    if (breach.ok() && verify.mismatches == 0) return std::nullopt;
    std::vector<std::string> parts;
    if (!breach.ok()) {
      parts.push_back(absl::StrCat(breach.Describe(output_.size()),
                                   later ? " (in a warm-up or timed run; the verification "
                                           "run stayed inside)"
                                         : ""));
    }
    if (verify.mismatches > 0) {
      parts.push_back(later ? absl::StrCat("wrong output on a later run (timed run ", timed, " of ",
                                           timed, "; the verification run matched): ",
                                           verify.Summary())
                            : verify.Summary());
    }
    result.set_mismatches(verify.mismatches);
    return fail(proto::WRONG_OUTPUT, absl::StrJoin(parts, "; "));
  };

  // 3. Verify: the output starts as a pattern no kernel produces on purpose,
  // so that unwritten elements are caught, between intact guards. The buffer
  // is kept from trial to trial: fresh memory is slow to touch on some
  // machines.
  const size_t output_bytes =
      static_cast<size_t>(op.output_elements()) * kernels::ElementBytes(op.dtype);
  if (output_.size() != output_bytes) output_ = kernels::GuardedBuffer(output_bytes);
  if (output_.size() != output_bytes) {
    return fail(proto::INTERNAL, absl::StrCat("cannot allocate a ", output_bytes, "-byte output"));
  }
  output_.ResetGuards();
  output_.FillOutput(kVerifyFill);
  if (absl::Status run = Execute(**kernel, inst.input.data(), output_.data(), output_bytes);
      !run.ok()) {
    return fail(proto::INTERNAL, absl::StrCat("kernel execution failed: ", run.message()));
  }
  Clock::time_point verify_start = Clock::now();
  std::optional<proto::TrialResult> verified = check_run(/*later=*/false, 0);
  result.set_verify_ms(MillisSince(verify_start));
  if (verified.has_value()) return *verified;

  // 4. Warm up (the verification run was the first warm-up run), then time.
  for (int i = 1; i < settings.warmup_runs; ++i) {
    if (absl::Status run = Execute(**kernel, inst.input.data(), output_.data(), output_bytes);
        !run.ok()) {
      return fail(proto::INTERNAL, absl::StrCat("kernel execution failed: ", run.message()));
    }
  }
  // Every timed run starts from the output refilled with a second pattern
  // (outside the timed region), so that the last one, whichever it turns
  // out to be, is verified from scratch too; the guards are not refilled
  // and catch a stray write in any run.
  struct Attempt {
    std::vector<double> samples_us;
    double measured_ms = 0;
    double outside_load = 0;
  };
  MachineMonitor* const monitor = options_.monitor.get();
  const int max_attempts = 1 + (monitor != nullptr ? std::max(options_.max_remeasures, 0) : 0);
  std::optional<Attempt> kept;
  int attempts = 0;
  size_t last_timed = 0;
  while (attempts < max_attempts) {
    Attempt attempt;
    const std::optional<CpuTimes> before =
        monitor != nullptr ? monitor->ReadCpuTimes() : std::nullopt;
    while (static_cast<int>(attempt.samples_us.size()) < settings.max_repeats &&
           (static_cast<int>(attempt.samples_us.size()) < settings.min_repeats ||
            attempt.measured_ms < settings.min_repeat_ms)) {
      output_.FillOutput(kTimedFill);
      if (settings.flush_cache) FlushCaches();
      Clock::time_point start = Clock::now();
      absl::Status run = Execute(**kernel, inst.input.data(), output_.data(), output_bytes);
      double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      if (!run.ok()) {
        return fail(proto::INTERNAL, absl::StrCat("kernel execution failed: ", run.message()));
      }
      attempt.samples_us.push_back(us);
      attempt.measured_ms += us / 1000.0;
    }
    const std::optional<CpuTimes> after =
        before.has_value() ? monitor->ReadCpuTimes() : std::nullopt;
    ++attempts;
    last_timed = attempt.samples_us.size();
    bool disturbed = false;
    if (before.has_value() && after.has_value()) {
      attempt.outside_load = OutsideLoad(*before, *after);
      disturbed = OutsideLoadExceeds(*before, *after, options_.outside_load_threshold);
    }
    if (!disturbed) {
      kept = std::move(attempt);
      break;
    }
    if (!kept.has_value() || attempt.outside_load < kept->outside_load) kept = std::move(attempt);
  }
  // 5. Verify the last timed run (not timed).
  verified = check_run(/*later=*/true, last_timed);
  if (verified.has_value()) return *verified;

  // 6. Statistics, and the machine's state right after the timed runs.
  result.set_status(proto::OK);
  result.set_measure_ms(kept->measured_ms);
  result.set_outside_load(kept->outside_load);
  result.set_remeasures(attempts - 1);
  if (monitor != nullptr) {
    result.set_cpu_mhz(monitor->CpuMhz(sched_getcpu()));
    result.set_temp_c(monitor->TemperatureC());
  }
  SetStatistics(std::move(kept->samples_us), result);
  return result;
}

}  // namespace qtune::agent
