#include "tuner/onnx/onnx_graph.h"

#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <exception>
#include <fstream>
#include <functional>

#include "absl/strings/str_cat.h"

namespace qtune::tuner::onnx_graph {
namespace {

// Output size of a pooled or convolved axis.
int64_t OutSize(int64_t in, int64_t k, int64_t stride, int64_t pad_a, int64_t pad_b,
                int64_t dilation, bool ceil_mode) {
  const int64_t span = in + pad_a + pad_b - dilation * (k - 1) - 1;
  if (span < 0 || stride <= 0) return -1;
  return (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
}

ValueInfo FromType(const onnx::TypeProto& type) {
  ValueInfo v;
  if (!type.has_tensor_type()) return v;
  v.elem_type = type.tensor_type().elem_type();
  if (type.tensor_type().has_shape()) {
    v.has_shape = true;
    for (const onnx::TensorShapeProto_Dimension& d : type.tensor_type().shape().dim()) {
      v.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
    }
  }
  return v;
}

bool Known(const ValueInfo* v) {
  if (v == nullptr || !v->has_shape) return false;
  for (int64_t d : v->shape) {
    if (d < 0) return false;
  }
  return true;
}

// Appends the `n` elements of type T in `raw` (ONNX raw_data: little-endian,
// as on every host qtune builds for). False when its size is not n * sizeof(T).
template <typename T>
bool AppendRaw(const std::string& raw, int64_t n, std::vector<int64_t>& out) {
  if (static_cast<int64_t>(raw.size()) != n * static_cast<int64_t>(sizeof(T))) return false;
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    out.push_back(v);
  }
  return true;
}

}  // namespace

int64_t ElementCount(const onnx::TensorProto& tensor) {
  int64_t n = 1;
  for (int64_t d : tensor.dims()) n *= d;
  return n;
}

absl::StatusOr<std::vector<int64_t>> IntegerData(const onnx::TensorProto& t) {
  const int64_t n = ElementCount(t);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(n, 0)));
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("initializer '", t.name(), "': ", why));
  };
  const std::string& raw = t.raw_data();
  switch (t.data_type()) {
    case kInt8:
    case kUint8:
      if (!raw.empty()) {
        if (static_cast<int64_t>(raw.size()) != n) return bad("raw data size does not match");
        for (char c : raw) {
          out.push_back(t.data_type() == kInt8 ? static_cast<int8_t>(c) : static_cast<uint8_t>(c));
        }
      } else {
        for (int32_t v : t.int32_data()) out.push_back(v);
      }
      break;
    case kInt32:
      if (!raw.empty()) {
        if (!AppendRaw<int32_t>(raw, n, out)) return bad("raw data size does not match");
      } else {
        for (int32_t v : t.int32_data()) out.push_back(v);
      }
      break;
    case kInt64:
      if (!raw.empty()) {
        if (!AppendRaw<int64_t>(raw, n, out)) return bad("raw data size does not match");
      } else {
        for (int64_t v : t.int64_data()) out.push_back(v);
      }
      break;
    default:
      return bad("not an integer tensor");
  }
  if (static_cast<int64_t>(out.size()) != n) return bad("element count does not match its dims");
  return out;
}

