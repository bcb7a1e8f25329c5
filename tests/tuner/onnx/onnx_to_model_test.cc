// ConvertOnnx on small models built here: the QOperator and QDQ forms of an
// int8 conv (weights to KRSC, requantisation scales, fused ReLU as the output
// clamp), an fp32 network (fused activation, pooling, flatten, dense weights
// to [K][C]), and the error naming the first node with no translation.
#include "tuner/onnx/onnx_to_model.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tuner/onnx/graph_builder.h"

namespace qtune::tuner {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::GraphBuilder;

std::map<std::string, proto::TensorSpec> Tensors(const proto::ModelGraph& g) {
  std::map<std::string, proto::TensorSpec> out;
  for (const proto::TensorSpec& t : g.tensors()) out[t.name()] = t;
  return out;
}

std::vector<proto::ModelNode::Kind> Kinds(const proto::ModelGraph& g) {
  std::vector<proto::ModelNode::Kind> out;
  for (const proto::ModelNode& n : g.nodes()) out.push_back(n.kind());
  return out;
}

// 0, 1, 2, ... (wrapping into int8's range).
std::vector<double> Iota(int n, bool int8) {
  std::vector<double> v(n);
  for (int i = 0; i < n; ++i) v[i] = int8 ? (i % 256) - 128 : i;
  return v;
}

TEST(OnnxToModelTest, QLinearConvWeightsToKrscAndRequantScales) {
  constexpr int K = 3, C = 2, R = 2, S = 2;
  GraphBuilder b;
  b.Input("x", 1, {1, C, 5, 5});
  b.Constant("xs", 1, {}, 0.5);
  b.Constant("xz", 2, {}, 128);
  b.Node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}, "quant");
  b.Values("w", 3, {K, C, R, S}, Iota(K * C * R * S, true));  // OIHW
  b.Values("ws", 1, {K}, {0.25, 0.5, 1.0});
  b.Constant("wz", 3, {K}, 0);
  b.Constant("ys", 1, {}, 2.0);
  b.Constant("yz", 2, {}, 10);
  b.Values("bias", 6, {K}, {-1, 0, 7});
  b.Node("QLinearConv", {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "bias"}, {"yq"}, "qconv");
  b.Node("DequantizeLinear", {"yq", "ys", "yz"}, {"y"}, "dequant");
  b.Output("y");
  absl::StatusOr<OnnxModel> m = ConvertOnnx(b.Write());
  ASSERT_TRUE(m.ok()) << m.status();
  const proto::ModelGraph& g = m->graph;
  EXPECT_EQ(m->int8_convs, 1);
  EXPECT_EQ(m->fp32_convs, 0);
  EXPECT_THAT(Kinds(g), ElementsAre(proto::ModelNode::QUANTIZE, proto::ModelNode::CONV,
                                    proto::ModelNode::DEQUANTIZE));
  EXPECT_EQ(g.input(), "x");
  auto tensors = Tensors(g);
  EXPECT_THAT(tensors.at("x").shape(), ElementsAre(1, C, 5, 5));   // NCHW
  EXPECT_THAT(tensors.at("xq").shape(), ElementsAre(1, 5, 5, C));  // NHWC
  EXPECT_EQ(tensors.at("xq").type(), proto::U8);
  EXPECT_EQ(tensors.at("xq").zero_point(), 128);
  EXPECT_THAT(tensors.at("yq").shape(), ElementsAre(1, 4, 4, K));
  EXPECT_EQ(tensors.at(g.output()).type(), proto::F32);

  const proto::ModelNode& conv = g.nodes(1);
  EXPECT_EQ(conv.name(), "qconv");
  EXPECT_EQ(conv.op().kind(), proto::CONV2D);
  EXPECT_EQ(conv.op().dtype(), proto::INT8);
  EXPECT_FALSE(conv.op().signed_io());
  ASSERT_EQ(conv.weights().size(), static_cast<size_t>(K * R * S * C));
  for (int k = 0; k < K; ++k) {
    for (int r = 0; r < R; ++r) {
      for (int s = 0; s < S; ++s) {
        for (int c = 0; c < C; ++c) {
          const int oihw = ((k * C + c) * R + r) * S + s;
          const int krsc = ((k * R + r) * S + s) * C + c;
          EXPECT_EQ(static_cast<int8_t>(conv.weights()[krsc]), oihw - 128) << k << r << s << c;
        }
      }
    }
  }
  EXPECT_THAT(conv.requant_scale(), ElementsAre(0.0625f, 0.125f, 0.25f));
  EXPECT_THAT(conv.bias_s32(), ElementsAre(-1, 0, 7));
  EXPECT_EQ(conv.input_zero_point(), 128);
  EXPECT_EQ(conv.output_zero_point(), 10);
  EXPECT_EQ(conv.output_min(), 0);
  EXPECT_EQ(conv.output_max(), 255);
}

