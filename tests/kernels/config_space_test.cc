#include "qtune/kernels/config_space.h"

#include <map>
#include <random>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::kernels {
namespace {

using ::testing::HasSubstr;

ConfigSpace TileSpace() {
  auto space = ConfigSpace::Create(
      {{"mr", {1, 2, 4}}, {"nr", {8, 16}}, {"loop", {0, 1}, {"kn", "nk"}}},
      {"mr * nr <= 32", "loop == \"kn\" || mr > 1"}, {{"mr", 2}, {"nr", 16}, {"loop", 0}});
  EXPECT_TRUE(space.ok()) << space.status();
  return *std::move(space);
}

TEST(ConfigSpaceTest, EnumeratesExactlyTheValidConfigs) {
  ConfigSpace space = TileSpace();
  EXPECT_EQ(space.raw_size(), 12u);
  // Hand count: mr*nr <= 32 drops (4,16) x2 loops; loop=nk needs mr > 1,
  // dropping (1,8,nk) and (1,16,nk).
  EXPECT_EQ(space.CountValid(), 8u);
  std::set<std::string> seen;
  space.ForEachValid([&](const Config& c) {
    EXPECT_TRUE(space.IsValid(c)) << space.ToString(c);
    EXPECT_TRUE(seen.insert(space.ToString(c)).second);
    return true;
  });
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_TRUE(seen.count("loop=nk,mr=2,nr=16"));
  EXPECT_FALSE(seen.count("loop=nk,mr=1,nr=8"));
  EXPECT_FALSE(seen.count("loop=kn,mr=4,nr=16"));
}

TEST(ConfigSpaceTest, EnumerationOrderIsMixedRadixFirstKnobSlowest) {
  ConfigSpace space = TileSpace();
  std::vector<Config> all = space.EnumerateValid();
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(space.ToString(all.front()), "loop=kn,mr=1,nr=8");
  EXPECT_EQ(space.ToString(all.back()), "loop=nk,mr=4,nr=8");
  EXPECT_EQ(space.EnumerateValid(3).size(), 3u);
  EXPECT_TRUE(space.EnumerateValid(0).empty());
}

TEST(ConfigSpaceTest, PrunedEnumerationMatchesFilteringTheRawProduct) {
  // Constraints on a prefix (a, b), on the last knob only, across all knobs,
  // with a division by zero, and one reading no knob.
  auto space = ConfigSpace::Create(
      {{"a", {0, 1, 2, 3}}, {"b", {1, 2, 4}}, {"c", {0, 1, 2}}, {"d", {1, 3, 5, 7}}},
      {"a * b <= 6", "d != 5", "12 / c >= a + d - b", "2 > 1"},
      {{"a", 0}, {"b", 1}, {"c", 1}, {"d", 1}});
  ASSERT_TRUE(space.ok()) << space.status();
  std::vector<std::string> want;
  for (int64_t a : {0, 1, 2, 3})
    for (int64_t b : {1, 2, 4})
      for (int64_t c : {0, 1, 2})
        for (int64_t d : {1, 3, 5, 7}) {
          Config config = {{"a", a}, {"b", b}, {"c", c}, {"d", d}};
          if (space->IsValid(config)) want.push_back(space->ToString(config));
        }
  std::vector<std::string> got;
  for (const Config& c : space->EnumerateValid()) got.push_back(space->ToString(c));
  EXPECT_EQ(got, want);
  EXPECT_EQ(space->CountValid(), want.size());
  auto none = ConfigSpace::Create({{"a", {0, 1}}}, {"1 > 2 || a > 5"}, {});
  EXPECT_FALSE(none.ok());  // not even the default is valid
}

TEST(ConfigSpaceTest, ValidateNamesTheProblem) {
  ConfigSpace space = TileSpace();
  EXPECT_TRUE(space.Validate({{"mr", 2}, {"nr", 8}, {"loop", 1}}).ok());
  EXPECT_THAT(std::string(space.Validate({{"mr", 2}, {"nr", 8}}).message()),
              HasSubstr("does not set knob 'loop'"));
  EXPECT_THAT(std::string(space.Validate({{"mr", 3}, {"nr", 8}, {"loop", 0}}).message()),
              HasSubstr("'mr' = 3 is not one of {1,2,4}"));
  EXPECT_THAT(
      std::string(space.Validate({{"mr", 2}, {"nr", 8}, {"loop", 0}, {"zz", 1}}).message()),
      HasSubstr("unknown knob 'zz'"));
  EXPECT_THAT(std::string(space.Validate({{"mr", 4}, {"nr", 16}, {"loop", 0}}).message()),
              HasSubstr("mr * nr <= 32"));
}

TEST(ConfigSpaceTest, ToStringAndParseRoundTrip) {
  ConfigSpace space = TileSpace();
  space.ForEachValid([&](const Config& c) {
    auto parsed = space.Parse(space.ToString(c));
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, c);
    return true;
  });
  // Numeric values are accepted for categorical knobs too; whitespace is ignored.
  auto parsed = space.Parse(" mr = 2 , nr=8, loop=1 ");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(space.ToString(*parsed), "loop=nk,mr=2,nr=8");
  EXPECT_FALSE(space.Parse("mr=2,nr=8").ok());
  EXPECT_FALSE(space.Parse("mr=2,nr=8,loop=sideways").ok());
  EXPECT_FALSE(space.Parse("mr=2,mr=2,nr=8,loop=0").ok());
  EXPECT_FALSE(space.Parse("mr").ok());
  EXPECT_EQ(ConfigToString({{"b", 2}, {"a", 1}}), "a=1,b=2");
}

