#include "tuner/onnx/onnx_to_model.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "proto/convert.h"
#include "qtune/kernels/op_spec.h"
#include "tuner/onnx/onnx_graph.h"

namespace qtune::tuner {
namespace {

using onnx_graph::OnnxGraph;
using onnx_graph::ValueInfo;

// Where a quantised tensor's output goes: the QuantizeLinear that ends a
// QDQ operator, and what sits between (a Relu or Clip).
struct QuantizedOutput {
  std::string tensor;  // the QuantizeLinear's output
  kernels::Activation activation = kernels::Activation::kNone;
  std::vector<const onnx::NodeProto*> folded;  // the Relu/Clip and the QuantizeLinear
};

float RoundToEven(float v) { return std::nearbyint(v); }

class Converter {
 public:
  explicit Converter(const OnnxGraph& g) : g_(g) {}

  absl::StatusOr<OnnxModel> Run(const std::string& path) {
    const onnx::GraphProto& graph = g_.graph();
    if (graph.output_size() != 1) {
      return absl::UnimplementedError("models with more than one output are not supported");
    }
    // The input: the one graph input that is not an initializer.
    for (const onnx::ValueInfoProto& in : graph.input()) {
      if (g_.Initializer(in.name()) != nullptr) continue;
      if (!input_.empty()) return absl::UnimplementedError("models with several inputs");
      input_ = in.name();
    }
    const ValueInfo* in = g_.Info(input_);
    if (in == nullptr || in->elem_type != onnx_graph::kFloat || !in->has_shape) {
      return absl::InvalidArgumentError("the model's input must be a float tensor of known shape");
    }
    proto::TensorSpec& input = tensors_[input_];
    input.set_name(input_);
    input.set_type(proto::F32);
    for (int64_t d : in->shape) input.add_shape(d);  // NCHW, as the user gives it
    model_.graph.set_input(input_);
    model_.graph.set_name(std::filesystem::path(path).stem().string());
    model_.graph.set_source(std::filesystem::path(path).filename().string());

    for (const onnx::NodeProto& n : graph.node()) {
      ++model_.onnx_nodes;
      if (folded_.count(&n)) continue;
      absl::Status s = Convert(n);
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat(OnnxGraph::NodeName(n), " (", n.op_type(),
                                                   "): ", s.message()));
      }
    }
    // The output, as a float tensor unless the model returns a quantised one.
    const std::string& out = graph.output(0).name();
    std::string out_tensor = out;
    if (view_of_.count(out)) {
      QTUNE_ASSIGN_OR_RETURN(out_tensor, Float(out));
    }
    if (!tensors_.count(out_tensor)) {
      return absl::InternalError(absl::StrCat("the model's output ", out, " was not produced"));
    }
    model_.graph.set_output(out_tensor);
    for (auto& [name, t] : tensors_) *model_.graph.add_tensors() = t;
    return std::move(model_);
  }

 private:
  // ---- values -------------------------------------------------------------

  static std::vector<int64_t> Nhwc(const ValueInfo& v) {
    if (v.shape.size() == 4) return {v.shape[0], v.shape[2], v.shape[3], v.shape[1]};
    return v.shape;
  }

  absl::StatusOr<const ValueInfo*> Shape(const std::string& name) {
    const ValueInfo* v = g_.Info(name);
    if (v == nullptr || !v->has_shape) return absl::InvalidArgumentError(absl::StrCat("shape of ", name, " unknown"));
    for (int64_t d : v->shape) {
      if (d <= 0) return absl::InvalidArgumentError(absl::StrCat("shape of ", name, " unknown"));
    }
    return v;
  }

  proto::TensorSpec& Define(const std::string& name, proto::ElemType type,
                            const std::vector<int64_t>& shape, float scale = 0, int zp = 0) {
    proto::TensorSpec& t = tensors_[name];
    t.set_name(name);
    t.set_type(type);
    t.clear_shape();
    for (int64_t d : shape) t.add_shape(d);
    t.set_scale(scale);
    t.set_zero_point(zp);
    return t;
  }

  absl::StatusOr<float> ScalarFloat(const std::string& name) {
    const onnx::TensorProto* t = g_.Initializer(name);
    if (t == nullptr) return absl::UnimplementedError(absl::StrCat(name, " is not a constant"));
    QTUNE_ASSIGN_OR_RETURN(std::vector<float> v, onnx_graph::FloatData(*t));
    if (v.size() != 1) return absl::UnimplementedError(absl::StrCat(name, " is not a scalar"));
    return v[0];
  }

  // A zero point and the type it gives (an absent one: uint8 0).
  absl::StatusOr<std::pair<int, proto::ElemType>> ZeroPoint(const onnx::NodeProto& n, int i) {
    if (i >= n.input_size() || n.input(i).empty()) return std::make_pair(0, proto::U8);
    const onnx::TensorProto* t = g_.Initializer(n.input(i));
    if (t == nullptr) return absl::UnimplementedError(absl::StrCat(n.input(i), " is not a constant"));
    QTUNE_ASSIGN_OR_RETURN(std::vector<int64_t> v, onnx_graph::IntegerData(*t));
    if (v.size() != 1) return absl::UnimplementedError("a zero point that is not a scalar");
    if (t->data_type() == onnx_graph::kInt8) return std::make_pair(static_cast<int>(v[0]), proto::S8);
    if (t->data_type() == onnx_graph::kUint8) return std::make_pair(static_cast<int>(v[0]), proto::U8);
    return absl::UnimplementedError("a zero point that is not int8 or uint8");
  }

