#include "tuner/search/transfer.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "qtune/db/store.h"
#include "qtune/kernels/op_spec.h"
#include "tuner/core/tuner.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using kernels::ConfigSpace;
using kernels::OpSpec;

OpSpec Conv(int hw, int c, int k, int stride, kernels::DType dtype = kernels::DType::kInt8) {
  OpSpec op;
  op.kind = kernels::OpKind::kConv2d;
  op.dtype = dtype;
  op.h = op.w = hw;
  op.c = c;
  op.k = k;
  op.r = op.s = 3;
  op.stride_h = op.stride_w = stride;
  op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = 1;
  return op;
}

ConfigSpace Space() {
  return ConfigSpace::Create({{"tile", {1, 2, 4, 8}, {}, ""},
                              {"loop", {0, 1}, {"kn", "nk"}, ""}},
                             {"tile <= 4 || loop == 0"}, {{"tile", 1}, {"loop", 0}})
      .value();
}

TEST(ShapeDistanceTest, ZeroForTheSameShapeAndGrowsWithRatios) {
  EXPECT_EQ(ShapeDistance(Conv(56, 64, 64, 1), Conv(56, 64, 64, 1)), 0.0);
  // 28x28 outputs (4x fewer pixels: 2), 2x C (1), 2x K (1).
  EXPECT_DOUBLE_EQ(ShapeDistance(Conv(56, 64, 64, 1), Conv(28, 128, 128, 1)), 4.0);
  EXPECT_TRUE(std::isinf(ShapeDistance(Conv(56, 64, 64, 1),
                                       Conv(56, 64, 64, 1, kernels::DType::kFp32))));
}

TEST(ParseForSpaceTest, KeepsKnownKnobsAndLabelsOnly) {
  const ConfigSpace space = Space();
  Config c = ParseForSpace(space, "loop=nk,tile=16,unknown=3");
  EXPECT_EQ(c.at("loop"), 1);
  EXPECT_EQ(c.at("tile"), 16);  // kept although not a value of the space
  EXPECT_EQ(c.count("unknown"), 0u);
  EXPECT_EQ(ParseForSpace(space, "loop=zz,tile=x").size(), 0u);
}

// Every config of Space() with tile <= 4, at 10 x tile us (+1 for loop=nk).
std::vector<std::pair<std::string, double>> SixConfigs() {
  std::vector<std::pair<std::string, double>> configs;
  for (int t : {1, 2, 4}) {
    for (const char* loop : {"kn", "nk"}) {
      configs.emplace_back(absl::StrCat("loop=", loop, ",tile=", t), t * 10.0 + (loop[0] == 'n'));
    }
  }
  return configs;
}

class LoadTransferTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(testing::TempDir(), "/transfer_test_", getpid(), "_",
                         testing::UnitTest::GetInstance()->current_test_info()->name(), ".db");
    std::remove(path_.c_str());
    store_ = *db::Store::Open(path_);
    for (const char* device : {"dev/a", "dev/b"}) {
      db::DeviceRecord d;
      d.device_key = device;
      d.info_json = R"({"caches":[{"level":2,"sizeBytes":"2097152"}],"cores":4})";
      ASSERT_TRUE(store_->UpsertDevice(d).ok());
    }
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
  }

  // Records `configs` (with latencies) of `op` on `device` as one job.
  void Record(const std::string& device, const OpSpec& op,
              const std::vector<std::pair<std::string, double>>& configs) {
    const db::WorkloadRecord w = WorkloadRecordOf(op);
    ASSERT_TRUE(store_->UpsertWorkload(w).ok());
    db::JobRecord job;
    job.device_key = device;
    job.state = "done";
    absl::StatusOr<std::string> id = store_->CreateJob(job);
    ASSERT_TRUE(id.ok()) << id.status();
    std::vector<db::TrialRecord> trials;
    int64_t seq = 1;
    for (const auto& [config, us] : configs) {
      db::TrialRecord t;
      t.job_id = *id;
      t.seq = seq++;
      t.device_key = device;
      t.workload_key = w.workload_key;
      t.config = config;
      t.status = us > 0 ? "OK" : "WRONG_OUTPUT";
      t.median_us = us > 0 ? us : 0;
      trials.push_back(t);
    }
    ASSERT_TRUE(store_->AddTrials(trials).ok());
  }

  std::string path_;
  std::unique_ptr<db::Store> store_;
};

