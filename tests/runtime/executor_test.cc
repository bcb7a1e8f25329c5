// Executor on small graphs built here: an int8 chain through every node
// kind (u8 and s8) equal to the reference executor bit for bit, an fp32
// chain within tolerance, configs and the thread cap, buffer reuse, and the
// validation of graphs that come off the network.
#include "runtime/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/convert.h"
#include "tests/runtime/test_graphs.h"

namespace qtune::runtime {
namespace {

using ::testing::HasSubstr;

using testing::GraphBuilder;
using testing::Int8Chain;
using testing::Op;

std::string RunGraph(const proto::ModelGraph& g, bool reference, const std::string& input = "") {
  ExecutorOptions options;
  options.reference = reference;
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(g, options);
  EXPECT_TRUE(e.ok()) << e.status();
  if (!e.ok()) return "";
  std::string out;
  absl::Status s = (*e)->Run(input.empty() ? DefaultInput(g) : input, &out);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

class Int8ChainTest : public ::testing::TestWithParam<bool> {};

TEST_P(Int8ChainTest, EqualsTheReferenceBitForBit) {
  const proto::ModelGraph g = Int8Chain(GetParam());
  const std::string fast = RunGraph(g, false), ref = RunGraph(g, true);
  ASSERT_EQ(fast.size(), 5u * 4);
  EXPECT_EQ(fast, ref);
  // Not saturated: the outputs differ from each other.
  std::vector<float> y(5);
  std::memcpy(y.data(), fast.data(), 20);
  std::sort(y.begin(), y.end());
  EXPECT_LT(std::unique(y.begin(), y.end()) - y.begin(), 6);
  EXPECT_GE(std::unique(y.begin(), y.end()) - y.begin(), 3) << y[0] << " " << y[4];
  // Not a constant: the input matters.
  std::string other = DefaultInput(g);
  for (size_t i = 0; i < other.size(); i += 4) other[i + 3] ^= 0x01;
  EXPECT_EQ(RunGraph(g, false, other), RunGraph(g, true, other));
}

INSTANTIATE_TEST_SUITE_P(Types, Int8ChainTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "s8" : "u8"; });

TEST(ExecutorTest, Fp32ChainWithinTolerance) {
  using K = kernels::OpKind;
  using D = kernels::DType;
  GraphBuilder b;
  b.Tensor("x", proto::F32, {1, 3, 8, 8});
  b.Tensor("c", proto::F32, {1, 8, 8, 16});
  b.Tensor("a", proto::F32, {1, 8, 8, 16});
  b.Tensor("g", proto::F32, {1, 16});
  b.Tensor("y", proto::F32, {1, 4});
  b.Conv("conv", Op(K::kConv2d, D::kFp32, 8, 3, 16, 3, false, kernels::Activation::kRelu), "x",
         "c", 0, 0);
  b.Node(proto::ModelNode::ADD, "add", {"c", "c"}, "a").set_activation(proto::RELU6);
  b.Node(proto::ModelNode::GLOBAL_AVG_POOL, "gap", {"a"}, "g");
  kernels::OpSpec dense = Op(K::kDense, D::kFp32, 1, 16, 4, 1);
  dense.pad_top = dense.pad_left = dense.pad_bottom = dense.pad_right = 0;
  b.Conv("fc", dense, "g", "y", 0, 0);
  b.graph().set_input("x");
  b.graph().set_output("y");
  const std::string fast = RunGraph(b.graph(), false), ref = RunGraph(b.graph(), true);
  ASSERT_EQ(fast.size(), 16u);
  for (int i = 0; i < 4; ++i) {
    float f, r;
    std::memcpy(&f, &fast[4 * i], 4);
    std::memcpy(&r, &ref[4 * i], 4);
    EXPECT_NEAR(f, r, 1e-4 * std::max(1.0f, std::abs(r)));
  }
  ExecutorOptions options;
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(b.graph(), options);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->nodes()[0].name, "x:nhwc");  // the layout change shows as a node
  EXPECT_EQ((*e)->output_type(), proto::F32);
  EXPECT_THAT((*e)->output_shape(), ::testing::ElementsAre(1, 4));
}

TEST(ExecutorTest, ConfigsThreadsAndBufferReuse) {
  const proto::ModelGraph g = Int8Chain(false);
  ExecutorOptions options;
  options.threads = 1;
  kernels::OpSpec op = *FromProto(g.nodes(1).op());
  absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(op, options.target);
  ASSERT_TRUE(space.ok());
  options.configs["conv1"] = space->default_config();
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(g, options);
  ASSERT_TRUE(e.ok()) << e.status();
  for (const NodeInfo& n : (*e)->nodes()) {
    if (n.kind != proto::ModelNode::CONV) continue;
    EXPECT_EQ(n.default_config, n.name != "conv1") << n.name;
    EXPECT_FALSE(n.kernel.empty());
  }
  // The 11 activation tensors share fewer, reused buffers.
  size_t tensor_bytes = 0;
  for (const proto::TensorSpec& t : g.tensors()) {
    if (t.name() == "x") continue;
    size_t bytes = t.type() == proto::F32 ? 4 : 1;
    for (int64_t d : t.shape()) bytes *= d;
    tensor_bytes += std::max<size_t>(bytes, 64);
  }
  EXPECT_LT((*e)->activation_bytes(), tensor_bytes * 2 / 3);
  std::vector<double> us;
  std::string out;
  ASSERT_TRUE((*e)->Run(DefaultInput(g), &out, &us).ok());
  EXPECT_EQ(us.size(), (*e)->nodes().size());
  EXPECT_EQ((*e)->Run("short", &out).code(), absl::StatusCode::kInvalidArgument);
  // Alternatives: settled in place, the output unchanged whichever runs.
  ExecutorOptions alt = options;
  alt.threads = 2;
  alt.alternatives["conv1"] = space->default_config();
  alt.alternatives["conv2"] = kernels::DescribeSpace(*FromProto(g.nodes(3).op()), alt.target)
                                  ->default_config();
  absl::StatusOr<std::unique_ptr<Executor>> settled = Executor::Create(g, alt);
  ASSERT_TRUE(settled.ok()) << settled.status();
  int with_alternative = 0;
  for (const NodeInfo& n : (*settled)->nodes()) with_alternative += n.has_alternative;
  EXPECT_EQ(with_alternative, 2);
  ASSERT_TRUE((*settled)->Settle(DefaultInput(g), 3).ok());
  std::string settled_out;
  ASSERT_TRUE((*settled)->Run(DefaultInput(g), &settled_out).ok());
  EXPECT_EQ(settled_out, out);
  // A config the op's space does not allow.
  options.configs["conv1"] = {{"no_such_knob", 1}};
  absl::StatusOr<std::unique_ptr<Executor>> bad = Executor::Create(g, options);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("conv1"));
}

