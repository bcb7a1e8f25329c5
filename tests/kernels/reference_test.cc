#include "qtune/kernels/reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/verify.h"

namespace qtune::kernels {
namespace {

using ::testing::ElementsAre;

OpSpec Parse(const char* text) {
  auto op = ParseOpSpec(text);
  EXPECT_TRUE(op.ok()) << op.status();
  return *op;
}

// int8 data with unit requantisation: y = acc + zy, no clamping inside [0, 255].
OpData Int8Data(const OpSpec& op, std::vector<int8_t> weights, std::vector<int32_t> bias,
                int32_t zx, int32_t zy) {
  OpData d;
  d.weights_s8 = std::move(weights);
  d.bias_s32 = std::move(bias);
  d.quant.input_zero_point = zx;
  d.quant.output_zero_point = zy;
  d.quant.requant_scale.assign(op.k, 1.0f);
  return d;
}

TEST(RequantizeTest, RoundsHalfToEven) {
  EXPECT_EQ(Requantize(5, 0.5f, 10, 0, 255), 12);   // 2.5 -> 2
  EXPECT_EQ(Requantize(7, 0.5f, 10, 0, 255), 14);   // 3.5 -> 4
  EXPECT_EQ(Requantize(-5, 0.5f, 10, 0, 255), 8);   // -2.5 -> -2
  EXPECT_EQ(Requantize(-7, 0.5f, 10, 0, 255), 6);   // -3.5 -> -4
  EXPECT_EQ(Requantize(3, 0.5f, 10, 0, 255), 12);   // 1.5 -> 2
  EXPECT_EQ(Requantize(1, 0.5f, 10, 0, 255), 10);   // 0.5 -> 0
  EXPECT_EQ(Requantize(11, 0.25f, 0, 0, 255), 3);   // 2.75 -> 3
  EXPECT_EQ(Requantize(9, 0.25f, 0, 0, 255), 2);    // 2.25 -> 2
}

TEST(RequantizeTest, UsesBinary32Arithmetic) {
  // float(16777217) rounds to 16777216 before scaling.
  EXPECT_EQ(Requantize(16777217, 1.0f / 131072.0f, 0, 0, 255), 128);
  // 0.1f * 25 is 2.50000004 in double (which would round to 3) but exactly
  // 2.5 in binary32, a tie that rounds to even.
  EXPECT_EQ(Requantize(25, 0.1f, 0, 0, 255), 2);
}

TEST(RequantizeTest, Clamps) {
  EXPECT_EQ(Requantize(1000, 1.0f, 10, 0, 255), 255);
  EXPECT_EQ(Requantize(-1000, 1.0f, 10, 0, 255), 0);
  EXPECT_EQ(Requantize(-3, 1.0f, 10, 10, 255), 10);  // ReLU: lo = zero point
  EXPECT_EQ(Requantize(50, 1.0f, 10, 10, 40), 40);
  EXPECT_EQ(Requantize(std::numeric_limits<int32_t>::max(), 1e30f, 0, 0, 255), 255);
  EXPECT_EQ(Requantize(std::numeric_limits<int32_t>::min(), 1e30f, 0, 3, 255), 3);
}

// 3x3 input (x - zx = 1..9), one channel, a 3x3 all-ones kernel, pad 1: each
// output is the sum of its in-bounds neighbourhood.
TEST(ReferenceInt8Test, Conv3x3PaddedSkipsPaddingTaps) {
  const OpSpec op = Parse("conv2d/int8/H=3,W=3,C=1,K=1,R=3,S=3,pad=1");
  const int zx = 10, zy = 0;
  OpData d = Int8Data(op, std::vector<int8_t>(9, 1), {3}, zx, zy);
  std::vector<uint8_t> x = {11, 12, 13, 14, 15, 16, 17, 18, 19};
  std::vector<uint8_t> y(9);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  // Neighbourhood sums 12 21 16 / 27 45 33 / 24 39 28, plus bias 3.
  EXPECT_THAT(y, ElementsAre(15, 24, 19, 30, 48, 36, 27, 42, 31));
}

TEST(ReferenceInt8Test, Stride2) {
  const OpSpec op = Parse("conv2d/int8/H=3,W=3,C=1,K=1,R=3,S=3,pad=1,stride=2");
  OpData d = Int8Data(op, std::vector<int8_t>(9, 1), {3}, 10, 0);
  std::vector<uint8_t> x = {11, 12, 13, 14, 15, 16, 17, 18, 19};
  std::vector<uint8_t> y(4);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(15, 19, 27, 31));
}

TEST(ReferenceInt8Test, Dilation) {
  // 5x5 input, 3x3 kernel with dilation 2 and no padding: one output that
  // reads the corners, edge midpoints and centre.
  const OpSpec op = Parse("conv2d/int8/H=5,W=5,C=1,K=1,R=3,S=3,dilation=2");
  OpData d = Int8Data(op, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {0}, 0, 0);
  std::vector<uint8_t> x(25);
  for (int i = 0; i < 25; ++i) x[i] = static_cast<uint8_t>(i % 2 == 0 ? i / 5 : 100);
  // Taps (0,0),(0,2),(0,4),(2,0),...: x = row index 0,0,0,2,2,2,4,4,4.
  std::vector<uint8_t> y(1);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_EQ(y[0], (4 + 5 + 6) * 2 + (7 + 8 + 9) * 4);
}

TEST(ReferenceInt8Test, ChannelsWeightsLayoutAndPerChannelScales) {
  // Dense, 2 inputs -> 2 outputs: weights [K][C].
  const OpSpec op = Parse("dense/int8/C=2,K=2");
  OpData d = Int8Data(op, {1, -1, 2, 3}, {0, 4}, 100, 100);
  d.quant.requant_scale = {1.0f, 0.5f};
  std::vector<uint8_t> x = {101, 102};  // x - zx = 1, 2
  std::vector<uint8_t> y(2);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  // k0: 1 - 2 = -1 -> 99; k1: (4 + 2 + 6) * 0.5 = 6 -> 106.
  EXPECT_THAT(y, ElementsAre(99, 106));

  // A tie: (-3 + 8) * 0.5 = 2.5 -> 2.
  d.bias_s32 = {0, -3};
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(99, 102));

