#include "tuner/onnx/onnx_import.h"

#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tuner/onnx/onnx_graph.h"

namespace qtune::tuner {
namespace {

using onnx_graph::OnnxGraph;
using onnx_graph::ValueInfo;

// What an operand turned out to be.
struct Operand {
  const ValueInfo* info = nullptr;  // of the value the op reads (after a DequantizeLinear: its input)
  bool quantized = false;           // int8 or uint8 data (directly or behind a DequantizeLinear)
  bool is_signed = false;           // int8 (not uint8)
  bool constant = false;            // an initializer (possibly dequantised)
};

Operand Resolve(const OnnxGraph& g, const std::string& name) {
  Operand o;
  std::string source = name;
  const onnx::NodeProto* producer = g.Producer(name);
  if (producer != nullptr && producer->op_type() == "DequantizeLinear" && producer->input_size() > 0) {
    source = producer->input(0);
  }
  o.info = g.Info(source);
  o.constant = g.Initializer(source) != nullptr;
  if (o.info != nullptr) {
    o.quantized = o.info->elem_type == onnx_graph::kInt8 || o.info->elem_type == onnx_graph::kUint8;
    o.is_signed = o.info->elem_type == onnx_graph::kInt8;
  }
  return o;
}

bool Known4d(const ValueInfo* v) {
  if (v == nullptr || !v->has_shape || v->shape.size() != 4) return false;
  for (int64_t d : v->shape) {
    if (d <= 0) return false;
  }
  return true;
}

// The fused activation after `node`: its output's only reader is a Relu, or a
// Clip to [0, 6] (bounds from attributes or constant inputs).
kernels::Activation FollowingActivation(const OnnxGraph& g, const onnx::NodeProto& node) {
  if (node.output_size() == 0) return kernels::Activation::kNone;
  const auto& readers = g.Consumers(node.output(0));
  if (readers.size() != 1) return kernels::Activation::kNone;
  return onnx_graph::ActivationOf(g, *readers[0]);
}

// A convolution node as an OpSpec; the reason when it cannot be one.
absl::StatusOr<kernels::OpSpec> ConvSpec(const OnnxGraph& g, const onnx::NodeProto& n,
                                         int weight_input, bool int8, bool signed_io) {
  const ValueInfo* x = g.Info(n.input(0));
  Operand w = Resolve(g, n.input(weight_input));
  if (!Known4d(x)) return absl::InvalidArgumentError("input shape unknown or not 4-D (NCHW)");
  if (!w.constant || !Known4d(w.info)) {
    return absl::InvalidArgumentError("weights are not a 4-D initializer");
  }
  kernels::OpSpec op;
  op.dtype = int8 ? kernels::DType::kInt8 : kernels::DType::kFp32;
  op.signed_io = int8 && signed_io;
  op.n = static_cast<int>(x->shape[0]);
  op.c = static_cast<int>(x->shape[1]);
  op.h = static_cast<int>(x->shape[2]);
  op.w = static_cast<int>(x->shape[3]);
  op.k = static_cast<int>(w.info->shape[0]);
  op.r = static_cast<int>(w.info->shape[2]);
  op.s = static_cast<int>(w.info->shape[3]);
  const int64_t group = OnnxGraph::AttrInt(n, "group", 1);
  if (group == 1) {
    op.kind = kernels::OpKind::kConv2d;
  } else if (group == op.c && op.k == op.c && w.info->shape[1] == 1) {
    op.kind = kernels::OpKind::kDepthwiseConv2d;
    op.groups = op.c;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("grouped convolution (group ", group, ") other than depthwise"));
  }
  std::vector<int64_t> strides = OnnxGraph::AttrInts(n, "strides");
  std::vector<int64_t> dilations = OnnxGraph::AttrInts(n, "dilations");
  std::vector<int64_t> pads = OnnxGraph::AttrInts(n, "pads");
  if (strides.size() == 2) {
    op.stride_h = static_cast<int>(strides[0]);
    op.stride_w = static_cast<int>(strides[1]);
  }
  if (dilations.size() == 2) {
    op.dilation_h = static_cast<int>(dilations[0]);
    op.dilation_w = static_cast<int>(dilations[1]);
  }
  std::string auto_pad;
  for (const onnx::AttributeProto& a : n.attribute()) {
    if (a.name() == "auto_pad") auto_pad = a.s();
  }
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    auto same = [&](int in, int stride, int k, int dil, int* a, int* b) {
      const int out = (in + stride - 1) / stride;
      const int total = std::max(0, (out - 1) * stride + (k - 1) * dil + 1 - in);
      *a = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      *b = total - *a;
    };
    same(op.h, op.stride_h, op.r, op.dilation_h, &op.pad_top, &op.pad_bottom);
    same(op.w, op.stride_w, op.s, op.dilation_w, &op.pad_left, &op.pad_right);
  } else if (pads.size() == 4) {
    op.pad_top = static_cast<int>(pads[0]);
    op.pad_left = static_cast<int>(pads[1]);
    op.pad_bottom = static_cast<int>(pads[2]);
    op.pad_right = static_cast<int>(pads[3]);
  } else if (!pads.empty() || (!auto_pad.empty() && auto_pad != "NOTSET" && auto_pad != "VALID")) {
    return absl::InvalidArgumentError("unsupported padding");
  }
  op.activation = int8 && n.op_type() != "Conv" ? kernels::Activation::kNone
                                                 : FollowingActivation(g, n);
  absl::Status valid = kernels::ValidateOpSpec(op);
  if (!valid.ok()) return valid;
  return op;
}