// A residual network in miniature, u8 or s8: two basic blocks (the second
// with a downsampling convolution on its shortcut, later than the block's
// second convolution), a depthwise convolution before an ADD (its family
// does not fuse), a convolution whose output two nodes read, and two dense
// layers added together. `ratio` scales the shortcut tensors' scales against
// the sums', so the ADDs' ratios go from tiny to saturating.
proto::ModelGraph ResidualGraph(bool s8, float ratio) {
  using K = kernels::OpKind;
  using D = kernels::DType;
  const proto::ElemType q = s8 ? proto::S8 : proto::U8;
  const int32_t lo = s8 ? -128 : 0, hi = s8 ? 127 : 255, mid = s8 ? 3 : 131;
  const auto relu = kernels::Activation::kRelu;
  GraphBuilder b(7);
  b.Tensor("x", proto::F32, {1, 8, 7, 7});
  b.Tensor("xq", q, {1, 7, 7, 8}, 0.02f, mid);
  b.Tensor("c0", q, {1, 7, 7, 16}, 0.05f * ratio, lo);
  b.Tensor("c1", q, {1, 7, 7, 16}, 0.04f, lo);
  b.Tensor("c2", q, {1, 7, 7, 16}, 0.06f, hi);
  b.Tensor("s1", q, {1, 7, 7, 16}, 0.05f, lo);
  b.Tensor("c3", q, {1, 7, 7, 24}, 0.04f, lo);
  b.Tensor("c4", q, {1, 7, 7, 24}, 0.07f * ratio, mid);
  b.Tensor("ds", q, {1, 7, 7, 24}, 0.03f, mid - 20);
  b.Tensor("s2", q, {1, 7, 7, 24}, 0.06f, mid);
  b.Tensor("dw", q, {1, 7, 7, 24}, 0.05f, mid);
  b.Tensor("s3", q, {1, 7, 7, 24}, 0.06f, lo);
  b.Tensor("gap", q, {1, 1, 1, 24}, 0.03f, mid);
  b.Tensor("flat", q, {1, 24}, 0.03f, mid);
  b.Tensor("fa", q, {1, 40}, 0.1f * ratio, lo + 7);
  b.Tensor("fb", q, {1, 40}, 0.1f, mid);
  b.Tensor("f", q, {1, 40}, 0.2f, mid);
  b.Tensor("y", proto::F32, {1, 40});
  b.Node(proto::ModelNode::QUANTIZE, "quant", {"x"}, "xq");
  b.Conv("conv0", Op(K::kConv2d, D::kInt8, 7, 8, 16, 3, s8, relu), "xq", "c0", mid, lo);
  b.Conv("conv1", Op(K::kConv2d, D::kInt8, 7, 16, 16, 3, s8, relu), "c0", "c1", lo, lo);
  b.Conv("conv2", Op(K::kConv2d, D::kInt8, 7, 16, 16, 3, s8), "c1", "c2", lo, hi);
  b.Node(proto::ModelNode::ADD, "add1", {"c2", "c0"}, "s1").set_activation(proto::RELU);
  b.Conv("conv3", Op(K::kConv2d, D::kInt8, 7, 16, 24, 3, s8, relu), "s1", "c3", lo, lo);
  b.Conv("conv4", Op(K::kConv2d, D::kInt8, 7, 24, 24, 3, s8), "c3", "c4", lo, mid);
  b.Conv("downsample", Op(K::kConv2d, D::kInt8, 7, 16, 24, 1, s8), "s1", "ds", lo, mid - 20);
  b.Node(proto::ModelNode::ADD, "add2", {"c4", "ds"}, "s2").set_activation(proto::RELU6);
  b.Conv("dw", Op(K::kDepthwiseConv2d, D::kInt8, 7, 24, 24, 3, s8), "s2", "dw", mid, mid);
  b.Node(proto::ModelNode::ADD, "add3", {"dw", "s2"}, "s3");
  b.Node(proto::ModelNode::GLOBAL_AVG_POOL, "gap", {"s3"}, "gap");
  b.Node(proto::ModelNode::RESHAPE, "flatten", {"gap"}, "flat");
  kernels::OpSpec dense = Op(K::kDense, D::kInt8, 1, 24, 40, 1, s8);
  dense.pad_top = dense.pad_left = dense.pad_bottom = dense.pad_right = 0;
  b.Conv("fc_a", dense, "flat", "fa", mid, lo + 7);
  b.Conv("fc_b", dense, "flat", "fb", mid, mid);
  b.Node(proto::ModelNode::ADD, "add4", {"fb", "fa"}, "f");
  b.Node(proto::ModelNode::DEQUANTIZE, "dequant", {"f"}, "y");
  b.graph().set_input("x");
  b.graph().set_output("y");
  return b.graph();
}

