#include "tuner/search/cost_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "tests/tuner/search/synthetic_space.h"
#include "tuner/search/features.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using testing_util::SyntheticLatency;
using testing_util::SyntheticSpace;

std::vector<double> Ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size(); ++i) r[order[i]] = static_cast<double>(i);
  return r;
}

double Spearman(const std::vector<double>& x, const std::vector<double>& y) {
  const std::vector<double> rx = Ranks(x), ry = Ranks(y);
  const double n = static_cast<double>(x.size());
  double d2 = 0;
  for (size_t i = 0; i < x.size(); ++i) d2 += (rx[i] - ry[i]) * (rx[i] - ry[i]);
  return 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
}

// The synthetic space's valid configs in a seeded random order.
std::vector<Config> ShuffledConfigs(uint64_t seed) {
  std::vector<Config> all = SyntheticSpace().EnumerateValid();
  std::mt19937_64 rng(seed);
  for (size_t i = all.size(); i > 1; --i) std::swap(all[i - 1], all[rng() % i]);
  return all;
}

struct Split {
  FeatureRows train_rows, test_rows;
  std::vector<double> train_latency, test_latency;
};

Split MakeSplit(uint64_t seed, size_t train, size_t test, double latency_scale = 1.0) {
  const FeatureExtractor fx(SyntheticSpace(), std::nullopt);
  std::vector<Config> all = ShuffledConfigs(seed);
  Split s;
  for (size_t i = 0; i < train + test && i < all.size(); ++i) {
    (i < train ? s.train_rows : s.test_rows).push_back(fx.Extract(all[i]));
    (i < train ? s.train_latency : s.test_latency).push_back(latency_scale * SyntheticLatency(all[i]));
  }
  return s;
}

// Spearman correlation of scores with speed (-latency) on held-out configs.
double HeldOutSpearman(const XgboostOptions& options, uint64_t seed) {
  Split s = MakeSplit(seed, 100, 300);
  auto model = MakeXgboostCostModel(options);
  EXPECT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->Update(s.train_rows, s.train_latency).ok());
  absl::StatusOr<std::vector<float>> scores = (*model)->Predict(s.test_rows);
  EXPECT_TRUE(scores.ok()) << scores.status();
  std::vector<double> speed, predicted(scores->begin(), scores->end());
  for (double l : s.test_latency) speed.push_back(-l);
  return Spearman(predicted, speed);
}

TEST(CostModelTest, RanksHeldOutConfigsOfSyntheticSpace) {
  for (uint64_t seed : {1, 2, 3}) {
    EXPECT_GE(HeldOutSpearman({}, seed), 0.8) << "seed " << seed;
  }
}

TEST(CostModelTest, RegressionObjectiveAlsoRanks) {
  XgboostOptions o;
  o.objective = "reg:squarederror";
  EXPECT_GE(HeldOutSpearman(o, 1), 0.8);
}

TEST(CostModelTest, DeterministicAndAccumulatesSamples) {
  Split s = MakeSplit(7, 60, 50);
  std::vector<std::vector<float>> predictions;
  for (int run = 0; run < 2; ++run) {
    auto model = MakeXgboostCostModel({}).value();
    // Two updates of 30: the second refit uses all 60.
    FeatureRows a(s.train_rows.begin(), s.train_rows.begin() + 30);
    FeatureRows b(s.train_rows.begin() + 30, s.train_rows.end());
    std::vector<double> la(s.train_latency.begin(), s.train_latency.begin() + 30);
    std::vector<double> lb(s.train_latency.begin() + 30, s.train_latency.end());
    ASSERT_TRUE(model->Update(a, la).ok());
    ASSERT_TRUE(model->Update(b, lb).ok());
    EXPECT_EQ(model->num_samples(), 60u);
    predictions.push_back(model->Predict(s.test_rows).value());
  }
  EXPECT_EQ(predictions[0], predictions[1]);
}

TEST(CostModelTest, GroupsRankWithinEachTask) {
  // Task 1 is 1000x slower than task 0; ranking is per task.
  Split s0 = MakeSplit(11, 100, 0), s1 = MakeSplit(12, 100, 300, 1000.0);
  auto model = MakeXgboostCostModel({}).value();
  ASSERT_TRUE(model->Update(s0.train_rows, s0.train_latency, 0).ok());
  ASSERT_TRUE(model->Update(s1.train_rows, s1.train_latency, 1).ok());
  std::vector<float> scores = model->Predict(s1.test_rows).value();
  std::vector<double> speed;
  for (double l : s1.test_latency) speed.push_back(-l);
  EXPECT_GE(Spearman(std::vector<double>(scores.begin(), scores.end()), speed), 0.8);
}

