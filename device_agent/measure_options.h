// File: measure_options.h
// MeasureOptions (proto) with every default applied and every field checked:
// the measurement protocol's parameters as the agent and its worker use them.
#ifndef QTUNE_DEVICE_AGENT_MEASURE_OPTIONS_H_
#define QTUNE_DEVICE_AGENT_MEASURE_OPTIONS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "proto/qtune.pb.h"

namespace qtune::agent {

struct MeasureSettings {
  int warmup_runs = 1;         // untimed runs before timing, the verification run included
  double min_repeat_ms = 20;   // timed runs continue until this much time is measured...
  int min_repeats = 3;         // ...and at least this many runs were timed,
  int max_repeats = 1000;      // but never more than this many (>= min_repeats)
  int threads = 0;             // 0: the config decides; else caps the `threads` knob
  bool flush_cache = false;    // evict caches before every timed run
  double timeout_ms = 10000;   // whole trial, from request to result (worker side)
  uint64_t seed = 1;           // seed of the operator instance (inputs, weights)
};

// Zero/unset fields take the defaults above; max_repeats below min_repeats
// lowers min_repeats. INVALID_ARGUMENT for a negative or non-finite field,
// or one beyond a sane bound (warmup <= 10000, min_repeat_ms <= 60000,
// max_repeats <= 1000000, threads <= 1024, timeout_ms <= 3600000).
absl::StatusOr<MeasureSettings> ResolveMeasureOptions(const proto::MeasureOptions& options);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_MEASURE_OPTIONS_H_