  // A quantised activation tensor for `name`: the tensor itself, or what a
  // DequantizeLinear view of it reads.
  std::optional<std::string> Quantized(const std::string& name) const {
    if (auto it = view_of_.find(name); it != view_of_.end()) return it->second;
    auto it = tensors_.find(name);
    if (it != tensors_.end() && (it->second.type() == proto::U8 || it->second.type() == proto::S8)) {
      return name;
    }
    return std::nullopt;
  }

  // An f32 tensor for `name`, dequantising a view when needed.
  absl::StatusOr<std::string> Float(const std::string& name) {
    if (auto it = view_of_.find(name); it != view_of_.end()) {
      if (!tensors_.count(name)) {
        const proto::TensorSpec& q = tensors_.at(it->second);
        Define(name, proto::F32, {q.shape().begin(), q.shape().end()});
        proto::ModelNode& node = Emit(proto::ModelNode::DEQUANTIZE, "dequantize_" + name, {it->second}, name);
        (void)node;
      }
      return name;
    }
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return absl::UnimplementedError(absl::StrCat("input ", name, " unknown"));
    if (it->second.type() != proto::F32) {
      return absl::UnimplementedError(absl::StrCat(name, " is quantised where a float is needed"));
    }
    return name;
  }

  proto::ModelNode& Emit(proto::ModelNode::Kind kind, const std::string& name,
                         const std::vector<std::string>& inputs, const std::string& output) {
    proto::ModelNode* n = model_.graph.add_nodes();
    n->set_kind(kind);
    n->set_name(name);
    for (const std::string& i : inputs) n->add_inputs(i);
    n->set_output(output);
    return *n;
  }

  // The single reader of `value` (null when none or several, or when the
  // value is a graph output).
  const onnx::NodeProto* OnlyReader(const std::string& value) const {
    for (const onnx::ValueInfoProto& out : g_.graph().output()) {
      if (out.name() == value) return nullptr;
    }
    const auto& readers = g_.Consumers(value);
    return readers.size() == 1 ? readers[0] : nullptr;
  }

  // The QuantizeLinear that ends a QDQ operator producing `value`, through
  // at most one Relu / Clip(0, 6).
  std::optional<QuantizedOutput> QuantizedOutputOf(const std::string& value) {
    const onnx::NodeProto* next = OnlyReader(value);
    if (next == nullptr) return std::nullopt;
    QuantizedOutput q;
    if (next->op_type() == "Relu" || next->op_type() == "Clip") {
      q.activation = onnx_graph::ActivationOf(g_, *next);
      if (q.activation == kernels::Activation::kNone) return std::nullopt;
      q.folded.push_back(next);
      next = OnlyReader(next->output(0));
      if (next == nullptr) return std::nullopt;
    }
    if (next->op_type() != "QuantizeLinear") return std::nullopt;
    q.folded.push_back(next);
    q.tensor = next->output(0);
    return q;
  }

  // Defines the output tensor of a QuantizeLinear node (shape from `shape`).
  absl::StatusOr<proto::TensorSpec*> QuantizeTarget(const onnx::NodeProto& q,
                                                    const std::vector<int64_t>& shape) {
    QTUNE_ASSIGN_OR_RETURN(float scale, ScalarFloat(q.input(1)));
    QTUNE_ASSIGN_OR_RETURN(auto zp, ZeroPoint(q, 2));
    return &Define(q.output(0), zp.second, shape, scale, zp.first);
  }

  // The clamp of an int8 output with `act` (output tensor `y`).
  static std::pair<int, int> Clamp(const proto::TensorSpec& y, kernels::Activation act) {
    const int lo = y.type() == proto::S8 ? -128 : 0, hi = y.type() == proto::S8 ? 127 : 255;
    if (act == kernels::Activation::kNone) return {lo, hi};
    const int zp = y.zero_point();
    int max = hi;
    if (act == kernels::Activation::kRelu6) {
      max = std::min<int>(hi, zp + static_cast<int>(RoundToEven(6.0f / y.scale())));
    }
    return {std::max(lo, zp), max};
  }

  // ---- constants ----------------------------------------------------------

  struct Weights {
    std::vector<int64_t> dims;      // as stored in ONNX
    std::vector<int64_t> int8;      // when quantised
    std::vector<float> scales;      // per output channel (or one)
    std::vector<float> floats;      // when float (or dequantised)
    bool quantized = false;
  };

  // Weights from an initializer, or a DequantizeLinear of one. `axis` is the
  // output-channel axis of per-channel scales.
  absl::StatusOr<Weights> LoadWeights(const std::string& name, bool want_float) {
    Weights w;
    const onnx::NodeProto* dq = g_.Producer(name);
    const onnx::TensorProto* t = nullptr;
    if (dq != nullptr && dq->op_type() == "DequantizeLinear") {
      t = g_.Initializer(dq->input(0));
      if (t == nullptr) return absl::UnimplementedError("weights are not a constant");
      QTUNE_ASSIGN_OR_RETURN(w.int8, onnx_graph::IntegerData(*t));
      const onnx::TensorProto* s = g_.Initializer(dq->input(1));
      if (s == nullptr) return absl::UnimplementedError("weight scales are not constant");
      QTUNE_ASSIGN_OR_RETURN(w.scales, onnx_graph::FloatData(*s));
      if (dq->input_size() > 2 && !dq->input(2).empty()) {
        const onnx::TensorProto* z = g_.Initializer(dq->input(2));
        if (z == nullptr) return absl::UnimplementedError("weight zero points are not constant");
        QTUNE_ASSIGN_OR_RETURN(std::vector<int64_t> zs, onnx_graph::IntegerData(*z));
        for (int64_t v : zs) {
          if (v != 0) return absl::UnimplementedError("weights with a non-zero zero point");
        }
      }
      if (t->data_type() != onnx_graph::kInt8) return absl::UnimplementedError("weights not int8");
      w.quantized = true;
    } else {
      t = g_.Initializer(name);
      if (t == nullptr) return absl::UnimplementedError("weights are not a constant");
      if (t->data_type() == onnx_graph::kFloat) {
        QTUNE_ASSIGN_OR_RETURN(w.floats, onnx_graph::FloatData(*t));
      } else if (t->data_type() == onnx_graph::kInt8) {
        QTUNE_ASSIGN_OR_RETURN(w.int8, onnx_graph::IntegerData(*t));
        w.quantized = true;
      } else {
        return absl::UnimplementedError("weights neither float nor int8");
      }
    }
    w.dims.assign(t->dims().begin(), t->dims().end());
    if (want_float && w.quantized) {
      // Dequantised (fp32 path): per-channel scales along axis 0.
      const int64_t per = w.int8.size() / std::max<size_t>(1, w.scales.size());
      for (size_t i = 0; i < w.int8.size(); ++i) {
        const float s = w.scales.size() == 1 ? w.scales[0] : w.scales[i / per];
        w.floats.push_back(static_cast<float>(w.int8[i]) * s);
      }
    }
    return w;
  }