  // One scale for every channel is accepted too.
  d.quant.requant_scale = {2.0f};
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(98, 110));
}

TEST(ReferenceInt8Test, DenseBatchAndReluClamp) {
  const OpSpec op = Parse("dense/int8/N=3,C=1,K=1,act=relu");
  OpData d = Int8Data(op, {-2}, {0}, 128, 50);
  SetActivationClamp(op, 0.1f, d.quant);
  std::vector<uint8_t> x = {120, 128, 140};  // -8, 0, 12
  std::vector<uint8_t> y(3);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(66, 50, 50));  // 16 + 50; 0 + 50; -24 clamped at zy
}

TEST(ReferenceInt8Test, Relu6Clamp) {
  QuantParams q;
  q.output_zero_point = 20;
  const OpSpec relu6 = Parse("dense/int8/C=1,K=1,act=relu6");
  SetActivationClamp(relu6, 0.05f, q);  // 6 / 0.05 = 120
  EXPECT_EQ(q.output_min, 20);
  EXPECT_EQ(q.output_max, 140);
  SetActivationClamp(relu6, 0.01f, q);  // 600 steps: capped
  EXPECT_EQ(q.output_max, 255);
  SetActivationClamp(Parse("dense/int8/C=1,K=1"), 0.01f, q);
  EXPECT_EQ(q.output_min, 0);
  EXPECT_EQ(q.output_max, 255);
}

// s8 activations: the clamp lives in [-128, 127].
TEST(ReferenceInt8Test, SignedClamps) {
  QuantParams q;
  q.output_zero_point = -100;
  SetActivationClamp(Parse("dense/int8/C=1,K=1,act=relu6,io=s8"), 0.05f, q);
  EXPECT_EQ(q.output_min, -100);
  EXPECT_EQ(q.output_max, 20);
  SetActivationClamp(Parse("dense/int8/C=1,K=1,act=relu6,io=s8"), 0.01f, q);
  EXPECT_EQ(q.output_max, 127);
  SetActivationClamp(Parse("dense/int8/C=1,K=1,act=relu,io=s8"), 0.01f, q);
  EXPECT_EQ(q.output_min, -100);
  EXPECT_EQ(q.output_max, 127);
  SetActivationClamp(Parse("dense/int8/C=1,K=1,io=s8"), 0.01f, q);
  EXPECT_EQ(q.output_min, -128);
  EXPECT_EQ(q.output_max, 127);
  q.output_zero_point = 127;
  SetActivationClamp(Parse("dense/int8/C=1,K=1,act=relu,io=s8"), 0.01f, q);
  EXPECT_EQ(q.output_min, 127);
  EXPECT_EQ(q.output_max, 127);

  // Requantize returns the s8 output as its two's-complement byte.
  EXPECT_EQ(static_cast<int8_t>(Requantize(-5, 0.5f, -10, -128, 127)), -12);  // -2.5 -> -2
  EXPECT_EQ(static_cast<int8_t>(Requantize(1000, 1.0f, -10, -128, 127)), 127);
  EXPECT_EQ(static_cast<int8_t>(Requantize(-1000, 1.0f, -10, -128, 127)), -128);
  EXPECT_EQ(static_cast<int8_t>(Requantize(-3, 1.0f, -10, -10, 127)), -10);  // ReLU
  EXPECT_EQ(static_cast<int8_t>(Requantize(std::numeric_limits<int32_t>::min(), 1e30f, 0, -128,
                                           127)),
            -128);
}

