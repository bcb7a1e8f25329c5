#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/convert.h"
#include "qtune/kernels/buffer.h"
#include "qtune/kernels/reference.h"
#include "qtune/kernels/threads.h"
#include "runtime/ops.h"

namespace qtune::runtime {
namespace {

using Kind = proto::ModelNode::Kind;

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Tensor {
  std::string name;
  proto::ElemType type = proto::ELEM_TYPE_UNSPECIFIED;
  std::vector<int64_t> shape;
  float scale = 0;
  int32_t zero_point = 0;
  int64_t elements = 0;
  size_t bytes = 0;
  bool defined = false;   // produced by a node (or the graph input)
  int last_reader = -1;   // step index
  int buffer = -1;        // -1: the caller's input bytes
};

enum class StepKind {
  kConv,
  kQuantizeEntry,   // NCHW f32 graph input -> NHWC int8 (a QUANTIZE of the input)
  kTransposeEntry,  // NCHW f32 graph input -> NHWC f32
  kQuantize,
  kDequantize,
  kAdd,
  kMaxPool,
  kGlobalAvgPool,
  kClamp,           // RELU, CLIP
  kCopy,            // RESHAPE
};

struct Step {
  NodeInfo info;
  int node = -1;  // index of `info` in nodes()
  StepKind kind = StepKind::kCopy;
  std::vector<int> inputs;
  int output = -1;
  // kConv
  kernels::OpSpec op;
  kernels::OpData data;  // until the kernels are built; in reference mode for good
  kernels::Config config;
  std::optional<kernels::Config> alternative_config;
  std::unique_ptr<kernels::Kernel> kernel;
  std::unique_ptr<kernels::Kernel> alternative;  // Settle() may choose it
  bool use_alternative = false;
  // kConv with a fused residual add (data.residual_add, inputs[1] the
  // residual): the ADD node's row in nodes(), after the convolution's.
  std::optional<NodeInfo> fused_add;
  // others
  QuantizeArgs quantize;
  AddArgs add;
  PoolArgs pool;
  AvgPoolArgs avg;
  QType qtype;
  int32_t qlo = 0, qhi = 0;
  float flo = -kInf, fhi = kInf;
  int n = 1, c = 1, hw = 1;  // entry steps, f32 global average pool
};

bool IsQuantized(proto::ElemType t) { return t == proto::U8 || t == proto::S8; }

size_t ElementBytes(proto::ElemType t) { return t == proto::F32 ? 4 : 1; }

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// Largest value of the `threads` knob <= cap for which the config stays
// valid; the config unchanged when there is no such knob or no cap.
kernels::Config CapThreads(const kernels::ConfigSpace& space, kernels::Config config, int cap,
                           bool raise) {
  const kernels::Knob* knob = space.FindKnob("threads");
  if (knob == nullptr || cap <= 0) return config;
  std::vector<int64_t> values = knob->values;
  std::sort(values.rbegin(), values.rend());
  const int64_t current = config["threads"];
  for (int64_t v : values) {
    if (v > cap || (!raise && v > current)) continue;
    kernels::Config candidate = config;
    candidate["threads"] = v;
    if (space.IsValid(candidate)) return candidate;
  }
  return config;
}

}  // namespace

struct Executor::Impl {
  std::vector<Tensor> tensors;
  std::map<std::string, int> index;
  std::vector<Step> steps;
  std::vector<NodeInfo> infos;
  std::vector<kernels::AlignedBuffer> buffers;
  int input = -1;
  int output = -1;
  bool reference = false;

  void* Data(int t, const std::string& input_bytes) {
    const Tensor& tensor = tensors[t];
    if (tensor.buffer < 0) return const_cast<char*>(input_bytes.data());
    return buffers[tensor.buffer].data();
  }

  absl::Status Validate(const proto::ModelGraph& graph, const ExecutorOptions& options);
  absl::Status AddNode(const proto::ModelNode& node, const ExecutorOptions& options);
  absl::Status AddConv(const proto::ModelNode& node, Step& step, const ExecutorOptions& options);
  std::vector<int> FindResidualAdds() const;
  absl::Status BuildKernels(const ExecutorOptions& options);
  void Plan();
  void RunStep(Step& step, const std::string& input);
};

namespace {

absl::Status NodeError(const std::string& name, Kind kind, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("model node ", name.empty() ? "(unnamed)" : name,
                                                 " (", proto::ModelNode::Kind_Name(kind), "): ",
                                                 why));
}

absl::Status NodeError(const proto::ModelNode& node, const std::string& why) {
  return NodeError(node.name(), node.kind(), why);
}

// The residual add of an ADD (its arguments `a`) fused into the convolution
// that produces its input `slot`.
kernels::ResidualAdd FusedAdd(const AddArgs& a, int slot) {
  kernels::ResidualAdd fused;
  fused.conv_ratio = slot == 0 ? a.a_ratio : a.b_ratio;
  fused.residual_zero_point = slot == 0 ? a.b_zero_point : a.a_zero_point;
  fused.residual_ratio = slot == 0 ? a.b_ratio : a.a_ratio;
  fused.zero_point = a.y_zero_point;
  fused.lo = a.lo;
  fused.hi = a.hi;
  return fused;
}

}  // namespace

