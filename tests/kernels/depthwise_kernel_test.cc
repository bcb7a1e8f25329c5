// The depthwise conv2d families against the reference, per kernel path: a
// sweep of shapes (3x3 stride 1/2, 5x5, 7x7, asymmetric padding, dilation,
// C = 1, 3, 17, 32, 96, 144, N = 2) x sampled configs, int8 bit-exact and
// fp32 within the verify.h tolerance; every compiled tile on one shape;
// extreme zero points and weights with padding; naming; forced paths. A path
// the CPU lacks is skipped.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "tests/kernels/kernel_test_util.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/reference.h"
#include "qtune/kernels/verify.h"

namespace qtune::kernels {
namespace {

const char* const kPaths[] = {"avx512vnni", "avx512bw", "avx2", "generic"};

const char* const kShapes[] = {
    "H=12,W=13,C=32,R=3,S=3,pad=1,act=relu",
    "H=15,W=14,C=17,R=3,S=3,stride=2,pad=1",
    "N=2,H=9,W=11,C=3,R=3,S=3,pad=1,act=relu6",
    "H=10,W=19,C=96,R=3,S=3,stride=2,pad=0x1x1x0",
    "H=11,W=12,C=1,R=5,S=5,pad=2",
    "H=13,W=9,C=144,R=5,S=5,stride=2,pad=2,act=relu",
    "H=9,W=10,C=17,R=7,S=7,pad=3",
    "H=8,W=8,C=48,R=7,S=7,stride=2,pad=3",
    "H=7,W=9,C=40,R=3,S=3,pad=2x0x1x3",
    "H=9,W=10,C=33,R=3,S=3,dilation=2,pad=2",
    "H=6,W=20,C=80,R=1,S=3,stride=1x3,pad=0x1",
    "H=3,W=2,C=19,R=3,S=3,pad=1",
    "H=2,W=3,C=16,R=5,S=5,pad=3",
    "N=2,H=14,W=14,C=144,R=3,S=3,pad=1",
    "H=4,W=30,C=65,R=2,S=3,stride=2x1,pad=1x1x0x0",
};

constexpr size_t kSampled = 12;

// Verifies `configs` of `op` on `path`, with a 0xA5-filled output each time
// (the kernel must overwrite every element).
void CheckConfigs(const OpInstance& inst, const Target& target,
                  const std::vector<Config>& configs, const ConfigSpace& space) {
  const std::string& path = target.paths.front();
  const OpSpec& op = inst.op;
  const size_t out_bytes = op.output_elements() * ElementBytes(op.dtype);
  AlignedBuffer out(out_bytes);
  const std::regex name_re(
      "depthwise_conv2d_(u8s8u8|s8s8s8|f32)_direct_([0-9]+)x([0-9]+)x([0-9]+)__" + path);
  for (const Config& config : configs) {
    const std::string key = space.ToString(config);
    auto kernel = CreateKernel(op, config, inst.data, target);
    ASSERT_TRUE(kernel.ok()) << key << ": " << kernel.status();
    const std::string& name = (*kernel)->name();
    std::smatch m;
    ASSERT_TRUE(std::regex_match(name, m, name_re)) << name;
    EXPECT_EQ(m[1], KernelDTypes(op));
    EXPECT_EQ(std::stoi(m[2]), config.at("tile_h")) << name;
    EXPECT_EQ(std::stoi(m[3]), config.at("tile_w")) << name;
    EXPECT_EQ(std::stoi(m[4]), config.at("tile_c")) << name;
    std::memset(out.data(), 0xA5, out_bytes);
    ASSERT_TRUE((*kernel)->Execute(inst.input.data(), out.data()).ok());
    VerifyResult v = VerifyOutput(inst, out.data());
    ASSERT_EQ(v.mismatches, 0) << CanonicalKey(op) << " " << key << " " << name << ": "
                               << v.Summary();
  }
}

using Param = std::tuple<const char*, const char*, TypeCase>;

class DepthwiseKernelTest : public ::testing::TestWithParam<Param> {};

TEST_P(DepthwiseKernelTest, SampledConfigsMatchTheReference) {
  const auto& [path, fields, type] = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  // K and groups equal C.
  std::smatch c;
  const std::string text = fields;
  ASSERT_TRUE(std::regex_search(text, c, std::regex("C=([0-9]+)")));
  auto op = ParseOpSpec(std::string("depthwise_conv2d/") + std::string(DTypeName(type.dtype)) +
                        "/" + text + ",K=" + c[1].str() + ",groups=" + c[1].str() +
                        (type.signed_io ? ",io=s8" : ""));
  ASSERT_TRUE(op.ok()) << op.status();
  auto inst = MakeOpInstance(*op, 23);
  ASSERT_TRUE(inst.ok()) << inst.status();
  auto space = DescribeSpace(*op, PathTarget(path));
  ASSERT_TRUE(space.ok()) << space.status();
  std::vector<Config> configs = {space->default_config()};
  std::mt19937_64 rng(std::hash<std::string>{}(std::string(fields) + path));
  for (size_t i = 0; i < kSampled; ++i) configs.push_back(*space->Sample(rng));
  CheckConfigs(**inst, PathTarget(path), configs, *space);
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  const auto& [path, shape, type] = info.param;
  return std::string(path) + "_" + type.Name() + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DepthwiseKernelTest,
                         ::testing::Combine(::testing::ValuesIn(kPaths),
                                            ::testing::ValuesIn(kShapes),
                                            ::testing::ValuesIn(kAllTypes)),
                         ParamName);

OpSpec Depthwise(TypeCase type, const std::string& fields) {
  auto op = ParseOpSpec(std::string("depthwise_conv2d/") + std::string(DTypeName(type.dtype)) +
                        "/" + fields + (type.signed_io ? ",io=s8" : ""));
  EXPECT_TRUE(op.ok()) << op.status();
  return *op;
}

class DepthwisePathTest : public ::testing::TestWithParam<const char*> {};

// Every valid config (up to 2 threads) of one shape with a channel tail
// (C = 50: tiles of 16, 32, 64 leave 2, 18, 50 channels), border and
// interior columns, and 5 rows (a partial band for tile_h = 2, 4): every
// compiled microkernel the shape can use runs at least once.
TEST_P(DepthwisePathTest, EveryConfigOfOneShape) {
  const std::string path = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  for (TypeCase type : kAllTypes) {
    const OpSpec op = Depthwise(type, "H=5,W=21,C=50,K=50,R=3,S=3,pad=1,groups=50,act=relu");
    auto inst = MakeOpInstance(op, 5);
    ASSERT_TRUE(inst.ok()) << inst.status();
    const Target target = PathTarget(path, 2);
    auto space = DescribeSpace(op, target);
    ASSERT_TRUE(space.ok()) << space.status();
    const std::vector<Config> all = space->EnumerateValid();
    EXPECT_GE(all.size(), 20u);
    CheckConfigs(**inst, target, all, *space);
  }
}

// Extreme weights (-128 / 127) against x = 255 / 0 with input zero points 0,
// 255 and in between (s8: x = 127 / -128, zero points -128, 127 and in
// between), with padding on every side: the padded taps must contribute
// exactly (x - zx) * w = 0, and no intermediate may overflow.
TEST_P(DepthwisePathTest, ExtremeValuesWithPaddingAreExact) {
  const std::string path = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  for (const auto& [fields, type] :
       {std::pair{"H=6,W=9,C=37,K=37,R=3,S=3,pad=1,groups=37", kU8},
        std::pair{"H=7,W=7,C=20,K=20,R=7,S=7,stride=2,pad=3,groups=20", kU8},
        std::pair{"H=6,W=9,C=37,K=37,R=3,S=3,pad=1,groups=37,act=relu", kS8},
        std::pair{"H=7,W=7,C=20,K=20,R=7,S=7,stride=2,pad=3,groups=20", kS8}}) {
    const OpSpec op = Depthwise(type, fields);
    const bool s8 = type.signed_io;
    for (int zx : s8 ? std::vector<int>{-128, 127, -51} : std::vector<int>{0, 255, 77}) {
      OpData data;
      data.weights_s8.resize(op.weight_elements());
      for (size_t i = 0; i < data.weights_s8.size(); ++i) {
        data.weights_s8[i] = (i % 5 < 3) ? int8_t{-128} : int8_t{127};
      }
      data.bias_s32.assign(op.k, -7);
      data.quant.input_zero_point = zx;
      data.quant.output_zero_point = s8 ? -8 : 120;
      data.quant.requant_scale.assign(op.k, 100.0f / (op.r * op.s * 255 * 128));
      SetActivationClamp(op, 1.0f, data.quant);
      // The low edge in a third of the elements, the high edge elsewhere.
      const uint8_t low = s8 ? 0x80 : 0, high = s8 ? 0x7f : 255;
      std::vector<uint8_t> input(op.input_elements());
      for (size_t i = 0; i < input.size(); ++i) input[i] = (i % 3 == 0) ? low : high;
      std::vector<uint8_t> want(op.output_elements()), got(op.output_elements());
      ASSERT_TRUE(RunReference(op, data, input.data(), want.data()).ok());
      EXPECT_GT(std::count_if(want.begin(), want.end(),
                              [&](uint8_t v) { return v != low && v != high; }),
                0);
      const Target target = PathTarget(path);
      auto space = DescribeSpace(op, target);
      ASSERT_TRUE(space.ok()) << space.status();
      std::mt19937_64 rng(zx);
      std::vector<Config> configs = {space->default_config()};
      for (int i = 0; i < 6; ++i) configs.push_back(*space->Sample(rng));
      for (const Config& config : configs) {
        auto kernel = CreateKernel(op, config, data, target);
        ASSERT_TRUE(kernel.ok()) << kernel.status();
        std::fill(got.begin(), got.end(), 0x5A);
        ASSERT_TRUE((*kernel)->Execute(input.data(), got.data()).ok());
        int64_t diff = 0;
        for (size_t i = 0; i < got.size(); ++i) diff += got[i] != want[i];
        EXPECT_EQ(diff, 0) << fields << " zx=" << zx << " " << space->ToString(config);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, DepthwisePathTest, ::testing::ValuesIn(kPaths));

TEST(DepthwiseSpaceTest, ConstraintsAndKnobs) {
  const OpSpec op = Depthwise(kU8, "H=56,W=56,C=144,K=144,R=3,S=3,pad=1,groups=144");
  for (const char* path : kPaths) {
    if (!CpuHas(path)) continue;
    auto space = DescribeSpace(op, PathTarget(path));
    ASSERT_TRUE(space.ok()) << space.status();
    for (const char* knob : {"tile_h", "tile_w", "tile_c", "loop", "threads"}) {
      EXPECT_NE(space->FindKnob(knob), nullptr) << path << " " << knob;
    }
    space->ForEachValid([&](const Config& c) {
      EXPECT_LE(c.at("tile_h") * c.at("tile_w") * c.at("tile_c") / 16, 24) << path;
      return true;
    });
    // tile_c = 64 with 4 rows x 8 columns needs 32 accumulators: never valid.
    Config too_big = space->default_config();
    too_big["tile_h"] = 4;
    too_big["tile_w"] = 8;
    too_big["tile_c"] = 64;
    EXPECT_FALSE(space->IsValid(too_big)) << path;
  }
  // One channel tile: only the pixels-outer loop order.
  const OpSpec narrow = Depthwise(kF32, "H=8,W=8,C=8,K=8,R=3,S=3,pad=1,groups=8");
  auto space = DescribeSpace(narrow, PathTarget("generic"));
  ASSERT_TRUE(space.ok()) << space.status();
  space->ForEachValid([&](const Config& c) {
    EXPECT_EQ(c.at("loop"), 1);
    return true;
  });
}

TEST(DepthwiseSpaceTest, AllPathsMergeWithAKernelKnob) {
  const OpSpec op = Depthwise(kF32, "H=10,W=10,C=24,K=24,R=3,S=3,pad=1,groups=24");
  Target target;
  target.paths = CpuPaths();
  target.max_threads = 2;
  auto space = DescribeSpace(op, target);
  ASSERT_TRUE(space.ok()) << space.status();
  const Knob* kernel = space->FindKnob("kernel");
  if (CpuHas("avx512bw") || CpuHas("avx2")) {
    ASSERT_NE(kernel, nullptr);
    EXPECT_EQ(kernel->labels.back(), "depthwise_generic");
  }
}

TEST(DepthwisePathsTest, ForcedPathSelectsTheFamily) {
  const char* saved = std::getenv("QTUNE_KERNEL_PATHS");
  const std::string saved_value = saved != nullptr ? saved : "";
  const OpSpec op = Depthwise(kU8, "H=6,W=6,C=20,K=20,R=3,S=3,pad=1,groups=20");
  auto inst = MakeOpInstance(op, 3);
  ASSERT_TRUE(inst.ok());
  for (const char* path : kPaths) {
    if (!CpuHas(path)) continue;
    setenv("QTUNE_KERNEL_PATHS", path, 1);
    const Target target = HostTarget();
    ASSERT_EQ(target.paths, std::vector<std::string>{path});
    auto space = DescribeSpace(op, target);
    ASSERT_TRUE(space.ok()) << space.status();
    EXPECT_EQ(space->FindKnob("kernel"), nullptr);
    auto kernel = CreateKernel(op, space->default_config(), (*inst)->data, target);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    EXPECT_THAT((*kernel)->name(), ::testing::EndsWith(std::string("__") + path));
    EXPECT_THAT((*kernel)->name(), ::testing::StartsWith("depthwise_conv2d_u8s8u8_direct_"));
    OpSpec s8 = op;
    s8.signed_io = true;
    auto s8_inst = MakeOpInstance(s8, 3);
    ASSERT_TRUE(s8_inst.ok());
    auto s8_kernel = CreateKernel(s8, space->default_config(), (*s8_inst)->data, target);
    ASSERT_TRUE(s8_kernel.ok()) << s8_kernel.status();
    EXPECT_THAT((*s8_kernel)->name(), ::testing::StartsWith("depthwise_conv2d_s8s8s8_direct_"));
  }
  if (saved != nullptr) {
    setenv("QTUNE_KERNEL_PATHS", saved_value.c_str(), 1);
  } else {
    unsetenv("QTUNE_KERNEL_PATHS");
  }
}

TEST(DepthwiseKernelErrors, RejectsBadConfigAndData) {
  const OpSpec op = Depthwise(kU8, "H=6,W=6,C=20,K=20,R=3,S=3,pad=1,groups=20");
  auto inst = MakeOpInstance(op, 3);
  ASSERT_TRUE(inst.ok());
  const Target target = PathTarget("generic");
  auto space = DescribeSpace(op, target);
  ASSERT_TRUE(space.ok());
  Config bad = space->default_config();
  bad["tile_c"] = 48;
  EXPECT_EQ(CreateKernel(op, bad, (*inst)->data, target).status().code(),
            absl::StatusCode::kInvalidArgument);
  OpData short_data = (*inst)->data;
  short_data.weights_s8.pop_back();
  EXPECT_EQ(CreateKernel(op, space->default_config(), short_data, target).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto kernel = CreateKernel(op, space->default_config(), (*inst)->data, target);
  ASSERT_TRUE(kernel.ok());
  EXPECT_EQ((*kernel)->Execute(nullptr, nullptr).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qtune::kernels