// s8 inputs and outputs: x - zx with x, zx in [-128, 127], outputs below 0.
TEST(ReferenceInt8Test, SignedDenseAndRelu) {
  const OpSpec op = Parse("dense/int8/N=4,C=2,K=1,io=s8");
  OpData d = Int8Data(op, {3, -2}, {5}, -128, -20);
  SetActivationClamp(op, 0.1f, d.quant);
  // (x0 + 128) * 3 - (x1 + 128) * 2 + 5 - 20.
  std::vector<int8_t> x = {-128, -128, 127, -128, -128, 127, 0, 0};
  std::vector<int8_t> y(4);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(-15, 127, -128, 113));  // -15; 750 -> 127; -525 -> -128; 128 + 5 - 20

  OpSpec relu = op;
  relu.activation = Activation::kRelu;
  SetActivationClamp(relu, 0.1f, d.quant);
  ASSERT_TRUE(RunReference(relu, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(-15, 127, -20, 113));

  // The u8 zero-point range is rejected for s8 ops, and the reverse.
  d.quant.input_zero_point = 200;
  EXPECT_THAT(std::string(ValidateOpData(op, d).message()),
              ::testing::HasSubstr("input_zero_point 200 is outside [-128, 127]"));
  d.quant.input_zero_point = -1;
  OpSpec u8 = op;
  u8.signed_io = false;
  EXPECT_THAT(std::string(ValidateOpData(u8, d).message()),
              ::testing::HasSubstr("input_zero_point -1 is outside [0, 255]"));
  d.quant.input_zero_point = 0;
  d.quant.output_zero_point = 0;
  d.quant.output_min = -128;
  d.quant.output_max = 127;
  EXPECT_TRUE(ValidateOpData(op, d).ok());
  EXPECT_THAT(std::string(ValidateOpData(u8, d).message()),
              ::testing::HasSubstr("output clamp [-128, 127] is not within [0, 255]"));
  d.quant.output_max = 128;
  EXPECT_FALSE(ValidateOpData(op, d).ok());
}

TEST(ReferenceFp32Test, ConvWithBiasAndMagnitude) {
  const OpSpec op = Parse("conv2d/fp32/H=3,W=3,C=1,K=1,R=3,S=3,pad=1");
  OpData d;
  d.weights_f32.assign(9, -1.0f);
  d.bias_f32 = {0.5f};
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> y(9), m(9);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data(), m.data()).ok());
  EXPECT_THAT(y, ElementsAre(-11.5f, -20.5f, -15.5f, -26.5f, -44.5f, -32.5f, -23.5f, -38.5f,
                             -27.5f));
  EXPECT_THAT(m, ElementsAre(12.5f, 21.5f, 16.5f, 27.5f, 45.5f, 33.5f, 24.5f, 39.5f, 28.5f));
}

TEST(ReferenceFp32Test, Activations) {
  OpSpec op = Parse("dense/fp32/N=4,C=1,K=1,act=relu");
  OpData d;
  d.weights_f32 = {2.0f};
  d.bias_f32 = {-1.0f};
  std::vector<float> x = {-1.0f, 0.25f, 2.0f, 10.0f};
  std::vector<float> y(4);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(0.0f, 0.0f, 3.0f, 19.0f));
  op.activation = Activation::kRelu6;
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(0.0f, 0.0f, 3.0f, 6.0f));
  op.activation = Activation::kNone;
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(-3.0f, -0.5f, 3.0f, 19.0f));
}

