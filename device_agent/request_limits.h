// File: request_limits.h
// The bounds the agent puts on a request before it allocates or runs
// anything for it (docs/agent.md, "Request bounds"; docs/security.md): a
// request beyond one fails the whole call with INVALID_ARGUMENT. They sit
// well above any real workload and well below what would exhaust a device.
#ifndef QTUNE_DEVICE_AGENT_REQUEST_LIMITS_H_
#define QTUNE_DEVICE_AGENT_REQUEST_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::agent {

// Configs in one RunTrials request (a tuner batch is 8-64).
inline constexpr int kMaxConfigsPerRequest = 4096;
// Bytes of any one tensor of an op (input, weights, output): the worker holds
// the input, the weights, the reference output and the kernel's output (with
// guards) at once, so one op costs at most ~4 GiB.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 30;
// Multiply-accumulates of one op execution (ResNet-50's largest layer has
// 0.23 G; VGG-16's 1.85 G). At the reference's assumed 50 M MAC/s this keeps
// the bound on building the reference (InstanceTimeoutMs) under its 1 h cap.
inline constexpr int64_t kMaxOpMacs = 100'000'000'000;
// Largest request message the server accepts (gRPC's default, stated):
// bounds the configs' knob names and values too.
inline constexpr int kMaxRequestBytes = 4 << 20;
// Threads serving calls at once; calls beyond them get RESOURCE_EXHAUSTED
// (trials run one at a time anyway, the others wait).
inline constexpr int kMaxServerThreads = 64;

// OK when `op` (already validated by FromProto / kernels::ValidateOpSpec)
// stays within kMaxTensorBytes per tensor and kMaxOpMacs; INVALID_ARGUMENT
// naming the tensor or the MACs and the bound otherwise. Allocates nothing.
absl::Status CheckOpBounds(const kernels::OpSpec& op);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_REQUEST_LIMITS_H_