  // QLinearConv / QLinearMatMul / QGemm style: int8 initializer with scale
  // and zero point inputs.
  absl::StatusOr<Weights> LoadQWeights(const onnx::NodeProto& n, int w, int s, int z) {
    Weights out;
    const onnx::TensorProto* t = g_.Initializer(n.input(w));
    const onnx::TensorProto* st = g_.Initializer(n.input(s));
    if (t == nullptr || st == nullptr) return absl::UnimplementedError("weights or scales not constant");
    if (t->data_type() != onnx_graph::kInt8) return absl::UnimplementedError("weights not int8");
    QTUNE_ASSIGN_OR_RETURN(out.int8, onnx_graph::IntegerData(*t));
    QTUNE_ASSIGN_OR_RETURN(out.scales, onnx_graph::FloatData(*st));
    if (z < n.input_size() && !n.input(z).empty()) {
      const onnx::TensorProto* zt = g_.Initializer(n.input(z));
      if (zt == nullptr) return absl::UnimplementedError("weight zero points not constant");
      QTUNE_ASSIGN_OR_RETURN(std::vector<int64_t> zs, onnx_graph::IntegerData(*zt));
      for (int64_t v : zs) {
        if (v != 0) return absl::UnimplementedError("weights with a non-zero zero point");
      }
    }
    out.dims.assign(t->dims().begin(), t->dims().end());
    out.quantized = true;
    return out;
  }

  // ---- operators ----------------------------------------------------------

  absl::Status Convert(const onnx::NodeProto& n) {
    const std::string& t = n.op_type();
    if (t == "DequantizeLinear") return DequantizeLinear(n);
    if (t == "QuantizeLinear") return QuantizeLinear(n);
    if (t == "Conv") return Conv(n, /*qlinear=*/false);
    if (t == "QLinearConv") return Conv(n, /*qlinear=*/true);
    if (t == "Gemm" || t == "MatMul") return Dense(n, /*qform=*/false);
    if (t == "QLinearMatMul" || t == "QGemm") return Dense(n, /*qform=*/true);
    if (t == "Add") return Add(n, false);
    if (t == "QLinearAdd") return Add(n, true);
    if (t == "MaxPool") return MaxPool(n);
    if (t == "GlobalAveragePool" || t == "QLinearGlobalAveragePool") return GlobalAveragePool(n);
    if (t == "Flatten" || t == "Reshape") return Reshape(n);
    if (t == "Relu" || t == "Clip") return Elementwise(n);
    if (t == "Identity" || t == "Dropout") {
      alias_[n.output(0)] = n.input(0);
      return Alias(n.input(0), n.output(0));
    }
    return absl::UnimplementedError("no translation for this operator");
  }

  // Identity-like nodes: the output is the input.
  absl::Status Alias(const std::string& from, const std::string& to) {
    if (auto v = view_of_.find(from); v != view_of_.end()) {
      view_of_[to] = v->second;
      return absl::OkStatus();
    }
    auto it = tensors_.find(from);
    if (it == tensors_.end()) return absl::UnimplementedError("input unknown");
    proto::TensorSpec copy = it->second;
    copy.set_name(to);
    tensors_[to] = copy;
    Emit(proto::ModelNode::RESHAPE, to, {from}, to);
    return absl::OkStatus();
  }

  absl::Status DequantizeLinear(const onnx::NodeProto& n) {
    if (g_.Initializer(n.input(0)) != nullptr) return absl::OkStatus();  // constant: read by its user
    std::optional<std::string> q = Quantized(n.input(0));
    if (!q) return absl::UnimplementedError("dequantises a value that is not quantised");
    // Check the view's parameters are the tensor's own.
    QTUNE_ASSIGN_OR_RETURN(float scale, ScalarFloat(n.input(1)));
    QTUNE_ASSIGN_OR_RETURN(auto zp, ZeroPoint(n, 2));
    const proto::TensorSpec& t = tensors_.at(*q);
    if (t.scale() != scale || t.zero_point() != zp.first) {
      return absl::UnimplementedError("dequantises with other parameters than it was quantised");
    }
    view_of_[n.output(0)] = *q;
    return absl::OkStatus();
  }

