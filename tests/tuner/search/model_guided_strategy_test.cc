#include "tuner/search/model_guided_strategy.h"

#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "qtune/kernels/kernel.h"
#include "tests/tuner/search/synthetic_space.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using kernels::ConfigSpace;
using testing_util::SyntheticLatency;
using testing_util::SyntheticOptimum;
using testing_util::SyntheticSpace;

// Drives `s` for up to `budget` proposals in batches of `batch`, measuring
// with SyntheticLatency; returns the proposals in order.
std::vector<Config> Drive(SearchStrategy& s, size_t budget, size_t batch) {
  std::vector<Config> proposed;
  while (proposed.size() < budget) {
    std::vector<Config> b = s.ProposeBatch(std::min(batch, budget - proposed.size()));
    if (b.empty()) break;
    std::vector<Measurement> results;
    for (const Config& c : b) {
      results.push_back({c, true, SyntheticLatency(c)});
      proposed.push_back(c);
    }
    s.Notify(results);
  }
  return proposed;
}

ModelGuidedOptions Annealing() {
  ModelGuidedOptions o;
  o.exhaustive_limit = 0;  // force simulated annealing
  return o;
}

TEST(ModelGuidedStrategyTest, RegisteredAsModel) {
  auto s = MakeSearchStrategy("model");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->name(), "model");
  const std::vector<std::string> names = SearchStrategyNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "model"), names.end());
}

