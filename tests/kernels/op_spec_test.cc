#include "qtune/kernels/op_spec.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::kernels {
namespace {

using ::testing::HasSubstr;

OpSpec ResNetL1() {
  OpSpec op;
  op.kind = OpKind::kConv2d;
  op.dtype = DType::kInt8;
  op.h = op.w = 56;
  op.c = op.k = 64;
  op.r = op.s = 3;
  op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = 1;
  op.activation = Activation::kRelu;
  return op;
}

TEST(OpSpecTest, CanonicalKeyHasTheDocumentedFormat) {
  EXPECT_EQ(CanonicalKey(ResNetL1()),
            "conv2d/int8/N=1,H=56,W=56,C=64,K=64,R=3,S=3,stride=1x1,pad=1x1x1x1,"
            "dilation=1x1,groups=1,act=relu");
  OpSpec fc;
  fc.kind = OpKind::kDense;
  fc.dtype = DType::kFp32;
  fc.c = 512;
  fc.k = 1000;
  EXPECT_EQ(CanonicalKey(fc),
            "dense/fp32/N=1,H=1,W=1,C=512,K=1000,R=1,S=1,stride=1x1,pad=0x0x0x0,"
            "dilation=1x1,groups=1,act=none");
}

TEST(OpSpecTest, CanonicalKeysRoundTrip) {
  std::vector<OpSpec> ops;
  ops.push_back(ResNetL1());
  OpSpec odd = ResNetL1();
  odd.dtype = DType::kFp32;
  odd.n = 3;
  odd.h = 17;
  odd.w = 9;
  odd.c = 5;
  odd.k = 7;
  odd.r = 2;
  odd.s = 3;
  odd.stride_h = 2;
  odd.stride_w = 1;
  odd.pad_top = 0;
  odd.pad_left = 1;
  odd.pad_bottom = 2;
  odd.pad_right = 3;
  odd.dilation_h = 2;
  odd.dilation_w = 1;
  odd.activation = Activation::kRelu6;
  ops.push_back(odd);
  OpSpec dw = ResNetL1();
  dw.kind = OpKind::kDepthwiseConv2d;
  dw.groups = 64;
  ops.push_back(dw);
  OpSpec fc;
  fc.kind = OpKind::kDense;
  fc.n = 4;
  fc.c = 512;
  fc.k = 1000;
  ops.push_back(fc);
  OpSpec s8 = ResNetL1();
  s8.signed_io = true;
  ops.push_back(s8);
  OpSpec dw_s8 = dw;
  dw_s8.signed_io = true;
  ops.push_back(dw_s8);
  for (const OpSpec& op : ops) {
    ASSERT_TRUE(ValidateOpSpec(op).ok()) << ValidateOpSpec(op);
    auto parsed = ParseOpSpec(CanonicalKey(op));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, op) << CanonicalKey(op);
    EXPECT_EQ(CanonicalKey(*parsed), CanonicalKey(op));
  }
}

TEST(OpSpecTest, ParsesShortForms) {
  auto op = ParseOpSpec("conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1,act=relu");
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(*op, ResNetL1());

  op = ParseOpSpec("conv2d/fp32/H=8,W=8,C=2,K=2,R=3,S=3,pad=1x2,stride=2,dilation=2x1");
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->pad_top, 1);
  EXPECT_EQ(op->pad_bottom, 1);
  EXPECT_EQ(op->pad_left, 2);
  EXPECT_EQ(op->pad_right, 2);
  EXPECT_EQ(op->stride_h, 2);
  EXPECT_EQ(op->stride_w, 2);
  EXPECT_EQ(op->dilation_h, 2);
  EXPECT_EQ(op->dilation_w, 1);

  op = ParseOpSpec("conv2d/int8/H=8,W=8,C=2,K=2,R=3,S=3,pad=1x2x3x4,stride=1x2");
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->pad_top, 1);
  EXPECT_EQ(op->pad_left, 2);
  EXPECT_EQ(op->pad_bottom, 3);
  EXPECT_EQ(op->pad_right, 4);
  EXPECT_EQ(op->stride_h, 1);
  EXPECT_EQ(op->stride_w, 2);

  op = ParseOpSpec("dense/int8/C=512,K=1000");
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->kind, OpKind::kDense);
  EXPECT_EQ(op->n, 1);
  EXPECT_EQ(op->c, 512);

  op = ParseOpSpec("dense/fp32");  // all defaults: a 1 -> 1 dense layer
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->k, 1);
}