absl::Status Executor::Impl::Validate(const proto::ModelGraph& graph,
                                      const ExecutorOptions& options) {
  if (graph.nodes_size() == 0) return absl::InvalidArgumentError("the model has no nodes");
  if (graph.nodes_size() > kMaxNodes) {
    return absl::InvalidArgumentError(absl::StrCat("the model has ", graph.nodes_size(),
                                                   " nodes; at most ", kMaxNodes));
  }
  for (const proto::TensorSpec& spec : graph.tensors()) {
    if (spec.name().empty() || index.count(spec.name())) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", spec.name(), "' is unnamed or declared twice"));
    }
    Tensor t;
    t.name = spec.name();
    t.type = spec.type();
    if (t.type != proto::F32 && !IsQuantized(t.type)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, " has no element type"));
    }
    if (spec.shape_size() < 1 || spec.shape_size() > 4) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, ": rank 1 to 4 expected"));
    }
    t.elements = 1;
    for (int64_t d : spec.shape()) {
      if (d < 1 || d > kMaxTensorBytes) {
        return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, ": bad shape"));
      }
      t.shape.push_back(d);
      t.elements *= d;
      if (t.elements > kMaxTensorBytes) {
        return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, " is too large"));
      }
    }
    t.bytes = static_cast<size_t>(t.elements) * ElementBytes(t.type);
    if (t.bytes > static_cast<size_t>(kMaxTensorBytes)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, " is too large"));
    }
    if (IsQuantized(t.type)) {
      const QType q{t.type == proto::S8};
      if (!(spec.scale() > 0) || !std::isfinite(spec.scale()) || spec.zero_point() < q.min() ||
          spec.zero_point() > q.max()) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor ", t.name, ": bad quantisation (scale ", spec.scale(),
                         ", zero point ", spec.zero_point(), ")"));
      }
      t.scale = spec.scale();
      t.zero_point = spec.zero_point();
    }
    index[t.name] = static_cast<int>(tensors.size());
    tensors.push_back(std::move(t));
  }
  auto in = index.find(graph.input());
  if (in == index.end()) return absl::InvalidArgumentError("the model's input is not a tensor");
  input = in->second;
  Tensor& x = tensors[input];
  if (x.type != proto::F32 || (x.shape.size() != 4 && x.shape.size() != 2)) {
    return absl::InvalidArgumentError("the model's input must be F32, NCHW or [N, C]");
  }
  x.defined = true;

  // The graph input is read by one entry step; a QUANTIZE that is its only
  // reader does the layout change itself.
  int readers = 0;
  const proto::ModelNode* only = nullptr;
  for (const proto::ModelNode& node : graph.nodes()) {
    for (const std::string& name : node.inputs()) {
      if (name == graph.input()) {
        ++readers;
        only = &node;
      }
    }
  }
  if (readers == 0) return absl::InvalidArgumentError("no node reads the model's input");
  const bool fused_entry = readers == 1 && only->kind() == proto::ModelNode::QUANTIZE;
  if (!fused_entry) {
    // An internal NHWC copy of the input, which the nodes read instead.
    Tensor nhwc = x;
    nhwc.name = graph.input() + ":nhwc";
    if (x.shape.size() == 4) nhwc.shape = {x.shape[0], x.shape[2], x.shape[3], x.shape[1]};
    nhwc.defined = true;
    const int id = static_cast<int>(tensors.size());
    tensors.push_back(nhwc);
    Step step;
    step.info.name = nhwc.name;
    step.kind = StepKind::kTransposeEntry;
    step.inputs = {input};
    step.output = id;
    step.n = static_cast<int>(x.shape[0]);
    step.c = static_cast<int>(x.shape[1]);
    step.hw = x.shape.size() == 4 ? static_cast<int>(x.shape[2] * x.shape[3]) : 1;
    steps.push_back(std::move(step));
    index[graph.input()] = id;  // readers of the input read the copy
  }
  for (const proto::ModelNode& node : graph.nodes()) {
    if (absl::Status s = AddNode(node, options); !s.ok()) return s;
  }
  auto out = index.find(graph.output());
  if (out == index.end() || !tensors[out->second].defined) {
    return absl::InvalidArgumentError("the model's output is not produced by any node");
  }
  output = out->second;
  if (output == input) return absl::InvalidArgumentError("the model's output is its input");
  return absl::OkStatus();
}