TEST(ModelGuidedStrategyTest, ExhaustsSmallSpaceExactlyWithoutRepeats) {
  const ConfigSpace space =
      ConfigSpace::Create({{"a", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
                           {"b", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
                           {"c", {0, 1, 2}, {"x", "y", "z"}},
                           {"d", {0}}},
                          {"a + b <= 12", "c != \"z\" || a > b"},
                          {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}})
          .value();
  const std::vector<Config> valid = space.EnumerateValid();
  for (const ModelGuidedOptions& o : {ModelGuidedOptions{}, Annealing()}) {
    ModelGuidedStrategy s(o);
    // History: two valid configs (never proposed) and one outside the space.
    std::vector<Measurement> history = {{valid[0], true, 50.0}, {valid[5], false, 0},
                                        {{{"a", 99}}, true, 1.0}};
    ASSERT_TRUE(s.Init(space, 3, history).ok());
    std::vector<Config> got = Drive(s, 100000, 7);
    std::set<Config> unique(got.begin(), got.end());
    EXPECT_EQ(unique.size(), got.size()) << "repeated proposal";
    for (const Config& c : got) EXPECT_TRUE(space.IsValid(c)) << space.ToString(c);
    EXPECT_EQ(got.size(), valid.size() - 2);
    EXPECT_FALSE(unique.count(valid[0]));
    EXPECT_FALSE(unique.count(valid[5]));
    EXPECT_TRUE(s.ProposeBatch(4).empty());
    EXPECT_TRUE(s.model_status().ok()) << s.model_status();
  }
}

TEST(ModelGuidedStrategyTest, DeterministicForASeed) {
  for (const ModelGuidedOptions& o : {ModelGuidedOptions{}, Annealing()}) {
    std::vector<std::vector<Config>> runs;
    for (uint64_t seed : {42, 42, 43}) {
      ModelGuidedStrategy s(o);
      ASSERT_TRUE(s.Init(SyntheticSpace(), seed, {}).ok());
      runs.push_back(Drive(s, 48, 8));
    }
    EXPECT_EQ(runs[0], runs[1]);
    EXPECT_NE(runs[0], runs[2]);
  }
}

// Mean over seeds of best-found / optimum after `budget` proposals.
double MeanBestRatio(const std::string& strategy, const ModelGuidedOptions& o, size_t budget) {
  const double optimum = SyntheticOptimum();
  double sum = 0;
  constexpr int kSeeds = 10;
  for (int seed = 0; seed < kSeeds; ++seed) {
    std::unique_ptr<SearchStrategy> s;
    if (strategy == "model") {
      s = std::make_unique<ModelGuidedStrategy>(o);
    } else {
      s = MakeSearchStrategy(strategy).value();
    }
    EXPECT_TRUE(s->Init(SyntheticSpace(), seed, {}).ok());
    double best = 1e300;
    for (const Config& c : Drive(*s, budget, 8)) best = std::min(best, SyntheticLatency(c));
    sum += best / optimum;
  }
  return sum / kSeeds;
}

TEST(ModelGuidedStrategyTest, FindsNearOptimumFasterThanRandom) {
  const double random = MeanBestRatio("random", {}, 64);
  RecordProperty("random_mean_best_ratio", std::to_string(random));
  for (const ModelGuidedOptions& o : {ModelGuidedOptions{}, Annealing()}) {
    const double model = MeanBestRatio("model", o, 64);
    RecordProperty(o.exhaustive_limit ? "model_exhaustive_mean_best_ratio"
                                      : "model_annealing_mean_best_ratio",
                   std::to_string(model));
    EXPECT_LE(model, 1.05) << "exhaustive_limit " << o.exhaustive_limit;
    EXPECT_LT(model, random) << "exhaustive_limit " << o.exhaustive_limit;
  }
}

// Transfer: a model trained on another device's records (same landscape,
// 30% slower) finds a near-optimal config in the first batch, and the seeds
// come first.
TEST(ModelGuidedStrategyTest, TransferredRecordsGuideTheFirstBatch) {
  const ConfigSpace space = SyntheticSpace();
  std::mt19937_64 rng(7);
  TransferGroup group;
  group.device_key = "other";
  for (int i = 0; i < 80; ++i) {
    Config c = space.Sample(rng).value();
    group.trials.push_back({c, true, 1.3 * SyntheticLatency(c)});
  }
  const Config seed = {{"a", 10}, {"b", 5}, {"c", 1}, {"d", 2}};
  ASSERT_TRUE(space.IsValid(seed));
  for (const ModelGuidedOptions& o : {ModelGuidedOptions{}, Annealing()}) {
    ModelGuidedStrategy s(o);
    s.SetTransfer(TransferData{{group}, {seed}});
    ASSERT_TRUE(s.Init(space, 3, {}).ok());
    const std::vector<Config> batch = s.ProposeBatch(8);
    ASSERT_EQ(batch.size(), 8u);
    EXPECT_EQ(batch.front(), seed);
    double best = 1e300;
    for (size_t i = 1; i < batch.size(); ++i) best = std::min(best, SyntheticLatency(batch[i]));
    // Besides the seed: within 10% of the optimum (about 2% of the space is).
    EXPECT_LE(best, 1.10 * SyntheticOptimum()) << "exhaustive_limit " << o.exhaustive_limit;
    EXPECT_TRUE(s.model_status().ok()) << s.model_status();
    // Past transfer_until own samples the model is refitted on them alone;
    // proposals stay valid and new.
    std::vector<Measurement> first;
    for (const Config& c : batch) first.push_back({c, true, SyntheticLatency(c)});
    s.Notify(first);
    std::set<Config> seen(batch.begin(), batch.end());
    for (const Config& c : Drive(s, o.transfer_until + 16, 8)) {
      EXPECT_TRUE(space.IsValid(c));
      EXPECT_TRUE(seen.insert(c).second);
    }
    EXPECT_TRUE(s.model_status().ok()) << s.model_status();
  }
}

// A real space with the task's shape features: annealing stays valid.
TEST(ModelGuidedStrategyTest, RealSpaceWithTaskFeatures) {
  const kernels::OpSpec op =
      kernels::ParseOpSpec("conv2d/int8/N=1,H=56,W=56,C=64,K=64,R=3,S=3,stride=1,pad=1").value();
  const ConfigSpace space = kernels::DescribeSpace(op, kernels::HostTarget()).value();
  auto made = MakeSearchStrategy("model");
  ASSERT_TRUE(made.ok());
  auto* s = static_cast<ModelGuidedStrategy*>(made->get());
  s->SetTask(op, DeviceCaches{48 * 1024, 2 << 20, 32 << 20, 2});
  ASSERT_TRUE(s->Init(space, 1, {}).ok());
  std::set<Config> seen;
  for (int round = 0; round < 4; ++round) {
    std::vector<Config> batch = s->ProposeBatch(8);
    ASSERT_EQ(batch.size(), 8u);
    std::vector<Measurement> results;
    for (const Config& c : batch) {
      EXPECT_TRUE(space.IsValid(c)) << space.ToString(c);
      EXPECT_TRUE(seen.insert(c).second) << "repeated " << space.ToString(c);
      // Fake latency: prefers larger register tiles.
      const double tile = static_cast<double>(c.count("tile_m") ? c.at("tile_m") * c.at("tile_nv") : 1);
      results.push_back({c, true, 1000.0 / (1.0 + tile)});
    }
    s->Notify(results);
  }
  EXPECT_TRUE(s->model_status().ok()) << s->model_status();
}

}  // namespace
}  // namespace qtune::tuner
