#include "device_agent/measure_options.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace qtune::agent {
namespace {

absl::Status CheckRange(const char* name, double value, double max) {
  if (!std::isfinite(value) || value < 0 || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("MeasureOptions.", name, " must be in [0, ", max, "], got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MeasureSettings> ResolveMeasureOptions(const proto::MeasureOptions& options) {
  struct Check {
    const char* name;
    double value;
    double max;
  };
  const Check checks[] = {
      {"warmup_runs", static_cast<double>(options.warmup_runs()), 10000},
      {"min_repeat_ms", options.min_repeat_ms(), 60000},
      {"max_repeats", static_cast<double>(options.max_repeats()), 1000000},
      {"min_repeats", static_cast<double>(options.min_repeats()), 1000000},
      {"threads", static_cast<double>(options.threads()), 1024},
      {"timeout_ms", options.timeout_ms(), kMaxTimeoutMs},
  };
  for (const Check& c : checks) {
    absl::Status status = CheckRange(c.name, c.value, c.max);
    if (!status.ok()) return status;
  }
  MeasureSettings s;
  if (options.warmup_runs() > 0) s.warmup_runs = options.warmup_runs();
  if (options.min_repeat_ms() > 0) s.min_repeat_ms = options.min_repeat_ms();
  if (options.max_repeats() > 0) s.max_repeats = options.max_repeats();
  if (options.min_repeats() > 0) s.min_repeats = options.min_repeats();
  if (s.min_repeats > s.max_repeats) s.min_repeats = s.max_repeats;
  s.threads = options.threads();
  s.flush_cache = options.flush_cache();
  s.timeout_ms = options.timeout_ms();  // 0 stays 0: automatic
  if (options.seed() != 0) s.seed = options.seed();
  return s;
}

double AutoKernelTimeoutMs(int64_t macs, double clock_ghz, const MeasureSettings& settings,
                           size_t flush_bytes) {
  const double hz = (clock_ghz > 0 ? clock_ghz : kUnknownClockGhz) * 1e9;
  const double ops = static_cast<double>(std::max<int64_t>(macs, 0));
  const double slow_ms = ops / (hz * kSlowKernelMacsPerCycle) * 1e3;
  const double attempts = 1 + kMaxRemeasures;
  const double runs = settings.warmup_runs + attempts * (settings.min_repeats + 1) + 1;
  double flush_ms = 0;
  if (settings.flush_cache) {
    const double fast_ms = ops / (hz * kFastKernelMacsPerCycle) * 1e3;
    double timed_max = settings.max_repeats;
    if (fast_ms > 0) {
      timed_max = std::min<double>(
          settings.max_repeats,
          std::max<double>(settings.min_repeats, std::ceil(settings.min_repeat_ms / fast_ms) + 1));
    }
    flush_ms =
        attempts * timed_max * static_cast<double>(flush_bytes) / kFlushBytesPerSecond * 1e3;
  }
  const double ms =
      kDeadlineSafetyFactor *
      (kCompileAllowanceMs + runs * slow_ms + attempts * settings.min_repeat_ms + flush_ms);
  return std::min(std::ceil(ms), kMaxTimeoutMs);
}

double InstanceTimeoutMs(int64_t macs, double floor_ms) {
  const double ops = static_cast<double>(std::max<int64_t>(macs, 0));
  return std::min(std::ceil(floor_ms + ops / kReferenceMacsPerSecond * 1e3), kMaxTimeoutMs);
}

}  // namespace qtune::agent
