// The x86 JIT kernel families against the reference, per kernel path: a
// sweep of shapes (odd sizes, padding, stride 2, dilation, 1x1, C = 3, C and
// K not multiples of 4/16, dense N > 1) x sampled configs, int8 bit-exact and
// fp32 within the verify.h tolerance; inputs that would saturate a naive
// vpmaddubsw; naming; path selection. A path the CPU lacks is skipped.
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

const char* const kPaths[] = {"avx512vnni", "avx512bw", "avx2"};

constexpr size_t kSampled = 24;

using Param = std::tuple<const char*, ShapeCase, TypeCase>;

class X86KernelTest : public ::testing::TestWithParam<Param> {};

TEST_P(X86KernelTest, SampledConfigsMatchTheReference) {
  const auto& [path, shape, type] = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  const std::string text = shape.Text(type);
  auto op = ParseOpSpec(text);
  ASSERT_TRUE(op.ok()) << op.status();
  auto inst = MakeOpInstance(*op, 17);
  ASSERT_TRUE(inst.ok()) << inst.status();
  const Target target = PathTarget(path);
  auto space = DescribeSpace(*op, target);
  ASSERT_TRUE(space.ok()) << space.status();

  const std::vector<Config> configs = DefaultAndSampled(*space, kSampled, text + path);
  const std::regex name_re(std::string("(conv2d|dense)_(u8s8u8|s8s8s8|f32)_(direct|gemm)_([0-9]+)x([0-9]+)"
                                       "(c4|c2)?__") + path);
  for (const Config& config : configs) {
    const auto name = ExpectMatchesReference(**inst, *space, config, target, name_re, text);
    ASSERT_TRUE(name);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(*name, m, name_re));
    EXPECT_EQ(std::stoi(m[4]), config.at("tile_m")) << *name;
  }
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  const auto& [path, shape, type] = info.param;
  return std::string(path) + "_" + type.Name() + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(Shapes, X86KernelTest,
                         ::testing::Combine(::testing::ValuesIn(kPaths),
                                            ::testing::ValuesIn(kKernelShapes),
                                            ::testing::ValuesIn(kAllTypes)),
                         ParamName);

// Runs the default and 6 sampled configs of `op` on `path` with `data` and
// `input`, and expects exactly the reference's output.
void ExpectConfigsMatchReference(const std::string& path, const OpSpec& op, const OpData& data,
                                 const uint8_t* input, const std::string& what) {
  std::vector<uint8_t> want(op.output_elements()), got(op.output_elements(), 0x5A);
  ASSERT_TRUE(RunReference(op, data, input, want.data()).ok());
  const Target target = PathTarget(path);
  auto space = DescribeSpace(op, target);
  ASSERT_TRUE(space.ok()) << space.status();
  std::mt19937_64 rng(5);
  std::vector<Config> configs = {space->default_config()};
  for (int i = 0; i < 6; ++i) configs.push_back(*space->Sample(rng));
  for (const Config& config : configs) {
    auto kernel = CreateKernel(op, config, data, target);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    ASSERT_TRUE((*kernel)->Execute(input, got.data()).ok());
    int64_t diff = 0;
    for (size_t i = 0; i < got.size(); ++i) diff += got[i] != want[i];
    EXPECT_EQ(diff, 0) << what << " " << space->ToString(config);
  }
}

// x = 255 against weight pairs (-128, -128) and (127, 127): a naive
// vpmaddubsw would saturate every pair sum (-65280 / 64770 do not fit int16).
// s8 activations: x = -128 (x + 128 = 0 on the VNNI path, all of the sum in
// the compensation) and 127, zero points -128, 0 and 127 (|x - zx| up to 255).
class X86SaturationTest
    : public ::testing::TestWithParam<std::tuple<const char*, TypeCase>> {};