TEST(ConfigSpaceTest, SampleIsValidAndCoversTheSpaceUniformly) {
  ConfigSpace space = TileSpace();
  std::mt19937_64 rng(7);
  std::map<std::string, int> counts;
  constexpr int kDraws = 8000;
  for (int i = 0; i < kDraws; ++i) {
    auto c = space.Sample(rng);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(space.IsValid(*c));
    ++counts[space.ToString(*c)];
  }
  ASSERT_EQ(counts.size(), 8u);
  for (const auto& [key, n] : counts) {
    // Expected 1000 each; 6 sigma is ~180.
    EXPECT_NEAR(n, kDraws / 8, 200) << key;
  }
}

TEST(ConfigSpaceTest, SampleFallsBackWhenConstraintsRejectAlmostEverything) {
  std::vector<int64_t> values;
  for (int i = 0; i < 200; ++i) values.push_back(i);
  auto space = ConfigSpace::Create({{"a", values}, {"b", values}}, {"a == 7 && b == 9"},
                                   {{"a", 7}, {"b", 9}});
  ASSERT_TRUE(space.ok()) << space.status();
  std::mt19937_64 rng(1);
  auto c = space->Sample(rng);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(space->ToString(*c), "a=7,b=9");
}

TEST(ConfigSpaceTest, SampleOnASparseSpaceEnumeratesOnceAndStaysUniform) {
  // 100^3 raw combinations, 10 valid: rejection sampling fails every time.
  std::vector<int64_t> values;
  for (int i = 0; i < 100; ++i) values.push_back(i);
  auto space = ConfigSpace::Create({{"a", values}, {"b", values}, {"c", values}},
                                   {"a == b && b == c && a % 10 == 0"},
                                   {{"a", 0}, {"b", 0}, {"c", 0}});
  ASSERT_TRUE(space.ok()) << space.status();
  const ConfigSpace copy = *space;  // shares the enumeration
  std::mt19937_64 rng(11);
  std::map<int64_t, int> counts;
  for (int i = 0; i < 2000; ++i) {
    auto c = (i % 2 ? copy : *space).Sample(rng);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(space->IsValid(*c));
    ++counts[c->at("a")];
  }
  ASSERT_EQ(counts.size(), 10u);
  for (const auto& [a, n] : counts) EXPECT_NEAR(n, 200, 75) << a;
}

