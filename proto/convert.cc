#include "proto/convert.h"

#include <google/protobuf/util/json_util.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace qtune {
namespace {

proto::OpKind KindToProto(kernels::OpKind kind) {
  switch (kind) {
    case kernels::OpKind::kConv2d: return proto::CONV2D;
    case kernels::OpKind::kDepthwiseConv2d: return proto::DEPTHWISE_CONV2D;
    case kernels::OpKind::kDense: return proto::DENSE;
  }
  return proto::OP_KIND_UNSPECIFIED;
}

proto::DType DTypeToProto(kernels::DType dtype) {
  switch (dtype) {
    case kernels::DType::kInt8: return proto::INT8;
    case kernels::DType::kFp32: return proto::FP32;
  }
  return proto::DTYPE_UNSPECIFIED;
}

proto::Activation ActivationToProto(kernels::Activation act) {
  switch (act) {
    case kernels::Activation::kNone: return proto::ACTIVATION_NONE;
    case kernels::Activation::kRelu: return proto::RELU;
    case kernels::Activation::kRelu6: return proto::RELU6;
  }
  return proto::ACTIVATION_NONE;
}

}  // namespace

proto::OpSpec ToProto(const kernels::OpSpec& op) {
  proto::OpSpec out;
  out.set_kind(KindToProto(op.kind));
  out.set_dtype(DTypeToProto(op.dtype));
  out.set_n(op.n);
  out.set_h(op.h);
  out.set_w(op.w);
  out.set_c(op.c);
  out.set_k(op.k);
  out.set_r(op.r);
  out.set_s(op.s);
  out.set_stride_h(op.stride_h);
  out.set_stride_w(op.stride_w);
  out.set_pad_top(op.pad_top);
  out.set_pad_left(op.pad_left);
  out.set_pad_bottom(op.pad_bottom);
  out.set_pad_right(op.pad_right);
  out.set_dilation_h(op.dilation_h);
  out.set_dilation_w(op.dilation_w);
  out.set_groups(op.groups);
  out.set_activation(ActivationToProto(op.activation));
  out.set_signed_io(op.signed_io);
  return out;
}

absl::StatusOr<kernels::OpSpec> FromProto(const proto::OpSpec& in) {
  kernels::OpSpec op;
  switch (in.kind()) {
    case proto::CONV2D: op.kind = kernels::OpKind::kConv2d; break;
    case proto::DEPTHWISE_CONV2D: op.kind = kernels::OpKind::kDepthwiseConv2d; break;
    case proto::DENSE: op.kind = kernels::OpKind::kDense; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("op: unknown kind ", in.kind()));
  }
  switch (in.dtype()) {
    case proto::INT8: op.dtype = kernels::DType::kInt8; break;
    case proto::FP32: op.dtype = kernels::DType::kFp32; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("op: unknown dtype ", in.dtype()));
  }
  switch (in.activation()) {
    case proto::ACTIVATION_NONE: op.activation = kernels::Activation::kNone; break;
    case proto::RELU: op.activation = kernels::Activation::kRelu; break;
    case proto::RELU6: op.activation = kernels::Activation::kRelu6; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("op: unknown activation ", in.activation()));
  }
  op.signed_io = in.signed_io();
  op.n = in.n();
  op.h = in.h();
  op.w = in.w();
  op.c = in.c();
  op.k = in.k();
  op.r = in.r();
  op.s = in.s();
  op.stride_h = in.stride_h();
  op.stride_w = in.stride_w();
  op.pad_top = in.pad_top();
  op.pad_left = in.pad_left();
  op.pad_bottom = in.pad_bottom();
  op.pad_right = in.pad_right();
  op.dilation_h = in.dilation_h();
  op.dilation_w = in.dilation_w();
  op.groups = in.groups();
  if (absl::Status s = kernels::ValidateOpSpec(op); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("op: ", s.message()));
  }
  return op;
}

proto::Config ToProto(const kernels::Config& config) {
  proto::Config out;
  for (const auto& [name, value] : config) (*out.mutable_knobs())[name] = value;
  return out;
}

kernels::Config FromProto(const proto::Config& config) {
  kernels::Config out;
  for (const auto& [name, value] : config.knobs()) out[name] = value;
  return out;
}

proto::ConfigSpace ToProto(const kernels::ConfigSpace& space) {
  proto::ConfigSpace out;
  for (const kernels::Knob& knob : space.knobs()) {
    proto::Knob* k = out.add_knobs();
    k->set_name(knob.name);
    for (int64_t v : knob.values) k->add_values(v);
    for (const std::string& label : knob.labels) k->add_labels(label);
    k->set_help(knob.help);
  }
  for (const std::string& c : space.constraints()) out.add_constraints(c);
  *out.mutable_default_config() = ToProto(space.default_config());
  return out;
}

absl::StatusOr<kernels::ConfigSpace> FromProto(const proto::ConfigSpace& space) {
  std::vector<kernels::Knob> knobs;
  for (const proto::Knob& k : space.knobs()) {
    kernels::Knob knob;
    knob.name = k.name();
    knob.values.assign(k.values().begin(), k.values().end());
    knob.labels.assign(k.labels().begin(), k.labels().end());
    knob.help = k.help();
    knobs.push_back(std::move(knob));
  }
  std::vector<std::string> constraints(space.constraints().begin(), space.constraints().end());
  return kernels::ConfigSpace::Create(std::move(knobs), std::move(constraints),
                                      FromProto(space.default_config()));
}

std::string TrialStatusName(proto::TrialStatus status) {
  return proto::TrialStatus_Name(status);
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

}  // namespace qtune