absl::StatusOr<std::vector<float>> FloatData(const onnx::TensorProto& t) {
  const int64_t n = ElementCount(t);
  if (t.data_type() != kFloat) {
    return absl::InvalidArgumentError(absl::StrCat("initializer '", t.name(), "' is not float"));
  }
  std::vector<float> out;
  const std::string& raw = t.raw_data();
  if (!raw.empty()) {
    if (static_cast<int64_t>(raw.size()) != 4 * n) {
      return absl::InvalidArgumentError(
          absl::StrCat("initializer '", t.name(), "': raw data size does not match"));
    }
    out.resize(static_cast<size_t>(n));
    std::memcpy(out.data(), raw.data(), raw.size());
  } else {
    out.assign(t.float_data().begin(), t.float_data().end());
  }
  if (static_cast<int64_t>(out.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("initializer '", t.name(), "': element count does not match its dims"));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<OnnxGraph>> OnnxGraph::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
  std::unique_ptr<OnnxGraph> g(new OnnxGraph());
  if (!g->model_.ParseFromIstream(&in) || !g->model_.has_graph() ||
      g->model_.graph().node_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not an ONNX model"));
  }
  // A symbolic batch dimension is taken as 1: qtune tunes batch 1.
  for (onnx::ValueInfoProto& input : *g->model_.mutable_graph()->mutable_input()) {
    if (!input.type().has_tensor_type() || !input.type().tensor_type().has_shape()) continue;
    auto* shape = input.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() > 0 && !shape->dim(0).has_dim_value()) shape->mutable_dim(0)->set_dim_value(1);
  }
  try {
    onnx::shape_inference::InferShapes(g->model_);
  } catch (const std::exception& e) {
    // Nodes ONNX cannot infer are left to PropagateShapes.
  }
  g->Index();
  g->PropagateShapes();
  return g;
}

void OnnxGraph::Index() {
  const onnx::GraphProto& graph = model_.graph();
  for (const onnx::TensorProto& t : graph.initializer()) {
    initializers_[t.name()] = &t;
    ValueInfo v;
    v.elem_type = t.data_type();
    v.has_shape = true;
    v.shape.assign(t.dims().begin(), t.dims().end());
    info_[t.name()] = v;
  }
  for (const auto* list : {&graph.input(), &graph.value_info(), &graph.output()}) {
    for (const onnx::ValueInfoProto& value : *list) {
      ValueInfo v = FromType(value.type());
      if (v.elem_type != 0 || v.has_shape) info_.emplace(value.name(), v);
    }
  }
  for (const onnx::NodeProto& node : graph.node()) {
    for (const std::string& out : node.output()) producers_[out] = &node;
    for (const std::string& input : node.input()) {
      if (!input.empty()) consumers_[input].push_back(&node);
    }
  }
}

const ValueInfo* OnnxGraph::Info(const std::string& name) const {
  auto it = info_.find(name);
  return it == info_.end() ? nullptr : &it->second;
}

const onnx::TensorProto* OnnxGraph::Initializer(const std::string& name) const {
  auto it = initializers_.find(name);
  return it == initializers_.end() ? nullptr : it->second;
}

const onnx::NodeProto* OnnxGraph::Producer(const std::string& name) const {
  auto it = producers_.find(name);
  return it == producers_.end() ? nullptr : it->second;
}

const std::vector<const onnx::NodeProto*>& OnnxGraph::Consumers(const std::string& name) const {
  static const std::vector<const onnx::NodeProto*> kNone;
  auto it = consumers_.find(name);
  return it == consumers_.end() ? kNone : it->second;
}

std::string OnnxGraph::NodeName(const onnx::NodeProto& node) {
  if (!node.name().empty()) return node.name();
  return absl::StrCat(node.op_type(), " -> ", node.output_size() > 0 ? node.output(0) : "?");
}

int64_t OnnxGraph::AttrInt(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  for (const onnx::AttributeProto& a : node.attribute()) {
    if (a.name() == name) return a.i();
  }
  return fallback;
}

float OnnxGraph::AttrFloat(const onnx::NodeProto& node, const std::string& name, float fallback) {
  for (const onnx::AttributeProto& a : node.attribute()) {
    if (a.name() == name) return a.f();
  }
  return fallback;
}

std::vector<int64_t> OnnxGraph::AttrInts(const onnx::NodeProto& node, const std::string& name) {
  for (const onnx::AttributeProto& a : node.attribute()) {
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  }
  return {};
}

