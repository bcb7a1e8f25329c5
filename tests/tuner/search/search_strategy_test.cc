#include "tuner/search/search_strategy.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using kernels::ConfigSpace;

ConfigSpace SmallSpace() {
  absl::StatusOr<ConfigSpace> space = ConfigSpace::Create(
      {{"a", {1, 2, 3, 4}, {}, ""}, {"b", {1, 2, 4}, {}, ""}, {"loop", {0, 1}, {"kn", "nk"}, ""}},
      {"a * b <= 8", "loop == \"kn\" || a > 1"}, {{"a", 2}, {"b", 2}, {"loop", 0}});
  EXPECT_TRUE(space.ok()) << space.status();
  return *space;
}

// A space too large to enumerate up front (raw size 12^6 > 2^20), so the
// random strategy samples.
ConfigSpace LargeSpace() {
  std::vector<int64_t> v = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  absl::StatusOr<ConfigSpace> space = ConfigSpace::Create(
      {{"p", v, {}, ""}, {"q", v, {}, ""}, {"r", v, {}, ""}, {"s", v, {}, ""}, {"t", v, {}, ""},
       {"u", v, {}, ""}},
      {"p + q <= 12"}, {{"p", 0}, {"q", 0}, {"r", 0}, {"s", 0}, {"t", 0}, {"u", 0}});
  EXPECT_TRUE(space.ok()) << space.status();
  return *space;
}

std::unique_ptr<SearchStrategy> Make(const std::string& name, const ConfigSpace& space,
                                     uint64_t seed, const std::vector<Measurement>& history = {}) {
  absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeSearchStrategy(name);
  EXPECT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->name(), name);
  EXPECT_TRUE((*s)->Init(space, seed, history).ok());
  return *std::move(s);
}

// Drains the strategy in batches of `batch`, checking every proposal.
std::vector<Config> Drain(SearchStrategy& s, const ConfigSpace& space, size_t batch) {
  std::vector<Config> all;
  std::set<Config> seen;
  while (true) {
    std::vector<Config> b = s.ProposeBatch(batch);
    EXPECT_LE(b.size(), batch);
    for (const Config& c : b) {
      EXPECT_TRUE(space.IsValid(c)) << space.ToString(c);
      EXPECT_TRUE(seen.insert(c).second) << "repeated " << space.ToString(c);
      all.push_back(c);
    }
    std::vector<Measurement> results;
    for (const Config& c : b) results.push_back({c, true, 1.0});
    s.Notify(results);
    if (b.size() < batch) break;
  }
  EXPECT_TRUE(s.ProposeBatch(batch).empty());
  return all;
}

class EveryStrategyTest : public testing::TestWithParam<std::string> {};

TEST_P(EveryStrategyTest, ExhaustsASmallSpaceExactly) {
  const ConfigSpace space = SmallSpace();
  for (size_t batch : {1u, 3u, 8u, 100u}) {
    auto s = Make(GetParam(), space, 7);
    std::vector<Config> all = Drain(*s, space, batch);
    EXPECT_EQ(all.size(), space.CountValid()) << "batch " << batch;
  }
}

TEST_P(EveryStrategyTest, NeverProposesHistory) {
  const ConfigSpace space = SmallSpace();
  std::vector<Config> valid = space.EnumerateValid();
  ASSERT_GE(valid.size(), 4u);
  std::vector<Measurement> history = {{valid[0], true, 5.0}, {valid[3], false, 0.0}};
  // Configs outside the space are ignored.
  history.push_back({Config{{"a", 99}, {"b", 1}, {"loop", 0}}, true, 1.0});
  auto s = Make(GetParam(), space, 1, history);
  std::vector<Config> all = Drain(*s, space, 4);
  EXPECT_EQ(all.size(), valid.size() - 2);
  EXPECT_THAT(all, testing::Not(testing::Contains(valid[0])));
  EXPECT_THAT(all, testing::Not(testing::Contains(valid[3])));
}

TEST_P(EveryStrategyTest, DeterministicForASeed) {
  const ConfigSpace space = SmallSpace();
  auto s1 = Make(GetParam(), space, 42);
  auto s2 = Make(GetParam(), space, 42);
  EXPECT_EQ(Drain(*s1, space, 5), Drain(*s2, space, 5));
}

TEST_P(EveryStrategyTest, LargeSpaceProposalsAreValidAndNew) {
  const ConfigSpace space = LargeSpace();
  auto s = Make(GetParam(), space, 3);
  std::set<Config> seen;
  for (int i = 0; i < 10; ++i) {
    std::vector<Config> b = s->ProposeBatch(16);
    ASSERT_EQ(b.size(), 16u);
    for (const Config& c : b) {
      EXPECT_TRUE(space.IsValid(c));
      EXPECT_TRUE(seen.insert(c).second);
    }
  }
}

TEST_P(EveryStrategyTest, ProposeBeforeInitIsEmpty) {
  absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeSearchStrategy(GetParam());
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE((*s)->ProposeBatch(4).empty());
}

INSTANTIATE_TEST_SUITE_P(Strategies, EveryStrategyTest,
                         testing::ValuesIn(SearchStrategyNames()));

TEST(SearchStrategyTest, GridFollowsEnumerationOrder) {
  const ConfigSpace space = SmallSpace();
  auto s = Make("grid", space, 0);
  EXPECT_EQ(Drain(*s, space, 4), space.EnumerateValid());
}

TEST(SearchStrategyTest, RandomDependsOnSeedAndShuffles) {
  const ConfigSpace space = SmallSpace();
  auto s1 = Make("random", space, 1);
  auto s2 = Make("random", space, 2);
  std::vector<Config> a = Drain(*s1, space, 32);
  std::vector<Config> b = Drain(*s2, space, 32);
  EXPECT_NE(a, b);
  EXPECT_NE(a, space.EnumerateValid());
  EXPECT_THAT(a, testing::UnorderedElementsAreArray(space.EnumerateValid()));
}

TEST(SearchStrategyTest, RandomSamplingIsDeterministic) {
  const ConfigSpace space = LargeSpace();
  auto s1 = Make("random", space, 9);
  auto s2 = Make("random", space, 9);
  EXPECT_EQ(s1->ProposeBatch(50), s2->ProposeBatch(50));
}

TEST(SearchStrategyTest, UnknownNameListsKnownOnes) {
  absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeSearchStrategy("annealing");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), testing::HasSubstr("random, grid"));
}

TEST(SearchStrategyTest, InitTwiceFails) {
  const ConfigSpace space = SmallSpace();
  auto s = Make("grid", space, 0);
  EXPECT_FALSE(s->Init(space, 0, {}).ok());
}

}  // namespace
}  // namespace qtune::tuner