absl::Status Executor::Impl::AddNode(const proto::ModelNode& node,
                                     const ExecutorOptions& options) {
  Step step;
  step.info.name = node.name();
  step.info.kind = node.kind();
  auto expect_inputs = [&](int n) -> absl::Status {
    if (node.inputs_size() != n) {
      return NodeError(node, absl::StrCat(n, " input(s) expected, ", node.inputs_size(), " given"));
    }
    for (const std::string& name : node.inputs()) {
      auto it = index.find(name);
      if (it == index.end() || !tensors[it->second].defined) {
        return NodeError(node, absl::StrCat("input ", name, " is not defined before it"));
      }
      step.inputs.push_back(it->second);
    }
    return absl::OkStatus();
  };
  auto out = index.find(node.output());
  if (out == index.end()) return NodeError(node, absl::StrCat("output ", node.output(), " is not a tensor"));
  if (tensors[out->second].defined) return NodeError(node, absl::StrCat("output ", node.output(), " is written twice"));
  step.output = out->second;
  Tensor& y = tensors[step.output];

  switch (node.kind()) {
    case proto::ModelNode::CONV: {
      if (absl::Status s = expect_inputs(1); !s.ok()) return s;
      if (absl::Status s = AddConv(node, step, options); !s.ok()) return s;
      break;
    }
    case proto::ModelNode::QUANTIZE: {
      if (absl::Status s = expect_inputs(1); !s.ok()) return s;
      const Tensor& x = tensors[step.inputs[0]];
      if (x.type != proto::F32 || !IsQuantized(y.type)) return NodeError(node, "F32 -> U8/S8 expected");
      if (x.elements != y.elements) return NodeError(node, "input and output sizes differ");
      step.quantize = {y.scale, y.zero_point, QType{y.type == proto::S8}};
      if (step.inputs[0] == input) {
        step.kind = StepKind::kQuantizeEntry;
        step.n = static_cast<int>(x.shape[0]);
        step.c = static_cast<int>(x.shape[1]);
        step.hw = x.shape.size() == 4 ? static_cast<int>(x.shape[2] * x.shape[3]) : 1;
        std::vector<int64_t> nhwc = x.shape;
        if (x.shape.size() == 4) nhwc = {x.shape[0], x.shape[2], x.shape[3], x.shape[1]};
        if (y.shape != nhwc) {
          return NodeError(node, absl::StrCat("the input's NHWC shape ", ShapeText(nhwc),
                                              " expected, not ", ShapeText(y.shape)));
        }
      } else {
        step.kind = StepKind::kQuantize;
        if (y.shape != x.shape) return NodeError(node, "input and output shapes differ");
      }
      break;
    }
    case proto::ModelNode::DEQUANTIZE: {
      if (absl::Status s = expect_inputs(1); !s.ok()) return s;
      const Tensor& x = tensors[step.inputs[0]];
      if (!IsQuantized(x.type) || y.type != proto::F32) return NodeError(node, "U8/S8 -> F32 expected");
      if (y.shape != x.shape) return NodeError(node, "input and output shapes differ");
      step.kind = StepKind::kDequantize;
      step.quantize = {x.scale, x.zero_point, QType{x.type == proto::S8}};
      break;
    }
    case proto::ModelNode::ADD: {
      if (absl::Status s = expect_inputs(2); !s.ok()) return s;
      const Tensor& a = tensors[step.inputs[0]];
      const Tensor& b = tensors[step.inputs[1]];
      if (a.shape != b.shape || a.shape != y.shape) return NodeError(node, "shapes differ");
      if (a.type != b.type || a.type != y.type) return NodeError(node, "element types differ");
      step.kind = StepKind::kAdd;
      if (node.activation() != proto::ACTIVATION_NONE && node.activation() != proto::RELU &&
          node.activation() != proto::RELU6) {
        return NodeError(node, "unknown activation");
      }
      if (IsQuantized(y.type)) {
        const QType q{y.type == proto::S8};
        step.add.a_zero_point = a.zero_point;
        step.add.b_zero_point = b.zero_point;
        step.add.y_zero_point = y.zero_point;
        step.add.a_ratio = a.scale / y.scale;
        step.add.b_ratio = b.scale / y.scale;
        step.add.type = q;
        step.add.lo = q.min();
        step.add.hi = q.max();
        if (node.activation() != proto::ACTIVATION_NONE) step.add.lo = y.zero_point;
        if (node.activation() == proto::RELU6) {
          const float six = std::nearbyint(6.0f / y.scale) + static_cast<float>(y.zero_point);
          step.add.hi = static_cast<int32_t>(std::min(six, static_cast<float>(q.max())));
        }
      } else {
        step.flo = node.activation() == proto::ACTIVATION_NONE ? -kInf : 0.0f;
        step.fhi = node.activation() == proto::RELU6 ? 6.0f : kInf;
      }
      break;
    }
    case proto::ModelNode::MAX_POOL: {
      if (absl::Status s = expect_inputs(1); !s.ok()) return s;
      const Tensor& x = tensors[step.inputs[0]];
      if (x.shape.size() != 4 || y.shape.size() != 4) return NodeError(node, "NHWC tensors expected");
      if (x.type != y.type) return NodeError(node, "element types differ");
      if (IsQuantized(x.type) && (x.scale != y.scale || x.zero_point != y.zero_point)) {
        return NodeError(node, "input and output quantisation differ");
      }
      PoolArgs& p = step.pool;
      p.n = static_cast<int>(x.shape[0]);
      p.h = static_cast<int>(x.shape[1]);
      p.w = static_cast<int>(x.shape[2]);
      p.c = static_cast<int>(x.shape[3]);
      p.kernel_h = node.kernel_h();
      p.kernel_w = node.kernel_w();
      p.stride_h = node.stride_h();
      p.stride_w = node.stride_w();
      p.pad_top = node.pad_top();
      p.pad_left = node.pad_left();
      const int pad_bottom = node.pad_bottom(), pad_right = node.pad_right();
      if (p.kernel_h < 1 || p.kernel_w < 1 || p.kernel_h > 64 || p.kernel_w > 64 ||
          p.stride_h < 1 || p.stride_w < 1 || p.pad_top < 0 || p.pad_left < 0 ||
          pad_bottom < 0 || pad_right < 0 || p.pad_top >= p.kernel_h ||
          pad_bottom >= p.kernel_h || p.pad_left >= p.kernel_w || pad_right >= p.kernel_w) {
        return NodeError(node, "bad window (kernel 1..64, strides >= 1, pads below the kernel)");
      }
      const int64_t oh = (p.h + p.pad_top + pad_bottom - p.kernel_h) / p.stride_h + 1;
      const int64_t ow = (p.w + p.pad_left + pad_right - p.kernel_w) / p.stride_w + 1;
      if (p.h + p.pad_top + pad_bottom < p.kernel_h || p.w + p.pad_left + pad_right < p.kernel_w ||
          y.shape != std::vector<int64_t>{p.n, oh, ow, p.c}) {
        return NodeError(node, absl::StrCat("output ", ShapeText(y.shape), " does not follow from ",
                                            ShapeText(x.shape), " and the window"));
      }
      p.out_h = static_cast<int>(oh);
      p.out_w = static_cast<int>(ow);
      step.qtype = QType{x.type == proto::S8};
      step.kind = StepKind::kMaxPool;
      break;
    }
    case proto::ModelNode::GLOBAL_AVG_POOL: {
      if (absl::Status s = expect_inputs(1); !s.ok()) return s;
      const Tensor& x = tensors[step.inputs[0]];
      if (x.shape.size() != 4 || x.type != y.type) return NodeError(node, "an NHWC input of the output's type expected");
      if (y.elements != x.shape[0] * x.shape[3] || y.shape[0] != x.shape[0] ||
          y.shape.back() != x.shape[3]) {
        return NodeError(node, "output [N,1,1,C] or [N,C] expected");
      }
      step.n = static_cast<int>(x.shape[0]);
      step.hw = static_cast<int>(x.shape[1] * x.shape[2]);
      step.c = static_cast<int>(x.shape[3]);
      if (step.hw > 65536) return NodeError(node, "more than 65536 pixels");
      if (IsQuantized(x.type)) {
        step.avg = {step.n, step.hw, step.c, x.zero_point, y.zero_point,
                    x.scale / (y.scale * static_cast<float>(step.hw)), QType{x.type == proto::S8}};
      }
      step.kind = StepKind::kGlobalAvgPool;
      break;
    }
    case proto::ModelNode::RELU:
    case proto::ModelNode::CLIP: {
      if (absl::Status s = expect_inputs(1); !s.ok()) return s;
      const Tensor& x = tensors[step.inputs[0]];
      if (x.type != y.type || x.shape != y.shape) return NodeError(node, "input and output differ");
      float lo = 0, hi = kInf;
      if (node.kind() == proto::ModelNode::CLIP) {
        lo = node.clip_min();
        hi = node.clip_max();
        if (std::isnan(lo) || std::isnan(hi) || lo > hi) return NodeError(node, "bad clip bounds");
      }
      if (IsQuantized(x.type)) {
        if (x.scale != y.scale || x.zero_point != y.zero_point) {
          return NodeError(node, "input and output quantisation differ");
        }
        const QType q{x.type == proto::S8};
        auto level = [&](float v) {
          const float l = std::nearbyint(std::clamp(v / x.scale, -1e6f, 1e6f)) + x.zero_point;
          return static_cast<int32_t>(std::clamp(l, static_cast<float>(q.min()), static_cast<float>(q.max())));
        };
        step.qlo = level(lo);
        step.qhi = std::isinf(hi) ? q.max() : level(hi);
        step.qtype = q;
      }
      step.flo = lo;
      step.fhi = hi;
      step.kind = StepKind::kClamp;
      break;
    }
    case proto::ModelNode::RESHAPE: {
      if (absl::Status s = expect_inputs(1); !s.ok()) return s;
      const Tensor& x = tensors[step.inputs[0]];
      if (x.type != y.type || x.elements != y.elements) return NodeError(node, "element type or count differs");
      if (IsQuantized(x.type) && (x.scale != y.scale || x.zero_point != y.zero_point)) {
        return NodeError(node, "input and output quantisation differ");
      }
      step.kind = StepKind::kCopy;
      break;
    }
    default:
      return NodeError(node, "unknown node kind");
  }
  y.defined = true;
  steps.push_back(std::move(step));
  return absl::OkStatus();
}