TEST(ReferenceFp32Test, MultiChannelKrscLayout) {
  // 1x2 input with 2 channels, 1x2 kernel, 2 outputs, no padding: one pixel.
  const OpSpec op = Parse("conv2d/fp32/H=1,W=2,C=2,K=2,R=1,S=2");
  OpData d;
  // w[k][r=0][s][c]
  d.weights_f32 = {1, 2, 3, 4, /*k=1*/ -1, 0, 0, 10};
  d.bias_f32 = {0, 1};
  std::vector<float> x = {1, 10, 100, 1000};  // pixel 0: (1, 10), pixel 1: (100, 1000)
  std::vector<float> y(2);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_THAT(y, ElementsAre(1 + 20 + 300 + 4000, 1 - 1 + 10000));
}

TEST(ReferenceTest, DepthwiseConv) {
  const OpSpec op = Parse("depthwise_conv2d/int8/H=1,W=3,C=2,K=2,R=1,S=3,pad=0x1,groups=2");
  OpData d = Int8Data(op, {1, 10, 2, 20, 3, 30}, {0, 0}, 0, 0);  // [R][S][C]
  d.quant.requant_scale = {1.0f, 0.125f};
  std::vector<uint8_t> x = {1, 1, 2, 2, 3, 3};
  std::vector<uint8_t> y(6);
  ASSERT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  // c0: taps (1,2,3) over x (pad,1,2), (1,2,3), (2,3,pad); c1: taps x10,
  // scaled by 1/8 (140 / 8 = 17.5 rounds to 18).
  EXPECT_THAT(y, ElementsAre(8, 10, 14, 18, 8, 10));
}

TEST(ReferenceTest, RejectsBadData) {
  const OpSpec op = Parse("conv2d/int8/H=3,W=3,C=2,K=2,R=3,S=3");
  OpData d = Int8Data(op, std::vector<int8_t>(35, 1), {0, 0}, 0, 0);
  std::vector<uint8_t> x(18), y(2);
  absl::Status s = RunReference(op, d, x.data(), y.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("weights_s8 has 35 elements"));
  d.weights_s8.resize(36);
  d.quant.requant_scale = {1.0f, std::nanf("")};
  EXPECT_FALSE(RunReference(op, d, x.data(), y.data()).ok());
  d.quant.requant_scale = {1.0f, 1.0f};
  d.quant.input_zero_point = 256;
  EXPECT_FALSE(RunReference(op, d, x.data(), y.data()).ok());
  d.quant.input_zero_point = 0;
  d.quant.output_min = 200;
  d.quant.output_max = 100;
  EXPECT_FALSE(RunReference(op, d, x.data(), y.data()).ok());
  d.quant.output_min = 0;
  d.quant.output_max = 255;
  EXPECT_TRUE(RunReference(op, d, x.data(), y.data()).ok());
  EXPECT_FALSE(RunReference(op, d, nullptr, y.data()).ok());
}

// The per-element definition of conv2d / depthwise / dense, written as
// plainly as possible, to check the vectorised reference against.
struct NaiveOutput {
  std::vector<int32_t> acc;    // int8: sum of (x - zx) * w, before the bias
  std::vector<double> sum;     // fp32: sum of x * w, before the bias
  std::vector<double> mag;     // fp32: sum of |x * w|
};

NaiveOutput Naive(const OpSpec& op, const OpInstance& inst) {
  const int64_t outputs = op.output_elements();
  NaiveOutput out;
  out.acc.assign(outputs, 0);
  out.sum.assign(outputs, 0.0);
  out.mag.assign(outputs, 0.0);
  const bool dw = op.kind == OpKind::kDepthwiseConv2d;
  int64_t o = 0;
  for (int n = 0; n < op.n; ++n)
    for (int oh = 0; oh < op.out_h(); ++oh)
      for (int ow = 0; ow < op.out_w(); ++ow)
        for (int k = 0; k < op.k; ++k, ++o)
          for (int r = 0; r < op.r; ++r)
            for (int s = 0; s < op.s; ++s)
              for (int c = 0; c < op.c; ++c) {
                if (dw && c != k) continue;
                const int ih = oh * op.stride_h - op.pad_top + r * op.dilation_h;
                const int iw = ow * op.stride_w - op.pad_left + s * op.dilation_w;
                if (ih < 0 || ih >= op.h || iw < 0 || iw >= op.w) continue;
                const int64_t x = ((int64_t{n} * op.h + ih) * op.w + iw) * op.c + c;
                const int64_t w = dw ? (int64_t{r} * op.s + s) * op.c + c
                                     : ((int64_t{k} * op.r + r) * op.s + s) * op.c + c;
                if (op.dtype == DType::kInt8) {
                  const int xv = op.signed_io ? int{inst.input.as<int8_t>()[x]}
                                              : int{inst.input.as<uint8_t>()[x]};
                  out.acc[o] += (xv - inst.data.quant.input_zero_point) * inst.data.weights_s8[w];
                } else {
                  const double p = double{inst.input.as<float>()[x]} * inst.data.weights_f32[w];
                  out.sum[o] += p;
                  out.mag[o] += std::fabs(p);
                }
              }
  return out;
}

