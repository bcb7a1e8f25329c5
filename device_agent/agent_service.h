// File: agent_service.h
// The DeviceAgent gRPC server (proto/qtune.proto): GetDeviceInfo,
// DescribeSpace, and RunTrials, whose trials run one at a time in the
// worker process of a WorkerSupervisor. No gRPC headers here on purpose.
//
//   AgentServerOptions options;
//   options.listen = "127.0.0.1:0";
//   ASSIGN_OR_RETURN(std::unique_ptr<AgentServer> server, AgentServer::Start(options));
//   ... server->port() ...
//   server->Shutdown();
//
// RPC contract:
//  * With a token configured, every call must carry metadata
//    "x-qtune-token: <token>", else UNAUTHENTICATED.
//  * A malformed OpSpec or MeasureOptions fails the call with
//    INVALID_ARGUMENT; a config outside the space is a TrialResult with
//    INVALID_CONFIG and the stream goes on.
//  * RunTrials streams one result per config, in request order, with its
//    index; a cancelled call stops after the trial in progress.
#ifndef QTUNE_DEVICE_AGENT_AGENT_SERVICE_H_
#define QTUNE_DEVICE_AGENT_AGENT_SERVICE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "device_agent/supervisor.h"
#include "proto/convert.h"
#include "proto/qtune.pb.h"

namespace qtune::agent {

// Upper bound on configs in one RunTrials request.
inline constexpr int kMaxConfigsPerRequest = 100000;

struct ListenAddress {
  std::string host;  // without brackets, e.g. "127.0.0.1", "::1", "localhost"
  int port = 0;      // 0: pick a free port
  bool loopback() const;
  // "host:port", IPv6 hosts in brackets.
  std::string ToString() const;
};

// Parses "HOST:PORT" or "[IPV6]:PORT". INVALID_ARGUMENT on anything else
// (empty host, port outside [0, 65535]).
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text);

struct AgentServerOptions {
  std::string listen = "127.0.0.1:7070";
  // Required for a non-loopback address; empty disables the check.
  std::string token;
  WorkerOptions worker;
};

// Thread-safe.
class AgentServer {
 public:
  // Probes the device, binds and starts serving. INVALID_ARGUMENT for a
  // malformed address, FAILED_PRECONDITION for a non-loopback address without
  // a token, UNAVAILABLE when the address cannot be bound (port taken).
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(AgentServerOptions options);
  // Shuts down (see Shutdown) if not done yet.
  ~AgentServer();

  AgentServer(const AgentServer&) = delete;
  AgentServer& operator=(const AgentServer&) = delete;

  // The bound address; port() is the chosen port when 0 was asked for.
  const ListenAddress& address() const;
  int port() const { return address().port; }
  const proto::DeviceInfo& device_info() const;
  WorkerSupervisor& supervisor();

  // Stops the worker (a trial in progress ends as INTERNAL), then the server:
  // calls in flight get `grace` to finish before they are cancelled.
  // Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(2));

  struct Impl;

 private:
  explicit AgentServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_AGENT_SERVICE_H_