absl::Status Executor::Impl::AddConv(const proto::ModelNode& node, Step& step,
                                     const ExecutorOptions& options) {
  absl::StatusOr<kernels::OpSpec> op = FromProto(node.op());
  if (!op.ok()) return NodeError(node, std::string(op.status().message()));
  const Tensor& x = tensors[step.inputs[0]];
  const Tensor& y = tensors[step.output];
  const bool int8 = op->dtype == kernels::DType::kInt8;
  const proto::ElemType act = !int8 ? proto::F32 : op->signed_io ? proto::S8 : proto::U8;
  if (x.type != act || y.type != act) {
    return NodeError(node, absl::StrCat("input and output of type ", proto::ElemType_Name(act),
                                        " expected"));
  }
  if (x.elements != op->input_elements() || y.elements != op->output_elements()) {
    return NodeError(node, absl::StrCat("tensors ", ShapeText(x.shape), " -> ",
                                        ShapeText(y.shape), " do not fit the op"));
  }
  const bool dense = op->kind == kernels::OpKind::kDense;
  const std::vector<int64_t> want_x =
      dense ? std::vector<int64_t>{op->n, op->c} : std::vector<int64_t>{op->n, op->h, op->w, op->c};
  const std::vector<int64_t> want_y =
      dense ? std::vector<int64_t>{op->n, op->k}
            : std::vector<int64_t>{op->n, op->out_h(), op->out_w(), op->k};
  if ((x.shape != want_x && !dense) || (y.shape != want_y && !dense)) {
    return NodeError(node, absl::StrCat("NHWC tensors ", ShapeText(want_x), " -> ",
                                        ShapeText(want_y), " expected"));
  }
  kernels::OpData data;
  const size_t weights = static_cast<size_t>(op->weight_elements());
  const int k = op->k;
  if (int8) {
    if (node.weights().size() != weights) return NodeError(node, "weights of the wrong size");
    data.weights_s8.resize(weights);
    std::memcpy(data.weights_s8.data(), node.weights().data(), weights);
    if (node.bias_s32_size() != k || node.requant_scale_size() != k) {
      return NodeError(node, "one bias and one requantisation scale per output channel expected");
    }
    data.bias_s32.assign(node.bias_s32().begin(), node.bias_s32().end());
    for (float s : node.requant_scale()) {
      if (!(s > 0) || !std::isfinite(s)) return NodeError(node, "bad requantisation scale");
    }
    data.quant.requant_scale.assign(node.requant_scale().begin(), node.requant_scale().end());
    data.quant.input_zero_point = node.input_zero_point();
    data.quant.output_zero_point = node.output_zero_point();
    data.quant.output_min = node.output_min();
    data.quant.output_max = node.output_max();
    if (node.input_zero_point() != x.zero_point || node.output_zero_point() != y.zero_point) {
      return NodeError(node, "zero points differ from the tensors'");
    }
  } else {
    if (node.weights().size() != weights * 4) return NodeError(node, "weights of the wrong size");
    data.weights_f32.resize(weights);
    std::memcpy(data.weights_f32.data(), node.weights().data(), weights * 4);
    if (node.bias_f32_size() != k && node.bias_f32_size() != 0) {
      return NodeError(node, "one bias per output channel expected");
    }
    data.bias_f32.assign(node.bias_f32().begin(), node.bias_f32().end());
    data.bias_f32.resize(k, 0.0f);
  }
  if (absl::Status s = kernels::ValidateOpData(*op, data); !s.ok()) {
    return NodeError(node, std::string(s.message()));
  }
  step.kind = StepKind::kConv;
  step.op = *op;
  step.data = std::move(data);
  if (options.reference) {
    step.info.kernel = "reference";
    return absl::OkStatus();
  }
  // The configs now; the kernels once fusion is decided (BuildKernels).
  absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(*op, options.target);
  if (!space.ok()) return NodeError(node, std::string(space.status().message()));
  if (auto given = options.configs.find(node.name()); given != options.configs.end()) {
    step.config = CapThreads(*space, given->second, options.threads, /*raise=*/false);
  } else {
    step.config = CapThreads(*space, space->default_config(), options.threads, /*raise=*/true);
    step.info.default_config = true;
  }
  if (auto alt = options.alternatives.find(node.name()); alt != options.alternatives.end()) {
    step.alternative_config = CapThreads(*space, alt->second, options.threads, /*raise=*/false);
    step.info.has_alternative = true;
  }
  return absl::OkStatus();
}