TEST_F(LoadTransferTest, UsesOtherDevicesAndSimilarOpsButNotTheTaskItself) {
  const OpSpec target = Conv(56, 64, 64, 1);
  Record("dev/a", target, {{"loop=kn,tile=1", 50}});              // history, not transfer
  Record("dev/b", target, {{"loop=kn,tile=8", 10}, {"loop=nk,tile=2", 30},
                           {"loop=nk,tile=4", -1}});
  Record("dev/a", Conv(28, 128, 128, 1), {{"loop=nk,tile=4", 20}, {"loop=kn,tile=2", 25}});
  Record("dev/a", Conv(56, 64, 64, 1, kernels::DType::kFp32), {{"loop=kn,tile=4", 5}});

  absl::StatusOr<TransferData> data = LoadTransfer(*store_, target, "dev/a", Space());
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->groups.size(), 2u);
  // The same op on another device first.
  EXPECT_EQ(data->groups[0].device_key, "dev/b");
  EXPECT_EQ(data->groups[0].distance, 0.5);
  EXPECT_EQ(data->groups[0].trials.size(), 2u);  // OK trials only
  EXPECT_EQ(data->groups[0].caches.l2_bytes, 2097152);
  EXPECT_EQ(data->groups[1].device_key, "dev/a");
  EXPECT_EQ(data->groups[1].op, Conv(28, 128, 128, 1));
  // Seeds: each group's fastest config, nearest group first.
  ASSERT_EQ(data->seeds.size(), 2u);
  EXPECT_EQ(data->seeds[0], (Config{{"loop", 0}, {"tile", 8}}));
  EXPECT_EQ(data->seeds[1], (Config{{"loop", 1}, {"tile", 4}}));
}

TEST_F(LoadTransferTest, SeedsAreValidInTheTaskSpace) {
  const OpSpec target = Conv(56, 64, 64, 1);
  // tile=8 with loop=nk is invalid in Space(): the next best is the seed.
  Record("dev/b", target, {{"loop=nk,tile=8", 5}, {"loop=kn,tile=2", 30}});
  absl::StatusOr<TransferData> data = LoadTransfer(*store_, target, "dev/a", Space());
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->seeds.size(), 1u);
  EXPECT_EQ(data->seeds[0], (Config{{"loop", 0}, {"tile", 2}}));
}

TEST_F(LoadTransferTest, EmptyDatabaseAndLimits) {
  const OpSpec target = Conv(56, 64, 64, 1);
  absl::StatusOr<TransferData> data = LoadTransfer(*store_, target, "dev/a", Space());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_TRUE(data->groups.empty());
  EXPECT_TRUE(data->seeds.empty());

  const std::vector<std::pair<std::string, double>> many = SixConfigs();
  Record("dev/b", target, many);
  TransferOptions options;
  options.max_trials_per_group = 3;
  data = LoadTransfer(*store_, target, "dev/a", Space(), options);
  ASSERT_TRUE(data.ok());
  ASSERT_EQ(data->groups.size(), 1u);
  ASSERT_EQ(data->groups[0].trials.size(), 3u);
  EXPECT_EQ(data->groups[0].trials[0].latency_us, 10.0);  // the best is kept
  EXPECT_GT(data->groups[0].trials[2].latency_us, 20.0);  // and the spread
  options.max_groups = 0;
  data = LoadTransfer(*store_, target, "dev/a", Space(), options);
  ASSERT_TRUE(data.ok());
  EXPECT_TRUE(data->groups.empty());
}

TEST_F(LoadTransferTest, ALargeSourceIsReadAsASample) {
  const OpSpec target = Conv(56, 64, 64, 1);
  const std::vector<std::pair<std::string, double>> many = SixConfigs();
  Record("dev/b", target, many);
  Record("dev/b", target, many);  // the same configs and latencies again
  absl::StatusOr<TransferData> data = LoadTransfer(*store_, target, "dev/a", Space());
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->groups.size(), 1u);
  EXPECT_EQ(data->groups[0].trials.size(), 6u);  // read whole: every config once

  TransferOptions options;
  options.read_all = 11;  // the source has 12 trials
  options.sample_best = 1;
  options.sample_spread = 1;
  data = LoadTransfer(*store_, target, "dev/a", Space(), options);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->groups.size(), 1u);
  ASSERT_EQ(data->groups[0].trials.size(), 2u);  // the fastest and the slowest
  EXPECT_EQ(data->groups[0].trials[0].latency_us, 10.0);
  EXPECT_EQ(data->groups[0].trials[1].latency_us, 41.0);
  ASSERT_EQ(data->seeds.size(), 1u);
  EXPECT_EQ(data->seeds[0], (Config{{"loop", 0}, {"tile", 1}}));
}

}  // namespace
}  // namespace qtune::tuner
