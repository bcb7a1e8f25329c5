// Registration heartbeats: on a FakeClock with a recording transport, and over
// real gRPC to an in-process fake daemon.
#include "device_agent/registrar.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/device_agent/agent_process.h"
#include "tests/device_agent/fake_daemon.h"

namespace qtune::agent {
namespace {

using ::testing::HasSubstr;

using testing::Eventually;

struct Recorder {
  std::mutex mu;
  std::vector<proto::RegisterAgentRequest> requests;
  std::vector<absl::Duration> timeouts;
  std::vector<std::string> log;
  absl::Status next = absl::OkStatus();  // what the transport answers

  RegisterTransport Transport() {
    return [this](const proto::RegisterAgentRequest& r, absl::Duration timeout) {
      std::lock_guard<std::mutex> lock(mu);
      requests.push_back(r);
      timeouts.push_back(timeout);
      return next;
    };
  }
  std::function<void(std::string_view)> Log() {
    return [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu);
      log.emplace_back(line);
    };
  }
  size_t calls() {
    std::lock_guard<std::mutex> lock(mu);
    return requests.size();
  }
};

RegistrarOptions FakeOptions(const FakeClock* clock, Recorder& recorder) {
  RegistrarOptions options;
  options.daemon = "127.0.0.1:7000";
  options.advertise = "127.0.0.1:7070";
  options.agent_token = "agent-secret";
  options.interval = absl::Seconds(5);
  options.clock = clock;
  options.log = recorder.Log();
  return options;
}

TEST(RegistrarTest, RegistersAtOnceThenEveryInterval) {
  FakeClock clock;
  Recorder recorder;
  auto registrar = Registrar::StartWithTransport(FakeOptions(&clock, recorder),
                                                 recorder.Transport());
  ASSERT_TRUE(registrar.ok()) << registrar.status();
  ASSERT_TRUE(Eventually([&] { return recorder.calls() == 1; }));
  {
    std::lock_guard<std::mutex> lock(recorder.mu);
    EXPECT_EQ(recorder.requests[0].address(), "127.0.0.1:7070");
    EXPECT_EQ(recorder.requests[0].token(), "agent-secret");
    EXPECT_TRUE(recorder.requests[0].heartbeat());
    EXPECT_EQ(recorder.timeouts[0], absl::Seconds(5));  // every call has a deadline
  }
  // Nothing more until the clock moves by the interval.
  clock.Advance(absl::Seconds(4));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(recorder.calls(), 1u);
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return recorder.calls() == 2; }));
  clock.Advance(absl::Seconds(5));
  ASSERT_TRUE(Eventually([&] { return recorder.calls() == 3; }));
  (*registrar)->Stop();
  EXPECT_EQ((*registrar)->attempts(), 3);
  EXPECT_EQ((*registrar)->successes(), 3);
  clock.Advance(absl::Seconds(60));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(recorder.calls(), 3u);
  std::lock_guard<std::mutex> lock(recorder.mu);
  ASSERT_EQ(recorder.log.size(), 1u);  // one line for the first success only
  EXPECT_THAT(recorder.log[0], HasSubstr("registered with the qtune daemon at 127.0.0.1:7000"));
}

TEST(RegistrarTest, ADownDaemonIsLoggedOnceAndRetried) {
  FakeClock clock;
  Recorder recorder;
  recorder.next = absl::UnavailableError("connection refused");
  auto registrar = Registrar::StartWithTransport(FakeOptions(&clock, recorder),
                                                 recorder.Transport());
  ASSERT_TRUE(registrar.ok()) << registrar.status();
  for (size_t n = 1; n <= 4; ++n) {
    ASSERT_TRUE(Eventually([&] { return recorder.calls() == n; })) << n;
    clock.Advance(absl::Seconds(5));
  }
  {
    std::lock_guard<std::mutex> lock(recorder.mu);
    ASSERT_EQ(recorder.log.size(), 1u);
    EXPECT_THAT(recorder.log[0], HasSubstr("cannot register"));
    EXPECT_THAT(recorder.log[0], HasSubstr("connection refused"));
    EXPECT_THAT(recorder.log[0], HasSubstr("retrying every 5s"));
    recorder.next = absl::OkStatus();  // the daemon comes up
  }
  ASSERT_TRUE(Eventually([&] { return (*registrar)->successes() == 1; }));
  (*registrar)->Stop();
  std::lock_guard<std::mutex> lock(recorder.mu);
  ASSERT_EQ(recorder.log.size(), 2u);
  EXPECT_THAT(recorder.log[1], HasSubstr("registered with"));
}

TEST(RegistrarTest, CallTimeoutFollowsTheIntervalWithinBounds) {
  EXPECT_EQ(RegisterCallTimeout(absl::Milliseconds(100)), absl::Seconds(1));
  EXPECT_EQ(RegisterCallTimeout(absl::Seconds(5)), absl::Seconds(5));
  EXPECT_EQ(RegisterCallTimeout(absl::Seconds(60)), absl::Seconds(10));
}

TEST(RegistrarTest, BadOptionsAreRefused) {
  RegistrarOptions options;
  options.daemon = "tuner.example:7000";  // not loopback, no --tls-ca
  options.advertise = "127.0.0.1:7070";
  absl::StatusOr<std::unique_ptr<Registrar>> r = Registrar::Start(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("--tls-ca"));
  options.daemon = "127.0.0.1:7000";
  options.advertise = "0.0.0.0:7070";
  r = Registrar::Start(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("--advertise"));
  options.advertise = "127.0.0.1:7070";
  options.tls_ca_file = "/nonexistent/ca.pem";
  r = Registrar::Start(options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("--tls-ca"));
  options.tls_ca_file = "";
  options.interval = absl::ZeroDuration();
  EXPECT_EQ(Registrar::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegistrarTest, RegistersWithARealDaemonOverGrpc) {
  testing::FakeDaemon daemon;
  ASSERT_TRUE(daemon.ok());
  RegistrarOptions options;
  options.daemon = daemon.address();
  options.advertise = "127.0.0.1:7070";
  options.agent_token = "agent-secret";
  options.daemon_token = "daemon-secret";
  options.interval = absl::Milliseconds(100);
  options.log = [](std::string_view) {};
  absl::StatusOr<std::unique_ptr<Registrar>> registrar = Registrar::Start(options);
  ASSERT_TRUE(registrar.ok()) << registrar.status();
  ASSERT_TRUE(Eventually([&] { return daemon.calls() >= 2; }));
  (*registrar)->Stop();
  EXPECT_EQ(daemon.request(0).address(), "127.0.0.1:7070");
  EXPECT_EQ(daemon.request(0).token(), "agent-secret");
  EXPECT_TRUE(daemon.request(0).heartbeat());
  EXPECT_EQ(daemon.token(0), "daemon-secret");
  EXPECT_GE((*registrar)->successes(), 2);
}

}  // namespace
}  // namespace qtune::agent
