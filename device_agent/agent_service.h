// File: agent_service.h
// The DeviceAgent gRPC server (proto/qtune.proto): GetDeviceInfo,
// DescribeSpace, and RunTrials, whose trials run one at a time in the
// worker process of a WorkerSupervisor; and on the same port the
// ModelRunner service (whole models, model_service.h). No gRPC headers here
// on purpose.
//
//   AgentServerOptions options;
//   options.listen = "127.0.0.1:0";
//   ASSIGN_OR_RETURN(std::unique_ptr<AgentServer> server, AgentServer::Start(options));
//   ... server->port() ...
//   server->Shutdown();
//
// RPC contract:
//  * With a token configured, every DeviceAgent call must carry metadata
//    "x-qtune-token: <token>", else UNAUTHENTICATED (common/grpc_security.h).
//    With TLS configured, the port speaks only TLS.
//  * The standard health service grpc.health.v1.Health answers SERVING for
//    "" and "qtune.proto.DeviceAgent" while the agent serves, NOT_SERVING
//    once it shuts down (no token needed).
//  * A malformed OpSpec or MeasureOptions, an op beyond the request bounds
//    (request_limits.h) or more than kMaxConfigsPerRequest configs fail the
//    call with INVALID_ARGUMENT before anything is allocated or run; a config
//    outside the space is a TrialResult with INVALID_CONFIG and the stream
//    goes on.
//  * RunTrials streams one result per config, in request order, with its
//    index. When the call is cancelled or its deadline passes, it stops: the
//    trial in progress is abandoned within ~0.1 s (its worker is killed) and
//    no further trial starts (WorkerSupervisor::RunTrial's `cancelled`).
#ifndef QTUNE_DEVICE_AGENT_AGENT_SERVICE_H_
#define QTUNE_DEVICE_AGENT_AGENT_SERVICE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_security.h"
#include "common/listen_address.h"
#include "device_agent/request_limits.h"
#include "device_agent/supervisor.h"
#include "proto/convert.h"
#include "proto/qtune.pb.h"

namespace qtune::agent {

struct AgentServerOptions {
  std::string listen = "127.0.0.1:7070";
  // Token and TLS files; a non-loopback address requires a token and TLS
  // (CheckServerSecurity). An empty token disables the check.
  ServerSecurity security;
  WorkerOptions worker;
  // Where loaded models are also kept on disk (ModelRunner, model_service.h);
  // empty: in memory only.
  std::string model_cache_dir;
};

// Thread-safe.
class AgentServer {
 public:
  // Probes the device, binds and starts serving. INVALID_ARGUMENT for a
  // malformed address or an unreadable or malformed certificate or key,
  // FAILED_PRECONDITION when the listen policy is not met (a non-loopback
  // address without a token or without TLS, a certificate without its key),
  // UNAVAILABLE when the address cannot be bound (port taken) or gRPC refuses
  // the credentials (e.g. a key that does not match its certificate).
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

  // Reports NOT_SERVING on the health service, stops the worker (a trial in
  // progress ends as INTERNAL), then the server: calls in flight get `grace`
  // to finish before they are cancelled. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(2));

  struct Impl;

 private:
  explicit AgentServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_AGENT_SERVICE_H_
