// File: op_spec.h
// OpSpec describes one operator instance (shape, data type, fused activation)
// independently of its data. Its canonical string is the workload key under
// which trials are stored:
//
//   conv2d/int8/N=1,H=56,W=56,C=64,K=64,R=3,S=3,stride=1x1,pad=1x1x1x1,dilation=1x1,groups=1,act=relu
//
// Tensor layouts (all dense, row-major):
//   conv2d:  input NHWC [N][H][W][C], weights KRSC [K][R][S][C], output [N][OH][OW][K]
//   dense:   input [N][C], weights [K][C], output [N][K]  (H=W=R=S=1)
//   depthwise_conv2d: input NHWC, weights [R][S][C] (K == C, groups == C)
#ifndef QTUNE_KERNELS_OP_SPEC_H_
#define QTUNE_KERNELS_OP_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qtune::kernels {

enum class OpKind { kConv2d, kDepthwiseConv2d, kDense };
enum class DType { kInt8, kFp32 };
enum class Activation { kNone, kRelu, kRelu6 };

std::string_view OpKindName(OpKind kind);        // "conv2d", "depthwise_conv2d", "dense"
std::string_view DTypeName(DType dtype);         // "int8", "fp32"
std::string_view ActivationName(Activation act); // "none", "relu", "relu6"
absl::StatusOr<OpKind> ParseOpKind(std::string_view name);
absl::StatusOr<DType> ParseDType(std::string_view name);
absl::StatusOr<Activation> ParseActivation(std::string_view name);

struct OpSpec {
  OpKind kind = OpKind::kConv2d;
  DType dtype = DType::kInt8;
  int n = 1, h = 1, w = 1, c = 1, k = 1, r = 1, s = 1;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  Activation activation = Activation::kNone;
  // int8 only: the activations (input and output) are s8, asymmetric per
  // tensor (zero points in [-128, 127]), as in TFLite and ONNX Runtime's
  // S8S8 models; false: u8 (the default). Weights are s8 either way. The
  // canonical key gains ",io=s8" when set (u8 keys are unchanged).
  bool signed_io = false;

  int out_h() const;
  int out_w() const;
  // Multiply-accumulates of one execution (padding taps included).
  int64_t macs() const;
  // Multiply-accumulates of the taps inside the input only: what a kernel
  // that skips padding taps computes (== macs() without padding).
  int64_t in_bounds_macs() const;
  // Reduction length of one output element (C*R*S, depthwise: R*S).
  int64_t reduction_size() const;
  int64_t input_elements() const;
  int64_t weight_elements() const;
  int64_t output_elements() const;

  friend bool operator==(const OpSpec&, const OpSpec&) = default;
};

// The value range of an int8 op's activations (input and output elements,
// zero points, output clamp): [0, 255] for u8, [-128, 127] for signed_io.
inline int32_t ActivationMin(const OpSpec& op) { return op.signed_io ? -128 : 0; }
inline int32_t ActivationMax(const OpSpec& op) { return op.signed_io ? 127 : 255; }

// Returns OK when the spec describes an operator the library can represent:
// positive sizes, a non-empty output, dense with H=W=R=S=1, groups 1 (conv2d)
// or C (depthwise), dimensions small enough that every tensor has < 2^31
// elements.
absl::Status ValidateOpSpec(const OpSpec& op);

// The canonical workload key (see the file comment). Stable across versions.
std::string CanonicalKey(const OpSpec& op);

// A short human-readable shape, e.g. "56x56x64 3x3/1 ->64" or "512 ->1000".
std::string ShapeString(const OpSpec& op);

// Parses a canonical key, or a shape spec "KIND/DTYPE/FIELD=VALUE,...".
// Fields: N,H,W,C,K,R,S; stride=A or AxB; pad=P, PHxPW or TxLxBxR;
// dilation=A or AxB; groups=G; act=none|relu|relu6; io=u8|s8 (int8). Omitted fields keep the
// OpSpec defaults. The result is validated.
absl::StatusOr<OpSpec> ParseOpSpec(std::string_view text);

// Parses only the field list ("N=1,H=56,...") onto `base`; used by --shape.
absl::StatusOr<OpSpec> ParseShapeFields(std::string_view fields, OpSpec base);

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_OP_SPEC_H_