TEST_P(X86SaturationTest, ExtremePairsAreExact) {
  const auto& [path_name, type] = GetParam();
  const std::string path = path_name;
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  const bool s8 = type.signed_io;
  for (const char* spec : {"conv2d/int8/H=6,W=9,C=64,K=48,R=3,S=3,pad=1",
                           "conv2d/int8/H=5,W=5,C=6,K=20,R=1,S=1", "dense/int8/N=3,C=96,K=40",
                           "conv2d/int8/H=7,W=8,C=3,K=16,R=5,S=5,stride=2,pad=2"}) {
    for (int zx : s8 ? std::vector<int>{-128, 0, 127} : std::vector<int>{0, 255, 3}) {
      auto op = ParseOpSpec(std::string(spec) + (s8 ? ",io=s8" : ""));
      ASSERT_TRUE(op.ok());
      OpData data;
      data.weights_s8.resize(op->weight_elements());
      for (size_t i = 0; i < data.weights_s8.size(); ++i) {
        // Runs of 8 equal extremes, so aligned pairs and quads share a sign;
        // every output channel gets a different mix.
        const size_t k = i / (op->weight_elements() / op->k);
        data.weights_s8[i] = ((i / 8 + k) % 3 == 0) ? int8_t{127} : int8_t{-128};
      }
      data.bias_s32.assign(op->k, 1000);
      data.quant.input_zero_point = zx;
      data.quant.output_zero_point = s8 ? 0 : 128;
      const int64_t range = op->reduction_size() * 255 * 128;
      data.quant.requant_scale.assign(op->k, 120.0f / static_cast<float>(range));
      SetActivationClamp(*op, 1.0f, data.quant);
      // u8: 255 with some 0; s8: -128 with some 127.
      const uint8_t many = s8 ? 0x80 : 255, some = s8 ? 0x7f : 0;
      std::vector<uint8_t> input(op->input_elements(), many);
      for (size_t i = 0; i < input.size(); i += 7) input[i] = some;
      std::vector<uint8_t> want(op->output_elements());
      ASSERT_TRUE(RunReference(*op, data, input.data(), want.data()).ok());
      // The test is meaningful only if outputs are not all clamped.
      EXPECT_GT(std::count_if(want.begin(), want.end(),
                              [&](uint8_t v) { return v != many && v != (many ^ 0xff); }),
                0);
      ExpectConfigsMatchReference(path, *op, data, input.data(),
                                  std::string(spec) + " zx=" + std::to_string(zx));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, X86SaturationTest,
                         ::testing::Combine(::testing::ValuesIn(kPaths),
                                            ::testing::ValuesIn(kInt8Types)),
                         PathTypeName());

// Scales large enough that float(acc) * scale leaves the int32 range (up to
// +-inf): the kernels must clamp like the reference instead of converting.
TEST_P(X86SaturationTest, HugeScalesClampLikeTheReference) {
  const auto& [path_name, type] = GetParam();
  const std::string path = path_name;
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  for (const char* act : {"none", "relu", "relu6"}) {
    auto op = ParseOpSpec(std::string("conv2d/int8/H=5,W=6,C=8,K=70,R=3,S=3,pad=1,act=") + act +
                          (type.signed_io ? ",io=s8" : ""));
    ASSERT_TRUE(op.ok());
    for (float scale : {1e-6f, 0.5f, 1e5f, 3e9f, 3e38f}) {
      auto inst = MakeOpInstance(*op, 23);
      ASSERT_TRUE(inst.ok());
      OpData data = (*inst)->data;
      for (size_t k = 0; k < data.quant.requant_scale.size(); ++k) {
        data.quant.requant_scale[k] = k % 3 == 0 ? scale : data.quant.requant_scale[k];
      }
      ExpectConfigsMatchReference(path, *op, data, (*inst)->input.as<uint8_t>(),
                                  std::string(act) + " scale " + std::to_string(scale));
    }
  }
}

// Every vector count on a K that leaves a partial last vector, so that the
// masked stores of both epilogue forms (and the 64-byte packed store) run.
TEST_P(X86SaturationTest, PartialChannelBlocksForEveryVectorCount) {
  const auto& [path_name, type] = GetParam();
  const std::string path = path_name;
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  const std::string io = type.signed_io ? ",io=s8" : "";
  for (const std::string& spec : {"conv2d/int8/H=4,W=9,C=12,K=60,R=3,S=3,pad=1,act=relu" + io,
                                 "conv2d/int8/H=4,W=9,C=12,K=60,R=3,S=3,pad=1,act=relu6" + io,
                                 std::string("conv2d/fp32/H=4,W=9,C=12,K=60,R=3,S=3,pad=1,act=relu6"),
                                 "dense/int8/N=3,C=20,K=123" + io}) {
    auto op = ParseOpSpec(spec);
    ASSERT_TRUE(op.ok());
    auto inst = MakeOpInstance(*op, 4);
    ASSERT_TRUE(inst.ok());
    const Target target = PathTarget(path);
    auto space = DescribeSpace(*op, target);
    ASSERT_TRUE(space.ok());
    AlignedBuffer out((*inst)->reference.size());
    for (int64_t nv : space->FindKnob("tile_nv")->values) {
      Config c = space->default_config();
      c["tile_nv"] = nv;
      c["tile_m"] = std::min<int64_t>(2, space->FindKnob("tile_m")->values.back());
      c["wload"] = 0;
      if (!space->IsValid(c)) continue;
      auto kernel = CreateKernel(*op, c, (*inst)->data, target);
      ASSERT_TRUE(kernel.ok()) << kernel.status();
      ASSERT_TRUE((*kernel)->Execute((*inst)->input.data(), out.data()).ok());
      VerifyResult v = VerifyOutput(**inst, out.data());
      EXPECT_EQ(v.mismatches, 0) << spec << " " << space->ToString(c) << ": " << v.Summary();
    }
  }
}

// Kernels share prepacked constants (per op, data and packing knobs): a
// kernel built for other data of the same op, or for data changed in place,
// must not run on the tables of an earlier kernel.
TEST(X86PackSharingTest, KernelsFollowTheirOwnData) {
  for (const char* path : kPaths) {
    if (!CpuHas(path)) continue;
    for (const char* text : {"conv2d/int8/H=9,W=7,C=20,K=24,R=3,S=3,pad=1",
                             "conv2d/int8/H=9,W=7,C=20,K=24,R=3,S=3,pad=1,io=s8",
                             "conv2d/fp32/H=9,W=7,C=20,K=24,R=3,S=3,pad=1"}) {
      SCOPED_TRACE(std::string(path) + " " + text);
      auto op = ParseOpSpec(text);
      ASSERT_TRUE(op.ok()) << op.status();
      const Target target = PathTarget(path);
      auto space = DescribeSpace(*op, target);
      ASSERT_TRUE(space.ok()) << space.status();
      const Config config = space->default_config();
      AlignedBuffer out(op->output_elements() * ElementBytes(op->dtype));
      auto check = [&](const OpInstance& inst) {
        auto kernel = CreateKernel(*op, config, inst.data, target);
        ASSERT_TRUE(kernel.ok()) << kernel.status();
        ASSERT_TRUE((*kernel)->Execute(inst.input.data(), out.data()).ok());
        VerifyResult v = VerifyOutput(inst, out.data());
        EXPECT_EQ(v.mismatches, 0) << v.Summary();
      };
      auto first = MakeOpInstance(*op, 1);
      auto second = MakeOpInstance(*op, 2);
      ASSERT_TRUE(first.ok() && second.ok());
      check(**first);
      check(**second);
      // One weight changed in place: the reference is recomputed for it.
      OpInstance& changed = **first;
      if (op->dtype == DType::kInt8) {
        changed.data.weights_s8[5] = static_cast<int8_t>(-changed.data.weights_s8[5] - 1);
      } else {
        changed.data.weights_f32[5] += 0.5f;
      }
      ASSERT_TRUE(RunReference(*op, changed.data, changed.input.data(), changed.reference.data(),
                               changed.magnitude.as<float>())
                      .ok());
      check(changed);
    }
  }
}

TEST(X86PathsTest, HostTargetListsSupportedPathsBestFirstAndHonoursTheOverride) {
  const std::vector<std::string> paths = CpuPaths();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.back(), "generic");
  // Best first: avx512vnni before avx512bw before avx2.
  std::vector<std::string> x86;  // the JIT paths, in HostTarget order
  for (const std::string& p : paths) {
    if (std::find(std::begin(kPaths), std::end(kPaths), p) != std::end(kPaths)) x86.push_back(p);
  }
  std::vector<std::string> ordered;
  for (const char* p : kPaths) {
    if (std::find(x86.begin(), x86.end(), p) != x86.end()) ordered.push_back(p);
  }
  EXPECT_EQ(x86, ordered);

  const char* saved = std::getenv("QTUNE_KERNEL_PATHS");
  const std::string saved_value = saved != nullptr ? saved : "";
  for (const char* p : kPaths) {
    setenv("QTUNE_KERNEL_PATHS", (std::string(p) + ",generic").c_str(), 1);
    const std::vector<std::string> forced = HostTarget().paths;
    if (CpuHas(p)) {
      EXPECT_EQ(forced, (std::vector<std::string>{p, "generic"}));
    } else {
      EXPECT_EQ(forced, (std::vector<std::string>{"generic"}));
    }
  }
  if (saved != nullptr) {
    setenv("QTUNE_KERNEL_PATHS", saved_value.c_str(), 1);
  } else {
    unsetenv("QTUNE_KERNEL_PATHS");
  }
}

TEST(X86NamesTest, DefaultKernelsFollowTheNamingScheme) {
  if (!CpuHas("avx512vnni")) GTEST_SKIP() << "this CPU lacks the avx512vnni path";
  struct Case {
    const char* spec;
    const char* path;
    const char* name;
  };
  const Case cases[] = {
      {"conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1", "avx512vnni",
       "conv2d_u8s8u8_direct_6x64c4__avx512vnni"},
      {"conv2d/fp32/H=56,W=56,C=64,K=64,R=3,S=3,pad=1", "avx512bw",
       "conv2d_f32_direct_6x64__avx512bw"},
      {"conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1", "avx512bw",
       "conv2d_u8s8u8_direct_6x64c2__avx512bw"},
      {"conv2d/int8/H=14,W=14,C=64,K=64,R=1,S=1", "avx512vnni",
       "conv2d_u8s8u8_gemm_6x64c4__avx512vnni"},
      {"dense/int8/C=512,K=1000", "avx512vnni", "dense_u8s8u8_gemm_1x64c4__avx512vnni"},
      {"conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1,io=s8", "avx512vnni",
       "conv2d_s8s8s8_direct_6x64c4__avx512vnni"},
      {"conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1,io=s8", "avx512bw",
       "conv2d_s8s8s8_direct_6x64c2__avx512bw"},
      {"dense/int8/C=512,K=1000,io=s8", "avx512vnni", "dense_s8s8s8_gemm_1x64c4__avx512vnni"},
  };
  for (const Case& c : cases) {
    auto op = ParseOpSpec(c.spec);
    ASSERT_TRUE(op.ok());
    auto inst = MakeOpInstance(*op, 1);
    ASSERT_TRUE(inst.ok());
    const Target target = PathTarget(c.path);
    auto space = DescribeSpace(*op, target);
    ASSERT_TRUE(space.ok()) << space.status();
    auto kernel = CreateKernel(*op, space->default_config(), (*inst)->data, target);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    EXPECT_EQ((*kernel)->name(), c.name);
  }
}

// s8 inputs on the VNNI path: the s8in knob (flip per broadcast or in a
// staged copy) exists when the input would be read in place (C % 4 == 0),
// both values are exact, and the in-loop flip needs one register more.
TEST(X86SpaceTest, S8InputKnob) {
  if (!CpuHas("avx512vnni")) GTEST_SKIP() << "this CPU lacks the avx512vnni path";
  const Target target = PathTarget("avx512vnni");
  auto u8 = DescribeSpace(*ParseOpSpec("conv2d/int8/H=9,W=20,C=16,K=64,R=3,S=3,pad=1"), target);
  auto odd = DescribeSpace(*ParseOpSpec("conv2d/int8/H=9,W=20,C=6,K=64,R=3,S=3,pad=1,io=s8"),
                           target);
  ASSERT_TRUE(u8.ok() && odd.ok());
  EXPECT_EQ(u8->FindKnob("s8in"), nullptr);
  EXPECT_EQ(odd->FindKnob("s8in"), nullptr);
  for (const char* spec : {"conv2d/int8/H=9,W=20,C=16,K=64,R=3,S=3,pad=1,act=relu,io=s8",
                           "conv2d/int8/H=8,W=8,C=32,K=40,R=1,S=1,io=s8",
                           "dense/int8/N=3,C=64,K=70,io=s8"}) {
    auto op = ParseOpSpec(spec);
    ASSERT_TRUE(op.ok());
    auto inst = MakeOpInstance(*op, 2);
    ASSERT_TRUE(inst.ok());
    auto space = DescribeSpace(*op, target);
    ASSERT_TRUE(space.ok()) << space.status();
    const Knob* knob = space->FindKnob("s8in");
    ASSERT_NE(knob, nullptr) << spec;
    EXPECT_EQ(knob->labels, (std::vector<std::string>{"loop", "stage"}));
    EXPECT_EQ(space->default_config().at("s8in"), 0);
    const std::regex name_re(".*_s8s8s8_.*__avx512vnni");
    for (int64_t s8in : {0, 1}) {
      Config c = space->default_config();
      c["s8in"] = s8in;
      c["tile_m"] = 1;
      for (int64_t nv : {4, 2, 1}) {
        c["tile_nv"] = nv;
        if (space->IsValid(c)) break;
      }
      ASSERT_TRUE(space->IsValid(c)) << space->ToString(c);
      EXPECT_TRUE(ExpectMatchesReference(**inst, *space, c, target, name_re, spec));
    }
    // Weights as memory operands: 10 x 3 accumulators + 2 broadcasts fill
    // the 32 registers, so only s8in=stage fits; 9 x 3 fits either way.
    if (space->FindKnob("tile_m")->values.back() >= 10) {
      Config c = space->default_config();
      c["wload"] = 0;
      c["tile_nv"] = 3;
      c["kc"] = space->FindKnob("kc")->values.front();
      for (int64_t s8in : {0, 1}) {
        c["s8in"] = s8in;
        c["tile_m"] = 9;
        EXPECT_TRUE(space->IsValid(c)) << space->ToString(c);
        c["tile_m"] = 10;
        EXPECT_EQ(space->IsValid(c), s8in == 1) << space->ToString(c);
      }
    }
  }
}

TEST(X86SpaceTest, RegisterBudgetIsAConstraint) {
  if (!CpuHas("avx2")) GTEST_SKIP() << "this CPU lacks the avx2 path";
  auto op = ParseOpSpec("conv2d/int8/H=20,W=20,C=16,K=64,R=3,S=3,pad=1");
  ASSERT_TRUE(op.ok());
  auto inst = MakeOpInstance(*op, 1);
  ASSERT_TRUE(inst.ok());
  const Target target = PathTarget("avx2");
  auto space = DescribeSpace(*op, target);
  ASSERT_TRUE(space.ok());
  Config c = space->default_config();
  c["tile_m"] = 8;
  c["tile_nv"] = 4;  // 32 accumulators: more than the 16 ymm registers
  auto kernel = CreateKernel(*op, c, (*inst)->data, target);
  EXPECT_EQ(kernel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(kernel.status().message()), ::testing::HasSubstr("tile_m * tile_nv"));
}

}  // namespace
}  // namespace qtune::kernels