TEST(ConfigSpaceTest, ExpressionSemantics) {
  // Counts the (x, y) pairs satisfying `constraint`: a one-config space is
  // creatable exactly when its (default) config satisfies the constraint.
  auto count = [](const std::string& constraint) {
    int n = 0;
    for (int64_t x = 0; x <= 6; ++x) {
      for (int64_t y : {0, 2}) {
        n += ConfigSpace::Create({{"x", {x}}, {"y", {y}}}, {constraint}, {{"x", x}, {"y", y}}).ok();
      }
    }
    return n;
  };
  EXPECT_EQ(count("x % 2 == 0"), 8);         // x in {0,2,4,6}, y free
  EXPECT_EQ(count("2 + 3 * x <= 8"), 6);     // precedence: x in {0,1,2}
  EXPECT_EQ(count("(2 + 3) * x <= 10"), 6);  // x in {0,1,2}
  EXPECT_EQ(count("x / y >= 1"), 5);         // y = 0 divides by zero -> false; x in 2..6
  EXPECT_EQ(count("!(x < 5) || y == 0"), 9); // y=0: 7, y=2: x in {5,6}
  EXPECT_EQ(count("min(x, 3) == 3 && max(y, 1) == 2"), 4);
  EXPECT_EQ(count("-x + 6 >= 4"), 6);        // x in {0,1,2}
  EXPECT_EQ(count("x - 1 - 1 == 2"), 2);     // left associative: x = 4
}

TEST(ConfigSpaceTest, CreateRejectsMalformedSpaces) {
  auto error = [](std::vector<Knob> knobs, std::vector<std::string> constraints, Config def) {
    auto s = ConfigSpace::Create(std::move(knobs), std::move(constraints), std::move(def));
    EXPECT_FALSE(s.ok());
    return std::string(s.status().message());
  };
  EXPECT_THAT(error({{"1x", {1}}}, {}, {{"1x", 1}}), HasSubstr("invalid knob name"));
  EXPECT_THAT(error({{"a", {1}}, {"a", {2}}}, {}, {{"a", 1}}), HasSubstr("defined twice"));
  EXPECT_THAT(error({{"a", {}}}, {}, {}), HasSubstr("no values"));
  EXPECT_THAT(error({{"a", {1, 1}}}, {}, {{"a", 1}}), HasSubstr("repeats a value"));
  EXPECT_THAT(error({{"a", {0, 1}, {"x"}}}, {}, {{"a", 0}}), HasSubstr("2 values but 1 labels"));
  EXPECT_THAT(error({{"a", {1}}}, {"b > 0"}, {{"a", 1}}), HasSubstr("unknown knob 'b'"));
  EXPECT_THAT(error({{"a", {1}}}, {"a >"}, {{"a", 1}}), HasSubstr("unexpected end"));
  EXPECT_THAT(error({{"a", {1}}}, {"(a > 0"}, {{"a", 1}}), HasSubstr("expected ')'"));
  EXPECT_THAT(error({{"a", {1}}}, {"a == \"x\""}, {{"a", 1}}), HasSubstr("categorical"));
  EXPECT_THAT(error({{"a", {0}, {"p"}}}, {"a == \"q\""}, {{"a", 0}}), HasSubstr("no label \"q\""));
  EXPECT_THAT(error({{"a", {0}, {"p"}}}, {"a < \"p\""}, {{"a", 0}}), HasSubstr("== or !="));
  EXPECT_THAT(error({{"a", {1, 2}}}, {"a > 1"}, {{"a", 1}}), HasSubstr("default config"));
  EXPECT_THAT(error({{"a", {1}}}, {"a > 0 $"}, {{"a", 1}}), HasSubstr("unexpected"));
}

TEST(ConfigSpaceTest, LabelsCompareOnEitherSide) {
  auto s = ConfigSpace::Create({{"algo", {0, 1, 2}, {"direct", "gemm", "im2col"}}, {"r", {1, 3}}},
                               {"\"gemm\" != algo || r == 1"}, {{"algo", 0}, {"r", 3}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->CountValid(), 5u);
  EXPECT_FALSE(s->IsValid({{"algo", 1}, {"r", 3}}));
}

TEST(ConfigSpaceTest, ValueIndicesEncodeConfigs) {
  ConfigSpace space = TileSpace();
  EXPECT_EQ(space.ValueIndices({{"mr", 4}, {"nr", 8}, {"loop", 1}}),
            (std::vector<int>{2, 0, 1}));
  EXPECT_EQ(space.ValueIndices({{"mr", 3}}), (std::vector<int>{-1, -1, -1}));
}

TEST(ConfigSpaceTest, EmptySpaceHasOneConfig) {
  auto s = ConfigSpace::Create({}, {}, {});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->CountValid(), 1u);
  std::mt19937_64 rng(3);
  EXPECT_TRUE(s->Sample(rng).ok());
}

}  // namespace
}  // namespace qtune::kernels