// An int8 CONV whose output only an ADD reads (not the graph output) can run
// that ADD in its epilogue: the ADD's output becomes the step's, its other
// input the residual (kernel.h's ResidualAdd). The fused step keeps the
// convolution's place, so the residual must be computed before it: where
// both inputs are such convolutions, the later one fuses. The fused sum is
// the convolution's term plus the residual's: the ADD's two terms, in either
// order (binary32 addition commutes), so the result equals the unfused
// pair's bit for bit.
// Returns, per step, the ADD step its convolution would fuse (or -1).
std::vector<int> Executor::Impl::FindResidualAdds() const {
  std::vector<int> fuse(steps.size(), -1);
  std::vector<int> readers(tensors.size(), 0), producer(tensors.size(), -1);
  for (size_t i = 0; i < steps.size(); ++i) {
    for (int t : steps[i].inputs) ++readers[t];
    producer[steps[i].output] = static_cast<int>(i);
  }
  for (size_t j = 0; j < steps.size(); ++j) {
    const Step& add = steps[j];
    if (add.kind != StepKind::kAdd || !IsQuantized(tensors[add.output].type)) continue;
    int best = -1;
    for (int slot = 0; slot < 2; ++slot) {
      const int t = add.inputs[slot];
      const int i = producer[t];
      if (i < 0 || readers[t] != 1 || t == output || steps[i].kind != StepKind::kConv ||
          steps[i].op.dtype != kernels::DType::kInt8 || producer[add.inputs[1 - slot]] >= i) {
        continue;
      }
      best = std::max(best, i);
    }
    if (best >= 0) fuse[best] = static_cast<int>(j);
  }
  return fuse;
}

