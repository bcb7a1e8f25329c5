// The portable direct-convolution kernels against the reference: every config
// of small spaces (a deterministic sample of larger ones) over shapes with odd
// sizes, padding, strides, dilation, 1x1, C = 3, channel counts that are not
// multiples of 4 or 16, and dense layers with N > 1.
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/reference.h"
#include "qtune/kernels/verify.h"
#include "tests/kernels/kernel_test_util.h"

namespace qtune::kernels {
namespace {

using ::testing::HasSubstr;

// More threads than this machine may have, to exercise uneven splits.
Target TestTarget() { return PathTarget("generic"); }

constexpr uint64_t kMaxExhaustive = 400;
constexpr size_t kSampled = 120;

class GenericKernelTest : public ::testing::TestWithParam<std::tuple<ShapeCase, TypeCase>> {};

TEST_P(GenericKernelTest, EveryConfigMatchesTheReference) {
  const auto& [shape, type] = GetParam();
  const std::string text = shape.Text(type);
  auto op = ParseOpSpec(text);
  ASSERT_TRUE(op.ok()) << op.status();
  auto inst = MakeOpInstance(*op, 11);
  ASSERT_TRUE(inst.ok()) << inst.status();
  const Target target = TestTarget();
  auto space = DescribeSpace(*op, target);
  ASSERT_TRUE(space.ok()) << space.status();

  std::vector<Config> configs;
  if (space->CountValid() <= kMaxExhaustive) {
    configs = space->EnumerateValid();
  } else {
    std::mt19937_64 rng(1234);
    for (size_t i = 0; i < kSampled; ++i) configs.push_back(*space->Sample(rng));
  }
  ASSERT_FALSE(configs.empty());

  const std::regex name_re(
      "(conv2d|dense)_(u8s8u8|s8s8s8|f32)_(direct|gemm)_([0-9]+)x([0-9]+)(c2)?__generic");
  for (const Config& config : configs) {
    const auto name = ExpectMatchesReference(**inst, *space, config, target, name_re, text);
    ASSERT_TRUE(name);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(*name, m, name_re));
    EXPECT_EQ(std::stoi(m[4]), config.at("mr")) << *name;
    EXPECT_EQ(std::stoi(m[5]), config.at("nr")) << *name;
  }
}

std::string ShapeName(const ::testing::TestParamInfo<GenericKernelTest::ParamType>& info) {
  const auto& [shape, type] = info.param;
  std::string name = std::string(shape.kind) + "_" + type.Name() + "_" + std::to_string(info.index);
  return name;
}

INSTANTIATE_TEST_SUITE_P(Shapes, GenericKernelTest,
                         ::testing::Combine(::testing::ValuesIn(kKernelShapes),
                                            ::testing::ValuesIn(kAllTypes)),
                         ShapeName);

TEST(GenericKernelNamesTest, FollowTheNamingScheme) {
  const Target target = TestTarget();
  struct Case {
    const char* spec;
    const char* name;
  };
  const Case cases[] = {
      {"conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1", "conv2d_u8s8u8_direct_4x16c2__generic"},
      {"conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1,io=s8",
       "conv2d_s8s8s8_direct_4x16c2__generic"},
      {"dense/int8/C=512,K=1000,io=s8", "dense_s8s8s8_gemm_1x16c2__generic"},
      {"conv2d/fp32/H=56,W=56,C=64,K=64,R=3,S=3,pad=1", "conv2d_f32_direct_4x16__generic"},
      {"dense/int8/C=512,K=1000", "dense_u8s8u8_gemm_1x16c2__generic"},
      {"dense/fp32/N=8,C=512,K=1000", "dense_f32_gemm_4x16__generic"},
  };
  for (const Case& c : cases) {
    auto op = ParseOpSpec(c.spec);
    ASSERT_TRUE(op.ok());
    auto inst = MakeOpInstance(*op, 1);
    ASSERT_TRUE(inst.ok());
    auto space = DescribeSpace(*op, target);
    ASSERT_TRUE(space.ok()) << space.status();
    auto kernel = CreateKernel(*op, space->default_config(), (*inst)->data, target);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    EXPECT_EQ((*kernel)->name(), c.name);
  }
}

class GenericKernelApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    op_ = *ParseOpSpec("conv2d/int8/H=8,W=8,C=8,K=16,R=3,S=3,pad=1");
    inst_ = *MakeOpInstance(op_, 3);
    space_ = std::make_unique<ConfigSpace>(*DescribeSpace(op_, target_));
  }
  Target target_ = TestTarget();
  OpSpec op_;
  std::unique_ptr<OpInstance> inst_;
  std::unique_ptr<ConfigSpace> space_;
};

