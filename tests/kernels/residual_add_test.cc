// The fused residual add (kernel.h's ResidualAdd) on every conv2d / dense
// kernel path this CPU has (x86 JIT: both epilogue forms, AVX-512 and AVX2,
// partial lanes; generic; ARM), u8 and s8: the kernels' output against
// RunReferenceWithResidual bit for bit, over the shared shapes x sampled
// configs x residual-add cases (mid-range, ReLU, extreme zero points and
// clamps, saturating, tiny, huge, infinite, negative and tie-making ratios);
// the reference element formula itself; and the API's refusals.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "qtune/kernels/buffer.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/reference.h"
#include "qtune/kernels/verify.h"
#include "tests/kernels/kernel_test_util.h"

namespace qtune::kernels {
namespace {

// Paths with conv2d / dense kernels; those this CPU lacks are skipped.
const char* const kPaths[] = {"avx512vnni", "avx512bw", "avx2",    "neoni8mm",
                              "neondot",    "neon",     "generic"};

constexpr float kInf = std::numeric_limits<float>::infinity();

// Residual-add case `i` (of kAddCases) in the activations' range of s8 or u8.
constexpr int kAddCases = 11;
ResidualAdd AddCase(int i, bool s8) {
  const int32_t lo = s8 ? -128 : 0, hi = s8 ? 127 : 255, mid = s8 ? -28 : 100;
  ResidualAdd a;
  a.lo = lo;
  a.hi = hi;
  switch (i) {
    case 0:  // ResNet-like: mid-range zero points, ratios near 1
      a = {0.75f, mid, 1.25f, mid - 10, lo, hi};
      break;
    case 1:  // a ReLU after the add
      a = {1.0f, mid + 20, 0.9f, mid, mid, hi};
      break;
    case 2:  // extreme zero points
      a = {0.9f, hi, 1.1f, lo, lo, hi};
      break;
    case 3:  // extreme zero points, a narrow clamp
      a = {1.3f, lo, 0.6f, lo + 3, lo + 3, lo + 40};
      break;
    case 4:  // saturating
      a = {37.0f, mid, 41.0f, mid, lo, hi};
      break;
    case 5:  // tiny: almost every output is the zero point
      a = {1e-3f, mid, 2e-3f, hi, lo, hi};
      break;
    case 6:  // huge and denormal-small ratios (not the packed form)
      a = {1e30f, mid, 1e-30f, mid, lo, hi};
      break;
    case 7:  // infinite: c == zc gives 0 * inf = NaN -> lo
      a = {kInf, mid, 0.5f, mid, mid - 5, hi};
      break;
    case 8:  // negative ratio
      a = {-0.5f, lo, 0.75f, mid, lo, hi};
      break;
    case 9:  // products overflow to +-inf, inf - inf = NaN
      a = {3e38f, hi, 3e38f, lo, lo, hi};
      break;
    default:  // halves everywhere: ties round to even
      a = {0.5f, mid, 0.5f, mid + 1, lo, hi};
      break;
  }
  return a;
}

// Ratios on which a fused multiply-add gives another result: for c - zc = 5
// and b - zb = -1 the product 5 * (1 + 2^-23) = 5 + 1.25 * 2^-21 rounds to
// 5 + 2^-21, the sum with -(4.5 + 2^-21) is 0.5 exactly and rounds (to even)
// to 0; rounded once, as by vfmadd, the sum 0.5 + 2^-23 rounds to 1.
constexpr float kFmaConv = 1.0f + 0x1p-23f;
constexpr float kFmaResidual = 4.5f + 0x1p-21f;

// A residual tensor: uniform bytes, 1 in 8 an edge value of the type.
std::vector<uint8_t> Residual(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t r = rng();
    b[i] = (r & 7) == 0 ? ((r >> 3) & 1 ? 0x7f : 0x80) : (r & 7) == 1 ? ((r >> 3) & 1 ? 0 : 255)
                                                                      : static_cast<uint8_t>(r >> 8);
  }
  return b;
}

// Builds the kernel of `config` with `data` (its residual_add set), runs it
// on a garbage-filled output and expects the reference's bytes. Returns
// false after recording a failure.
bool ExpectFusedMatches(const OpSpec& op, const OpData& data, const Config& config,
                        const Target& target, const uint8_t* input, const uint8_t* residual,
                        const std::string& what) {
  const size_t n = static_cast<size_t>(op.output_elements());
  std::vector<uint8_t> want(n), got(n, 0xA5);
  const absl::Status ref = RunReferenceWithResidual(op, data, input, residual, want.data());
  if (!ref.ok()) {
    ADD_FAILURE() << what << ": " << ref;
    return false;
  }
  auto kernel = CreateKernel(op, config, data, target);
  if (!kernel.ok()) {
    ADD_FAILURE() << what << " " << ConfigToString(config) << ": " << kernel.status();
    return false;
  }
  const absl::Status run = (*kernel)->ExecuteWithResidual(input, residual, got.data());
  if (!run.ok()) {
    ADD_FAILURE() << what << ": " << run;
    return false;
  }
  size_t diff = 0, first = n;
  for (size_t i = 0; i < n; ++i) {
    if (got[i] != want[i]) {
      ++diff;
      first = std::min(first, i);
    }
  }
  if (diff != 0) {
    ADD_FAILURE() << what << " " << (*kernel)->name() << " " << ConfigToString(config) << ": "
                  << diff << " of " << n << " outputs differ; first at " << first << " (got "
                  << int{got[first]} << ", want " << int{want[first]} << ")";
    return false;
  }
  return true;
}

using Param = std::tuple<const char*, ShapeCase, TypeCase>;

class ResidualAddTest : public ::testing::TestWithParam<Param> {};

// Every add case on the default config, and sampled configs with the cases
// in turn.
TEST_P(ResidualAddTest, SampledConfigsMatchTheReference) {
  const auto& [path, shape, type] = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  const std::string text = shape.Text(type);
  auto op = ParseOpSpec(text);
  ASSERT_TRUE(op.ok()) << op.status();
  // Seeds 16, 17, 18 give the three zero-point regimes of MakeOpInstance.
  auto inst = MakeOpInstance(*op, 16 + std::hash<std::string>{}(text) % 3);
  ASSERT_TRUE(inst.ok()) << inst.status();
  const std::vector<uint8_t> residual = Residual(op->output_elements(), 7);
  const Target target = PathTarget(path);
  auto space = DescribeSpace(*op, target);
  ASSERT_TRUE(space.ok()) << space.status();
  const std::vector<Config> configs =
      DefaultAndSampled(*space, 10, text + path + "residual");
  OpData data = (*inst)->data;
  for (size_t i = 0; i < configs.size() + kAddCases - 1; ++i) {
    const int add_case = static_cast<int>(i % kAddCases);
    const Config& config = configs[i < kAddCases ? 0 : i - kAddCases + 1];
    data.residual_add = AddCase(add_case, type.signed_io);
    ASSERT_TRUE(ExpectFusedMatches(*op, data, config, target, (*inst)->input.as<uint8_t>(),
                                   residual.data(),
                                   text + " add case " + std::to_string(add_case)));
  }
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  const auto& [path, shape, type] = info.param;
  return std::string(path) + "_" + type.Name() + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ResidualAddTest,
                         ::testing::Combine(::testing::ValuesIn(kPaths),
                                            ::testing::ValuesIn(kKernelShapes),
                                            ::testing::ValuesIn(kInt8Types)),
                         ParamName);

class ResidualAddPathTest
    : public ::testing::TestWithParam<std::tuple<const char*, TypeCase>> {};

// Every vector count of the x86 tile (and the other paths' knob values) on
// channel counts that leave partial last vectors in packed groups (K = 60,
// 124) and general vectors (K = 100, 200): the masked residual loads and
// stores of both epilogue forms; ratios that allow the packed form and ones
// that do not.
TEST_P(ResidualAddPathTest, EveryVectorCountAndPartialLanes) {
  const auto& [path, type] = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  const std::string io = type.signed_io ? ",io=s8" : "";
  const Target target = PathTarget(path);
  for (const std::string& spec :
       {"conv2d/int8/H=3,W=7,C=12,K=60,R=3,S=3,pad=1" + io,
        "conv2d/int8/H=2,W=5,C=16,K=124,R=1,S=1,stride=2" + io,
        "conv2d/int8/H=3,W=4,C=8,K=100,R=3,S=3,pad=1,act=relu" + io,
        "dense/int8/N=3,C=20,K=200" + io}) {
    auto op = ParseOpSpec(spec);
    ASSERT_TRUE(op.ok()) << spec;
    auto inst = MakeOpInstance(*op, 18);
    ASSERT_TRUE(inst.ok());
    const std::vector<uint8_t> residual = Residual(op->output_elements(), 11);
    auto space = DescribeSpace(*op, target);
    ASSERT_TRUE(space.ok());
    const char* knob = space->FindKnob("tile_nv") != nullptr ? "tile_nv" : "nr";
    const Knob* vectors = space->FindKnob(knob);
    if (vectors == nullptr) continue;  // a path with a fixed tile
    OpData data = (*inst)->data;
    for (int add_case : {0, 1, 6, 9}) {
      data.residual_add = AddCase(add_case, type.signed_io);
      for (int64_t v : vectors->values) {
        Config c = space->default_config();
        c[knob] = v;
        if (space->FindKnob("tile_m") != nullptr) c["tile_m"] = 1;
        if (!space->IsValid(c)) continue;
        ASSERT_TRUE(ExpectFusedMatches(*op, data, c, target, (*inst)->input.as<uint8_t>(),
                                       residual.data(),
                                       spec + " add case " + std::to_string(add_case)));
      }
    }
  }
}

// Requantisation scales that saturate the convolution's own output (up to
// float(acc) * scale = +-inf), and a requantised output clamped by the
// convolution's own ReLU6, before the add.
TEST_P(ResidualAddPathTest, SaturatedConvolutionOutputs) {
  const auto& [path, type] = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  const Target target = PathTarget(path);
  for (const char* act : {"none", "relu6"}) {
    auto op = ParseOpSpec(std::string("conv2d/int8/H=5,W=6,C=8,K=70,R=3,S=3,pad=1,act=") + act +
                          (type.signed_io ? ",io=s8" : ""));
    ASSERT_TRUE(op.ok());
    auto inst = MakeOpInstance(*op, 23);
    ASSERT_TRUE(inst.ok());
    const std::vector<uint8_t> residual = Residual(op->output_elements(), 3);
    auto space = DescribeSpace(*op, target);
    ASSERT_TRUE(space.ok());
    std::mt19937_64 rng(9);
    std::vector<Config> configs = {space->default_config()};
    for (int i = 0; i < 3; ++i) configs.push_back(*space->Sample(rng));
    for (float scale : {1e-6f, 3e9f, 3e38f}) {
      OpData data = (*inst)->data;
      for (size_t k = 0; k < data.quant.requant_scale.size(); ++k) {
        if (k % 3 == 0) data.quant.requant_scale[k] = scale;
      }
      data.residual_add = AddCase(0, type.signed_io);
      for (const Config& c : configs) {
        ASSERT_TRUE(ExpectFusedMatches(*op, data, c, target, (*inst)->input.as<uint8_t>(),
                                       residual.data(),
                                       std::string(act) + " scale " + std::to_string(scale)));
      }
    }
  }
}

// The ratios of kFmaConv, either way round: every residual byte is zb - 1
// and some outputs have c - zc = 5, or every residual byte is zb + 5 and
// some outputs have c - zc = -1; contracting either product and the sum into
// one fused multiply-add changes those results.
TEST_P(ResidualAddPathTest, ProductsAndSumAreRoundedSeparately) {
  const auto& [path, type] = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  ASSERT_EQ(std::nearbyint(std::fma(5.0f, kFmaConv, -kFmaResidual)), 1.0f);
  const Target target = PathTarget(path);
  for (const char* spec : {"conv2d/int8/H=6,W=7,C=24,K=72,R=3,S=3,pad=1",
                           "dense/int8/N=12,C=64,K=72"}) {
    auto op = ParseOpSpec(std::string(spec) + (type.signed_io ? ",io=s8" : ""));
    ASSERT_TRUE(op.ok());
    auto inst = MakeOpInstance(*op, 18);
    ASSERT_TRUE(inst.ok());
    auto space = DescribeSpace(*op, target);
    ASSERT_TRUE(space.ok());
    const std::vector<Config> configs = DefaultAndSampled(*space, 4, std::string(spec) + path);
    const int32_t zc = (*inst)->data.quant.output_zero_point;
    const uint8_t* c = (*inst)->reference.as<uint8_t>();
    const int32_t lo = type.signed_io ? -128 : 0, hi = type.signed_io ? 127 : 255;
    const int32_t zb = type.signed_io ? 0 : 100;
    for (const bool conv_inexact : {true, false}) {
      const int32_t c_term = conv_inexact ? 5 : -1, b_term = conv_inexact ? -1 : 5;
      const int64_t hits = std::count_if(c, c + op->output_elements(), [&](uint8_t v) {
        return (type.signed_io ? int32_t{static_cast<int8_t>(v)} : int32_t{v}) - zc == c_term;
      });
      ASSERT_GT(hits, 0) << spec;
      OpData data = (*inst)->data;
      data.residual_add = conv_inexact ? ResidualAdd{kFmaConv, zb, kFmaResidual, lo, lo, hi}
                                       : ResidualAdd{kFmaResidual, zb, kFmaConv, lo, lo, hi};
      const std::vector<uint8_t> residual(op->output_elements(),
                                          static_cast<uint8_t>(zb + b_term));
      for (const Config& config : configs) {
        ASSERT_TRUE(ExpectFusedMatches(*op, data, config, target, (*inst)->input.as<uint8_t>(),
                                       residual.data(), spec));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, ResidualAddPathTest,
                         ::testing::Combine(::testing::ValuesIn(kPaths),
                                            ::testing::ValuesIn(kInt8Types)),
                         PathTypeName());

// The element formula: binary32 products and sum, ties to even, NaN to lo,
// infinities to the clamp, s8 bytes in two's complement.
TEST(AddResidualTest, RoundsTiesToEvenClampsAndSendsNaNToLo) {
  ResidualAdd a{0.5f, 0, 0.5f, 10, 0, 255};
  // (3 + 2) / 2 = 2.5 -> 2; (5 + 2) / 2 = 3.5 -> 4; plus the zero point 10.
  EXPECT_EQ(AddResidual(3, 2, 0, a, false), 12);
  EXPECT_EQ(AddResidual(5, 2, 0, a, false), 14);
  // The convolution's zero point is subtracted first: (7 - 4) * 0.5 + 1 = 2.5 -> 2.
  EXPECT_EQ(AddResidual(7, 2, 4, a, false), 12);
  a.conv_ratio = kInf;
  EXPECT_EQ(AddResidual(4, 2, 4, a, false), 0);    // 0 * inf = NaN -> lo
  EXPECT_EQ(AddResidual(5, 2, 4, a, false), 255);  // +inf -> hi
  EXPECT_EQ(AddResidual(3, 2, 4, a, false), 0);    // -inf -> lo
  a.lo = 20;
  EXPECT_EQ(AddResidual(4, 2, 4, a, false), 20);
  // s8: bytes 0xff = -1 and 0x80 = -128; zero point -5, clamp [-128, 127].
  ResidualAdd s{1.0f, -128, 1.0f, -5, -128, 127};
  EXPECT_EQ(AddResidual(0xff, 0x80, 0, s, true), static_cast<uint8_t>(int8_t{-6}));
  EXPECT_EQ(AddResidual(0x7f, 0x7f, -128, s, true), 0x7f);
  // Products rounded on their own, then summed (no fused multiply-add):
  // kFmaConv/kFmaResidual below.
  const ResidualAdd f{kFmaConv, 1, kFmaResidual, 0, 0, 255};
  EXPECT_EQ(AddResidual(5, 0, 0, f, false), 0);
}

TEST(ResidualAddApiTest, RefusalsAndMisuse) {
  auto op = ParseOpSpec("conv2d/int8/H=6,W=6,C=16,K=16,R=1,S=1");
  ASSERT_TRUE(op.ok());
  auto inst = MakeOpInstance(*op, 5);
  ASSERT_TRUE(inst.ok());
  const Target target = HostTarget();
  auto space = DescribeSpace(*op, target);
  ASSERT_TRUE(space.ok());
  const Config config = space->default_config();
  OpData data = (*inst)->data;
  data.residual_add = AddCase(0, false);
  std::vector<uint8_t> out(op->output_elements());
  const uint8_t* in = (*inst)->input.as<uint8_t>();

  auto fused = CreateKernel(*op, config, data, target);
  ASSERT_TRUE(fused.ok()) << fused.status();
  EXPECT_EQ((*fused)->Execute(in, out.data()).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*fused)->ExecuteWithResidual(in, nullptr, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
  // The residual may be the input (here the same shape as the output).
  EXPECT_TRUE(ExpectFusedMatches(*op, data, config, target, in, in, "residual = input"));

  auto plain = CreateKernel(*op, config, (*inst)->data, target);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->ExecuteWithResidual(in, in, out.data()).code(),
            absl::StatusCode::kFailedPrecondition);

  // Bad parameters.
  for (auto bad : {+[](ResidualAdd& a) { a.zero_point = 256; },
                   +[](ResidualAdd& a) { a.residual_zero_point = -1; },
                   +[](ResidualAdd& a) { a.lo = 200, a.hi = 100; },
                   +[](ResidualAdd& a) { a.conv_ratio = std::nanf(""); }}) {
    OpData d = data;
    bad(*d.residual_add);
    EXPECT_EQ(CreateKernel(*op, config, d, target).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  // fp32 ops have no residual add; depthwise kernels decline it.
  auto fp32 = ParseOpSpec("conv2d/fp32/H=6,W=6,C=16,K=16,R=1,S=1");
  ASSERT_TRUE(fp32.ok());
  auto fp32_inst = MakeOpInstance(*fp32, 5);
  ASSERT_TRUE(fp32_inst.ok());
  OpData f = (*fp32_inst)->data;
  f.residual_add = AddCase(0, false);
  auto fp32_space = DescribeSpace(*fp32, target);
  ASSERT_TRUE(fp32_space.ok());
  EXPECT_EQ(CreateKernel(*fp32, fp32_space->default_config(), f, target).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto dw = ParseOpSpec("depthwise_conv2d/int8/H=6,W=6,C=16,K=16,R=3,S=3,pad=1,groups=16");
  ASSERT_TRUE(dw.ok()) << dw.status();
  auto dw_inst = MakeOpInstance(*dw, 5);
  ASSERT_TRUE(dw_inst.ok());
  OpData d = (*dw_inst)->data;
  d.residual_add = AddCase(0, false);
  auto dw_space = DescribeSpace(*dw, target);
  ASSERT_TRUE(dw_space.ok());
  EXPECT_EQ(CreateKernel(*dw, dw_space->default_config(), d, target).status().code(),
            absl::StatusCode::kUnimplemented);
  // The reference needs the residual add and its tensor.
  EXPECT_EQ(RunReferenceWithResidual(*op, (*inst)->data, in, in, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunReferenceWithResidual(*op, data, in, nullptr, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qtune::kernels