// io=s8 marks int8 ops with s8 activations: the key gains the suffix, u8
// keys (io=u8 or no io field) do not change.
TEST(OpSpecTest, SignedActivationsKey) {
  auto op = ParseOpSpec("conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1,act=relu,io=s8");
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_TRUE(op->signed_io);
  EXPECT_EQ(CanonicalKey(*op),
            "conv2d/int8/N=1,H=56,W=56,C=64,K=64,R=3,S=3,stride=1x1,pad=1x1x1x1,"
            "dilation=1x1,groups=1,act=relu,io=s8");
  OpSpec u8 = *op;
  u8.signed_io = false;
  EXPECT_EQ(u8, ResNetL1());
  EXPECT_NE(*op, u8);
  EXPECT_EQ(*ParseOpSpec("conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,pad=1,act=relu,io=u8"), u8);
  EXPECT_EQ(CanonicalKey(u8).find("io="), std::string::npos);
  auto fields = ParseShapeFields("io=s8,K=32", ResNetL1());
  ASSERT_TRUE(fields.ok()) << fields.status();
  EXPECT_TRUE(fields->signed_io);
  EXPECT_EQ(fields->k, 32);
  EXPECT_EQ(ActivationMin(*op), -128);
  EXPECT_EQ(ActivationMax(*op), 127);
  EXPECT_EQ(ActivationMin(u8), 0);
  EXPECT_EQ(ActivationMax(u8), 255);

  auto fp32 = ParseOpSpec("conv2d/fp32/H=4,W=4,io=s8");
  EXPECT_THAT(std::string(fp32.status().message()), HasSubstr("io=s8 is for int8 ops only"));
  auto bad = ParseOpSpec("conv2d/int8/H=4,W=4,io=i8");
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("io must be u8 or s8, got 'i8'"));
}

TEST(OpSpecTest, ParseShapeFieldsKeepsTheBase) {
  OpSpec base = ResNetL1();
  auto op = ParseShapeFields("K=128,stride=2", base);
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->k, 128);
  EXPECT_EQ(op->stride_h, 2);
  EXPECT_EQ(op->c, 64);
  EXPECT_EQ(op->activation, Activation::kRelu);
  EXPECT_EQ(*ParseShapeFields("", base), base);
}

TEST(OpSpecTest, RejectsMalformedText) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"conv2d", "KIND/DTYPE"},
      {"conv3d/int8/H=1", "unknown op kind 'conv3d'"},
      {"conv2d/int4/H=1", "unknown dtype 'int4'"},
      {"conv2d/int8/Q=1", "unknown field 'Q'"},
      {"conv2d/int8/H=x", "'x' is not an integer"},
      {"conv2d/int8/H=", "'' is not an integer"},
      {"conv2d/int8/H=5 ", "is not an integer"},
      {"conv2d/int8/H", "not of the form FIELD=VALUE"},
      {"conv2d/int8/H=4,,W=4", "not of the form FIELD=VALUE"},
      {"conv2d/int8/pad=1x2x3", "P, PHxPW or TxLxBxR"},
      {"conv2d/int8/stride=1x2x3", "A or AxB"},
      {"conv2d/int8/act=gelu", "unknown activation 'gelu'"},
      {"conv2d/int8/H=99999999999", "not an integer"},
  };
  for (const Case& c : cases) {
    auto op = ParseOpSpec(c.text);
    ASSERT_FALSE(op.ok()) << c.text;
    EXPECT_EQ(op.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(op.status().message()), HasSubstr(c.message)) << c.text;
    EXPECT_EQ(std::string(op.status().message()).find('\n'), std::string::npos);
  }
}

TEST(OpSpecTest, ValidatesShapes) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"conv2d/int8/H=0", "H must be positive"},
      {"conv2d/int8/K=-3", "K must be positive"},
      {"conv2d/int8/stride=0", "stride height must be positive"},
      {"conv2d/int8/pad=-1", "pad top must be in"},
      {"conv2d/int8/groups=2", "groups must be 1"},
      {"depthwise_conv2d/int8/C=8,K=8,groups=4", "K == C == groups"},
      {"dense/int8/C=8,K=8,R=3", "dense: needs H=W=R=S=1"},
      {"conv2d/int8/H=2,W=2,R=3,S=3", "does not fit"},
      {"conv2d/int8/H=5,W=5,R=3,S=3,dilation=3", "does not fit"},
      {"conv2d/int8/H=70000,W=70000,C=1,K=1", "elements (limit 2^31 - 1)"},
      {"conv2d/int8/H=3,W=3,C=10000,K=1,R=3,S=3", "reduction size 90000 exceeds 65536"},
  };
  for (const Case& c : cases) {
    auto op = ParseOpSpec(c.text);
    ASSERT_FALSE(op.ok()) << c.text;
    EXPECT_THAT(std::string(op.status().message()), HasSubstr(c.message)) << c.text;
  }
  // fp32 accumulates in float: no int32 overflow limit.
  EXPECT_TRUE(ParseOpSpec("conv2d/fp32/H=3,W=3,C=10000,K=1,R=3,S=3").ok());
}