TEST(OnnxToModelTest, QdqDepthwiseWithReluIsS8AndClampsAtTheZeroPoint) {
  constexpr int C = 4;
  GraphBuilder b;
  b.Input("x", 1, {1, C, 6, 6});
  b.Constant("s", 1, {}, 0.1);
  b.Constant("z", 3, {}, -5);
  b.Node("QuantizeLinear", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "s", "z"}, {"xf"});
  b.Values("w", 3, {C, 1, 3, 3}, Iota(C * 9, true));
  b.Constant("ws", 1, {}, 0.01);
  b.Node("DequantizeLinear", {"w", "ws"}, {"wf"});
  b.Values("bias", 1, {C}, {0.0, 0.001, -0.0025, 1.0});
  auto& dw = b.Node("Conv", {"xf", "wf", "bias"}, {"c"}, "dw");
  GraphBuilder::Int(dw, "group", C);
  GraphBuilder::Ints(dw, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c"}, {"r"});
  b.Constant("ys", 1, {}, 0.2);
  b.Constant("yz", 3, {}, 3);
  b.Node("QuantizeLinear", {"r", "ys", "yz"}, {"yq"});
  b.Node("DequantizeLinear", {"yq", "ys", "yz"}, {"y"});
  b.Output("y");
  absl::StatusOr<OnnxModel> m = ConvertOnnx(b.Write());
  ASSERT_TRUE(m.ok()) << m.status();
  const proto::ModelGraph& g = m->graph;
  EXPECT_THAT(Kinds(g), ElementsAre(proto::ModelNode::QUANTIZE, proto::ModelNode::CONV,
                                    proto::ModelNode::DEQUANTIZE));
  const proto::ModelNode& conv = g.nodes(1);
  EXPECT_EQ(conv.op().kind(), proto::DEPTHWISE_CONV2D);
  EXPECT_TRUE(conv.op().signed_io());
  EXPECT_EQ(conv.op().activation(), proto::RELU);
  EXPECT_EQ(Tensors(g).at(conv.output()).type(), proto::S8);
  // Depthwise weights [C][1][R][S] -> [R][S][C].
  for (int r = 0; r < 3; ++r) {
    for (int s = 0; s < 3; ++s) {
      for (int c = 0; c < C; ++c) {
        EXPECT_EQ(static_cast<int8_t>(conv.weights()[(r * 3 + s) * C + c]), (c * 9 + r * 3 + s) - 128);
      }
    }
  }
  // Float bias quantised with sx * sw = 0.001, rounding half to even.
  EXPECT_THAT(conv.bias_s32(), ElementsAre(0, 1, -2, 1000));
  EXPECT_EQ(conv.input_zero_point(), -5);
  EXPECT_EQ(conv.output_zero_point(), 3);
  EXPECT_EQ(conv.output_min(), 3);  // ReLU after requantisation: max(q, zero point)
  EXPECT_EQ(conv.output_max(), 127);
}