class ResidualFusionTest : public ::testing::TestWithParam<std::tuple<bool, float>> {};

// Fused, unfused and reference runs agree bit for bit; the fused pairs are
// the expected ones, reported as two nodes with the ADD at 0 us.
TEST_P(ResidualFusionTest, FusedEqualsUnfusedAndTheReference) {
  const auto [s8, ratio] = GetParam();
  const proto::ModelGraph g = ResidualGraph(s8, ratio);
  ExecutorOptions fused, unfused, reference;
  unfused.fuse = false;
  reference.reference = true;
  fused.threads = unfused.threads = 2;
  absl::StatusOr<std::unique_ptr<Executor>> f = Executor::Create(g, fused);
  absl::StatusOr<std::unique_ptr<Executor>> u = Executor::Create(g, unfused);
  absl::StatusOr<std::unique_ptr<Executor>> r = Executor::Create(g, reference);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(u.ok()) << u.status();
  ASSERT_TRUE(r.ok()) << r.status();

  std::map<std::string, std::string> fused_add, fused_into;
  for (const NodeInfo& n : (*f)->nodes()) {
    if (!n.fused_add.empty()) fused_add[n.name] = n.fused_add;
    if (!n.fused_into.empty()) fused_into[n.name] = n.fused_into;
  }
  // add1: conv2 (c0 has two readers); add2: the later downsample; add3: the
  // depthwise convolution declines; add4: the later dense.
  const std::map<std::string, std::string> want_add = {
      {"conv2", "add1"}, {"downsample", "add2"}, {"fc_b", "add4"}};
  const std::map<std::string, std::string> want_into = {
      {"add1", "conv2"}, {"add2", "downsample"}, {"add4", "fc_b"}};
  EXPECT_EQ(fused_add, want_add);
  EXPECT_EQ(fused_into, want_into);
  for (const NodeInfo& n : (*u)->nodes()) EXPECT_TRUE(n.fused_add.empty() && n.fused_into.empty());
  for (const NodeInfo& n : (*r)->nodes()) EXPECT_TRUE(n.fused_add.empty() && n.fused_into.empty());
  // The same nodes; each fused ADD right after its CONV.
  EXPECT_EQ((*f)->nodes().size(), (*u)->nodes().size());
  for (size_t i = 0; i + 1 < (*f)->nodes().size(); ++i) {
    const NodeInfo& n = (*f)->nodes()[i];
    if (!n.fused_add.empty()) EXPECT_EQ((*f)->nodes()[i + 1].name, n.fused_add);
  }
  EXPECT_LT((*f)->activation_bytes(), (*u)->activation_bytes() + 1);

  std::string input = DefaultInput(g);
  for (int round = 0; round < 3; ++round) {
    std::string out_f, out_u, out_r;
    std::vector<double> us;
    ASSERT_TRUE((*f)->Run(input, &out_f, &us).ok());
    ASSERT_TRUE((*u)->Run(input, &out_u).ok());
    ASSERT_TRUE((*r)->Run(input, &out_r).ok());
    EXPECT_EQ(out_f, out_r) << "round " << round;
    EXPECT_EQ(out_u, out_r) << "round " << round;
    ASSERT_EQ(us.size(), (*f)->nodes().size());
    for (size_t i = 0; i < us.size(); ++i) {
      if (!(*f)->nodes()[i].fused_into.empty()) EXPECT_EQ(us[i], 0.0);
    }
    // Not saturated: the outputs take many values.
    std::vector<float> y(out_f.size() / 4);
    std::memcpy(y.data(), out_f.data(), out_f.size());
    std::sort(y.begin(), y.end());
    if (ratio == 1.0f) EXPECT_GE(std::unique(y.begin(), y.end()) - y.begin(), 8);
    std::mt19937 rng(round);
    for (size_t i = 0; i < input.size(); i += 4) input[i + 1] ^= static_cast<char>(rng() & 0x3f);
  }
}

