// The registry's merge of several kernel families into one space, and the
// registered families.
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/src/kernel_family.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/verify.h"

namespace qtune::kernels::internal {
namespace {

Knob MakeKnob(std::string name, std::vector<int64_t> values,
              std::vector<std::string> labels = {}) {
  Knob k;
  k.name = std::move(name);
  k.values = std::move(values);
  k.labels = std::move(labels);
  return k;
}

class FakeFamily final : public KernelFamily {
 public:
  explicit FakeFamily(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  std::string_view path() const override { return name_; }
  bool Available() const override { return true; }
  absl::Status Supports(const OpSpec&, const Target&) const override { return absl::OkStatus(); }
  absl::StatusOr<SpaceSpec> Space(const OpSpec&, const Target&) const override {
    return absl::UnimplementedError("unused");
  }
  absl::StatusOr<std::unique_ptr<Kernel>> Create(const OpSpec&, const Config&, const OpData&,
                                                 const Target&) const override {
    return absl::UnimplementedError("unused");
  }

 private:
  std::string name_;
};

TEST(MergeSpacesTest, OneFamilyKeepsItsSpace) {
  FakeFamily a("a");
  SpaceSpec spec{{MakeKnob("mr", {1, 2})}, {"mr > 0"}, {{"mr", 1}}};
  auto merged = MergeSpaces({{&a, spec}});
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->knobs.size(), 1u);
  EXPECT_EQ(merged->constraints, spec.constraints);
}

TEST(MergeSpacesTest, SeveralFamiliesGetASelectorKnob) {
  FakeFamily a("jit_a"), b("generic_b");
  // a: mr in {1,2,4} x loop (2 labels), mr * 2 <= 4 -> 4 configs.
  SpaceSpec sa{{MakeKnob("mr", {1, 2, 4}), MakeKnob("loop", {0, 1}, {"kn", "nk"})},
               {"mr * 2 <= 4"},
               {{"mr", 2}, {"loop", 1}}};
  // b: shares nothing with a but `threads`; 3 configs.
  SpaceSpec sb{{MakeKnob("unroll", {1, 2, 3}), MakeKnob("threads", {1, 2})}, {"threads == 1"},
               {{"unroll", 1}, {"threads", 1}}};
  sa.knobs.push_back(MakeKnob("threads", {1, 2}));
  sa.default_config["threads"] = 2;
  auto merged = MergeSpaces({{&a, sa}, {&b, sb}});
  ASSERT_TRUE(merged.ok()) << merged.status();
  auto space = ConfigSpace::Create(merged->knobs, merged->constraints, merged->default_config);
  ASSERT_TRUE(space.ok()) << space.status();
  const Knob* selector = space->FindKnob("kernel");
  ASSERT_NE(selector, nullptr);
  EXPECT_EQ(selector->labels, (std::vector<std::string>{"jit_a", "generic_b"}));
  // a: mr {1,2} x loop 2 x threads 2 = 8; b: unroll 3 x threads 1 = 3.
  EXPECT_EQ(space->CountValid(), 11u);
  EXPECT_EQ(space->default_config().at("kernel"), 0);
  EXPECT_EQ(space->default_config().at("mr"), 2);
  EXPECT_EQ(space->default_config().at("threads"), 2);
  std::set<std::string> keys;
  space->ForEachValid([&](const Config& c) {
    keys.insert(space->ToString(c));
    return true;
  });
  EXPECT_TRUE(keys.count("kernel=generic_b,loop=nk,mr=2,threads=1,unroll=3"));
  EXPECT_TRUE(keys.count("kernel=jit_a,loop=kn,mr=1,threads=2,unroll=1"));
}

TEST(MergeSpacesTest, DisagreeingSharedKnobIsAnError) {
  FakeFamily a("a"), b("b");
  SpaceSpec sa{{MakeKnob("mr", {1, 2})}, {}, {{"mr", 1}}};
  SpaceSpec sb{{MakeKnob("mr", {1, 3})}, {}, {{"mr", 1}}};
  EXPECT_EQ(MergeSpaces({{&a, sa}, {&b, sb}}).status().code(), absl::StatusCode::kInternal);
  SpaceSpec reserved{{MakeKnob("kernel", {1})}, {}, {{"kernel", 1}}};
  EXPECT_EQ(MergeSpaces({{&a, sa}, {&b, reserved}}).status().code(),
            absl::StatusCode::kInternal);
}

TEST(KernelFamiliesTest, GenericFamilyIsRegistered) {
  std::vector<std::string> names;
  for (const KernelFamily* f : AllFamilies()) names.emplace_back(f->name());
  EXPECT_THAT(names, ::testing::Contains("generic_direct"));
}

// Every family that supports an int8 op also supports it with s8
// activations (io=s8): the same families, and the merged space's default
// kernel on this machine's paths runs exactly.
TEST(KernelFamiliesTest, EveryFamilyTakesS8Activations) {
  Target target = HostTarget();
  target.max_threads = 2;
  for (const char* text : {"conv2d/int8/H=9,W=10,C=16,K=24,R=3,S=3,pad=1,act=relu",
                           "conv2d/int8/H=8,W=8,C=6,K=20,R=3,S=3,stride=2,pad=1",
                           "dense/int8/N=3,C=40,K=33,act=relu6",
                           "depthwise_conv2d/int8/H=9,W=9,C=24,K=24,R=3,S=3,pad=1,groups=24"}) {
    SCOPED_TRACE(text);
    auto u8 = ParseOpSpec(text);
    ASSERT_TRUE(u8.ok()) << u8.status();
    OpSpec s8 = *u8;
    s8.signed_io = true;
    for (const KernelFamily* f : AllFamilies()) {
      if (!f->Available()) continue;
      EXPECT_EQ(f->Supports(*u8, target).ok(), f->Supports(s8, target).ok()) << f->name();
    }
    auto space = DescribeSpace(s8, target);
    ASSERT_TRUE(space.ok()) << space.status();
    auto inst = MakeOpInstance(s8, 4);
    ASSERT_TRUE(inst.ok()) << inst.status();
    auto kernel = CreateKernel(s8, space->default_config(), (*inst)->data, target);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    EXPECT_THAT((*kernel)->name(), ::testing::HasSubstr("_s8s8s8_"));
    std::vector<uint8_t> out(s8.output_elements(), 0xA5);
    ASSERT_TRUE((*kernel)->Execute((*inst)->input.data(), out.data()).ok());
    const VerifyResult v = VerifyOutput(**inst, out.data());
    EXPECT_EQ(v.mismatches, 0) << (*kernel)->name() << ": " << v.Summary();
  }
}

}  // namespace
}  // namespace qtune::kernels::internal
