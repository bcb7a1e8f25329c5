// File: measure_options.h
// MeasureOptions (proto) with every default applied and every field checked:
// the measurement protocol's parameters as the agent and its worker use them;
// and the deadlines of a trial (docs/agent.md, "Deadlines").
#ifndef QTUNE_DEVICE_AGENT_MEASURE_OPTIONS_H_
#define QTUNE_DEVICE_AGENT_MEASURE_OPTIONS_H_

#include <cstddef>
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
  // The kernel's deadline in ms: from the operator instance being ready in
  // the worker to the trial's result (compile, verify, warm-up, timing).
  // 0: automatic, from the op's size and the device's clock
  // (AutoKernelTimeoutMs); positive: exactly this.
  double timeout_ms = 0;
  uint64_t seed = 1;           // seed of the operator instance (inputs, weights)
};

// Zero/unset fields take the defaults above; max_repeats below min_repeats
// lowers min_repeats. INVALID_ARGUMENT for a negative or non-finite field,
// or one beyond a sane bound (warmup <= 10000, min_repeat_ms <= 60000,
// max_repeats <= 1000000, threads <= 1024, timeout_ms <= 3600000).
absl::StatusOr<MeasureSettings> ResolveMeasureOptions(const proto::MeasureOptions& options);

// --- Outside load ------------------------------------------------------------
// The worker reads the machine's CPU time counters around the timed runs
// (machine_monitor.h). When other processes used more than
// kOutsideLoadThreshold cores on average meanwhile (beyond what the
// counters' 10 ms ticks can explain), the samples are discarded and the
// kernel is timed again, at most kMaxRemeasures times; the result reports the
// least disturbed attempt (TrialResult.outside_load, .remeasures).
inline constexpr double kOutsideLoadThreshold = 0.25;
inline constexpr int kMaxRemeasures = 2;

// --- Deadlines ---------------------------------------------------------------
// A trial has two phases with a deadline each (the supervisor kills the
// worker and reports TIMEOUT when one passes):
//   1. building the operator instance and its reference output (only on the
//      first trial of an (op, seed) in a worker; cached after that):
//      InstanceTimeoutMs;
//   2. the kernel's: compile, verification run, warm-up and timed runs:
//      MeasureSettings::timeout_ms, or AutoKernelTimeoutMs when it is 0.

// Pessimistic speed of a slow but correct kernel, in MACs per cycle (a plain
// scalar loop does ~1).
inline constexpr double kSlowKernelMacsPerCycle = 0.5;
// Optimistic speed of the fastest kernel (bounds the number of timed runs
// that min_repeat_ms allows), in MACs per cycle.
inline constexpr double kFastKernelMacsPerCycle = 256;
// Time allowed for building the kernel (code generation, weight packing).
inline constexpr double kCompileAllowanceMs = 2000;
// Pessimistic speed of the cache flush (a memset), in bytes per second.
inline constexpr double kFlushBytesPerSecond = 2e9;
// Margin for a loaded machine (other processes on the same cores).
inline constexpr double kDeadlineSafetyFactor = 3;
// The clock assumed when the device's is unknown (0, e.g. under qemu).
inline constexpr double kUnknownClockGhz = 1.0;
// Pessimistic speed of the reference implementation, in MACs per second.
inline constexpr double kReferenceMacsPerSecond = 50e6;
// Fixed part of the instance phase's bound (process start, data
// generation, page faults).
inline constexpr double kInstanceTimeoutFloorMs = 30000;
// No deadline exceeds this (the bound of an explicit timeout_ms).
inline constexpr double kMaxTimeoutMs = 3600000;

// The automatic kernel deadline in ms, for an op of `macs` multiply-
// accumulates on a core of `clock_ghz` (<= 0: unknown, kUnknownClockGhz).
// It covers every timing attempt (1 + kMaxRemeasures):
//   t_slow   = macs / (clock_ghz * 1e9 * kSlowKernelMacsPerCycle)
//   attempts = 1 + kMaxRemeasures
//   runs     = warmup_runs (verification included)
//              + attempts * (min_repeats + 1)  (the timed runs, one of them
//                                               crossing min_repeat_ms)
//              + 1 (the checks: two verifications, refills, checksums)
//   flush    = flush_cache ? attempts * timed_max * flush_bytes / kFlushBytesPerSecond : 0,
//              timed_max = min(max_repeats, max(min_repeats,
//                                                 ceil(min_repeat_ms / t_fast) + 1)),
//              t_fast = macs / (clock_ghz * 1e9 * kFastKernelMacsPerCycle)
//   deadline = kDeadlineSafetyFactor
//              * (kCompileAllowanceMs + runs * t_slow + attempts * min_repeat_ms + flush),
// rounded up to a whole ms and capped at kMaxTimeoutMs. E.g. a 3x3 conv
// 56x56x64->64 (115.6 M MACs) at 3.6 GHz with the default settings: 8878 ms.
double AutoKernelTimeoutMs(int64_t macs, double clock_ghz, const MeasureSettings& settings,
                           size_t flush_bytes);

// The bound on building an operator instance and its reference, in ms:
// floor_ms + macs / kReferenceMacsPerSecond, capped at kMaxTimeoutMs.
double InstanceTimeoutMs(int64_t macs, double floor_ms = kInstanceTimeoutFloorMs);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_MEASURE_OPTIONS_H_
