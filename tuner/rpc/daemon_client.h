// File: daemon_client.h
// The client of `qtune serve` (the Tuner service): what `qtune submit`,
// `watch`, `jobs`, `cancel` and `devices` use.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<DaemonClient> daemon,
//                    DaemonClient::Connect("127.0.0.1:7000", token, /*tls_ca_pem=*/""));
//   ASSIGN_OR_RETURN(proto::JobStatus job, daemon->Submit(spec));
//   RETURN_IF_ERROR(daemon->Watch(job.job_id(), [](const proto::JobStatus& s) { ... }));
//
// Every call has a deadline (`rpc_timeout`; a watch `watch_timeout`, long:
// the daemon sends a status at least once a second). Errors keep the
// server's status code, with the daemon's address in the message.
//
// Thread-safety: any thread (the channel is thread-safe).
#ifndef QTUNE_TUNER_RPC_DAEMON_CLIENT_H_
#define QTUNE_TUNER_RPC_DAEMON_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/qtune.pb.h"

namespace qtune::tuner {

struct DaemonClientOptions {
  absl::Duration connect_timeout = absl::Seconds(3);
  absl::Duration rpc_timeout = absl::Seconds(60);
  absl::Duration watch_timeout = absl::Hours(24 * 7);
  std::string tls_ca_pem;  // PEM of the daemon's CA; empty: no TLS
};

class DaemonClient {
 public:
  // Checks that the daemon answers (its health service) within
  // `connect_timeout`: UNAVAILABLE "cannot reach the qtune daemon at ..."
  // otherwise; INVALID_ARGUMENT for a malformed address.
  static absl::StatusOr<std::unique_ptr<DaemonClient>> Connect(const std::string& address,
                                                               const std::string& token,
                                                               const DaemonClientOptions& options);
  ~DaemonClient();

  absl::StatusOr<proto::JobStatus> Submit(const proto::JobSpec& spec);
  // Calls `on_status` with every status the daemon sends until the job
  // ends (OK) or the stream fails.
  absl::Status Watch(const std::string& job_id,
                     const std::function<void(const proto::JobStatus&)>& on_status);
  absl::StatusOr<proto::JobStatus> Cancel(const std::string& job_id);
  absl::StatusOr<std::vector<proto::JobStatus>> Jobs();
  absl::StatusOr<proto::ListDevicesResponse> Devices();
  // Asks the daemon to dial the agent at `address` and add it to its pool.
  absl::StatusOr<proto::DeviceInfo> AddAgent(const std::string& address,
                                             const std::string& agent_token);

 private:
  struct Impl;
  explicit DaemonClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_RPC_DAEMON_CLIENT_H_