TEST_F(GenericKernelApiTest, SpaceHasTheDocumentedKnobs) {
  std::vector<std::string> names;
  for (const Knob& k : space_->knobs()) names.push_back(k.name);
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("mr", "nr", "kc", "loop", "threads"));
  EXPECT_EQ(space_->FindKnob("threads")->values, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(space_->FindKnob("nr")->values, (std::vector<int64_t>{8, 16}));
  EXPECT_EQ(space_->FindKnob("kc")->values, (std::vector<int64_t>{8}));
  EXPECT_TRUE(space_->FindKnob("loop")->categorical());
  EXPECT_TRUE(space_->IsValid(space_->default_config()));

  auto dense = DescribeSpace(*ParseOpSpec("dense/int8/C=512,K=1000"), target_);
  ASSERT_TRUE(dense.ok());
  EXPECT_EQ(dense->FindKnob("mr")->values, (std::vector<int64_t>{1}));
  EXPECT_EQ(dense->FindKnob("kc")->values,
            (std::vector<int64_t>{16, 32, 64, 128, 256, 512}));
}

TEST_F(GenericKernelApiTest, RejectsConfigsOutsideTheSpace) {
  Config c = space_->default_config();
  c["mr"] = 5;
  auto k = CreateKernel(op_, c, inst_->data, target_);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  c = space_->default_config();
  c.erase("threads");
  EXPECT_EQ(CreateKernel(op_, c, inst_->data, target_).status().code(),
            absl::StatusCode::kInvalidArgument);
  c = space_->default_config();
  c["bogus"] = 1;
  EXPECT_EQ(CreateKernel(op_, c, inst_->data, target_).status().code(),
            absl::StatusCode::kInvalidArgument);
  // mr * nr <= 128 is a constraint of the space.
  auto wide = *ParseOpSpec("conv2d/int8/H=8,W=20,C=8,K=64,R=3,S=3,pad=1");
  auto wide_inst = *MakeOpInstance(wide, 3);
  auto wide_space = *DescribeSpace(wide, target_);
  c = wide_space.default_config();
  c["mr"] = 8;
  c["nr"] = 32;
  k = CreateKernel(wide, c, wide_inst->data, target_);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(k.status().message()), HasSubstr("mr * nr <= 128"));
}

