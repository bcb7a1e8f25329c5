// File: trial_test_util.h
// Helpers for the trial tests: small ops, their default config, quick
// measurement options, in-process trial runner options for this host.
#ifndef QTUNE_TESTS_DEVICE_AGENT_TRIAL_TEST_UTIL_H_
#define QTUNE_TESTS_DEVICE_AGENT_TRIAL_TEST_UTIL_H_

#include "absl/status/statusor.h"
#include "device_agent/trial_runner.h"
#include "gtest/gtest.h"
#include "proto/qtune.pb.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::agent {

// A 3x3 conv 9x7x12 -> 20 with a ReLU; its output is 9x7x20 = 1260 elements
// (not a multiple of 64 bytes).
inline kernels::OpSpec SmallConv(kernels::DType dtype) {
  kernels::OpSpec op;
  op.kind = kernels::OpKind::kConv2d;
  op.dtype = dtype;
  op.n = 1;
  op.h = 9;
  op.w = 7;
  op.c = 12;
  op.k = 20;
  op.r = 3;
  op.s = 3;
  op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = 1;
  op.activation = kernels::Activation::kRelu;
  return op;
}

// An int8 dense op N x C -> K.
inline kernels::OpSpec Dense(int n, int c, int k) {
  kernels::OpSpec op;
  op.kind = kernels::OpKind::kDense;
  op.dtype = kernels::DType::kInt8;
  op.n = n;
  op.c = c;
  op.k = k;
  return op;
}

// The default config of `op` on this host (empty, and a test failure, when
// the op has no space).
inline kernels::Config DefaultConfig(const kernels::OpSpec& op) {
  absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(op, kernels::HostTarget());
  EXPECT_TRUE(space.ok()) << space.status();
  return space.ok() ? space->default_config() : kernels::Config{};
}

// Quick measurement options: a few timed runs, little minimum time.
inline proto::MeasureOptions QuickOptions() {
  proto::MeasureOptions options;
  options.set_min_repeat_ms(0.5);
  options.set_max_repeats(10);
  return options;
}

// Every path of this host, a small cache flush.
inline TrialRunnerOptions HostOptions() {
  TrialRunnerOptions options;
  options.target = kernels::HostTarget();
  options.flush_bytes = 1 << 20;
  return options;
}

}  // namespace qtune::agent

#endif  // QTUNE_TESTS_DEVICE_AGENT_TRIAL_TEST_UTIL_H_
