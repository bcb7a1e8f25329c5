#include "tuner/core/model_zoo.h"

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::tuner {
namespace {

using kernels::Activation;
using kernels::OpKind;
using kernels::OpSpec;

// MACs of a convolution from its output size, written out independently of
// OpSpec::macs(): out_h * out_w * K * C * R * S.
int64_t ConvMacs(int64_t out_hw, int64_t c, int64_t k, int64_t rs) {
  return out_hw * out_hw * k * c * rs * rs;
}

// A conv shape without its activation: (H, C, K, R, stride).
using Shape = std::tuple<int, int, int, int, int>;
Shape ShapeOf(const OpSpec& op) { return {op.h, op.c, op.k, op.r, op.stride_h}; }

const Model& ResNet18() {
  absl::StatusOr<const Model*> model = FindModel("resnet18");
  EXPECT_TRUE(model.ok()) << model.status();
  return **model;
}

TEST(ModelZooTest, ResNet18HasElevenConvShapesPlusFc) {
  const Model& m = ResNet18();
  std::map<Shape, int> conv_occurrences;
  int dense_layers = 0;
  for (const Layer& layer : m.layers) {
    EXPECT_TRUE(kernels::ValidateOpSpec(layer.op).ok()) << layer.name;
    EXPECT_EQ(layer.op.n, 1);
    EXPECT_EQ(layer.occurrences, static_cast<int>(layer.instances.size()));
    if (layer.op.kind == OpKind::kDense) {
      ++dense_layers;
      EXPECT_EQ(layer.name, "fc");
      EXPECT_EQ(layer.op.c, 512);
      EXPECT_EQ(layer.op.k, 1000);
      EXPECT_EQ(layer.op.activation, Activation::kNone);
      EXPECT_EQ(layer.occurrences, 1);
      continue;
    }
    ASSERT_EQ(layer.op.kind, OpKind::kConv2d);
    conv_occurrences[ShapeOf(layer.op)] += layer.occurrences;
  }
  EXPECT_EQ(dense_layers, 1);
  // (H, C, K, R, stride) -> occurrences.
  const std::map<Shape, int> expected = {
      {{224, 3, 64, 7, 2}, 1},                                                // conv1
      {{56, 64, 64, 3, 1}, 4},                                                // layer1
      {{56, 64, 128, 3, 2}, 1}, {{28, 128, 128, 3, 1}, 3}, {{56, 64, 128, 1, 2}, 1},   // layer2
      {{28, 128, 256, 3, 2}, 1}, {{14, 256, 256, 3, 1}, 3}, {{28, 128, 256, 1, 2}, 1}, // layer3
      {{14, 256, 512, 3, 2}, 1}, {{7, 512, 512, 3, 1}, 3}, {{14, 256, 512, 1, 2}, 1},  // layer4
  };
  EXPECT_EQ(conv_occurrences, expected);
  EXPECT_EQ(conv_occurrences.size() + dense_layers, 12u);
}

TEST(ModelZooTest, ResNet18PaddingAndActivations) {
  const Model& m = ResNet18();
  int convs = 0;
  for (const Layer& layer : m.layers) {
    if (layer.op.kind != OpKind::kConv2d) continue;
    convs += layer.occurrences;
    const int pad = layer.op.r / 2;  // 7x7: 3, 3x3: 1, 1x1: 0
    EXPECT_EQ(layer.op.pad_top, pad) << layer.name;
    EXPECT_EQ(layer.op.pad_left, pad) << layer.name;
    EXPECT_EQ(layer.op.pad_bottom, pad) << layer.name;
    EXPECT_EQ(layer.op.pad_right, pad) << layer.name;
    // ReLU is fused into conv1 and the first conv of each block; the second
    // conv and the downsample feed the residual add.
    for (const std::string& instance : layer.instances) {
      const bool relu = instance == "conv1" || instance.ends_with(".conv1");
      EXPECT_EQ(layer.op.activation, relu ? Activation::kRelu : Activation::kNone) << instance;
    }
  }
  EXPECT_EQ(convs, 20);  // conv1 + 8 blocks x 2 + 3 downsamples
}

TEST(ModelZooTest, ResNet18Macs) {
  const Model& m = ResNet18();
  int64_t after_conv1_3x3 = 0, after_conv1_1x1 = 0, conv1 = 0, fc = 0;
  int count_3x3 = 0;
  for (const Layer& layer : m.layers) {
    const int64_t macs = layer.occurrences * layer.op.macs();
    if (layer.op.kind == OpKind::kDense) {
      fc += macs;
    } else if (layer.name == "conv1") {
      conv1 += macs;
    } else if (layer.op.r == 3) {
      after_conv1_3x3 += macs;
      count_3x3 += layer.occurrences;
    } else {
      after_conv1_1x1 += macs;
    }
  }
  EXPECT_EQ(count_3x3, 16);
  // 13 stride-1 3x3 convs (4 + 3 + 3 + 3) and 3 stride-2 ones.
  const int64_t expected_3x3 =
      4 * ConvMacs(56, 64, 64, 3) + 3 * ConvMacs(28, 128, 128, 3) +
      3 * ConvMacs(14, 256, 256, 3) + 3 * ConvMacs(7, 512, 512, 3) +
      ConvMacs(28, 64, 128, 3) + ConvMacs(14, 128, 256, 3) + ConvMacs(7, 256, 512, 3);
  EXPECT_EQ(expected_3x3, 1676279808);
  EXPECT_EQ(after_conv1_3x3, expected_3x3);
  EXPECT_EQ(after_conv1_1x1,
            ConvMacs(28, 64, 128, 1) + ConvMacs(14, 128, 256, 1) + ConvMacs(7, 256, 512, 1));
  EXPECT_EQ(conv1, ConvMacs(112, 3, 64, 7));
  EXPECT_EQ(conv1, 118013952);
  EXPECT_EQ(fc, 512 * 1000);
  EXPECT_EQ(m.total_macs(), after_conv1_3x3 + after_conv1_1x1 + conv1 + fc);
}

TEST(ModelZooTest, LayerNamesAreUniqueAndReadable) {
  for (const std::string& name : ModelNames()) {
    const Model& m = **FindModel(name);
    std::set<std::string> names;
    for (const Layer& layer : m.layers) {
      EXPECT_TRUE(names.insert(layer.name).second) << name << ": " << layer.name;
      EXPECT_EQ(layer.name.find(','), std::string::npos) << layer.name;  // --layers separator
    }
  }
  const Model& m = ResNet18();
  std::set<std::string> names;
  for (const Layer& layer : m.layers) names.insert(layer.name);
  EXPECT_THAT(names, testing::IsSupersetOf({"conv1", "layer1.0-1.conv1", "layer1.0-1.conv2",
                                            "layer2.0.conv1", "layer2.1.conv1",
                                            "layer2.0-1.conv2", "layer2.0.downsample", "fc"}));
}

TEST(ModelZooTest, ResNet50Macs) {
  absl::StatusOr<const Model*> model = FindModel("ResNet50");
  ASSERT_TRUE(model.ok()) << model.status();
  int convs = 0;
  for (const Layer& layer : (*model)->layers) {
    EXPECT_TRUE(kernels::ValidateOpSpec(layer.op).ok()) << layer.name;
    if (layer.op.kind == OpKind::kConv2d) convs += layer.occurrences;
  }
  EXPECT_EQ(convs, 53);  // conv1 + 16 blocks x 3 + 4 downsamples
  // torchvision's ResNet-50: 4.09 GMACs.
  EXPECT_GT((*model)->total_macs(), 4.08e9);
  EXPECT_LT((*model)->total_macs(), 4.12e9);
}

TEST(ModelZooTest, UnknownModelListsKnownOnes) {
  absl::StatusOr<const Model*> model = FindModel("vgg99");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), testing::HasSubstr("resnet18"));
  EXPECT_THAT(ModelNames(), testing::Contains("resnet18"));
}

}  // namespace
}  // namespace qtune::tuner