TEST_F(GenericKernelApiTest, RejectsBadDataAndPaths) {
  OpData bad = inst_->data;
  bad.bias_s32.pop_back();
  auto k = CreateKernel(op_, space_->default_config(), bad, target_);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(k.status().message()), HasSubstr("bias_s32"));

  Target none;
  none.paths = {};
  auto s = DescribeSpace(op_, none);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(CreateKernel(op_, space_->default_config(), inst_->data, none).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST_F(GenericKernelApiTest, DepthwiseIsServedByItsOwnFamily) {
  auto dw = ParseOpSpec("depthwise_conv2d/int8/H=8,W=8,C=8,K=8,R=3,S=3,pad=1,groups=8");
  ASSERT_TRUE(dw.ok());
  auto s = DescribeSpace(*dw, target_);
  ASSERT_TRUE(s.ok()) << s.status();
  auto inst = MakeOpInstance(*dw, 5);
  ASSERT_TRUE(inst.ok());
  auto kernel = CreateKernel(*dw, s->default_config(), (*inst)->data, target_);
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  EXPECT_THAT((*kernel)->name(), ::testing::StartsWith("depthwise_conv2d_u8s8u8_"));
  EXPECT_THAT((*kernel)->name(), ::testing::EndsWith("__generic"));
}

TEST_F(GenericKernelApiTest, ExecutesRepeatedlyOnNewInputs) {
  for (bool signed_io : {false, true}) {
    OpSpec op = op_;
    op.signed_io = signed_io;
    auto inst = MakeOpInstance(op, 3);
    ASSERT_TRUE(inst.ok());
    Config c = space_->default_config();
    c["threads"] = 2;
    auto kernel = CreateKernel(op, c, (*inst)->data, target_);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    AlignedBuffer out(op.output_elements()), want(op.output_elements());
    for (int round = 0; round < 3; ++round) {
      AlignedBuffer x(op.input_elements());
      for (int64_t i = 0; i < op.input_elements(); ++i) {
        x.as<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + round * 101) & 0xff);
      }
      ASSERT_TRUE(RunReference(op, (*inst)->data, x.data(), want.data()).ok());
      ASSERT_TRUE((*kernel)->Execute(x.data(), out.data()).ok());
      EXPECT_EQ(std::memcmp(out.data(), want.data(), out.size()), 0)
          << "round " << round << " signed " << signed_io;
    }
    EXPECT_EQ((*kernel)->Execute(nullptr, out.data()).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(HostTargetTest, GenericPathAndEnvironmentOverride) {
  const char* saved = std::getenv("QTUNE_KERNEL_PATHS");
  const std::string saved_value = saved != nullptr ? saved : "";
  unsetenv("QTUNE_KERNEL_PATHS");
  Target t = HostTarget();
  EXPECT_THAT(t.paths, ::testing::Contains("generic"));
  EXPECT_GE(t.max_threads, 1);

  setenv("QTUNE_KERNEL_PATHS", "nosuchisa, generic ,generic", 1);
  EXPECT_EQ(HostTarget().paths, (std::vector<std::string>{"generic"}));
  setenv("QTUNE_KERNEL_PATHS", "nosuchisa", 1);
  EXPECT_TRUE(HostTarget().paths.empty());
  setenv("QTUNE_KERNEL_PATHS", "", 1);
  EXPECT_THAT(HostTarget().paths, ::testing::Contains("generic"));

  if (saved != nullptr) {
    setenv("QTUNE_KERNEL_PATHS", saved_value.c_str(), 1);
  } else {
    unsetenv("QTUNE_KERNEL_PATHS");
  }
}

TEST(OpDataTest, ValidatesSizesAndQuantisation) {
  OpSpec op = *ParseOpSpec("conv2d/int8/H=4,W=4,C=2,K=3,R=1,S=1");
  OpData d;
  d.weights_s8.assign(6, 1);
  d.bias_s32.assign(3, 0);
  d.quant.requant_scale.assign(3, 0.5f);
  EXPECT_TRUE(ValidateOpData(op, d).ok());
  d.quant.requant_scale.assign(1, 0.5f);
  EXPECT_TRUE(ValidateOpData(op, d).ok());
  d.quant.requant_scale.assign(2, 0.5f);
  EXPECT_THAT(std::string(ValidateOpData(op, d).message()), HasSubstr("expected 1 or K=3"));
  d.quant.requant_scale.assign(3, -1.0f);
  EXPECT_FALSE(ValidateOpData(op, d).ok());
  d.quant.requant_scale.assign(3, 0.5f);
  d.quant.output_zero_point = -1;
  EXPECT_THAT(std::string(ValidateOpData(op, d).message()), HasSubstr("output_zero_point"));

  op.dtype = DType::kFp32;
  OpData f;
  f.weights_f32.assign(6, 1.0f);
  f.bias_f32.assign(2, 0.0f);
  EXPECT_THAT(std::string(ValidateOpData(op, f).message()), HasSubstr("bias_f32 has 2"));
  f.bias_f32.assign(3, 0.0f);
  EXPECT_TRUE(ValidateOpData(op, f).ok());
}

}  // namespace
}  // namespace qtune::kernels
