// File: frame_io.h
// Length-prefixed protobuf messages over pipes between the agent and its
// worker: a frame is a 4-byte little-endian payload length followed by the
// serialized message. Both ends are the same binary, so no versioning.
#ifndef QTUNE_DEVICE_AGENT_FRAME_IO_H_
#define QTUNE_DEVICE_AGENT_FRAME_IO_H_

#include <cstddef>
#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "google/protobuf/message_lite.h"

namespace qtune::agent {

// Frames above this size are rejected as malformed.
inline constexpr size_t kMaxFrameBytes = size_t{64} << 20;

// Writes one frame, retrying on EINTR and short writes. UNAVAILABLE when the
// reader is gone (EPIPE; the caller must ignore SIGPIPE), INTERNAL on other
// I/O errors.
absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message);

// Reads one frame into `message`, waiting at most until `deadline`
// (absl::InfiniteFuture() blocks). DEADLINE_EXCEEDED when it passes,
// UNAVAILABLE on end of file (the writer is gone), DATA_LOSS for a frame that
// is too large or does not parse, INTERNAL on other I/O errors.
// `deadline` is on `clock`: the wait is cut into slices of at most
// kReadSliceMs so that a fake clock moved by another thread is noticed.
// `stop`, when set, is called between slices: once it returns true the read
// gives up with CANCELLED (the frame may be half read: the stream is lost).
inline constexpr int kReadSliceMs = 100;
absl::Status ReadFrame(int fd, absl::Time deadline, google::protobuf::MessageLite* message,
                       const Clock& clock = Clock::Real(),
                       const std::function<bool()>& stop = nullptr);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_FRAME_IO_H_