// A matrix product [M, K] x [K, N] (B constant) as a dense OpSpec.
absl::StatusOr<kernels::OpSpec> DenseSpec(const OnnxGraph& g, const onnx::NodeProto& n,
                                          int b_input, bool int8, bool signed_io) {
  const ValueInfo* a = g.Info(n.input(0));
  Operand b = Resolve(g, n.input(b_input));
  if (a == nullptr || !a->has_shape || a->shape.size() != 2 || a->shape[0] <= 0 ||
      a->shape[1] <= 0) {
    return absl::InvalidArgumentError("input shape unknown or not 2-D");
  }
  if (!b.constant || b.info == nullptr || b.info->shape.size() != 2) {
    return absl::InvalidArgumentError("weights are not a 2-D initializer");
  }
  const bool trans_a = OnnxGraph::AttrInt(n, "transA", 0) != 0;
  const bool trans_b = OnnxGraph::AttrInt(n, "transB", 0) != 0;
  if (trans_a) return absl::InvalidArgumentError("transA is not supported");
  kernels::OpSpec op;
  op.kind = kernels::OpKind::kDense;
  op.dtype = int8 ? kernels::DType::kInt8 : kernels::DType::kFp32;
  op.signed_io = int8 && signed_io;
  op.n = static_cast<int>(a->shape[0]);
  op.c = static_cast<int>(a->shape[1]);
  op.k = static_cast<int>(trans_b ? b.info->shape[0] : b.info->shape[1]);
  if ((trans_b ? b.info->shape[1] : b.info->shape[0]) != op.c) {
    return absl::InvalidArgumentError("inner dimensions do not match");
  }
  op.activation = int8 && n.op_type() != "Gemm" && n.op_type() != "MatMul"
                      ? kernels::Activation::kNone
                      : FollowingActivation(g, n);
  absl::Status valid = kernels::ValidateOpSpec(op);
  if (!valid.ok()) return valid;
  return op;
}

}  // namespace

absl::StatusOr<OnnxImport> ImportOnnx(const std::string& path) {
  std::unique_ptr<OnnxGraph> g;
  {
    absl::StatusOr<std::unique_ptr<OnnxGraph>> loaded = OnnxGraph::Load(path);
    if (!loaded.ok()) return loaded.status();
    g = *std::move(loaded);
  }
  OnnxImport out;
  out.model.name = std::filesystem::path(path).stem().string();
  out.model.fixed_dtypes = true;
  std::map<std::string, size_t> layer_of;  // canonical key -> layer index
  int unnamed = 0;
  for (const onnx::NodeProto& n : g->graph().node()) {
    ++out.nodes;
    const std::string& type = n.op_type();
    std::optional<absl::StatusOr<kernels::OpSpec>> spec;
    if (type == "Conv") {
      const Operand x = Resolve(*g, n.input(0));
      const Operand w = n.input_size() > 1 ? Resolve(*g, n.input(1)) : Operand();
      const bool qdq = x.quantized && w.quantized;
      spec = ConvSpec(*g, n, 1, qdq, x.is_signed);
    } else if (type == "QLinearConv") {
      spec = ConvSpec(*g, n, 3, true, Resolve(*g, n.input(0)).is_signed);
    } else if (type == "ConvInteger") {
      spec = ConvSpec(*g, n, 1, true, Resolve(*g, n.input(0)).is_signed);
    } else if (type == "Gemm" || type == "MatMul") {
      const Operand a = Resolve(*g, n.input(0));
      const Operand b = n.input_size() > 1 ? Resolve(*g, n.input(1)) : Operand();
      spec = DenseSpec(*g, n, 1, a.quantized && b.quantized, a.is_signed);
    } else if (type == "QLinearMatMul" || type == "QGemm") {
      spec = DenseSpec(*g, n, 3, true, Resolve(*g, n.input(0)).is_signed);
    } else if (type == "MatMulInteger") {
      spec = DenseSpec(*g, n, 1, true, Resolve(*g, n.input(0)).is_signed);
    }
    if (!spec.has_value()) {
      ++out.not_tuned[type];
      continue;
    }
    const std::string node_name = OnnxGraph::NodeName(n);
    if (!spec->ok()) {
      out.skipped.push_back(absl::StrCat(node_name, " (", type, "): ", spec->status().message()));
      ++out.not_tuned[type];
      continue;
    }
    const kernels::OpSpec& op = **spec;
    const std::string key = kernels::CanonicalKey(op);
    auto [it, added] = layer_of.emplace(key, out.model.layers.size());
    if (added) {
      Layer layer;
      layer.name = n.name().empty() ? absl::StrCat(type, "_", unnamed++) : n.name();
      layer.op = op;
      out.model.layers.push_back(std::move(layer));
    } else {
      ++out.model.layers[it->second].occurrences;
    }
    out.model.layers[it->second].instances.push_back(node_name);
  }
  // Layer names must be unique (tasks are named after them).
  std::map<std::string, int> seen;
  for (Layer& layer : out.model.layers) {
    if (seen[layer.name]++ > 0) layer.name = absl::StrCat(layer.name, "#", seen[layer.name]);
  }
  if (out.model.layers.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": no convolution or dense layer qtune can tune",
        out.skipped.empty() ? "" : absl::StrCat(" (", absl::StrJoin(out.skipped, "; "), ")")));
  }
  out.model.description = absl::StrCat("ONNX model ", path, " (", out.nodes, " nodes)");
  return out;
}

}  // namespace qtune::tuner
