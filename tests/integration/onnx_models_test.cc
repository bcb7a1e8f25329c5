// The test models of scripts/models/make_models.py (build/models/, made by the
// qtune_models target): each converts to qtune's graph with every
// convolution translated, int8 models stay int8 from the input's quantise to
// the output's dequantise, and every convolution `qtune run` executes is a
// layer `qtune tune --onnx` tunes (same workload key), so tuned configs are
// found at run time.
#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/convert.h"
#include "tuner/onnx/onnx_import.h"
#include "tuner/onnx/onnx_to_model.h"

namespace qtune::tuner {
namespace {

nlohmann::json Manifest() {
  std::ifstream in(std::string(QTUNE_MODELS_DIR) + "/models.json");
  return nlohmann::json::parse(in);
}

class OnnxModelsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxModelsTest, ConvertsAndMatchesTheTunedLayers) {
  const nlohmann::json manifest = Manifest();
  nlohmann::json entry;
  for (const auto& m : manifest["models"]) {
    if (m["name"] == GetParam()) entry = m;
  }
  ASSERT_FALSE(entry.is_null()) << GetParam() << " is not in models.json";
  const std::string path = std::string(QTUNE_MODELS_DIR) + "/" + entry["file"].get<std::string>();

  absl::StatusOr<OnnxModel> model = ConvertOnnx(path);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<OnnxImport> imported = ImportOnnx(path);
  ASSERT_TRUE(imported.ok()) << imported.status();

  const bool int8 = entry["format"] != "fp32";
  const int convs = entry["convs"].get<int>() + 1;  // and the classifier
  EXPECT_EQ(model->int8_convs + model->fp32_convs, convs);
  EXPECT_EQ(model->int8_convs, int8 ? convs : 0);

  std::set<std::string> tuned;
  for (const Layer& layer : imported->model.layers) tuned.insert(kernels::CanonicalKey(layer.op));
  std::set<std::string> run;
  for (const proto::ModelNode& n : model->graph.nodes()) {
    if (n.kind() != proto::ModelNode::CONV) continue;
    absl::StatusOr<kernels::OpSpec> op = FromProto(n.op());
    ASSERT_TRUE(op.ok()) << n.name() << ": " << op.status();
    EXPECT_TRUE(tuned.count(kernels::CanonicalKey(*op)))
        << n.name() << " runs " << kernels::CanonicalKey(*op) << ", which is not tuned";
    run.insert(kernels::CanonicalKey(*op));
  }
  EXPECT_EQ(run, tuned);

  // Layouts change only at the edges: one QUANTIZE at the input and one
  // DEQUANTIZE at the output of an int8 model.
  int quantize = 0, dequantize = 0;
  for (const proto::ModelNode& n : model->graph.nodes()) {
    quantize += n.kind() == proto::ModelNode::QUANTIZE;
    dequantize += n.kind() == proto::ModelNode::DEQUANTIZE;
  }
  EXPECT_EQ(quantize, int8 ? 1 : 0);
  EXPECT_EQ(dequantize, int8 ? 1 : 0);
  EXPECT_EQ(model->graph.output(), model->graph.nodes(model->graph.nodes_size() - 1).output());
}

INSTANTIATE_TEST_SUITE_P(Models, OnnxModelsTest,
                         ::testing::Values("resnet18_fp32", "resnet18_int8_qop",
                                           "resnet18_int8_qdq", "resnet18_s8s8_qdq",
                                           "mobilenetv2_fp32", "mobilenetv2_int8_qop",
                                           "mobilenetv2_int8_qdq"));

}  // namespace
}  // namespace qtune::tuner
