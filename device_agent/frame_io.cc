#include "device_agent/frame_io.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace qtune::agent {
namespace {

absl::Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) return absl::UnavailableError("peer closed the pipe");
      return absl::InternalError(absl::StrCat("write: ", std::strerror(errno)));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Waits until `fd` is readable or `deadline` (on `clock`) passes or `stop`
// says so.
absl::Status WaitReadable(int fd, absl::Time deadline, const Clock& clock,
                          const std::function<bool()>& stop) {
  while (true) {
    if (stop && stop()) return absl::CancelledError("stopped");
    int timeout_ms = stop ? kReadSliceMs : -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - clock.Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("deadline passed");
      // Round up so that we never wake just before the deadline and spin.
      timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(left + absl::Milliseconds(1) -
                                                              absl::Nanoseconds(1)));
      timeout_ms = std::clamp(timeout_ms, 1, kReadSliceMs);
    }
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (ready > 0) return absl::OkStatus();  // readable, hung up or error: read() tells
  }
}

absl::Status ReadAll(int fd, absl::Time deadline, const Clock& clock,
                     const std::function<bool()>& stop, char* data, size_t size) {
  while (size > 0) {
    absl::Status wait = WaitReadable(fd, deadline, clock, stop);
    if (!wait.ok()) return wait;
    ssize_t n = ::read(fd, data, size);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::InternalError(absl::StrCat("read: ", std::strerror(errno)));
    }
    if (n == 0) return absl::UnavailableError("peer closed the pipe");
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFrame(int fd, const google::protobuf::MessageLite& message) {
  std::string payload;
  if (!message.SerializeToString(&payload)) {
    return absl::InternalError("cannot serialize the message");
  }
  if (payload.size() > kMaxFrameBytes) return absl::InternalError("message too large for a frame");
  uint32_t size = static_cast<uint32_t>(payload.size());
  char header[4] = {static_cast<char>(size & 0xff), static_cast<char>((size >> 8) & 0xff),
                    static_cast<char>((size >> 16) & 0xff), static_cast<char>((size >> 24) & 0xff)};
  std::string frame(header, 4);
  frame += payload;
  return WriteAll(fd, frame.data(), frame.size());
}

absl::Status ReadFrame(int fd, absl::Time deadline, google::protobuf::MessageLite* message,
                       const Clock& clock, const std::function<bool()>& stop) {
  unsigned char header[4];
  absl::Status status = ReadAll(fd, deadline, clock, stop, reinterpret_cast<char*>(header), 4);
  if (!status.ok()) return status;
  size_t size = size_t{header[0]} | (size_t{header[1]} << 8) | (size_t{header[2]} << 16) |
                (size_t{header[3]} << 24);
  if (size > kMaxFrameBytes) {
    return absl::DataLossError(absl::StrCat("frame of ", size, " bytes exceeds the limit"));
  }
  std::string payload(size, '\0');
  status = ReadAll(fd, deadline, clock, stop, payload.data(), size);
  if (!status.ok()) return status;
  if (!message->ParseFromString(payload)) return absl::DataLossError("frame does not parse");
  return absl::OkStatus();
}

}  // namespace qtune::agent
