// File: daemon_server.h
// `qtune serve`: the Tuner gRPC service (proto/qtune.proto) over a device
// pool and the job manager (tuner/core/device_pool.h, job_manager.h), plus
// the standard gRPC health service.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<DaemonServer> daemon,
//                    DaemonServer::Start({.listen = "127.0.0.1:7000", .db_path = "qtune.db"}));
//   daemon->Wait();   // until Shutdown() from another thread (e.g. on SIGTERM)
//
// Every RPC checks the token when one is set (metadata x-qtune-token,
// constant-time compare). Jobs are in the database from submission on; a
// restarted daemon resumes the unfinished ones.
//
// Thread-safety: Shutdown() may be called from any thread, once or more.
#ifndef QTUNE_TUNER_RPC_DAEMON_SERVER_H_
#define QTUNE_TUNER_RPC_DAEMON_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "tuner/core/device_pool.h"

namespace qtune::tuner {

struct DaemonOptions {
  std::string listen = "127.0.0.1:7000";  // HOST:PORT; port 0 picks a free one
  std::string db_path = "qtune.db";
  // Clients must send this token (required for a non-loopback listen).
  std::string token;
  // PEM files of the server's TLS certificate and key (required for a
  // non-loopback listen).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Token for agents the daemon dials when their registration names none.
  std::string agent_token;
  // PEM file of the CA that signs the agents' certificates; empty: agents
  // are dialed without TLS.
  std::string agent_tls_ca_file;
  DevicePoolOptions pool;
  const Clock* clock = nullptr;  // not owned; null = Clock::Real()
};

class DaemonServer {
 public:
  // Opens the database (resuming its unfinished jobs) and starts serving.
  // FAILED_PRECONDITION with one line when the listen address or the
  // security settings are not acceptable, UNAVAILABLE when the port is taken.
  static absl::StatusOr<std::unique_ptr<DaemonServer>> Start(DaemonOptions options);
  // Shutdown(0).
  ~DaemonServer();

  // "HOST:PORT" with the port actually bound.
  const std::string& address() const;
  // Interrupts the running jobs (they resume at the next start) and stops
  // the server after `grace` for calls in flight.
  void Shutdown(absl::Duration grace = absl::ZeroDuration());
  // Blocks until the server has shut down.
  void Wait();

 private:
  struct Impl;
  explicit DaemonServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_RPC_DAEMON_SERVER_H_