TEST(ReferenceTest, MatchesNaiveLoopOnRandomShapes) {
  std::mt19937 rng(12345);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<std::string> specs = {
      "conv2d/int8/H=11,W=9,C=3,K=8,R=7,S=7,stride=2,pad=3",  // first layer, C=3
      "dense/int8/N=2,C=37,K=19", "dense/fp32/N=3,C=64,K=100",
      "depthwise_conv2d/int8/H=7,W=6,C=13,K=13,R=3,S=3,pad=1,groups=13",
      "depthwise_conv2d/fp32/H=8,W=5,C=9,K=9,R=3,S=3,stride=2,pad=1,groups=9",
      "conv2d/int8/H=6,W=7,C=5,K=9,R=3,S=3,pad=1,act=relu,io=s8",
      "depthwise_conv2d/int8/H=7,W=6,C=13,K=13,R=3,S=3,pad=1,groups=13,io=s8"};
  for (int i = 0; i < 40; ++i) {
    const bool dw = i % 4 == 3;
    const int c = dw ? pick(1, 20) : std::vector<int>{1, 3, 4, 5, 16, 17}[pick(0, 5)];
    specs.push_back(absl::StrCat(
        dw ? "depthwise_conv2d/" : "conv2d/", i % 2 ? "fp32" : "int8", "/N=", pick(1, 2),
        ",H=", pick(1, 9), ",W=", pick(1, 9), ",C=", c, ",K=", dw ? c : pick(1, 33),
        ",R=", pick(1, 4), ",S=", pick(1, 4), ",stride=", pick(1, 3), "x", pick(1, 3),
        ",pad=", pick(0, 2), "x", pick(0, 2), "x", pick(0, 2), "x", pick(0, 2),
        ",dilation=", pick(1, 2), "x", pick(1, 2), ",groups=", dw ? c : 1,
        ",act=", std::vector<const char*>{"none", "relu", "relu6"}[pick(0, 2)],
        i % 4 == 2 ? ",io=s8" : ""));
  }
  int checked = 0;
  for (const std::string& spec : specs) {
    absl::StatusOr<OpSpec> op = ParseOpSpec(spec);
    if (!op.ok()) continue;  // e.g. the filter does not fit the padded input
    SCOPED_TRACE(spec);
    absl::StatusOr<std::unique_ptr<OpInstance>> inst = MakeOpInstance(*op, 7 + checked);
    ASSERT_TRUE(inst.ok()) << inst.status();
    const NaiveOutput want = Naive(*op, **inst);
    const OpData& d = (*inst)->data;
    for (int64_t o = 0; o < op->output_elements(); ++o) {
      const int k = static_cast<int>(o % op->k);
      if (op->dtype == DType::kInt8) {
        const QuantParams& q = d.quant;
        const uint8_t y = Requantize(want.acc[o] + d.bias_s32[k], q.requant_scale[k],
                                     q.output_zero_point, q.output_min, q.output_max);
        ASSERT_EQ((*inst)->reference.as<uint8_t>()[o], y) << "output " << o;
      } else {
        double y = d.bias_f32[k] + want.sum[o];
        if (op->activation != Activation::kNone) y = std::max(y, 0.0);
        if (op->activation == Activation::kRelu6) y = std::min(y, 6.0);
        const double m = std::fabs(d.bias_f32[k]) + want.mag[o];
        ASSERT_NEAR((*inst)->reference.as<float>()[o], y, 1e-7 * m + 1e-7) << "output " << o;
        ASSERT_NEAR((*inst)->magnitude.as<float>()[o], m, 1e-6 * m) << "output " << o;
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

}  // namespace
}  // namespace qtune::kernels
