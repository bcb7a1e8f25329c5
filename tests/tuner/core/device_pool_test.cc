// The device pool with in-process fake agents: key matching, spreading,
// fail-over, waiting for a device, health, fairness between jobs.
#include "tuner/core/device_pool.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::tuner {
namespace {

using kernels::Config;

// What a fake agent does; shared with the test so that it can be changed
// while the pool holds the connection.
struct FakeAgentState {
  std::string key = "dev/a";
  std::atomic<bool> reachable{true};
  std::atomic<int> fail_after{-1};  // answer this many configs, then drop the call (once)
  std::atomic<bool> skip_all{false};  // answer OK without results
  std::atomic<int> runs{0};           // configs answered
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<std::string> jobs_order;  // (unused by default)
};

class FakeAgent : public AgentConnection {
 public:
  FakeAgent(std::string address, FakeAgentState& state) : address_(std::move(address)), s_(state) {}
  absl::StatusOr<proto::DeviceInfo> GetDeviceInfo() override {
    if (!s_.reachable) return absl::UnavailableError("down");
    proto::DeviceInfo info;
    info.set_device_key(s_.key);
    info.set_kernel_build_id("0.1.0-fake");
    return info;
  }
  absl::StatusOr<kernels::ConfigSpace> DescribeSpace(const kernels::OpSpec&) override {
    if (!s_.reachable) return absl::UnavailableError("down");
    return kernels::ConfigSpace::Create({{"a", {1, 2, 3, 4}, {}, ""}}, {}, {{"a", 1}});
  }
  absl::Status RunTrials(const kernels::OpSpec&, const std::vector<Config>& configs,
                         const proto::MeasureOptions&,
                         const std::function<void(const proto::TrialResult&)>& on_result) override {
    ++s_.calls;
    if (!s_.reachable) return absl::UnavailableError("connection refused");
    if (s_.skip_all) return absl::OkStatus();
    for (size_t i = 0; i < configs.size(); ++i) {
      if (s_.fail_after >= 0 && s_.fail_after-- == 0) {
        s_.reachable = false;
        return absl::UnavailableError("agent killed mid-batch");
      }
      proto::TrialResult r;
      r.set_index(static_cast<int>(i));
      r.set_status(proto::OK);
      r.set_median_us(10);
      r.set_kernel_name(address_);
      on_result(r);
      ++s_.runs;
    }
    return absl::OkStatus();
  }
  absl::Status CheckHealth() override {
    return s_.reachable ? absl::OkStatus() : absl::UnavailableError("down");
  }

 private:
  std::string address_;
  FakeAgentState& s_;
};

class DevicePoolTest : public ::testing::Test {
 protected:
  DevicePoolTest() {
    for (const char* address : {"a1:1", "a2:1", "b1:1"}) states_[address];
    states_["b1:1"].key = "dev/b";
    DevicePoolOptions options;
    options.health_interval = absl::Milliseconds(20);
    pool_ = std::make_unique<DevicePool>(
        [this](const std::string& address, const std::string&)
            -> absl::StatusOr<std::unique_ptr<AgentConnection>> {
          auto it = states_.find(address);
          if (it == states_.end() || !it->second.reachable) {
            return absl::UnavailableError(absl::StrCat("cannot reach ", address));
          }
          return std::unique_ptr<AgentConnection>(new FakeAgent(address, it->second));
        },
        options);
  }

  static std::vector<Config> Configs(int n) {
    std::vector<Config> configs;
    for (int i = 0; i < n; ++i) configs.push_back({{"a", i}});
    return configs;
  }

  // Runs `n` configs for `job` on `key`: each index's answer (the agent
  // that gave it), checking that every config is answered exactly once.
  std::map<int, std::string> Run(const std::string& job, const std::string& key, int n,
                                 absl::Status* status_out = nullptr,
                                 const std::atomic<bool>* cancel = nullptr) {
    std::map<int, std::string> answers;
    absl::Status status = pool_->RunTrials(
        job, key, kernels::OpSpec(), Configs(n), proto::MeasureOptions(),
        [&](const proto::TrialResult& r) {
          EXPECT_TRUE(answers.emplace(r.index(), r.kernel_name()).second) << "twice: " << r.index();
        },
        cancel);
    if (status_out != nullptr) {
      *status_out = status;
    } else {
      EXPECT_TRUE(status.ok()) << status;
    }
    return answers;
  }