TEST(OnnxToModelTest, Fp32NetworkFusesActivationsAndTransposesDenseWeights) {
  GraphBuilder b;
  b.Input("x", 1, {1, 3, 8, 8});
  b.Constant("w1", 1, {4, 3, 3, 3}, 0.5);
  b.Constant("b1", 1, {4}, 0.25);
  auto& conv = b.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
  GraphBuilder::Ints(conv, "pads", {1, 1, 1, 1});
  GraphBuilder::Ints(conv, "strides", {2, 2});
  b.Node("Relu", {"c1"}, {"r1"});
  auto& pool = b.Node("MaxPool", {"r1"}, {"p1"}, "pool");
  GraphBuilder::Ints(pool, "kernel_shape", {2, 2});
  GraphBuilder::Ints(pool, "strides", {2, 2});
  b.Node("GlobalAveragePool", {"p1"}, {"gap"}, "gap");
  b.Node("Flatten", {"gap"}, {"f"}, "flatten");
  b.Values("wf", 1, {4, 5}, Iota(20, false));  // [C][K]: Gemm without transB
  b.Node("Gemm", {"f", "wf"}, {"y"}, "fc");
  b.Output("y");
  absl::StatusOr<OnnxModel> m = ConvertOnnx(b.Write());
  ASSERT_TRUE(m.ok()) << m.status();
  const proto::ModelGraph& g = m->graph;
  EXPECT_EQ(m->fp32_convs, 2);
  EXPECT_THAT(Kinds(g), ElementsAre(proto::ModelNode::CONV, proto::ModelNode::MAX_POOL,
                                    proto::ModelNode::GLOBAL_AVG_POOL, proto::ModelNode::RESHAPE,
                                    proto::ModelNode::CONV));
  EXPECT_EQ(g.nodes(0).op().activation(), proto::RELU);
  EXPECT_EQ(g.nodes(0).op().dtype(), proto::FP32);
  EXPECT_THAT(g.nodes(0).bias_f32(), ElementsAre(0.25f, 0.25f, 0.25f, 0.25f));
  EXPECT_EQ(g.nodes(1).kernel_h(), 2);
  EXPECT_EQ(g.nodes(1).stride_w(), 2);
  auto tensors = Tensors(g);
  EXPECT_THAT(tensors.at(g.nodes(0).output()).shape(), ElementsAre(1, 4, 4, 4));
  EXPECT_THAT(tensors.at("p1").shape(), ElementsAre(1, 2, 2, 4));
  EXPECT_THAT(tensors.at("f").shape(), ElementsAre(1, 4));
  const proto::ModelNode& fc = g.nodes(4);
  EXPECT_EQ(fc.op().kind(), proto::DENSE);
  EXPECT_EQ(fc.op().c(), 4);
  EXPECT_EQ(fc.op().k(), 5);
  ASSERT_EQ(fc.weights().size(), 20u * 4);
  for (int k = 0; k < 5; ++k) {
    for (int c = 0; c < 4; ++c) {
      float v;
      std::memcpy(&v, &fc.weights()[(k * 4 + c) * 4], 4);
      EXPECT_EQ(v, c * 5 + k);
    }
  }
  EXPECT_EQ(g.output(), "y");
}

TEST(OnnxToModelTest, NamesTheFirstNodeWithoutATranslation) {
  GraphBuilder b;
  b.Input("x", 1, {1, 4, 8, 8});
  b.Node("Relu", {"x"}, {"r"}, "relu");
  b.Node("Softmax", {"r"}, {"y"}, "softmax_7");
  b.Output("y");
  absl::StatusOr<OnnxModel> m = ConvertOnnx(b.Write());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(m.status().message(), HasSubstr("softmax_7 (Softmax): no translation"));
  EXPECT_EQ(ConvertOnnx("/nonexistent.onnx").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace qtune::tuner
