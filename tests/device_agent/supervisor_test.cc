// The trial deadline as the supervisor applies it, with the real qtune-agent
// binary as the worker: building the operator instance and its reference has
// its own bound and does not count against the kernel's deadline.
#include "device_agent/supervisor.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/convert.h"
#include "proto/qtune.pb.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "tests/device_agent/trial_test_util.h"

#ifndef QTUNE_AGENT_BINARY
#error "QTUNE_AGENT_BINARY must name the qtune-agent executable"
#endif

namespace qtune::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

kernels::OpSpec SmallDense() { return Dense(1, 32, 16); }

// One trial of SmallDense's default config with quick options.
proto::TrialResult RunSmallDense(WorkerSupervisor& supervisor, double timeout_ms) {
  const kernels::OpSpec op = SmallDense();
  return supervisor.RunTrial(ToProto(op), ToProto(DefaultConfig(op)), QuickOptions(), timeout_ms);
}

class SupervisorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  static WorkerOptions Options(const std::string& fault) {
    WorkerOptions options;
    options.binary = QTUNE_AGENT_BINARY;
    if (!fault.empty()) options.extra_env = {"QTUNE_AGENT_TEST_FAULT=" + fault};
    return options;
  }
};

TEST_F(SupervisorTest, BuildingTheInstanceDoesNotCountAgainstTheKernelDeadline) {
  // The worker takes 1.5 s before building the instance; the kernel's
  // deadline of 1 s starts only once the instance is ready.
  WorkerSupervisor supervisor(Options("slow_instance:1500"));
  proto::TrialResult r = RunSmallDense(supervisor, 1000);
  EXPECT_EQ(r.status(), proto::OK) << r.message();
}

TEST_F(SupervisorTest, HangingReferenceTimesOutAsTheReference) {
  WorkerOptions options = Options("hang_instance");
  options.instance_timeout_floor_ms = 300;
  WorkerSupervisor supervisor(options);
  proto::TrialResult r = RunSmallDense(supervisor, 1000);
  EXPECT_EQ(r.status(), proto::TIMEOUT);
  EXPECT_THAT(r.message(), HasSubstr("reference"));
  EXPECT_THAT(r.message(), HasSubstr("not the kernel"));
  EXPECT_EQ(supervisor.worker_pid(), -1);  // killed and reaped
}

TEST_F(SupervisorTest, HangingKernelTimesOutWithTheExplicitDeadline) {
  WorkerSupervisor supervisor(Options("hang"));
  proto::TrialResult r = RunSmallDense(supervisor, 300);
  EXPECT_EQ(r.status(), proto::TIMEOUT);
  EXPECT_THAT(r.message(), HasSubstr("300 ms"));
  EXPECT_THAT(r.message(), Not(HasSubstr("reference")));
}

TEST_F(SupervisorTest, DeadlinesFollowTheOpAndTheClock) {
  WorkerOptions options = Options("");
  options.clock_ghz = 3.6;
  WorkerSupervisor supervisor(options);
  kernels::OpSpec l1;  // ResNet18 L1: 115.6 M MACs
  l1.h = l1.w = 56;
  l1.c = l1.k = 64;
  l1.r = l1.s = 3;
  l1.pad_top = l1.pad_left = l1.pad_bottom = l1.pad_right = 1;
  absl::StatusOr<WorkerSupervisor::TrialDeadlines> d =
      supervisor.Deadlines(ToProto(l1), proto::MeasureOptions(), 0);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->kernel_ms, 8878);  // measure_options.h
  EXPECT_EQ(d->instance_ms, 32313);
  EXPECT_THAT(d->kernel_basis, HasSubstr("115.6 M MACs at 3.60 GHz"));
  // An explicit timeout is the kernel's deadline as it is.
  d = supervisor.Deadlines(ToProto(l1), proto::MeasureOptions(), 250);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->kernel_ms, 250);
  EXPECT_EQ(d->instance_ms, 32313);
  // The flush option counts.
  proto::MeasureOptions flush;
  flush.set_flush_cache(true);
  d = supervisor.Deadlines(ToProto(l1), flush, 0);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_GT(d->kernel_ms, 8878);

  WorkerOptions unknown = Options("");
  unknown.clock_ghz = 0;
  WorkerSupervisor qemu_like(unknown);
  d = qemu_like.Deadlines(ToProto(l1), proto::MeasureOptions(), 0);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->kernel_ms, 15891);
  EXPECT_THAT(d->kernel_basis, HasSubstr("clock unknown"));
}