void OnnxGraph::PropagateShapes() {
  auto in = [&](const onnx::NodeProto& n, int i) -> const ValueInfo* {
    return i < n.input_size() && !n.input(i).empty() ? Info(n.input(i)) : nullptr;
  };
  auto type_of = [&](const onnx::NodeProto& n, int i, int fallback) {
    const ValueInfo* v = in(n, i);
    return v != nullptr && v->elem_type != 0 ? v->elem_type : fallback;
  };
  // Spatial output of a window over NCHW input `x` (kernel from `k`).
  auto window = [&](const onnx::NodeProto& n, const ValueInfo& x, std::vector<int64_t> k,
                    int64_t channels) -> std::vector<int64_t> {
    std::vector<int64_t> strides = AttrInts(n, "strides");
    std::vector<int64_t> pads = AttrInts(n, "pads");
    std::vector<int64_t> dilations = AttrInts(n, "dilations");
    const bool ceil_mode = AttrInt(n, "ceil_mode", 0) != 0;
    const size_t spatial = x.shape.size() - 2;
    std::vector<int64_t> out = {x.shape[0], channels};
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t stride = i < strides.size() ? strides[i] : 1;
      const int64_t dilation = i < dilations.size() ? dilations[i] : 1;
      const int64_t pa = i < pads.size() / 2 ? pads[i] : 0;
      const int64_t pb = i + spatial < pads.size() ? pads[i + spatial] : 0;
      out.push_back(OutSize(x.shape[i + 2], k[i], stride, pa, pb, dilation, ceil_mode));
    }
    return out;
  };
  for (const onnx::NodeProto& n : model_.graph().node()) {
    if (n.output_size() == 0) continue;
    const std::string& out_name = n.output(0);
    if (Known(Info(out_name))) continue;
    const std::string& op = n.op_type();
    ValueInfo out;
    const ValueInfo* x = in(n, 0);
    if (op == "Conv" || op == "QLinearConv" || op == "ConvInteger") {
      const ValueInfo* w = in(n, op == "QLinearConv" ? 3 : 1);
      if (!Known(x) || !Known(w) || x->shape.size() != w->shape.size() || x->shape.size() < 3) continue;
      out.shape = window(n, *x, {w->shape.begin() + 2, w->shape.end()}, w->shape[0]);
      out.elem_type = op == "Conv" ? kFloat : op == "ConvInteger" ? kInt32 : type_of(n, 7, kUint8);
    } else if (op == "MaxPool" || op == "AveragePool") {
      if (!Known(x) || x->shape.size() < 3) continue;
      out.shape = window(n, *x, AttrInts(n, "kernel_shape"), x->shape[1]);
      out.elem_type = x->elem_type;
    } else if (op == "GlobalAveragePool" || op == "GlobalMaxPool" ||
               op == "QLinearGlobalAveragePool") {
      if (!Known(x) || x->shape.size() < 3) continue;
      const bool channels_last = AttrInt(n, "channels_last", 0) != 0;
      out.shape = {x->shape[0]};
      if (channels_last) {
        for (size_t i = 1; i + 1 < x->shape.size(); ++i) out.shape.push_back(1);
        out.shape.push_back(x->shape.back());
      } else {
        out.shape.push_back(x->shape[1]);
        for (size_t i = 2; i < x->shape.size(); ++i) out.shape.push_back(1);
      }
      out.elem_type = op == "QLinearGlobalAveragePool" ? type_of(n, 4, x->elem_type) : x->elem_type;
    } else if (op == "Relu" || op == "Clip" || op == "Identity" || op == "Dropout" ||
               op == "Sigmoid" || op == "Add" || op == "Sum" || op == "Mul" ||
               op == "QLinearAdd" || op == "QLinearMul" || op == "QuantizeLinear" ||
               op == "DequantizeLinear") {
      if (!Known(x)) continue;
      out.shape = x->shape;
      if (op == "QuantizeLinear") {
        out.elem_type = type_of(n, 2, kUint8);
      } else if (op == "DequantizeLinear") {
        out.elem_type = kFloat;
      } else if (op == "QLinearAdd" || op == "QLinearMul") {
        out.elem_type = type_of(n, 7, x->elem_type);
      } else {
        out.elem_type = x->elem_type;
      }
    } else if (op == "Flatten") {
      if (!Known(x)) continue;
      int64_t axis = AttrInt(n, "axis", 1);
      if (axis < 0) axis += static_cast<int64_t>(x->shape.size());
      int64_t a = 1, b = 1;
      for (size_t i = 0; i < x->shape.size(); ++i) (static_cast<int64_t>(i) < axis ? a : b) *= x->shape[i];
      out.shape = {a, b};
      out.elem_type = x->elem_type;
    } else if (op == "Reshape") {
      const onnx::TensorProto* target = n.input_size() > 1 ? Initializer(n.input(1)) : nullptr;
      if (!Known(x) || target == nullptr) continue;
      absl::StatusOr<std::vector<int64_t>> dims = IntegerData(*target);
      if (!dims.ok()) continue;
      int64_t total = 1, known = 1, infer = -1;
      for (int64_t d : x->shape) total *= d;
      for (size_t i = 0; i < dims->size(); ++i) {
        int64_t d = (*dims)[i];
        if (d == 0 && i < x->shape.size()) d = x->shape[i];
        if (d == -1) {
          infer = static_cast<int64_t>(i);
        } else {
          known *= d;
        }
        out.shape.push_back(d);
      }
      if (infer >= 0 && known > 0) out.shape[infer] = total / known;
      out.elem_type = x->elem_type;
    } else if (op == "Gemm" || op == "QGemm") {
      const ValueInfo* b = in(n, op == "QGemm" ? 3 : 1);
      if (!Known(x) || !Known(b) || x->shape.size() != 2 || b->shape.size() != 2) continue;
      const bool ta = AttrInt(n, "transA", 0) != 0, tb = AttrInt(n, "transB", 0) != 0;
      out.shape = {ta ? x->shape[1] : x->shape[0], tb ? b->shape[0] : b->shape[1]};
      out.elem_type = op == "Gemm" ? kFloat : (n.input_size() > 8 ? type_of(n, 8, kFloat) : kFloat);
    } else if (op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul") {
      const ValueInfo* b = in(n, op == "QLinearMatMul" ? 3 : 1);
      if (!Known(x) || !Known(b) || x->shape.size() < 2 || b->shape.size() != 2) continue;
      out.shape = x->shape;
      out.shape.back() = b->shape[1];
      out.elem_type = op == "MatMul" ? kFloat : op == "MatMulInteger" ? kInt32 : type_of(n, 7, kUint8);
    } else if (op == "Transpose") {
      if (!Known(x)) continue;
      std::vector<int64_t> perm = AttrInts(n, "perm");
      if (perm.empty()) {
        for (size_t i = x->shape.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
      }
      for (int64_t p : perm) out.shape.push_back(x->shape[p]);
      out.elem_type = x->elem_type;
    } else {
      continue;
    }
    out.has_shape = true;
    bool valid = true;
    for (int64_t d : out.shape) valid &= d > 0;
    if (valid) info_[out_name] = out;
  }
}

kernels::Activation ActivationOf(const OnnxGraph& g, const onnx::NodeProto& n) {
  if (n.op_type() == "Relu") return kernels::Activation::kRelu;
  if (n.op_type() != "Clip") return kernels::Activation::kNone;
  float lo = OnnxGraph::AttrFloat(n, "min", -3.4e38f);
  float hi = OnnxGraph::AttrFloat(n, "max", 3.4e38f);
  for (int i : {1, 2}) {
    if (i >= n.input_size() || n.input(i).empty()) continue;
    const onnx::TensorProto* t = g.Initializer(n.input(i));
    if (t == nullptr) return kernels::Activation::kNone;
    absl::StatusOr<std::vector<float>> v = FloatData(*t);
    if (!v.ok() || v->size() != 1) return kernels::Activation::kNone;
    (i == 1 ? lo : hi) = (*v)[0];
  }
  if (lo == 0 && hi == 6) return kernels::Activation::kRelu6;
  if (lo == 0 && hi > 3e38f) return kernels::Activation::kRelu;
  return kernels::Activation::kNone;
}

}  // namespace qtune::tuner::onnx_graph
