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
// An int8 conv2d or dense kernel can also compute the residual add that
// follows the convolution in residual networks (ResidualAdd below):
//
//   data.residual_add = ResidualAdd{...};
//   ASSIGN_OR_RETURN(kernel, CreateKernel(op, config, data, target));  // or UNIMPLEMENTED
//   RETURN_IF_ERROR(kernel->ExecuteWithResidual(input, residual, output));
//
// Semantics are defined by the reference implementation (reference.h):
//   int8: acc = bias[k] + sum (x - input_zero_point) * w          (int32, exact)
//         y  = clamp(rne(float(acc) * requant_scale[k]) + output_zero_point,
//                    output_min, output_max)
//         x and y are u8 in [0, 255], or s8 in [-128, 127] when op.signed_io;
//         w is s8 either way, and the sum runs over the taps inside the
//         input (padding contributes nothing).
//   fp32: y  = act(bias[k] + sum x * w)
// Every kernel is bit-exact against the reference for int8, and within the
// tolerance of verify.h for fp32.
#ifndef QTUNE_KERNELS_KERNEL_H_
#define QTUNE_KERNELS_KERNEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels {

// Quantisation parameters of an int8 operator. The activations' range is
// [0, 255] (u8), or [-128, 127] when the op's signed_io is set (s8); the
// zero points and the output clamp lie in that range.
struct QuantParams {
  int32_t input_zero_point = 0;   // in the activations' range
  int32_t output_zero_point = 0;  // in the activations' range
  // Per output channel: input_scale * weight_scale[k] / output_scale.
  std::vector<float> requant_scale;
  // Output clamp in the quantised domain, within the activations' range;
  // encodes the fused activation (ReLU: output_min = output_zero_point).
  // The defaults are the u8 range; SetActivationClamp() sets either.
  int32_t output_min = 0;
  int32_t output_max = 255;
};

// A residual add fused into the epilogue of an int8 conv2d or dense kernel
// (ONNX's QLinearAdd of the convolution's output and another tensor b, as
// residual networks have them). The kernel computes the convolution's
// quantised output c exactly as without it,
//   c = clamp(rne(float(acc) * requant_scale[k]) + output_zero_point,
//             output_min, output_max)                      (QuantParams)
// and stores, in place of c,
//   y = clamp(rne(float(c - output_zero_point) * conv_ratio
//                 + float(b - residual_zero_point) * residual_ratio)
//             + zero_point, lo, hi)
// where b is the residual tensor's element at y's position (the residual has
// the output's type, layout and size). The two products and their sum are
// separate IEEE binary32 operations (never a fused multiply-add), rne rounds
// to nearest with ties to even, and a NaN sum (0 * inf) gives lo. These are
// the operations of the convolution followed by the separate add, so the
// fused output equals the unfused pair's bit for bit. The ratios are the
// scale quotients sc / sy and sb / sy, computed in float by the caller.
struct ResidualAdd {
  float conv_ratio = 1.0f;          // any value but NaN
  int32_t residual_zero_point = 0;  // in the activations' range
  float residual_ratio = 1.0f;      // any value but NaN
  int32_t zero_point = 0;           // y's, in the activations' range
  // y's clamp within the activations' range (a ReLU after the add: lo =
  // zero_point).
  int32_t lo = 0;
  int32_t hi = 255;
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
  // int8 conv2d / dense: a residual add fused into the epilogue; the kernel
  // then runs with ExecuteWithResidual() only. Not part of the workload: the
  // op's configuration space and tuned configs are those of the plain op.
  std::optional<ResidualAdd> residual_add;
};

// OK when `data` has the sizes `op` needs and valid quantisation parameters
// (zero points and output clamps within the activations' range of `op`, a
// residual add only on an int8 op, its ratios not NaN).
absl::Status ValidateOpData(const OpSpec& op, const OpData& data);

// Sets quant.output_min / output_max for op.activation in the quantised
// output domain of `op` (u8 [0, 255], or s8 [-128, 127] for signed_io), from
// quant.output_zero_point: none: the whole range; ReLU: [zero point, max];
// ReLU6: [zero point, min(max, zero point + rne(6 / output_scale))].
void SetActivationClamp(const OpSpec& op, float output_scale, QuantParams& quant);

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
  // "conv2d_u8s8u8_direct_4x16c4__generic" ("s8s8s8" for signed_io).
  virtual const std::string& name() const = 0;
  // `input` and `output` are dense tensors in the layouts of op_spec.h, of
  // the op's dtype (int8: u8, or s8 when op.signed_io; fp32: float). The
  // output is fully overwritten. FAILED_PRECONDITION for a kernel made with
  // a residual add.
  virtual absl::Status Execute(const void* input, void* output) = 0;
  // For a kernel made with OpData::residual_add: `residual` holds b, in the
  // output's type, layout and size; it may not overlap `output` (it may be
  // `input`). FAILED_PRECONDITION for a kernel made without one (this
  // default).
  virtual absl::Status ExecuteWithResidual(const void* input, const void* residual, void* output);
};

// The configuration space of `op` on `target`. UNIMPLEMENTED when no kernel
// family supports the op (e.g. depthwise before its family lands).
absl::StatusOr<ConfigSpace> DescribeSpace(const OpSpec& op, const Target& target);

// Builds the kernel. INVALID_ARGUMENT when the config is not valid in
// DescribeSpace(op, target) or `data` does not fit `op`; FAILED_PRECONDITION
// when code generation fails; UNIMPLEMENTED when data.residual_add is set and
// the config's kernel family cannot fuse it (the depthwise families; the
// caller then runs the add on its own). A kernel that accepts a residual add
// takes the same configs, at the same validity, as without it.
absl::StatusOr<std::unique_ptr<Kernel>> CreateKernel(const OpSpec& op, const Config& config,
                                                     const OpData& data, const Target& target);

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_KERNEL_H_