  std::map<std::string, FakeAgentState> states_;
  std::unique_ptr<DevicePool> pool_;
};

TEST_F(DevicePoolTest, RegistersAgentsByAddressAndKey) {
  ASSERT_TRUE(pool_->Register("a1:1", "", false).ok());
  ASSERT_TRUE(pool_->Register("b1:1", "", true).ok());
  EXPECT_EQ(pool_->Register("nowhere:1", "", false).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(pool_->Devices().size(), 2u);
  EXPECT_TRUE(pool_->Knows("dev/a"));
  EXPECT_FALSE(pool_->Knows("dev/c"));
  std::vector<proto::AgentStatus> agents = pool_->Agents();
  ASSERT_EQ(agents.size(), 2u);
  EXPECT_EQ(agents[0].address(), "a1:1");
  EXPECT_FALSE(agents[0].registered());
  EXPECT_TRUE(agents[1].registered());
  EXPECT_EQ(agents[1].health(), "healthy");
}

TEST_F(DevicePoolTest, TrialsGoOnlyToAgentsOfTheKey) {
  ASSERT_TRUE(pool_->Register("a1:1", "", false).ok());
  ASSERT_TRUE(pool_->Register("b1:1", "", false).ok());
  for (const auto& [index, agent] : Run("job", "dev/b", 6)) EXPECT_EQ(agent, "b1:1");
  EXPECT_EQ(states_["a1:1"].runs, 0);
}

TEST_F(DevicePoolTest, ABatchIsSpreadOverIdleAgentsOfTheKey) {
  ASSERT_TRUE(pool_->Register("a1:1", "", false).ok());
  ASSERT_TRUE(pool_->Register("a2:1", "", false).ok());
  std::map<int, std::string> answers = Run("job", "dev/a", 8);
  EXPECT_EQ(answers.size(), 8u);
  EXPECT_EQ(states_["a1:1"].runs, 4);
  EXPECT_EQ(states_["a2:1"].runs, 4);
}

TEST_F(DevicePoolTest, AnAgentThatDiesMidBatchFailsOverToAnother) {
  ASSERT_TRUE(pool_->Register("a1:1", "", false).ok());
  states_["a1:1"].fail_after = 3;
  ASSERT_TRUE(pool_->Register("a2:1", "", false).ok());
  pool_->CheckHealthNow();
  // Small batches stay on one agent; a1 dies after 3 answers.
  std::map<int, std::string> answers;
  for (int round = 0; round < 4; ++round) {
    for (const auto& [i, agent] : Run(absl::StrCat("job", round), "dev/a", 3)) {
      answers[round * 3 + i] = agent;
    }
  }
  EXPECT_EQ(answers.size(), 12u);
  EXPECT_EQ(states_["a1:1"].runs + states_["a2:1"].runs, 12);
  std::vector<proto::AgentStatus> agents = pool_->Agents();
  EXPECT_EQ(agents[0].health(), "unhealthy");
  EXPECT_THAT(agents[0].message(), testing::HasSubstr("killed mid-batch"));
}

TEST_F(DevicePoolTest, ABatchWaitsForItsDeviceToComeBack) {
  ASSERT_TRUE(pool_->Register("a1:1", "", false).ok());
  states_["a1:1"].fail_after = 2;
  std::thread restart([&] {
    // The agent is back after a while; the health checks notice.
    while (states_["a1:1"].reachable) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    states_["a1:1"].reachable = true;
  });
  std::map<int, std::string> answers = Run("job", "dev/a", 5);
  restart.join();
  EXPECT_EQ(answers.size(), 5u);
  EXPECT_EQ(states_["a1:1"].runs, 5);
}

TEST_F(DevicePoolTest, CancellingStopsTheWait) {
  ASSERT_TRUE(pool_->Register("a1:1", "", false).ok());
  states_["a1:1"].reachable = false;
  pool_->CheckHealthNow();
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel = true;
  });
  absl::Status status;
  std::map<int, std::string> answers = Run("job", "dev/a", 4, &status, &cancel);
  canceller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(answers.empty());
  EXPECT_THAT(pool_->WaitingReason("job"), testing::IsEmpty());
}