// Creates every CONV step's kernels (fast mode). A convolution of
// FindResidualAdds() whose kernels (primary and alternative) accept the
// residual add replaces its ADD step; one whose kernels decline
// (UNIMPLEMENTED, or any other failure) runs with plain kernels, and the ADD
// on its own.
absl::Status Executor::Impl::BuildKernels(const ExecutorOptions& options) {
  const std::vector<int> fuse =
      options.fuse ? FindResidualAdds() : std::vector<int>(steps.size(), -1);
  std::vector<bool> erased(steps.size(), false);
  for (size_t i = 0; i < steps.size(); ++i) {
    Step& step = steps[i];
    if (step.kind != StepKind::kConv) continue;
    auto make = [&](const kernels::Config& config, const kernels::OpData& data,
                    std::unique_ptr<kernels::Kernel>& kernel,
                    std::unique_ptr<kernels::Kernel>& alternative) -> absl::Status {
      absl::StatusOr<std::unique_ptr<kernels::Kernel>> made =
          kernels::CreateKernel(step.op, config, data, options.target);
      if (!made.ok()) return made.status();
      if (step.alternative_config) {
        absl::StatusOr<std::unique_ptr<kernels::Kernel>> second =
            kernels::CreateKernel(step.op, *step.alternative_config, data, options.target);
        if (!second.ok()) {
          return absl::Status(second.status().code(),
                              absl::StrCat("alternative config: ", second.status().message()));
        }
        alternative = *std::move(second);
      }
      kernel = *std::move(made);
      return absl::OkStatus();
    };
    if (const int j = fuse[i]; j >= 0) {
      Step& add = steps[j];
      const int slot = add.inputs[0] == step.output ? 0 : 1;
      kernels::OpData data = step.data;
      data.residual_add = FusedAdd(add.add, slot);
      if (make(step.config, data, step.kernel, step.alternative).ok()) {
        step.inputs.push_back(add.inputs[1 - slot]);
        step.output = add.output;
        step.fused_add = add.info;
        step.fused_add->fused_into = step.info.name;
        step.info.fused_add = add.info.name;
        erased[j] = true;
      }
    }
    if (step.kernel == nullptr) {
      if (absl::Status s = make(step.config, step.data, step.kernel, step.alternative); !s.ok()) {
        return NodeError(step.info.name, step.info.kind, std::string(s.message()));
      }
    }
    step.info.kernel = step.kernel->name();
    step.data = kernels::OpData();  // the kernels hold what they need
  }
  std::vector<Step> kept;
  kept.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!erased[i]) kept.push_back(std::move(steps[i]));
  }
  steps = std::move(kept);
  return absl::OkStatus();
}

