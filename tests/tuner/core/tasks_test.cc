#include "tuner/core/tasks.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::tuner {
namespace {

using kernels::DType;
using testing::HasSubstr;

const Model& ResNet18() { return **FindModel("resnet18"); }

TEST(TasksTest, OneTaskPerLayerAndDtype) {
  const Model& m = ResNet18();
  absl::StatusOr<std::vector<Task>> tasks = ExtractTasks(m, {DType::kInt8, DType::kFp32}, {});
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2 * m.layers.size());
  std::set<std::string> names;
  for (size_t i = 0; i < tasks->size(); ++i) {
    const Task& t = (*tasks)[i];
    const Layer& layer = m.layers[i / 2];
    EXPECT_EQ(t.layer, layer.name);
    EXPECT_EQ(t.dtype, i % 2 == 0 ? DType::kInt8 : DType::kFp32);
    EXPECT_EQ(t.op.dtype, t.dtype);
    EXPECT_EQ(t.occurrences, layer.occurrences);
    kernels::OpSpec without_dtype = t.op;
    without_dtype.dtype = layer.op.dtype;
    EXPECT_EQ(without_dtype, layer.op);
    EXPECT_TRUE(names.insert(t.name).second) << t.name;
  }
  EXPECT_EQ((*tasks)[0].name, "conv1/int8");
  EXPECT_EQ((*tasks)[1].name, "conv1/fp32");
}

TEST(TasksTest, LayerFilterKeepsModelOrder) {
  absl::StatusOr<std::vector<Task>> tasks =
      ExtractTasks(ResNet18(), {DType::kFp32}, {"fc", "layer4.0.downsample"});
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].name, "layer4.0.downsample/fp32");
  EXPECT_EQ((*tasks)[1].name, "fc/fp32");
  EXPECT_EQ((*tasks)[1].op.kind, kernels::OpKind::kDense);
}

TEST(TasksTest, UnknownLayerListsValidOnes) {
  absl::StatusOr<std::vector<Task>> tasks = ExtractTasks(ResNet18(), {DType::kInt8}, {"fc", "fc2"});
  ASSERT_FALSE(tasks.ok());
  EXPECT_EQ(tasks.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tasks.status().message(), HasSubstr("'fc2'"));
  EXPECT_THAT(tasks.status().message(), HasSubstr("layer1.0-1.conv1"));
}

TEST(TasksTest, NoDtypeIsAnError) {
  EXPECT_EQ(ExtractTasks(ResNet18(), {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TasksTest, ParseDTypeList) {
  absl::StatusOr<std::vector<DType>> d = ParseDTypeList("int8, fp32");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(*d, testing::ElementsAre(DType::kInt8, DType::kFp32));
  EXPECT_THAT(*ParseDTypeList("fp32"), testing::ElementsAre(DType::kFp32));
  EXPECT_EQ(ParseDTypeList("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseDTypeList("int8,int8").status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status bad = ParseDTypeList("int4").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("int8, fp32"));
}

}  // namespace
}  // namespace qtune::tuner