TEST_F(DevicePoolTest, SilentAgentsCannotLoseAConfig) {
  ASSERT_TRUE(pool_->Register("a1:1", "", false).ok());
  states_["a1:1"].skip_all = true;
  std::atomic<bool> answered_all{false};
  absl::Status status = pool_->RunTrials(
      "job", "dev/a", kernels::OpSpec(), Configs(2), proto::MeasureOptions(),
      [&](const proto::TrialResult& r) {
        EXPECT_EQ(r.status(), proto::INTERNAL);
        answered_all = true;
      },
      nullptr);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_TRUE(answered_all);
  EXPECT_EQ(states_["a1:1"].calls, 3);  // three rounds, then reported
}

TEST_F(DevicePoolTest, JobsSharingOneAgentTakeTurns) {
  ASSERT_TRUE(pool_->Register("a1:1", "", false).ok());
  std::mutex order_mu;
  std::vector<int> order;
  auto job = [&](int id) {
    for (int batch = 0; batch < 5; ++batch) {
      pool_->RunTrials(
               absl::StrCat("job", id), "dev/a", kernels::OpSpec(), Configs(1),
               proto::MeasureOptions(),
               [&](const proto::TrialResult&) {
                 std::lock_guard<std::mutex> lock(order_mu);
                 order.push_back(id);
                 std::this_thread::sleep_for(std::chrono::milliseconds(10));
               },
               nullptr)
          .IgnoreError();
    }
  };
  std::thread a(job, 1), b(job, 2);
  a.join();
  b.join();
  ASSERT_EQ(order.size(), 10u);
  // Neither job ran all its batches before the other started its second.
  int first_of_two = -1, last_of_one = -1;
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] == 1) last_of_one = static_cast<int>(i);
    if (order[i] == 2 && first_of_two < 0) first_of_two = static_cast<int>(i);
  }
  EXPECT_LT(first_of_two, last_of_one);
}

TEST_F(DevicePoolTest, HeartbeatAgentsThatVanishLeaveThePool) {
  FakeClock clock;
  DevicePoolOptions options;
  options.health_interval = absl::Hours(1);  // checks only when the test asks
  options.expire_after = absl::Seconds(30);
  options.clock = &clock;
  DevicePool pool(
      [this](const std::string& address, const std::string&)
          -> absl::StatusOr<std::unique_ptr<AgentConnection>> {
        return std::unique_ptr<AgentConnection>(new FakeAgent(address, states_[address]));
      },
      options);
  ASSERT_TRUE(pool.Register("a1:1", "", /*heartbeat=*/true).ok());
  ASSERT_TRUE(pool.Register("a2:1", "", /*heartbeat=*/false).ok());
  states_["a1:1"].reachable = false;
  states_["a2:1"].reachable = false;
  pool.CheckHealthNow();
  EXPECT_EQ(pool.Agents().size(), 2u);  // unhealthy, not expired yet
  clock.Advance(absl::Seconds(31));
  pool.CheckHealthNow();
  std::vector<proto::AgentStatus> agents = pool.Agents();
  ASSERT_EQ(agents.size(), 1u);  // the heartbeat agent expired; the added one stays
  EXPECT_EQ(agents[0].address(), "a2:1");
  states_["a2:1"].reachable = true;
  pool.CheckHealthNow();
  EXPECT_EQ(pool.Agents()[0].health(), "healthy");
}

}  // namespace
}  // namespace qtune::tuner
