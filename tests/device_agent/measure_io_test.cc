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
  EXPECT_EQ(s->timeout_ms, 10000);
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