void Executor::Impl::Plan() {
  for (size_t i = 0; i < steps.size(); ++i) {
    for (int t : steps[i].inputs) tensors[t].last_reader = static_cast<int>(i);
  }
  // Free buffers by index; a step's output takes the smallest free buffer
  // that fits (else a new one), then its inputs read for the last time are
  // freed: an output never shares memory with its inputs.
  std::vector<int> free;
  std::vector<size_t> sizes;
  for (size_t i = 0; i < steps.size(); ++i) {
    Tensor& y = tensors[steps[i].output];
    int best = -1;
    for (size_t f = 0; f < free.size(); ++f) {
      if (sizes[free[f]] >= y.bytes && (best < 0 || sizes[free[f]] < sizes[free[best]])) {
        best = static_cast<int>(f);
      }
    }
    if (best >= 0) {
      y.buffer = free[best];
      free.erase(free.begin() + best);
    } else {
      y.buffer = static_cast<int>(sizes.size());
      sizes.push_back(y.bytes);
    }
    for (int t : steps[i].inputs) {
      Tensor& x = tensors[t];
      if (x.last_reader == static_cast<int>(i) && t != output && x.buffer >= 0 &&
          std::find(free.begin(), free.end(), x.buffer) == free.end()) {
        free.push_back(x.buffer);
      }
    }
  }
  for (size_t size : sizes) buffers.emplace_back(std::max<size_t>(size, 64));
}

void Executor::Impl::RunStep(Step& step, const std::string& input_bytes) {
  const void* x = step.inputs.empty() ? nullptr : Data(step.inputs[0], input_bytes);
  void* y = Data(step.output, input_bytes);
  const Tensor& out = tensors[step.output];
  const auto* xb = static_cast<const uint8_t*>(x);
  const auto* xf = static_cast<const float*>(x);
  auto* yb = static_cast<uint8_t*>(y);
  auto* yf = static_cast<float*>(y);
  const size_t count = static_cast<size_t>(out.elements);
  const bool q = IsQuantized(out.type);
  switch (step.kind) {
    case StepKind::kConv: {
      // Errors cannot happen for a validated graph; a kernel's own failure
      // leaves the output as it was.
      if (reference) {
        (void)kernels::RunReference(step.op, step.data, x, y);
        break;
      }
      kernels::Kernel& kernel = *(step.use_alternative ? step.alternative : step.kernel);
      if (step.fused_add) {
        (void)kernel.ExecuteWithResidual(x, Data(step.inputs[1], input_bytes), y);
      } else {
        (void)kernel.Execute(x, y);
      }
      break;
    }
    case StepKind::kQuantizeEntry:
      if (reference) {
        reference::QuantizeNchwToNhwc(xf, step.n, step.c, step.hw, step.quantize, yb);
      } else {
        fast::QuantizeNchwToNhwc(xf, step.n, step.c, step.hw, step.quantize, yb);
      }
      break;
    case StepKind::kTransposeEntry:
      fast::TransposeNchwToNhwc(xf, step.n, step.c, step.hw, yf);
      break;
    case StepKind::kQuantize:
      (reference ? reference::Quantize : fast::Quantize)(xf, count, step.quantize, yb);
      break;
    case StepKind::kDequantize:
      (reference ? reference::Dequantize : fast::Dequantize)(xb, count, step.quantize, yf);
      break;
    case StepKind::kAdd: {
      const void* b = Data(step.inputs[1], input_bytes);
      if (q) {
        (reference ? reference::AddQ : fast::AddQ)(xb, static_cast<const uint8_t*>(b), count,
                                                   step.add, yb);
      } else {
        (reference ? reference::AddF32 : fast::AddF32)(xf, static_cast<const float*>(b), count,
                                                       step.flo, step.fhi, yf);
      }
      break;
    }
    case StepKind::kMaxPool:
      if (q) {
        (reference ? reference::MaxPoolQ : fast::MaxPoolQ)(xb, step.pool, step.qtype, yb);
      } else {
        (reference ? reference::MaxPoolF32 : fast::MaxPoolF32)(xf, step.pool, yf);
      }
      break;
    case StepKind::kGlobalAvgPool:
      if (q) {
        (reference ? reference::GlobalAvgPoolQ : fast::GlobalAvgPoolQ)(xb, step.avg, yb);
      } else {
        (reference ? reference::GlobalAvgPoolF32 : fast::GlobalAvgPoolF32)(xf, step.n, step.hw,
                                                                           step.c, yf);
      }
      break;
    case StepKind::kClamp:
      if (q) {
        (reference ? reference::ClampQ : fast::ClampQ)(xb, count, step.qlo, step.qhi, step.qtype, yb);
      } else {
        (reference ? reference::ClampF32 : fast::ClampF32)(xf, count, step.flo, step.fhi, yf);
      }
      break;
    case StepKind::kCopy:
      std::memcpy(y, x, out.bytes);
      break;
  }
}

