// File: listen_address.h
// The HOST:PORT a server listens on (qtune-agent --listen, qtune serve
// --listen): parsing, the loopback test the listen policy rests on
// (grpc_security.h), and a clean one-line error for a port that is taken.
// No gRPC here.
#ifndef QTUNE_COMMON_LISTEN_ADDRESS_H_
#define QTUNE_COMMON_LISTEN_ADDRESS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qtune {

struct ListenAddress {
  std::string host;  // without brackets, e.g. "127.0.0.1", "::1", "localhost"
  int port = 0;      // 0: pick a free port
  // 127.0.0.0/8, ::1 or "localhost".
  bool loopback() const;
  // 0.0.0.0 or :: (every interface): not an address a peer can dial.
  bool wildcard() const;
  // "host:port", IPv6 hosts in brackets.
  std::string ToString() const;
};

// Parses "HOST:PORT" or "[IPV6]:PORT". INVALID_ARGUMENT on anything else
// (empty host, a character outside [A-Za-z0-9.:_-] in the host, port outside
// [0, 65535]). `what` names the flag in the message ("listen address").
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text,
                                                 std::string_view what = "listen address");

// Binds (and releases) `address` the way gRPC will, so that a taken port is
// one clean error instead of gRPC's multi-line log: UNAVAILABLE "cannot listen
// on HOST:PORT: port already in use". OK for port 0 and for hosts other than
// numeric addresses and "localhost" (left to gRPC).
absl::Status CheckBindable(const ListenAddress& address);

}  // namespace qtune

#endif  // QTUNE_COMMON_LISTEN_ADDRESS_H_