TEST(OpSpecTest, DerivedSizes) {
  OpSpec op = ResNetL1();
  EXPECT_EQ(op.out_h(), 56);
  EXPECT_EQ(op.out_w(), 56);
  EXPECT_EQ(op.reduction_size(), 576);
  EXPECT_EQ(op.macs(), int64_t{56} * 56 * 64 * 576);
  EXPECT_EQ(op.input_elements(), 56 * 56 * 64);
  EXPECT_EQ(op.weight_elements(), 64 * 9 * 64);
  EXPECT_EQ(op.output_elements(), 56 * 56 * 64);

  auto s2 = ParseOpSpec("conv2d/int8/H=224,W=224,C=3,K=64,R=7,S=7,stride=2,pad=3");
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->out_h(), 112);
  EXPECT_EQ(s2->out_w(), 112);

  auto odd = ParseOpSpec("conv2d/int8/H=10,W=9,C=1,K=1,R=3,S=2,stride=2x3,pad=0x1x1x0,dilation=2");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->out_h(), (10 + 1 - 4 - 1) / 2 + 1);
  EXPECT_EQ(odd->out_w(), (9 + 1 - 2 - 1) / 3 + 1);

  auto dw = ParseOpSpec("depthwise_conv2d/int8/H=8,W=8,C=32,K=32,R=3,S=3,pad=1,groups=32");
  ASSERT_TRUE(dw.ok()) << dw.status();
  EXPECT_EQ(dw->reduction_size(), 9);
  EXPECT_EQ(dw->weight_elements(), 9 * 32);
}

TEST(OpSpecTest, ShapeStrings) {
  EXPECT_EQ(ShapeString(ResNetL1()), "56x56x64 3x3/1 ->64");
  EXPECT_EQ(ShapeString(*ParseOpSpec("dense/int8/C=512,K=1000")), "512 ->1000");
  EXPECT_EQ(ShapeString(*ParseOpSpec("dense/int8/N=8,C=512,K=1000")), "8x512 ->1000");
  EXPECT_EQ(ShapeString(*ParseOpSpec("conv2d/int8/H=9,W=9,C=4,K=8,R=1,S=1,stride=2x1")),
            "9x9x4 1x1/2x1 ->8");
}

TEST(OpSpecTest, EnumNamesRoundTrip) {
  for (OpKind k : {OpKind::kConv2d, OpKind::kDepthwiseConv2d, OpKind::kDense}) {
    EXPECT_EQ(*ParseOpKind(OpKindName(k)), k);
  }
  for (DType d : {DType::kInt8, DType::kFp32}) EXPECT_EQ(*ParseDType(DTypeName(d)), d);
  for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
    EXPECT_EQ(*ParseActivation(ActivationName(a)), a);
  }
  EXPECT_FALSE(ParseDType("INT8").ok());
}

}  // namespace
}  // namespace qtune::kernels

namespace qtune::kernels {
namespace {

TEST(OpSpecTest, InBoundsMacsSkipPaddingTaps) {
  // 7x7 input, 3x3 pad 1: 19 in-bounds taps per axis (2 + 5x3 + 2), 361 of 441.
  OpSpec conv = ParseOpSpec("conv2d/int8/N=1,H=7,W=7,C=8,K=4,R=3,S=3,stride=1,pad=1").value();
  EXPECT_EQ(conv.macs(), 49 * 9 * 8 * 4);
  EXPECT_EQ(conv.in_bounds_macs(), 19 * 19 * 8 * 4);
  // No padding: every tap counts.
  OpSpec downsample =
      ParseOpSpec("conv2d/int8/N=1,H=14,W=14,C=16,K=32,R=1,S=1,stride=2,pad=0").value();
  EXPECT_EQ(downsample.in_bounds_macs(), downsample.macs());
  OpSpec dense = ParseOpSpec("dense/fp32/N=1,C=512,K=1000").value();
  EXPECT_EQ(dense.in_bounds_macs(), dense.macs());
  OpSpec depthwise = conv;
  depthwise.kind = OpKind::kDepthwiseConv2d;
  depthwise.k = depthwise.c;
  EXPECT_EQ(depthwise.in_bounds_macs(), 19 * 19 * 8);
  EXPECT_EQ(depthwise.macs(), 49 * 9 * 8);
}

}  // namespace
}  // namespace qtune::kernels