  absl::Status QuantizeLinear(const onnx::NodeProto& n) {
    // Requantising a dequantised view with its own parameters (DQ -> Flatten
    // -> Q): the quantised tensor itself, no float round trip.
    if (auto v = view_of_.find(n.input(0)); v != view_of_.end()) {
      const proto::TensorSpec& q = tensors_.at(v->second);
      QTUNE_ASSIGN_OR_RETURN(float scale, ScalarFloat(n.input(1)));
      QTUNE_ASSIGN_OR_RETURN(auto zp, ZeroPoint(n, 2));
      if (q.scale() == scale && q.zero_point() == zp.first && q.type() == zp.second) {
        view_of_[n.output(0)] = v->second;
        return absl::OkStatus();
      }
    }
    // A float -> int8 edge (the model's input, or after a float operator).
    QTUNE_ASSIGN_OR_RETURN(std::string x, Float(n.input(0)));
    const proto::TensorSpec& in = tensors_.at(x);
    std::vector<int64_t> shape(in.shape().begin(), in.shape().end());
    if (x == input_ && shape.size() == 4) shape = {shape[0], shape[2], shape[3], shape[1]};
    QTUNE_ASSIGN_OR_RETURN(proto::TensorSpec * y, QuantizeTarget(n, shape));
    (void)y;
    Emit(proto::ModelNode::QUANTIZE, OnnxGraph::NodeName(n), {x}, n.output(0));
    return absl::OkStatus();
  }

