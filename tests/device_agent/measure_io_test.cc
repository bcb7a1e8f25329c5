// MeasureOptions resolution and the worker pipe framing.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cmath>
#include <limits>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "device_agent/frame_io.h"
#include "device_agent/measure_options.h"
#include "gtest/gtest.h"
#include "proto/qtune.pb.h"

namespace qtune::agent {
namespace {

TEST(MeasureOptionsTest, DefaultsForUnsetFields) {
  absl::StatusOr<MeasureSettings> s = ResolveMeasureOptions(proto::MeasureOptions());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->warmup_runs, 1);
  EXPECT_EQ(s->min_repeat_ms, 20);
  EXPECT_EQ(s->max_repeats, 1000);
  EXPECT_EQ(s->min_repeats, 3);
  EXPECT_EQ(s->timeout_ms, 0);  // automatic
  EXPECT_EQ(s->seed, 1u);
  EXPECT_EQ(s->threads, 0);
  EXPECT_FALSE(s->flush_cache);
}

TEST(MeasureOptionsTest, ExplicitValuesAndMinBelowMax) {
  proto::MeasureOptions o;
  o.set_warmup_runs(2);
  o.set_min_repeat_ms(5);
  o.set_max_repeats(2);
  o.set_min_repeats(10);
  o.set_threads(1);
  o.set_flush_cache(true);
  o.set_timeout_ms(250);
  o.set_seed(7);
  absl::StatusOr<MeasureSettings> s = ResolveMeasureOptions(o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->warmup_runs, 2);
  EXPECT_EQ(s->min_repeat_ms, 5);
  EXPECT_EQ(s->max_repeats, 2);
  EXPECT_EQ(s->min_repeats, 2);
  EXPECT_EQ(s->threads, 1);
  EXPECT_TRUE(s->flush_cache);
  EXPECT_EQ(s->timeout_ms, 250);
  EXPECT_EQ(s->seed, 7u);
}

TEST(MeasureOptionsTest, RejectsNegativeAndNonFinite) {
  proto::MeasureOptions o;
  o.set_warmup_runs(-1);
  EXPECT_EQ(ResolveMeasureOptions(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = proto::MeasureOptions();
  o.set_min_repeat_ms(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(ResolveMeasureOptions(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = proto::MeasureOptions();
  o.set_timeout_ms(std::numeric_limits<double>::infinity());
  EXPECT_EQ(ResolveMeasureOptions(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = proto::MeasureOptions();
  o.set_max_repeats(2000000);
  EXPECT_EQ(ResolveMeasureOptions(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(MeasureOptionsTest, TimeoutAboveTheBoundIsRejected) {
  proto::MeasureOptions o;
  o.set_timeout_ms(kMaxTimeoutMs);
  EXPECT_TRUE(ResolveMeasureOptions(o).ok());
  o.set_timeout_ms(kMaxTimeoutMs + 1);
  EXPECT_EQ(ResolveMeasureOptions(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// The automatic kernel deadline (measure_options.h) at several sizes and
// clocks, default settings unless noted.
TEST(AutoKernelTimeoutTest, FollowsTheOpSizeAndTheClock) {
  const MeasureSettings d;  // warmup 1, min_repeats 3, min_repeat_ms 20
  constexpr size_t kFlush = size_t{64} << 20;
  // Every timing attempt counts (1 + kMaxRemeasures = 3): 1 warm-up run,
  // 3 * (3 + 1) timed runs, 1 for the checks = 14 runs, and 3 * min_repeat_ms.
  // ResNet18 L1: 3x3 conv 56x56x64->64, 115605504 MACs. At 3.6 GHz and
  // 0.5 MAC/cycle a run takes 64.225 ms: 3 * (2000 + 14 * 64.225 + 60).
  const int64_t l1 = int64_t{56} * 56 * 64 * 64 * 9;
  EXPECT_EQ(AutoKernelTimeoutMs(l1, 3.6, d, kFlush), 8878);
  // Twice the clock: runs take half as long.
  EXPECT_EQ(AutoKernelTimeoutMs(l1, 7.2, d, kFlush), 7529);  // 3 * (2060 + 449.58)
  // Unknown clock (0, e.g. under qemu): 1 GHz, a run takes 231.2 ms.
  EXPECT_EQ(AutoKernelTimeoutMs(l1, 0, d, kFlush), AutoKernelTimeoutMs(l1, 1.0, d, kFlush));
  EXPECT_EQ(AutoKernelTimeoutMs(l1, 0, d, kFlush), 15891);  // 3 * (2060 + 14 * 231.211)
  // A tiny op: the compile allowance and min_repeat_ms only.
  EXPECT_EQ(AutoKernelTimeoutMs(1000, 3.6, d, kFlush), 6181);
  // 1 G MACs at 2 GHz: 1 s a run.
  EXPECT_EQ(AutoKernelTimeoutMs(1000000000, 2.0, d, kFlush), 3 * (2000 + 14 * 1000 + 60));
  // More runs, more time: warmup 5, min_repeats 10, min_repeat_ms 100:
  // 5 + 3 * 11 + 1 = 39 runs.
  MeasureSettings more = d;
  more.warmup_runs = 5;
  more.min_repeats = 10;
  more.min_repeat_ms = 100;
  EXPECT_EQ(AutoKernelTimeoutMs(1000000000, 2.0, more, kFlush), 3 * (2000 + 39 * 1000 + 300));
  // Monotonic in the size, capped at an hour.
  double last = 0;
  for (int64_t macs : {int64_t{0}, int64_t{1} << 20, int64_t{1} << 26, int64_t{1} << 32}) {
    const double ms = AutoKernelTimeoutMs(macs, 3.0, d, kFlush);
    EXPECT_GT(ms, last) << macs;
    last = ms;
  }
  EXPECT_EQ(AutoKernelTimeoutMs(int64_t{1} << 50, 3.0, d, kFlush), kMaxTimeoutMs);
}

TEST(AutoKernelTimeoutTest, CacheFlushesAreAllowedFor) {
  MeasureSettings flush;
  flush.flush_cache = true;
  constexpr size_t kFlush = size_t{64} << 20;  // 33.55 ms a flush at 2 GB/s
  const int64_t l1 = int64_t{56} * 56 * 64 * 64 * 9;
  // L1 at 3.6 GHz: at 256 MACs/cycle a run takes >= 0.1254 ms, so at most
  // ceil(20 / 0.1254) + 1 = 161 timed runs per attempt, each after a flush.
  EXPECT_EQ(AutoKernelTimeoutMs(l1, 3.6, flush, kFlush), 57498);
  // A tiny op may reach max_repeats (1000) flushes per attempt.
  EXPECT_EQ(AutoKernelTimeoutMs(1000, 3.6, flush, kFlush),
            std::ceil(3 * (2000 + 14 * (1000 / 1.8e9 * 1e3) + 60 + 3 * 1000 * 33.554432)));
  flush.max_repeats = 10;
  EXPECT_LT(AutoKernelTimeoutMs(1000, 3.6, flush, kFlush), 3 * (2060 + 3 * 11 * 33.554432));
}

TEST(InstanceTimeoutTest, FloorPlusTheReferenceAtFiftyMegaMacsPerSecond) {
  const int64_t l1 = int64_t{56} * 56 * 64 * 64 * 9;
  EXPECT_EQ(InstanceTimeoutMs(l1), 32313);  // 30000 + 2312.1
  EXPECT_EQ(InstanceTimeoutMs(0), 30000);
  EXPECT_EQ(InstanceTimeoutMs(50000000, 100), 1100);
  EXPECT_EQ(InstanceTimeoutMs(int64_t{1} << 50), kMaxTimeoutMs);
}

class FrameIoTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(pipe2(fds_, O_CLOEXEC), 0); }
  void TearDown() override {
    for (int fd : fds_) {
      if (fd >= 0) close(fd);
    }
  }
  int fds_[2] = {-1, -1};
};

TEST_F(FrameIoTest, RoundTrip) {
  proto::TrialResult sent;
  sent.set_index(4);
  sent.set_status(proto::WRONG_OUTPUT);
  sent.set_message("3 of 10 outputs differ");
  ASSERT_TRUE(WriteFrame(fds_[1], sent).ok());
  proto::TrialResult got;
  ASSERT_TRUE(ReadFrame(fds_[0], absl::Now() + absl::Seconds(5), &got).ok());
  EXPECT_EQ(got.SerializeAsString(), sent.SerializeAsString());
}

TEST_F(FrameIoTest, EmptyMessageRoundTrips) {
  ASSERT_TRUE(WriteFrame(fds_[1], proto::TrialResult()).ok());
  proto::TrialResult got;
  got.set_index(9);
  ASSERT_TRUE(ReadFrame(fds_[0], absl::InfiniteFuture(), &got).ok());
  EXPECT_EQ(got.index(), 0);
}

TEST_F(FrameIoTest, DeadlineWhenNothingArrives) {
  proto::TrialResult got;
  EXPECT_EQ(ReadFrame(fds_[0], absl::Now() + absl::Milliseconds(20), &got).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(FrameIoTest, StopEndsTheWaitAsCancelled) {
  proto::TrialResult got;
  int asked = 0;
  // An infinite deadline: only `stop` ends the wait (checked before each slice).
  absl::Status status = ReadFrame(fds_[0], absl::InfiniteFuture(), &got, Clock::Real(),
                                  [&asked] { return ++asked >= 3; });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(asked, 3);
  // A frame that is there is read without asking twice.
  ASSERT_TRUE(WriteFrame(fds_[1], proto::TrialResult()).ok());
  asked = 0;
  EXPECT_TRUE(ReadFrame(fds_[0], absl::InfiniteFuture(), &got, Clock::Real(), [&asked] {
                ++asked;
                return false;
              }).ok());
  EXPECT_GE(asked, 1);
}

TEST_F(FrameIoTest, EndOfFileIsUnavailable) {
  close(fds_[1]);
  fds_[1] = -1;
  proto::TrialResult got;
  EXPECT_EQ(ReadFrame(fds_[0], absl::InfiniteFuture(), &got).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(FrameIoTest, OversizedFrameIsDataLoss) {
  const unsigned char header[4] = {0xff, 0xff, 0xff, 0xff};
  ASSERT_EQ(write(fds_[1], header, 4), 4);
  proto::TrialResult got;
  EXPECT_EQ(ReadFrame(fds_[0], absl::InfiniteFuture(), &got).code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(FrameIoTest, GarbagePayloadIsDataLoss) {
  const unsigned char frame[6] = {2, 0, 0, 0, 0xff, 0xff};
  ASSERT_EQ(write(fds_[1], frame, 6), 6);
  proto::TrialResult got;
  EXPECT_EQ(ReadFrame(fds_[0], absl::InfiniteFuture(), &got).code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(FrameIoTest, WriteToClosedPipeIsUnavailable) {
  signal(SIGPIPE, SIG_IGN);
  close(fds_[0]);
  fds_[0] = -1;
  proto::TrialResult sent;
  sent.set_index(1);
  EXPECT_EQ(WriteFrame(fds_[1], sent).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace qtune::agent
