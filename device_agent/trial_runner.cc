#include "device_agent/trial_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace qtune::agent {
namespace {

using Clock = std::chrono::steady_clock;

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

// Median, minimum and sample standard deviation of `samples` (non-empty).
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
  result.set_stddev_us(n > 1 ? std::sqrt(sq / (n - 1)) : 0.0);
  result.set_repeats(static_cast<int32_t>(n));
}

}  // namespace

TrialRunner::TrialRunner(TrialRunnerOptions options) : options_(std::move(options)) {}

TrialRunner::~TrialRunner() = default;

absl::StatusOr<std::shared_ptr<const kernels::OpInstance>> TrialRunner::GetInstance(
    const kernels::OpSpec& op, uint64_t seed) {
  std::string key = absl::StrCat(kernels::CanonicalKey(op), "#", seed);
  auto it = index_.find(key);
  if (it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return lru_.front().instance;
  }
  absl::StatusOr<std::unique_ptr<kernels::OpInstance>> made = kernels::MakeOpInstance(op, seed);
  if (!made.ok()) return made.status();
  std::shared_ptr<const kernels::OpInstance> instance = std::move(made).value();
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

absl::Status TrialRunner::Execute(kernels::Kernel& kernel, const void* input, void* output) {
  ++kernel_runs_;
  return kernel.Execute(input, output);
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

  absl::StatusOr<std::shared_ptr<const kernels::OpInstance>> instance =
      GetInstance(op, settings.seed);
  if (!instance.ok()) {
    return Failure(proto::INTERNAL,
                   absl::StrCat("cannot build the operator instance: ", instance.status().message()));
  }
  const kernels::OpInstance& inst = **instance;

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

  // 3. Verify. The output starts as a pattern no kernel produces on purpose,
  // so that unwritten elements are caught.
  size_t output_bytes =
      static_cast<size_t>(op.output_elements()) * kernels::ElementBytes(op.dtype);
  // The output buffer is kept from trial to trial: fresh memory is slow to
  // touch on some machines.
  if (output_.size() != output_bytes) output_ = kernels::AlignedBuffer(output_bytes);
  kernels::AlignedBuffer& output = output_;
  std::memset(output.data(), 0xA5, output_bytes);
  if (absl::Status run = Execute(**kernel, inst.input.data(), output.data()); !run.ok()) {
    result.set_status(proto::INTERNAL);
    result.set_message(absl::StrCat("kernel execution failed: ", run.message()));
    return result;
  }
  if (options_.corrupt_output_for_testing) {
    options_.corrupt_output_for_testing(output.data(), output_bytes);
  }
  Clock::time_point verify_start = Clock::now();
  kernels::VerifyResult verify = kernels::VerifyOutput(inst, output.data());
  result.set_verify_ms(MillisSince(verify_start));
  if (verify.mismatches > 0) {
    result.set_status(proto::WRONG_OUTPUT);
    result.set_mismatches(verify.mismatches);
    result.set_message(verify.Summary());
    return result;
  }

  // 4. Warm up (the verification run was the first warm-up run), then time.
  for (int i = 1; i < settings.warmup_runs; ++i) {
    if (absl::Status run = Execute(**kernel, inst.input.data(), output.data()); !run.ok()) {
      result.set_status(proto::INTERNAL);
      result.set_message(absl::StrCat("kernel execution failed: ", run.message()));
      return result;
    }
  }
  std::vector<double> samples_us;
  double measured_ms = 0;
  while (static_cast<int>(samples_us.size()) < settings.max_repeats &&
         (static_cast<int>(samples_us.size()) < settings.min_repeats ||
          measured_ms < settings.min_repeat_ms)) {
    if (settings.flush_cache) FlushCaches();
    Clock::time_point start = Clock::now();
    absl::Status run = Execute(**kernel, inst.input.data(), output.data());
    double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    if (!run.ok()) {
      result.set_status(proto::INTERNAL);
      result.set_message(absl::StrCat("kernel execution failed: ", run.message()));
      return result;
    }
    samples_us.push_back(us);
    measured_ms += us / 1000.0;
  }

  // 5. Statistics.
  result.set_status(proto::OK);
  result.set_measure_ms(measured_ms);
  SetStatistics(std::move(samples_us), result);
  return result;
}

}  // namespace qtune::agent
