#include "device_agent/measure_options.h"

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
      {"timeout_ms", options.timeout_ms(), 3600000},
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
  if (options.timeout_ms() > 0) s.timeout_ms = options.timeout_ms();
  if (options.seed() != 0) s.seed = options.seed();
  return s;
}

}  // namespace qtune::agent
