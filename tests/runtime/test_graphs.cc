#include "tests/runtime/test_graphs.h"

#include "proto/convert.h"

namespace qtune::runtime::testing {

void GraphBuilder::Tensor(const std::string& name, proto::ElemType type,
                          std::vector<int64_t> shape, float scale, int32_t zp) {
  proto::TensorSpec* t = g_.add_tensors();
  t->set_name(name);
  t->set_type(type);
  for (int64_t d : shape) t->add_shape(d);
  t->set_scale(scale);
  t->set_zero_point(zp);
}

proto::ModelNode& GraphBuilder::Node(proto::ModelNode::Kind kind, const std::string& name,
                                     std::vector<std::string> inputs, const std::string& output) {
  proto::ModelNode* n = g_.add_nodes();
  n->set_kind(kind);
  n->set_name(name);
  for (auto& i : inputs) n->add_inputs(i);
  n->set_output(output);
  return *n;
}

proto::ModelNode& GraphBuilder::Conv(const std::string& name, const kernels::OpSpec& op,
                                     const std::string& in, const std::string& out, int32_t in_zp,
                                     int32_t out_zp) {
  proto::ModelNode& n = Node(proto::ModelNode::CONV, name, {in}, out);
  *n.mutable_op() = ToProto(op);
  std::uniform_int_distribution<int> w8(-127, 127);
  std::uniform_real_distribution<float> wf(-0.5f, 0.5f);
  const int64_t count = op.weight_elements();
  std::string weights;
  if (op.dtype == kernels::DType::kInt8) {
    for (int64_t i = 0; i < count; ++i) weights.push_back(static_cast<char>(w8(rng_)));
    for (int k = 0; k < op.k; ++k) {
      n.add_bias_s32(w8(rng_) * 50);
      n.add_requant_scale(1.0f / (60.0f * static_cast<float>(op.reduction_size())) * (1 + k % 3));
    }
    n.set_input_zero_point(in_zp);
    n.set_output_zero_point(out_zp);
    n.set_output_min(op.activation == kernels::Activation::kNone ? kernels::ActivationMin(op)
                                                                  : out_zp);
    n.set_output_max(kernels::ActivationMax(op));
  } else {
    for (int64_t i = 0; i < count; ++i) {
      const float v = wf(rng_);
      weights.append(reinterpret_cast<const char*>(&v), 4);
    }
    for (int k = 0; k < op.k; ++k) n.add_bias_f32(wf(rng_));
  }
  n.set_weights(weights);
  return n;
}

kernels::OpSpec Op(kernels::OpKind kind, kernels::DType dtype, int h, int c, int k, int r,
                   bool s8, kernels::Activation act) {
  kernels::OpSpec op;
  op.kind = kind;
  op.dtype = dtype;
  op.n = 1;
  op.h = op.w = h;
  op.c = c;
  op.k = kind == kernels::OpKind::kDepthwiseConv2d ? c : k;
  op.r = op.s = r;
  op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = r / 2;
  op.groups = kind == kernels::OpKind::kDepthwiseConv2d ? c : 1;
  op.activation = act;
  op.signed_io = s8;
  return op;
}

proto::ModelGraph Int8Chain(bool s8) {
  using K = kernels::OpKind;
  using D = kernels::DType;
  const proto::ElemType q = s8 ? proto::S8 : proto::U8;
  const int32_t z0 = s8 ? -3 : 125, z1 = s8 ? -100 : 10, z2 = s8 ? 5 : 130;
  GraphBuilder b;
  b.Tensor("x", proto::F32, {1, 4, 6, 6});
  b.Tensor("xq", q, {1, 6, 6, 4}, 0.02f, z0);
  b.Tensor("c1", q, {1, 6, 6, 8}, 0.05f, z1);
  b.Tensor("d1", q, {1, 6, 6, 8}, 0.04f, z2);
  b.Tensor("c2", q, {1, 6, 6, 8}, 0.06f, z2);
  b.Tensor("sum", q, {1, 6, 6, 8}, 0.08f, z1);
  b.Tensor("pool", q, {1, 3, 3, 8}, 0.08f, z1);
  b.Tensor("relu", q, {1, 3, 3, 8}, 0.08f, z1);
  b.Tensor("clip", q, {1, 3, 3, 8}, 0.08f, z1);
  b.Tensor("gap", q, {1, 1, 1, 8}, 0.03f, z0);
  b.Tensor("flat", q, {1, 8}, 0.03f, z0);
  b.Tensor("fc", q, {1, 5}, 0.1f, z2);
  b.Tensor("y", proto::F32, {1, 5});
  b.Node(proto::ModelNode::QUANTIZE, "quant", {"x"}, "xq");
  b.Conv("conv1", Op(K::kConv2d, D::kInt8, 6, 4, 8, 3, s8, kernels::Activation::kRelu), "xq",
         "c1", z0, z1);
  b.Conv("dw", Op(K::kDepthwiseConv2d, D::kInt8, 6, 8, 8, 3, s8), "c1", "d1", z1, z2);
  b.Conv("conv2", Op(K::kConv2d, D::kInt8, 6, 8, 8, 1, s8), "d1", "c2", z2, z2);
  b.Node(proto::ModelNode::ADD, "add", {"c1", "c2"}, "sum").set_activation(proto::RELU);
  proto::ModelNode& pool = b.Node(proto::ModelNode::MAX_POOL, "pool", {"sum"}, "pool");
  pool.set_kernel_h(2);
  pool.set_kernel_w(2);
  pool.set_stride_h(2);
  pool.set_stride_w(2);
  b.Node(proto::ModelNode::RELU, "relu", {"pool"}, "relu");
  proto::ModelNode& clip = b.Node(proto::ModelNode::CLIP, "clip", {"relu"}, "clip");
  clip.set_clip_min(0.1f);
  clip.set_clip_max(5.0f);
  b.Node(proto::ModelNode::GLOBAL_AVG_POOL, "gap", {"clip"}, "gap");
  b.Node(proto::ModelNode::RESHAPE, "flatten", {"gap"}, "flat");
  kernels::OpSpec dense = Op(K::kDense, D::kInt8, 1, 8, 5, 1, s8);
  dense.pad_top = dense.pad_left = dense.pad_bottom = dense.pad_right = 0;
  b.Conv("fc", dense, "flat", "fc", z0, z2);
  b.Node(proto::ModelNode::DEQUANTIZE, "dequant", {"fc"}, "y");
  b.graph().set_input("x");
  b.graph().set_output("y");
  return b.graph();
}

}  // namespace qtune::runtime::testing
