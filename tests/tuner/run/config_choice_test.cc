// ChooseConfigs on a real database: the fastest trial within the thread cap
// of the agent's own build, a capped one when only more threads were tuned,
// the default (with a note) when only another build tuned the op, and
// recorded configs the agent's space no longer takes skipped.
#include "tuner/run/config_choice.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/convert.h"
#include "tests/db/test_util.h"

namespace qtune::tuner {
namespace {

using ::testing::HasSubstr;

kernels::OpSpec Conv(int k) {
  kernels::OpSpec op;
  op.kind = kernels::OpKind::kConv2d;
  op.dtype = kernels::DType::kInt8;
  op.n = 1;
  op.h = op.w = 8;
  op.c = 16;
  op.k = k;
  op.r = op.s = 1;
  return op;
}

proto::ModelGraph GraphOf(const std::vector<kernels::OpSpec>& ops) {
  proto::ModelGraph g;
  for (size_t i = 0; i < ops.size(); ++i) {
    proto::ModelNode* n = g.add_nodes();
    n->set_kind(proto::ModelNode::CONV);
    n->set_name("conv" + std::to_string(i));
    *n->mutable_op() = ToProto(ops[i]);
  }
  proto::ModelNode* pool = g.add_nodes();
  pool->set_kind(proto::ModelNode::MAX_POOL);
  return g;
}

absl::StatusOr<kernels::ConfigSpace> Space(const kernels::OpSpec&) {
  return kernels::ConfigSpace::Create(
      {{"threads", {1, 2}, {}, ""}, {"mr", {1, 2, 4}, {}, ""}}, {}, {{"threads", 1}, {"mr", 1}});
}

class ConfigChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = db::testing::OpenOrDie(db::testing::ScratchDir() + "/choice.db");
    info_.set_device_key("dev/x");
    info_.set_kernel_build_id("B1");
  }
  // Trials of `op` measured by `build`: (config, median_us) pairs.
  void Record(const kernels::OpSpec& op, const std::string& build,
              const std::vector<std::pair<std::string, double>>& trials) {
    db::DeviceRecord d;
    d.device_key = "dev/x";
    d.build_id = build;
    ASSERT_TRUE(store_->UpsertDevice(d).ok());
    db::WorkloadRecord w;
    w.workload_key = kernels::CanonicalKey(op);
    w.op_kind = "conv2d";
    w.dtype = "int8";
    ASSERT_TRUE(store_->UpsertWorkload(w).ok());
    db::JobRecord job;
    job.device_key = "dev/x";
    absl::StatusOr<std::string> id = store_->CreateJob(job);
    ASSERT_TRUE(id.ok()) << id.status();
    std::vector<db::TrialRecord> rows;
    for (size_t i = 0; i < trials.size(); ++i) {
      db::TrialRecord t = db::testing::MakeTrial(*id, static_cast<int64_t>(i), "dev/x",
                                                 w.workload_key, "OK", trials[i].second);
      t.build_id = build;
      t.settings = "s1";
      t.config = trials[i].first;
      rows.push_back(t);
    }
    ASSERT_TRUE(store_->AddTrials(rows).ok());
  }
  std::unique_ptr<db::Store> store_;
  proto::DeviceInfo info_;
};

TEST_F(ConfigChoiceTest, FastestWithinTheThreadCapOfTheAgentsBuild) {
  const kernels::OpSpec op = Conv(16);
  Record(op, "B1", {{"mr=4,threads=2", 10}, {"mr=2,threads=1", 12}, {"mr=9,threads=1", 5},
                    {"mr=1,threads=1", 20}});
  Record(op, "B0", {{"mr=1,threads=1", 1}});  // another build: never used
  for (int threads : {1, 2}) {
    absl::StatusOr<std::vector<ConfigChoice>> c =
        ChooseConfigs(store_.get(), info_, GraphOf({op}), threads, Space);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ(c->size(), 1u);
    const ConfigChoice& choice = (*c)[0];
    EXPECT_EQ(choice.node, "conv0");
    EXPECT_EQ(choice.source, ConfigChoice::Source::kTuned);
    // mr=9 is outside the space: skipped.
    EXPECT_EQ(choice.config_text, threads == 1 ? "mr=2,threads=1" : "mr=4,threads=2");
    EXPECT_EQ(choice.tuned_us, threads == 1 ? 12 : 10);
    EXPECT_EQ(choice.config.at("mr"), threads == 1 ? 2 : 4);
    // A multi-thread choice comes with the fastest one-thread config.
    EXPECT_EQ(choice.alternative_text, threads == 1 ? "" : "mr=2,threads=1");
    EXPECT_EQ(choice.alternative_us, threads == 1 ? 0 : 12);
  }
}

TEST_F(ConfigChoiceTest, CappedWhenOnlyMoreThreadsWereTuned) {
  const kernels::OpSpec op = Conv(32);
  Record(op, "B1", {{"mr=4,threads=2", 10}});
  absl::StatusOr<std::vector<ConfigChoice>> c =
      ChooseConfigs(store_.get(), info_, GraphOf({op}), 1, Space);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0].source, ConfigChoice::Source::kTunedCapped);
  EXPECT_EQ((*c)[0].config_text, "mr=4,threads=2");
  EXPECT_THAT((*c)[0].note, HasSubstr("tuned with 2 threads, run with 1"));
}

TEST_F(ConfigChoiceTest, DefaultWhenUntunedOrTunedOnlyByAnotherBuild) {
  const kernels::OpSpec old_op = Conv(48);
  const kernels::OpSpec new_op = Conv(64);
  Record(old_op, "B0", {{"mr=1,threads=1", 3}});
  absl::StatusOr<std::vector<ConfigChoice>> c =
      ChooseConfigs(store_.get(), info_, GraphOf({old_op, new_op}), 2, Space);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].source, ConfigChoice::Source::kDefault);
  EXPECT_EQ((*c)[0].config_text, "default");
  EXPECT_THAT((*c)[0].note, HasSubstr("tuned only with kernel build B0, not B1"));
  EXPECT_EQ((*c)[1].source, ConfigChoice::Source::kDefault);
  EXPECT_EQ((*c)[1].note, "");

  // Without a database every node runs its default.
  absl::StatusOr<std::vector<ConfigChoice>> none =
      ChooseConfigs(nullptr, info_, GraphOf({old_op}), 2, Space);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)[0].source, ConfigChoice::Source::kDefault);
  EXPECT_EQ(ChooseConfigs(nullptr, info_, GraphOf({old_op}), 0, Space).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qtune::tuner