  absl::Status Conv(const onnx::NodeProto& n, bool qlinear) {
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* xi, Shape(n.input(0)));
    if (xi->shape.size() != 4) return absl::UnimplementedError("only 2-D convolutions");
    // The op's shape, as the importer sees it.
    kernels::OpSpec op;
    op.n = static_cast<int>(xi->shape[0]);
    op.c = static_cast<int>(xi->shape[1]);
    op.h = static_cast<int>(xi->shape[2]);
    op.w = static_cast<int>(xi->shape[3]);
    QTUNE_RETURN_IF_ERROR(ConvGeometry(n, &op));
    // int8 when it reads a quantised tensor and its output is quantised.
    std::optional<std::string> xq = Quantized(n.input(0));
    std::optional<QuantizedOutput> yq;
    if (!qlinear && xq) yq = QuantizedOutputOf(n.output(0));
    const bool int8 = qlinear || (xq && yq);
    Weights w;
    if (qlinear) {
      QTUNE_ASSIGN_OR_RETURN(w, LoadQWeights(n, 3, 4, 5));
    } else {
      QTUNE_ASSIGN_OR_RETURN(w, LoadWeights(n.input(1), /*want_float=*/!int8));
      if (int8 && !w.quantized) return absl::UnimplementedError("quantised conv with float weights");
    }
    if (w.dims.size() != 4) return absl::UnimplementedError("weights are not 4-D");
    op.k = static_cast<int>(w.dims[0]);
    op.r = static_cast<int>(w.dims[2]);
    op.s = static_cast<int>(w.dims[3]);
    const int64_t group = OnnxGraph::AttrInt(n, "group", 1);
    if (group == 1) {
      op.kind = kernels::OpKind::kConv2d;
    } else if (group == op.c && op.k == op.c && w.dims[1] == 1) {
      op.kind = kernels::OpKind::kDepthwiseConv2d;
      op.groups = op.c;
    } else {
      return absl::UnimplementedError("grouped convolution other than depthwise");
    }
    return EmitConv(n, op, w, int8, qlinear, xq, yq);
  }

  absl::Status ConvGeometry(const onnx::NodeProto& n, kernels::OpSpec* op) {
    std::vector<int64_t> strides = OnnxGraph::AttrInts(n, "strides");
    std::vector<int64_t> dilations = OnnxGraph::AttrInts(n, "dilations");
    std::vector<int64_t> pads = OnnxGraph::AttrInts(n, "pads");
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (a.name() == "auto_pad" && a.s() != "NOTSET" && a.s() != "VALID" && !a.s().empty()) {
        return absl::UnimplementedError("auto_pad SAME");
      }
    }
    if (strides.size() == 2) {
      op->stride_h = static_cast<int>(strides[0]);
      op->stride_w = static_cast<int>(strides[1]);
    }
    if (dilations.size() == 2) {
      op->dilation_h = static_cast<int>(dilations[0]);
      op->dilation_w = static_cast<int>(dilations[1]);
    }
    if (pads.size() == 4) {
      op->pad_top = static_cast<int>(pads[0]);
      op->pad_left = static_cast<int>(pads[1]);
      op->pad_bottom = static_cast<int>(pads[2]);
      op->pad_right = static_cast<int>(pads[3]);
    }
    return absl::OkStatus();
  }

  // Emits a CONV node (conv2d, depthwise or dense) whose weights `w` are in
  // ONNX's layout: OIHW for convolutions, [K][C] for dense (already
  // transposed by Dense()).
  absl::Status EmitConv(const onnx::NodeProto& n, kernels::OpSpec op, const Weights& w, bool int8,
                        bool qform, std::optional<std::string> xq,
                        std::optional<QuantizedOutput> yq) {
    const int K = op.k, C = op.c, R = op.r, S = op.s;
    const bool dense = op.kind == kernels::OpKind::kDense;
    const bool depthwise = op.kind == kernels::OpKind::kDepthwiseConv2d;
    op.dtype = int8 ? kernels::DType::kInt8 : kernels::DType::kFp32;
    // Weights to KRSC ([K][C] dense, [R][S][C] depthwise).
    auto src_index = [&](int k, int r, int s, int c) -> size_t {
      if (dense) return static_cast<size_t>(k) * C + c;
      if (depthwise) return (static_cast<size_t>(c) * R + r) * S + s;  // [C][1][R][S]
      return ((static_cast<size_t>(k) * C + c) * R + r) * S + s;
    };
    const int KK = depthwise ? 1 : K;
    std::string weights;
    const size_t elems = static_cast<size_t>(depthwise ? C * R * S : static_cast<int64_t>(K) * R * S * C);
    weights.resize(elems * (int8 ? 1 : 4));
    size_t o = 0;
    for (int k = 0; k < KK; ++k) {
      for (int r = 0; r < R; ++r) {
        for (int s = 0; s < S; ++s) {
          for (int c = 0; c < C; ++c, ++o) {
            const size_t i = src_index(k, r, s, c);
            if (int8) {
              weights[o] = static_cast<char>(static_cast<int8_t>(w.int8[i]));
            } else {
              std::memcpy(&weights[o * 4], &w.floats[i], 4);
            }
          }
        }
      }
    }
    proto::ModelNode node;
    node.set_kind(proto::ModelNode::CONV);
    node.set_name(OnnxGraph::NodeName(n));
    node.set_weights(std::move(weights));
    std::string output;
    std::vector<int64_t> out_shape =
        dense ? std::vector<int64_t>{op.n, K}
              : std::vector<int64_t>{op.n, op.out_h(), op.out_w(), K};
    if (int8) {
      const proto::TensorSpec x = tensors_.at(*xq);
      op.signed_io = x.type() == proto::S8;
      proto::TensorSpec* y = nullptr;
      if (qform) {
        // QLinearConv: y_scale 6, y_zp 7, bias 8; QLinearMatMul: 6, 7; QGemm: C 6, y 7, 8.
        const bool qgemm = n.op_type() == "QGemm";
        const int ys = qgemm ? 7 : 6, yz = qgemm ? 8 : 7;
        if (ys >= n.input_size() || n.input(ys).empty()) {
          return absl::UnimplementedError("a float output (no y_scale)");
        }
        QTUNE_ASSIGN_OR_RETURN(float scale, ScalarFloat(n.input(ys)));
        QTUNE_ASSIGN_OR_RETURN(auto zp, ZeroPoint(n, yz));
        y = &Define(n.output(0), zp.second, out_shape, scale, zp.first);
        output = n.output(0);
      } else {
        const onnx::NodeProto* q = yq->folded.back();
        QTUNE_ASSIGN_OR_RETURN(y, QuantizeTarget(*q, out_shape));
        output = yq->tensor;
        op.activation = yq->activation;
        for (const onnx::NodeProto* f : yq->folded) folded_.insert(f);
      }
      if ((y->type() == proto::S8) != op.signed_io) {
        return absl::UnimplementedError("input and output of different int8 types");
      }
      // Requantisation scale sx * sw[k] / sy, in float as ONNX Runtime has it.
      for (int k = 0; k < K; ++k) {
        const float sw = w.scales.size() == 1 ? w.scales[0] : w.scales[k];
        float s = x.scale() * sw;
        s = s / y->scale();
        node.add_requant_scale(s);
      }
      if (w.scales.size() != 1 && static_cast<int>(w.scales.size()) != K) {
        return absl::UnimplementedError("weight scales neither per tensor nor per output channel");
      }
      QTUNE_RETURN_IF_ERROR(Int8Bias(n, qform, K, x.scale(), w.scales, &node));
      node.set_input_zero_point(x.zero_point());
      node.set_output_zero_point(y->zero_point());
      const auto [lo, hi] = Clamp(*y, op.activation);
      node.set_output_min(lo);
      node.set_output_max(hi);
      node.add_inputs(*xq);
      ++model_.int8_convs;
    } else {
      QTUNE_ASSIGN_OR_RETURN(std::string x, Float(n.input(0)));
      node.add_inputs(x);
      QTUNE_RETURN_IF_ERROR(FloatBias(n, K, &node));
      output = n.output(0);
      // A following Relu / Clip(0, 6) is fused.
      if (const onnx::NodeProto* next = OnlyReader(n.output(0)); next != nullptr) {
        const kernels::Activation act = onnx_graph::ActivationOf(g_, *next);
        if (act != kernels::Activation::kNone) {
          op.activation = act;
          folded_.insert(next);
          output = next->output(0);
        }
      }
      Define(output, proto::F32, out_shape);
      ++model_.fp32_convs;
    }
    absl::Status valid = kernels::ValidateOpSpec(op);
    if (!valid.ok()) return valid;
    *node.mutable_op() = qtune::ToProto(op);
    node.set_output(output);
    *model_.graph.add_nodes() = std::move(node);
    return absl::OkStatus();
  }

  // int32 bias of an int8 op: an int32 constant (QLinearConv input 8, QGemm
  // input 6, or a DequantizeLinear'd int32 in QDQ), or a float bias
  // quantised with sx * sw[k].
  absl::Status Int8Bias(const onnx::NodeProto& n, bool qform, int K, float sx,
                        const std::vector<float>& sw, proto::ModelNode* node) {
    int b = -1;
    if (n.op_type() == "QLinearConv") b = 8;
    if (n.op_type() == "QGemm") b = 6;
    if (!qform && (n.op_type() == "Conv" || n.op_type() == "Gemm")) b = 2;
    if (b < 0 || b >= n.input_size() || n.input(b).empty()) {
      for (int k = 0; k < K; ++k) node->add_bias_s32(0);
      return absl::OkStatus();
    }
    std::string name = n.input(b);
    if (const onnx::NodeProto* dq = g_.Producer(name); dq != nullptr && dq->op_type() == "DequantizeLinear") {
      name = dq->input(0);
    }
    const onnx::TensorProto* t = g_.Initializer(name);
    if (t == nullptr) return absl::UnimplementedError("bias is not a constant");
    if (t->data_type() == onnx_graph::kInt32) {
      QTUNE_ASSIGN_OR_RETURN(std::vector<int64_t> v, onnx_graph::IntegerData(*t));
      if (static_cast<int>(v.size()) != K) return absl::UnimplementedError("bias size");
      for (int64_t x : v) node->add_bias_s32(static_cast<int32_t>(x));
      return absl::OkStatus();
    }
    QTUNE_ASSIGN_OR_RETURN(std::vector<float> v, onnx_graph::FloatData(*t));
    if (static_cast<int>(v.size()) != K) return absl::UnimplementedError("bias size");
    for (int k = 0; k < K; ++k) {
      const float s = sx * (sw.size() == 1 ? sw[0] : sw[k]);
      node->add_bias_s32(static_cast<int32_t>(RoundToEven(v[k] / s)));
    }
    return absl::OkStatus();
  }

  absl::Status FloatBias(const onnx::NodeProto& n, int K, proto::ModelNode* node) {
    const int b = n.op_type() == "Conv" || n.op_type() == "Gemm" ? 2 : -1;
    if (b < 0 || b >= n.input_size() || n.input(b).empty()) {
      for (int k = 0; k < K; ++k) node->add_bias_f32(0);
      return absl::OkStatus();
    }
    QTUNE_ASSIGN_OR_RETURN(Weights bias, LoadWeights(n.input(b), /*want_float=*/true));
    if (static_cast<int>(bias.floats.size()) != K) return absl::UnimplementedError("bias size");
    for (float v : bias.floats) node->add_bias_f32(v);
    return absl::OkStatus();
  }

  absl::Status Dense(const onnx::NodeProto& n, bool qform) {
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* ai, Shape(n.input(0)));
    if (ai->shape.size() != 2) return absl::UnimplementedError("only 2-D matrix products");
    if (OnnxGraph::AttrInt(n, "transA", 0) != 0) return absl::UnimplementedError("transA");
    const bool trans_b = OnnxGraph::AttrInt(n, "transB", 0) != 0;
    if (n.op_type() == "Gemm" &&
        (OnnxGraph::AttrFloat(n, "alpha", 1) != 1 || OnnxGraph::AttrFloat(n, "beta", 1) != 1)) {
      return absl::UnimplementedError("Gemm with alpha or beta other than 1");
    }
    std::optional<std::string> xq = Quantized(n.input(0));
    std::optional<QuantizedOutput> yq;
    if (!qform && xq) yq = QuantizedOutputOf(n.output(0));
    bool int8 = qform || (xq && yq);
    const bool qgemm_float = n.op_type() == "QGemm" && (n.input_size() <= 7 || n.input(7).empty());
    Weights w;
    if (qform) {
      QTUNE_ASSIGN_OR_RETURN(w, LoadQWeights(n, 3, 4, 5));
    } else {
      QTUNE_ASSIGN_OR_RETURN(w, LoadWeights(n.input(1), /*want_float=*/!int8));
      if (int8 && !w.quantized) int8 = false;
    }
    if (qgemm_float) {  // float output: the float product of the dequantised operands
      int8 = false;
      const int64_t per = w.int8.size() / std::max<size_t>(1, w.scales.size());
      for (size_t i = 0; i < w.int8.size(); ++i) {
        w.floats.push_back(static_cast<float>(w.int8[i]) *
                           (w.scales.size() == 1 ? w.scales[0] : w.scales[i / per]));
      }
    }
    if (w.dims.size() != 2) return absl::UnimplementedError("weights are not 2-D");
    const int C = static_cast<int>(ai->shape[1]);
    const int K = static_cast<int>(trans_b ? w.dims[0] : w.dims[1]);
    if ((trans_b ? w.dims[1] : w.dims[0]) != C) return absl::UnimplementedError("inner dimensions");
    // To [K][C]: transpose unless transB.
    Weights kc = w;
    if (!trans_b) {
      auto transpose = [&](auto& v) {
        auto copy = v;
        for (int c = 0; c < C; ++c) {
          for (int k = 0; k < K; ++k) v[static_cast<size_t>(k) * C + c] = copy[static_cast<size_t>(c) * K + k];
        }
      };
      if (!kc.int8.empty()) transpose(kc.int8);
      if (!kc.floats.empty()) transpose(kc.floats);
      // Per-column scales of a [C][K] matrix are per output channel already.
    }
    kc.dims = {K, C};
    kernels::OpSpec op;
    op.kind = kernels::OpKind::kDense;
    op.n = static_cast<int>(ai->shape[0]);
    op.c = C;
    op.k = K;
    if (int8 && !qform && !(w.scales.size() == 1 || static_cast<int>(w.scales.size()) == K)) {
      return absl::UnimplementedError("weight scales neither per tensor nor per output channel");
    }
    if (!int8 && qform && !qgemm_float) {
      return absl::UnimplementedError("quantised matrix product with a float input");
    }
    if (!int8 && qgemm_float) {
      // QGemm's float bias input 6 is int32 (scaled by sa * sb): convert.
      Weights fw = kc;
      proto::ModelNode tmp;
      QTUNE_ASSIGN_OR_RETURN(float sa, ScalarFloat(n.input(1)));
      QTUNE_RETURN_IF_ERROR(Int8Bias(n, true, K, sa, w.scales, &tmp));
      QTUNE_ASSIGN_OR_RETURN(std::string x, Float(n.input(0)));
      (void)x;
      // Handled as an fp32 dense on the dequantised input, with its bias.
      return EmitFloatDenseWithBias(n, op, fw, tmp, sa, w.scales);
    }
    return EmitConv(n, op, kc, int8, qform, xq, yq);
  }

  absl::Status EmitFloatDenseWithBias(const onnx::NodeProto& n, kernels::OpSpec op, const Weights& w,
                                      const proto::ModelNode& int_bias, float sa,
                                      const std::vector<float>& sw) {
    QTUNE_ASSIGN_OR_RETURN(std::string x, Float(n.input(0)));
    proto::ModelNode node;
    node.set_kind(proto::ModelNode::CONV);
    node.set_name(OnnxGraph::NodeName(n));
    std::string weights(w.floats.size() * 4, '\0');
    std::memcpy(weights.data(), w.floats.data(), weights.size());
    node.set_weights(std::move(weights));
    for (int k = 0; k < op.k; ++k) {
      node.add_bias_f32(static_cast<float>(int_bias.bias_s32(k)) * sa *
                        (sw.size() == 1 ? sw[0] : sw[k]));
    }
    op.dtype = kernels::DType::kFp32;
    *node.mutable_op() = qtune::ToProto(op);
    node.add_inputs(x);
    node.set_output(n.output(0));
    Define(n.output(0), proto::F32, {op.n, op.k});
    *model_.graph.add_nodes() = std::move(node);
    ++model_.fp32_convs;
    return absl::OkStatus();
  }

  absl::Status Add(const onnx::NodeProto& n, bool qlinear) {
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* ai, Shape(n.input(0)));
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* bi, Shape(qlinear ? n.input(3) : n.input(1)));
    if (ai->shape != bi->shape) return absl::UnimplementedError("broadcasting Add");
    const std::vector<int64_t> shape = Nhwc(*ai);
    if (qlinear) {
      // QLinearAdd: A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp.
      std::optional<std::string> a = Quantized(n.input(0)), b = Quantized(n.input(3));
      if (!a || !b) return absl::UnimplementedError("inputs are not quantised tensors");
      QTUNE_ASSIGN_OR_RETURN(float scale, ScalarFloat(n.input(6)));
      QTUNE_ASSIGN_OR_RETURN(auto zp, ZeroPoint(n, 7));
      Define(n.output(0), zp.second, shape, scale, zp.first);
      proto::ModelNode& node = Emit(proto::ModelNode::ADD, OnnxGraph::NodeName(n), {*a, *b}, n.output(0));
      (void)node;
      return absl::OkStatus();
    }
    std::optional<std::string> a = Quantized(n.input(0)), b = Quantized(n.input(1));
    std::optional<QuantizedOutput> yq;
    if (a && b) yq = QuantizedOutputOf(n.output(0));
    if (yq) {
      QTUNE_RETURN_IF_ERROR(QuantizeTarget(*yq->folded.back(), shape).status());
      for (const onnx::NodeProto* f : yq->folded) folded_.insert(f);
      proto::ModelNode& node = Emit(proto::ModelNode::ADD, OnnxGraph::NodeName(n), {*a, *b}, yq->tensor);
      node.set_activation(yq->activation == kernels::Activation::kRelu    ? proto::RELU
                          : yq->activation == kernels::Activation::kRelu6 ? proto::RELU6
                                                                          : proto::ACTIVATION_NONE);
      return absl::OkStatus();
    }
    QTUNE_ASSIGN_OR_RETURN(std::string fa, Float(n.input(0)));
    QTUNE_ASSIGN_OR_RETURN(std::string fb, Float(n.input(1)));
    std::string output = n.output(0);
    proto::Activation act = proto::ACTIVATION_NONE;
    if (const onnx::NodeProto* next = OnlyReader(n.output(0)); next != nullptr) {
      const kernels::Activation a2 = onnx_graph::ActivationOf(g_, *next);
      if (a2 != kernels::Activation::kNone) {
        act = a2 == kernels::Activation::kRelu ? proto::RELU : proto::RELU6;
        folded_.insert(next);
        output = next->output(0);
      }
    }
    Define(output, proto::F32, shape);
    Emit(proto::ModelNode::ADD, OnnxGraph::NodeName(n), {fa, fb}, output).set_activation(act);
    return absl::OkStatus();
  }

  absl::Status MaxPool(const onnx::NodeProto& n) {
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* out, Shape(n.output(0)));
    std::vector<int64_t> k = OnnxGraph::AttrInts(n, "kernel_shape");
    std::vector<int64_t> strides = OnnxGraph::AttrInts(n, "strides");
    std::vector<int64_t> pads = OnnxGraph::AttrInts(n, "pads");
    if (k.size() != 2) return absl::UnimplementedError("only 2-D pooling");
    if (OnnxGraph::AttrInt(n, "ceil_mode", 0) != 0 || !OnnxGraph::AttrInts(n, "dilations").empty()) {
      return absl::UnimplementedError("ceil_mode or dilations");
    }
    const std::vector<int64_t> shape = Nhwc(*out);
    std::string input, output = n.output(0);
    std::optional<std::string> xq = Quantized(n.input(0));
    if (xq && tensors_.count(n.input(0))) {  // QOperator: max pool on the int8 tensor
      input = *xq;
      const proto::TensorSpec& x = tensors_.at(input);
      Define(output, x.type(), shape, x.scale(), x.zero_point());
    } else if (std::optional<QuantizedOutput> yq = xq ? QuantizedOutputOf(n.output(0)) : std::nullopt;
               yq && yq->activation == kernels::Activation::kNone) {
      input = *xq;
      const proto::TensorSpec x = tensors_.at(input);
      QTUNE_ASSIGN_OR_RETURN(proto::TensorSpec * y, QuantizeTarget(*yq->folded.back(), shape));
      if (y->scale() != x.scale() || y->zero_point() != x.zero_point() || y->type() != x.type()) {
        return absl::UnimplementedError("QDQ max pool that changes the quantisation");
      }
      for (const onnx::NodeProto* f : yq->folded) folded_.insert(f);
      output = yq->tensor;
    } else {
      QTUNE_ASSIGN_OR_RETURN(input, Float(n.input(0)));
      Define(output, proto::F32, shape);
    }
    proto::ModelNode& node = Emit(proto::ModelNode::MAX_POOL, OnnxGraph::NodeName(n), {input}, output);
    node.set_kernel_h(static_cast<int>(k[0]));
    node.set_kernel_w(static_cast<int>(k[1]));
    node.set_stride_h(strides.size() == 2 ? static_cast<int>(strides[0]) : 1);
    node.set_stride_w(strides.size() == 2 ? static_cast<int>(strides[1]) : 1);
    if (pads.size() == 4) {
      node.set_pad_top(static_cast<int>(pads[0]));
      node.set_pad_left(static_cast<int>(pads[1]));
      node.set_pad_bottom(static_cast<int>(pads[2]));
      node.set_pad_right(static_cast<int>(pads[3]));
    }
    return absl::OkStatus();
  }

  absl::Status GlobalAveragePool(const onnx::NodeProto& n) {
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* out, Shape(n.output(0)));
    const std::vector<int64_t> shape = Nhwc(*out);
    if (n.op_type() == "QLinearGlobalAveragePool") {
      // X, x_scale, x_zp, y_scale, y_zp.
      std::optional<std::string> x = Quantized(n.input(0));
      if (!x) return absl::UnimplementedError("input is not a quantised tensor");
      QTUNE_ASSIGN_OR_RETURN(float scale, ScalarFloat(n.input(3)));
      QTUNE_ASSIGN_OR_RETURN(auto zp, ZeroPoint(n, 4));
      Define(n.output(0), zp.second, shape, scale, zp.first);
      Emit(proto::ModelNode::GLOBAL_AVG_POOL, OnnxGraph::NodeName(n), {*x}, n.output(0));
      return absl::OkStatus();
    }
    std::optional<std::string> xq = Quantized(n.input(0));
    std::optional<QuantizedOutput> yq = xq ? QuantizedOutputOf(n.output(0)) : std::nullopt;
    if (yq && yq->activation == kernels::Activation::kNone) {
      QTUNE_RETURN_IF_ERROR(QuantizeTarget(*yq->folded.back(), shape).status());
      for (const onnx::NodeProto* f : yq->folded) folded_.insert(f);
      Emit(proto::ModelNode::GLOBAL_AVG_POOL, OnnxGraph::NodeName(n), {*xq}, yq->tensor);
      return absl::OkStatus();
    }
    QTUNE_ASSIGN_OR_RETURN(std::string x, Float(n.input(0)));
    Define(n.output(0), proto::F32, shape);
    Emit(proto::ModelNode::GLOBAL_AVG_POOL, OnnxGraph::NodeName(n), {x}, n.output(0));
    return absl::OkStatus();
  }

  absl::Status Reshape(const onnx::NodeProto& n) {
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* in, Shape(n.input(0)));
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* out, Shape(n.output(0)));
    // NHWC and NCHW agree only when nothing but channels is left.
    if (in->shape.size() == 4 && (in->shape[2] != 1 || in->shape[3] != 1)) {
      return absl::UnimplementedError("reshaping a tensor with spatial extent (layouts differ)");
    }
    if (auto v = view_of_.find(n.input(0)); v != view_of_.end()) {
      // A QDQ view: reshape the quantised tensor, and the output is a view of it.
      const proto::TensorSpec q = tensors_.at(v->second);
      const std::string name = n.output(0) + "_q";
      Define(name, q.type(), Nhwc(*out), q.scale(), q.zero_point());
      Emit(proto::ModelNode::RESHAPE, OnnxGraph::NodeName(n), {v->second}, name);
      view_of_[n.output(0)] = name;
      return absl::OkStatus();
    }
    auto it = tensors_.find(n.input(0));
    if (it == tensors_.end()) return absl::UnimplementedError("input unknown");
    const proto::TensorSpec x = it->second;
    Define(n.output(0), x.type(), Nhwc(*out), x.scale(), x.zero_point());
    Emit(proto::ModelNode::RESHAPE, OnnxGraph::NodeName(n), {n.input(0)}, n.output(0));
    return absl::OkStatus();
  }

  absl::Status Elementwise(const onnx::NodeProto& n) {
    QTUNE_ASSIGN_OR_RETURN(const ValueInfo* in, Shape(n.input(0)));
    auto it = tensors_.find(n.input(0));
    const bool quantized = it != tensors_.end() && it->second.type() != proto::F32;
    std::string x = n.input(0);
    if (!quantized) {
      QTUNE_ASSIGN_OR_RETURN(x, Float(n.input(0)));
    }
    const proto::TensorSpec xs = tensors_.at(x);
    Define(n.output(0), xs.type(), Nhwc(*in), xs.scale(), xs.zero_point());
    if (n.op_type() == "Relu") {
      Emit(proto::ModelNode::RELU, OnnxGraph::NodeName(n), {x}, n.output(0));
      return absl::OkStatus();
    }
    float lo = OnnxGraph::AttrFloat(n, "min", -3.4e38f), hi = OnnxGraph::AttrFloat(n, "max", 3.4e38f);
    for (int i : {1, 2}) {
      if (i >= n.input_size() || n.input(i).empty()) continue;
      QTUNE_ASSIGN_OR_RETURN(float bound, ScalarFloat(n.input(i)));
      (i == 1 ? lo : hi) = bound;
    }
    proto::ModelNode& node = Emit(proto::ModelNode::CLIP, OnnxGraph::NodeName(n), {x}, n.output(0));
    node.set_clip_min(lo);
    node.set_clip_max(hi);
    return absl::OkStatus();
  }

  const OnnxGraph& g_;
  OnnxModel model_;
  std::string input_;
  std::map<std::string, proto::TensorSpec> tensors_;
  std::map<std::string, std::string> view_of_;  // DequantizeLinear output -> quantised tensor
  std::map<std::string, std::string> alias_;
  std::set<const onnx::NodeProto*> folded_;
};

}  // namespace

absl::StatusOr<OnnxModel> ConvertOnnx(const std::string& path) {
  QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<onnx_graph::OnnxGraph> g, onnx_graph::OnnxGraph::Load(path));
  Converter converter(*g);
  return converter.Run(path);
}

}  // namespace qtune::tuner