INSTANTIATE_TEST_SUITE_P(TypesAndRatios, ResidualFusionTest,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values(1.0f, 1e-3f, 30.0f, 3e4f)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "s8" : "u8") + "_" +
                                  std::to_string(info.index);
                         });

// Each mutation of a valid graph is refused with INVALID_ARGUMENT naming
// what is wrong; none crashes.
TEST(ExecutorTest, RefusesMalformedGraphs) {
  struct Case {
    const char* what;
    std::function<void(proto::ModelGraph&)> mutate;
  };
  const std::vector<Case> cases = {
      {"no such input", [](auto& g) { g.mutable_nodes(2)->set_inputs(0, "nope"); }},
      {"read before written", [](auto& g) { g.mutable_nodes(1)->set_inputs(0, "sum"); }},
      {"written twice", [](auto& g) { g.mutable_nodes(3)->set_output("c1"); }},
      {"weights", [](auto& g) { g.mutable_nodes(1)->mutable_weights()->pop_back(); }},
      {"bias", [](auto& g) { g.mutable_nodes(1)->mutable_bias_s32()->RemoveLast(); }},
      {"zero point", [](auto& g) { g.mutable_nodes(1)->set_input_zero_point(300); }},
      {"scale", [](auto& g) { g.mutable_nodes(1)->set_requant_scale(0, -1); }},
      {"op shape", [](auto& g) { g.mutable_nodes(1)->mutable_op()->set_h(7); }},
      {"add shapes", [](auto& g) { g.mutable_nodes(4)->set_inputs(1, "xq"); }},
      {"pool window", [](auto& g) { g.mutable_nodes(5)->set_pad_top(2); }},
      {"pool output", [](auto& g) { g.mutable_nodes(5)->set_stride_h(1); }},
      {"clip", [](auto& g) { g.mutable_nodes(7)->set_clip_min(9); }},
      {"tensor type", [](auto& g) { g.mutable_tensors(3)->set_type(proto::F32); }},
      {"tensor shape", [](auto& g) { g.mutable_tensors(3)->set_shape(0, -1); }},
      {"quantisation", [](auto& g) { g.mutable_tensors(2)->set_scale(0); }},
      {"huge tensor", [](auto& g) { g.mutable_tensors(2)->set_shape(0, int64_t{1} << 40); }},
      {"duplicate tensor", [](auto& g) { *g.add_tensors() = g.tensors(2); }},
      {"no output", [](auto& g) { g.set_output("nope"); }},
      {"unknown kind", [](auto& g) { g.mutable_nodes(6)->set_kind(proto::ModelNode::KIND_UNSPECIFIED); }},
      {"no input", [](auto& g) { g.set_input("nope"); }},
      {"reshape size", [](auto& g) { g.mutable_tensors(10)->set_shape(1, 9); }},
  };
  for (const Case& c : cases) {
    proto::ModelGraph g = Int8Chain(false);
    c.mutate(g);
    ExecutorOptions options;
    for (bool reference : {false, true}) {
      options.reference = reference;
      absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(g, options);
      EXPECT_FALSE(e.ok()) << c.what;
      if (!e.ok()) {
        EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.what << ": " << e.status();
      }
    }
  }
}

}  // namespace
}  // namespace qtune::runtime
