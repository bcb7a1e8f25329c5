// File: runner.h
// Runner: what the tuning loop needs from a device — its identity, the
// configuration space of an operator, and measured trials. The production
// implementation talks gRPC to a qtune-agent (agent_client.h); tests use an
// in-process fake.
//
// Errors: a config that fails to build, verify or run is a TrialResult with
// its status, not an error of the call. A non-OK Status from a Runner means
// the device could not be used (unreachable, refused, protocol error).
//
// Thread-safety: implementations must allow calls from one thread at a time;
// callbacks run on the calling thread before the call returns.
#ifndef QTUNE_TUNER_CORE_RUNNER_H_
#define QTUNE_TUNER_CORE_RUNNER_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/qtune.pb.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::tuner {

class Runner {
 public:
  virtual ~Runner() = default;

  virtual absl::StatusOr<proto::DeviceInfo> GetDeviceInfo() = 0;

  // The space of `op` on the device. Non-OK when the device has no kernel
  // for the op (e.g. UNIMPLEMENTED) or cannot be reached.
  virtual absl::StatusOr<kernels::ConfigSpace> DescribeSpace(const kernels::OpSpec& op) = 0;

  // Measures every config of `configs` on `op`. Calls `on_result` once per
  // result as results arrive (completion order); result.index() is the
  // config's position in `configs`. A non-OK return means the run was cut
  // short; results already delivered stay valid, the others are missing.
  virtual absl::Status RunTrials(const kernels::OpSpec& op,
                                 const std::vector<kernels::Config>& configs,
                                 const proto::MeasureOptions& options,
                                 const std::function<void(const proto::TrialResult&)>& on_result) = 0;
};

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CORE_RUNNER_H_
