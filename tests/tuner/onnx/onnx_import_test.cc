// ImportOnnx on small models built here with the ONNX protobuf API: fp32,
// QLinearConv, QDQ (u8 and s8), depthwise, dense, deduplication, and the
// operators it lists instead of tuning.
#include "tuner/onnx/onnx_import.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tuner/onnx/graph_builder.h"

namespace qtune::tuner {
namespace {

using ::testing::HasSubstr;
using testing::GraphBuilder;

TEST(OnnxImportTest, Fp32ConvReluDepthwiseAndGemm) {
  GraphBuilder b;
  b.Input("x", 1, {1, 8, 16, 16});
  b.Constant("w1", 1, {8, 8, 3, 3});
  b.Constant("b1", 1, {8});
  auto& conv = b.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
  GraphBuilder::Ints(conv, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c1"}, {"r1"});
  b.Constant("wd", 1, {8, 1, 3, 3});
  auto& dw = b.Node("Conv", {"r1", "wd"}, {"d1"}, "dw");
  GraphBuilder::Int(dw, "group", 8);
  GraphBuilder::Ints(dw, "pads", {1, 1, 1, 1});
  GraphBuilder::Ints(dw, "strides", {2, 2});
  // A second conv1-like conv: deduplicated.
  auto& again = b.Node("Conv", {"r1", "w1", "b1"}, {"c2"}, "conv2");
  GraphBuilder::Ints(again, "pads", {1, 1, 1, 1});
  b.Node("Relu", {"c2"}, {"r2"});
  b.Node("GlobalAveragePool", {"d1"}, {"p"});
  b.Node("Flatten", {"p"}, {"f"});
  b.Constant("wf", 1, {8, 10});
  b.Node("Gemm", {"f", "wf"}, {"y"}, "fc");
  absl::StatusOr<OnnxImport> imported = ImportOnnx(b.Write());
  ASSERT_TRUE(imported.ok()) << imported.status();
  const Model& m = imported->model;
  EXPECT_TRUE(m.fixed_dtypes);
  ASSERT_EQ(m.layers.size(), 3u);
  EXPECT_EQ(kernels::CanonicalKey(m.layers[0].op),
            "conv2d/fp32/N=1,H=16,W=16,C=8,K=8,R=3,S=3,stride=1x1,pad=1x1x1x1,dilation=1x1,"
            "groups=1,act=relu");
  EXPECT_EQ(m.layers[0].occurrences, 2);
  EXPECT_THAT(m.layers[0].instances, ::testing::ElementsAre("conv1", "conv2"));
  EXPECT_EQ(m.layers[1].op.kind, kernels::OpKind::kDepthwiseConv2d);
  EXPECT_EQ(m.layers[1].op.stride_h, 2);
  EXPECT_EQ(m.layers[2].op.kind, kernels::OpKind::kDense);
  EXPECT_EQ(m.layers[2].op.c, 8);
  EXPECT_EQ(m.layers[2].op.k, 10);
  EXPECT_EQ(imported->not_tuned.at("Relu"), 2);
  EXPECT_EQ(imported->not_tuned.at("GlobalAveragePool"), 1);
}

TEST(OnnxImportTest, QLinearConvAndQdqConvAreInt8) {
  GraphBuilder b;
  b.Input("x", 1, {1, 4, 8, 8});
  b.Constant("xs", 1, {}, 0.02);
  b.Constant("xz", 2, {}, 128);
  b.Node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
  b.Constant("w", 3, {16, 4, 1, 1});
  b.Constant("ws", 1, {16}, 0.01);
  b.Constant("wz", 3, {16}, 0);
  b.Constant("ys", 1, {}, 0.05);
  b.Constant("yz", 2, {}, 0);
  b.Node("QLinearConv", {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"}, {"yq"}, "qconv");
  // QDQ with s8 activations.
  b.Constant("ss", 1, {}, 0.05);
  b.Constant("sz", 3, {}, 0);
  b.Node("DequantizeLinear", {"yq", "ys", "yz"}, {"yf"});
  b.Node("QuantizeLinear", {"yf", "ss", "sz"}, {"sq"});
  b.Node("DequantizeLinear", {"sq", "ss", "sz"}, {"sf"});
  b.Constant("w2", 3, {16, 16, 3, 3});
  b.Constant("w2s", 1, {16}, 0.01);
  b.Constant("w2z", 3, {16}, 0);
  b.Node("DequantizeLinear", {"w2", "w2s", "w2z"}, {"w2f"});
  auto& conv = b.Node("Conv", {"sf", "w2f"}, {"c"}, "qdq_conv");
  GraphBuilder::Ints(conv, "pads", {1, 1, 1, 1});
  absl::StatusOr<OnnxImport> imported = ImportOnnx(b.Write());
  ASSERT_TRUE(imported.ok()) << imported.status();
  const Model& m = imported->model;
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[0].name, "qconv");
  EXPECT_EQ(m.layers[0].op.dtype, kernels::DType::kInt8);
  EXPECT_FALSE(m.layers[0].op.signed_io);
  EXPECT_EQ(m.layers[0].op.k, 16);
  EXPECT_EQ(m.layers[1].name, "qdq_conv");
  EXPECT_EQ(m.layers[1].op.dtype, kernels::DType::kInt8);
  EXPECT_TRUE(m.layers[1].op.signed_io);
  EXPECT_THAT(kernels::CanonicalKey(m.layers[1].op), HasSubstr(",io=s8"));
  EXPECT_EQ(imported->not_tuned.at("QuantizeLinear"), 2);
}

TEST(OnnxImportTest, ListsWhatItCannotTuneAndFailsWithoutLayers) {
  GraphBuilder b;
  b.Input("x", 1, {1, 4, 8, 8});
  b.Constant("w", 1, {8, 2, 3, 3});
  auto& grouped = b.Node("Conv", {"x", "w"}, {"y"}, "grouped");
  GraphBuilder::Int(grouped, "group", 2);
  b.Node("Relu", {"y"}, {"z"});
  const std::string path = b.Write();
  absl::StatusOr<OnnxImport> imported = ImportOnnx(path);
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(imported.status().message(), HasSubstr("grouped convolution (group 2)"));

  EXPECT_EQ(ImportOnnx("/nonexistent.onnx").status().code(), absl::StatusCode::kNotFound);
  const std::string junk = absl::StrCat(::testing::TempDir(), "/junk_", getpid(), ".onnx");
  std::ofstream(junk) << "not a model";
  EXPECT_EQ(ImportOnnx(junk).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qtune::tuner