TEST(CostModelTest, AddThenFitEqualsUpdate) {
  Split s0 = MakeSplit(11, 60, 0), s1 = MakeSplit(12, 60, 50, 1000.0);
  auto updated = MakeXgboostCostModel({}).value();
  ASSERT_TRUE(updated->Update(s0.train_rows, s0.train_latency, 0).ok());
  ASSERT_TRUE(updated->Update(s1.train_rows, s1.train_latency, 1).ok());
  auto added = MakeXgboostCostModel({}).value();
  EXPECT_EQ(added->Fit().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(added->Add(s0.train_rows, s0.train_latency, 0).ok());
  ASSERT_TRUE(added->Add(s1.train_rows, s1.train_latency, 1).ok());
  EXPECT_EQ(added->Predict(s1.test_rows).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(added->Fit().ok());
  EXPECT_EQ(added->num_samples(), 120u);
  EXPECT_EQ(added->Predict(s1.test_rows).value(), updated->Predict(s1.test_rows).value());
}

TEST(CostModelTest, RejectsBadInput) {
  auto model = MakeXgboostCostModel({}).value();
  EXPECT_EQ(model->Predict({{1.0f}}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(model->Update({{1.0f}, {2.0f}}, {1.0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->Update({{1.0f}, {2.0f, 3.0f}}, {1.0, 2.0}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->Update({{1.0f}}, {0.0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->Update({{1.0f}}, {NAN}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->num_samples(), 0u);
  ASSERT_TRUE(model->Update({{1.0f}, {2.0f}}, {1.0, 2.0}).ok());
  EXPECT_EQ(model->Predict({{1.0f, 2.0f}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model->Predict({}).value().size(), 0u);

  XgboostOptions bad;
  bad.objective = "binary:logistic";
  EXPECT_EQ(MakeXgboostCostModel(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = {};
  bad.rounds = 0;
  EXPECT_EQ(MakeXgboostCostModel(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FeaturesTest, KnobFeaturesOneHotCategoricals) {
  const FeatureExtractor fx(SyntheticSpace(), std::nullopt);
  EXPECT_EQ(fx.names(), (std::vector<std::string>{"knob:a", "knob:b", "knob:c=x", "knob:c=y",
                                                  "knob:c=z", "knob:d"}));
  EXPECT_EQ(fx.Extract({{"a", 3}, {"b", 5}, {"c", 1}, {"d", 2}}),
            (std::vector<float>{3, 5, 0, 1, 0, 2}));
  std::vector<float> partial = fx.Extract({{"a", 3}});
  EXPECT_TRUE(std::isnan(partial[1]));
  EXPECT_TRUE(std::isnan(partial[3]));
}

// Every shape-derived feature is defined for every family of a real space.
TEST(FeaturesTest, DerivedFeaturesDefinedForEveryFamilyOfRealSpaces) {
  const char* ops[] = {
      "conv2d/int8/N=1,H=56,W=56,C=64,K=64,R=3,S=3,stride=1,pad=1",
      "conv2d/fp32/N=1,H=28,W=28,C=128,K=128,R=1,S=1",
      "conv2d/int8/N=1,H=224,W=224,C=3,K=64,R=7,S=7,stride=2,pad=3",
      "dense/int8/C=512,K=1000",
      "depthwise_conv2d/int8/H=56,W=56,C=64,K=64,R=3,S=3,groups=64,pad=1",
  };
  for (const char* text : ops) {
    SCOPED_TRACE(text);
    const kernels::OpSpec op = kernels::ParseOpSpec(text).value();
    absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(op, kernels::HostTarget());
    ASSERT_TRUE(space.ok()) << space.status();
    const FeatureExtractor fx(*space, op, DeviceCaches{48 * 1024, 2 << 20, 32 << 20, 2});
    const size_t knob_features = FeatureExtractor(*space, std::nullopt).size();
    ASSERT_GT(fx.size(), knob_features);
    EXPECT_EQ(std::set<std::string>(fx.names().begin(), fx.names().end()).size(), fx.size());
    for (const std::string& name : fx.names()) EXPECT_FALSE(name.empty());
    // Every k-th valid config: the `kernel` knob varies slowest, so all
    // families are covered.
    const std::vector<Config> all = space->EnumerateValid();
    std::vector<Config> configs = {space->default_config()};
    for (size_t i = 0; i < all.size(); i += std::max<size_t>(1, all.size() / 500)) {
      configs.push_back(all[i]);
    }
    std::set<int64_t> families;
    for (const Config& c : configs) {
      if (auto it = c.find("kernel"); it != c.end()) families.insert(it->second);
      std::vector<float> f = fx.Extract(c);
      for (size_t i = 0; i < f.size(); ++i) {
        ASSERT_TRUE(std::isfinite(f[i])) << fx.names()[i] << " of " << space->ToString(c);
      }
    }
    if (const kernels::Knob* k = space->FindKnob("kernel")) {
      EXPECT_EQ(families.size(), k->values.size());
    }
  }
}

TEST(FeaturesTest, TileWasteFollowsTheKnobs) {
  const kernels::OpSpec op =
      kernels::ParseOpSpec("conv2d/int8/N=1,H=56,W=56,C=64,K=64,R=3,S=3,stride=1,pad=1").value();
  const kernels::ConfigSpace space = kernels::DescribeSpace(op, kernels::HostTarget()).value();
  const FeatureExtractor fx(space, op);
  auto feature = [&](const Config& c, const std::string& name) {
    const auto it = std::find(fx.names().begin(), fx.names().end(), name);
    EXPECT_NE(it, fx.names().end()) << name;
    return fx.Extract(c)[it - fx.names().begin()];
  };
  Config c = space.default_config();
  if (!c.count("tile_m")) GTEST_SKIP() << "no x86 family on this host";
  c["tile_m"] = 8;  // 56 = 7 * 8: no waste
  EXPECT_FLOAT_EQ(feature(c, "tile:pixel_waste"), 0.0f);
  c["tile_m"] = 5;  // 12 tiles cover 60 of 56
  EXPECT_NEAR(feature(c, "tile:pixel_waste"), 60.0 / 56.0 - 1.0, 1e-6);
  EXPECT_FLOAT_EQ(feature(c, "tile:pixels"), 5.0f);
}

}  // namespace
}  // namespace qtune::tuner