Executor::Executor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Executor::~Executor() = default;

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(const proto::ModelGraph& graph,
                                                           const ExecutorOptions& options) {
  if (options.threads < 0) return absl::InvalidArgumentError("threads must be >= 0");
  auto impl = std::make_unique<Impl>();
  impl->reference = options.reference;
  if (absl::Status s = impl->Validate(graph, options); !s.ok()) return s;
  if (!options.reference) {
    if (absl::Status s = impl->BuildKernels(options); !s.ok()) return s;
  }
  impl->Plan();
  for (Step& s : impl->steps) {
    s.node = static_cast<int>(impl->infos.size());
    impl->infos.push_back(s.info);
    if (s.fused_add) impl->infos.push_back(*s.fused_add);
  }
  return std::unique_ptr<Executor>(new Executor(std::move(impl)));
}

absl::Status Executor::Run(const std::string& input, std::string* output,
                           std::vector<double>* node_us) {
  Impl& m = *impl_;
  if (input.size() != m.tensors[m.input].bytes) {
    return absl::InvalidArgumentError(absl::StrCat("the model takes ", m.tensors[m.input].bytes,
                                                   " input bytes (F32 ", ShapeText(m.tensors[m.input].shape),
                                                   " NCHW), not ", input.size()));
  }
  if (node_us != nullptr) node_us->assign(m.infos.size(), 0.0);
  // One layer after another: waking a sleeping worker per layer would cost
  // more than small layers gain from it (kernels/threads.h).
  const kernels::WorkersStayAwake awake;
  for (Step& step : m.steps) {
    if (node_us == nullptr) {
      m.RunStep(step, input);
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    m.RunStep(step, input);
    (*node_us)[step.node] =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  if (output != nullptr) {
    const Tensor& out = m.tensors[m.output];
    output->assign(static_cast<const char*>(m.Data(m.output, input)), out.bytes);
  }
  return absl::OkStatus();
}

absl::Status Executor::Settle(const std::string& input, int rounds) {
  Impl& m = *impl_;
  bool any = false;
  for (const Step& step : m.steps) any |= step.alternative != nullptr;
  if (!any || rounds < 1) return absl::OkStatus();
  std::vector<std::vector<double>> primary(m.steps.size()), alternative(m.steps.size());
  std::vector<double> us;
  // A first round is not recorded: it touches the buffers and starts the worker
  // threads for the first time.
  for (int r = -1; r < rounds; ++r) {
    for (bool alt : {false, true}) {
      for (Step& step : m.steps) step.use_alternative = alt && step.alternative != nullptr;
      if (r < 0) {
        if (absl::Status s = Run(input, nullptr); !s.ok()) return s;
        continue;
      }
      if (absl::Status s = Run(input, nullptr, &us); !s.ok()) return s;
      for (size_t i = 0; i < m.steps.size(); ++i) {
        (alt ? alternative : primary)[i].push_back(us[m.steps[i].node]);
      }
    }
  }
  // The fastest round of each: another process's load only ever adds time,
  // and on a shared machine it can fill a few rounds in a row, which a
  // median would take for the layer's speed.
  auto fastest = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  for (size_t i = 0; i < m.steps.size(); ++i) {
    Step& step = m.steps[i];
    step.use_alternative =
        step.alternative != nullptr && fastest(alternative[i]) < fastest(primary[i]);
    m.infos[step.node].alternative = step.use_alternative;
    if (step.use_alternative) m.infos[step.node].kernel = step.alternative->name();
  }
  return absl::OkStatus();
}

const std::vector<NodeInfo>& Executor::nodes() const { return impl_->infos; }
size_t Executor::input_bytes() const { return impl_->tensors[impl_->input].bytes; }
proto::ElemType Executor::output_type() const { return impl_->tensors[impl_->output].type; }
const std::vector<int64_t>& Executor::output_shape() const {
  return impl_->tensors[impl_->output].shape;
}
size_t Executor::activation_bytes() const {
  size_t total = 0;
  for (const kernels::AlignedBuffer& b : impl_->buffers) total += b.size();
  return total;
}

std::string DefaultInput(const proto::ModelGraph& graph) {
  int64_t elements = 0;
  for (const proto::TensorSpec& t : graph.tensors()) {
    if (t.name() != graph.input()) continue;
    elements = 1;
    for (int64_t d : t.shape()) elements *= d;
  }
  if (elements <= 0 || elements > kMaxTensorBytes / 4) return {};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::string bytes(static_cast<size_t>(elements) * 4, '\0');
  for (int64_t i = 0; i < elements; ++i) {
    const float v = uniform(rng);
    std::memcpy(&bytes[static_cast<size_t>(i) * 4], &v, 4);
  }
  return bytes;
}

}  // namespace qtune::runtime