TEST_F(SupervisorTest, HangingKernelTimesOutWithTheAutomaticDeadline) {
  // 512 MACs at 1 GHz: 3 * (2000 ms + 14 runs of ~0 + 3 * 0.5 ms) = 6005 ms.
  WorkerOptions options = Options("hang");
  options.clock_ghz = 1.0;
  WorkerSupervisor supervisor(options);
  proto::TrialResult r = RunSmallDense(supervisor, 0);
  EXPECT_EQ(r.status(), proto::TIMEOUT);
  EXPECT_THAT(r.message(), HasSubstr("6005 ms"));
  EXPECT_THAT(r.message(), HasSubstr("automatic: 0.000512 M MACs at 1.00 GHz"));
}

// A cancelled caller abandons its trial: the hanging worker is killed long
// before the trial's own deadline (20 s; were it not, the result would be
// TIMEOUT), and the next trial starts a fresh one.
TEST_F(SupervisorTest, CancelledTrialIsAbandonedAndItsWorkerKilled) {
  WorkerSupervisor supervisor(Options("hang"));
  const kernels::OpSpec op = SmallDense();
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    // Cancel once the worker is running the trial.
    while (supervisor.worker_pid() <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel = true;
  });
  proto::TrialResult r = supervisor.RunTrial(ToProto(op), ToProto(DefaultConfig(op)),
                                             QuickOptions(), 20000, [&] { return cancel.load(); });
  canceller.join();
  EXPECT_EQ(r.status(), proto::INTERNAL);
  EXPECT_THAT(r.message(), HasSubstr("cancelled"));
  EXPECT_EQ(supervisor.worker_pid(), -1);  // killed and reaped
  // Cancelled before it starts: the worker is not even asked.
  r = supervisor.RunTrial(ToProto(op), ToProto(DefaultConfig(op)), QuickOptions(), 1000,
                          [] { return true; });
  EXPECT_EQ(r.status(), proto::INTERNAL);
  EXPECT_THAT(r.message(), HasSubstr("cancelled before it started"));
  EXPECT_EQ(supervisor.worker_pid(), -1);
}

TEST_F(SupervisorTest, TrialsWithoutAReadyMarkerStillReport) {
  // An invalid config ends the trial before its instance is built.
  WorkerSupervisor supervisor(Options(""));
  const kernels::OpSpec op = SmallDense();
  proto::Config config = ToProto(DefaultConfig(op));
  (*config.mutable_knobs())["no_such_knob"] = 1;
  proto::TrialResult r = supervisor.RunTrial(ToProto(op), config, QuickOptions(), 1000);
  EXPECT_EQ(r.status(), proto::INVALID_CONFIG) << r.message();
  // The worker is still usable.
  r = RunSmallDense(supervisor, 0);
  EXPECT_EQ(r.status(), proto::OK) << r.message();
}

// The deadlines run on the injected clock: a hanging kernel times out when
// the clock passes its deadline, however little real time went by (the 1 h
// case would otherwise outlast the test's timeout), and the result names the
// deadline it was given.
TEST_F(SupervisorTest, DeadlinesRunOnTheInjectedClock) {
  for (double timeout_ms : {1e3, 6e4, 3.6e6}) {
    FakeClock clock;
    WorkerOptions options = Options("hang");
    options.clock = &clock;
    WorkerSupervisor supervisor(options);
    std::atomic<bool> done{false};
    std::thread ticker([&] {
      while (!done.load()) {
        clock.Advance(absl::Milliseconds(timeout_ms / 20));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    proto::TrialResult r = RunSmallDense(supervisor, timeout_ms);
    done = true;
    ticker.join();
    EXPECT_EQ(r.status(), proto::TIMEOUT) << r.message();
    EXPECT_THAT(r.message(), HasSubstr(absl::StrFormat("%.10g ms deadline", timeout_ms)));
  }
}

}  // namespace
}  // namespace qtune::agent
