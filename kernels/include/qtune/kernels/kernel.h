// File: kernel.h
// The kernel library's entry points: describe the configuration space of an
// operator on a target, create a kernel for one configuration, execute it.
//
//   Target target = HostTarget();
//   ASSIGN_OR_RETURN(ConfigSpace space, DescribeSpace(op, target));
//   ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel,
//                    CreateKernel(op, space.default_config(), data, target));
//   RETURN_IF_ERROR(kernel->Execute(input, output));
//
// Semantics are defined by the reference implementation (reference.h):
//   int8: acc = bias[k] + sum (x - input_zero_point) * w          (int32)
//         y  = clamp(rne(float(acc) * requant_scale[k]) + output_zero_point,
//                    output_min, output_max)                      (u8)
//   fp32: y  = act(bias[k] + sum x * w)
// Every kernel is bit-exact against the reference for int8, and within the
// tolerance of verify.h for fp32.
#ifndef QTUNE_KERNELS_KERNEL_H_
#define QTUNE_KERNELS_KERNEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels {

// Quantisation parameters of an int8 operator.
struct QuantParams {
  int32_t input_zero_point = 0;   // in [0, 255]
  int32_t output_zero_point = 0;  // in [0, 255]
  // Per output channel: input_scale * weight_scale[k] / output_scale.
  std::vector<float> requant_scale;
  // Output clamp in the quantised domain; encodes the fused activation
  // (ReLU: output_min = output_zero_point).
  int32_t output_min = 0;
  int32_t output_max = 255;
};

// The constants of one operator instance, in the logical layouts of
// op_spec.h. Kernels copy (prepack) what they need in CreateKernel(); the
// caller may free OpData afterwards.
struct OpData {
  std::vector<int8_t> weights_s8;   // int8 ops
  std::vector<int32_t> bias_s32;    // int8 ops, one per output channel
  QuantParams quant;                // int8 ops
  std::vector<float> weights_f32;   // fp32 ops
  std::vector<float> bias_f32;      // fp32 ops, one per output channel
};

// OK when `data` has the sizes `op` needs and valid quantisation parameters.
absl::Status ValidateOpData(const OpSpec& op, const OpData& data);

// Output clamp bounds for `act` in the quantised domain.
void SetActivationClamp(Activation act, float output_scale, QuantParams& quant);

// What a kernel may use on the executing CPU.
struct Target {
  // Kernel paths in preference order, e.g. {"generic"}. Only these are
  // offered by DescribeSpace and accepted by CreateKernel.
  std::vector<std::string> paths;
  // Upper bound of the `threads` knob.
  int max_threads = 1;
};

// The paths this build supports and this CPU can execute, best first, and
// the number of online CPUs. Honours QTUNE_KERNEL_PATHS (comma-separated) to
// force a subset; unknown or unsupported names are dropped.
Target HostTarget();

// A compiled, weight-prepacked kernel for one (op, config).
// Thread-safety: Execute() must not be called concurrently on one Kernel (it
// owns scratch memory and a thread pool); distinct kernels are independent.
class Kernel {
 public:
  virtual ~Kernel() = default;
  // Name following docs/kernel-naming.md, e.g.
  // "conv2d_u8s8u8_direct_4x16c4__generic".
  virtual const std::string& name() const = 0;
  // `input` and `output` are dense tensors in the layouts of op_spec.h, of
  // the op's dtype (u8 for int8, float for fp32). The output is fully
  // overwritten.
  virtual absl::Status Execute(const void* input, void* output) = 0;
};

// The configuration space of `op` on `target`. UNIMPLEMENTED when no kernel
// family supports the op (e.g. depthwise before its family lands).
absl::StatusOr<ConfigSpace> DescribeSpace(const OpSpec& op, const Target& target);

// Builds the kernel. INVALID_ARGUMENT when the config is not valid in
// DescribeSpace(op, target) or `data` does not fit `op`; FAILED_PRECONDITION
// when code generation fails.
absl::StatusOr<std::unique_ptr<Kernel>> CreateKernel(const OpSpec& op, const Config& config,
                                                     const OpData& data, const Target& target);

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_KERNEL_H_
