// File: agent_client.h
// AgentClient: a Runner backed by a qtune-agent over gRPC. Every call has a
// deadline, so an agent that disappears turns into UNAVAILABLE or
// DEADLINE_EXCEEDED within seconds instead of a hang.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<AgentClient> agent,
//                    AgentClient::Connect("127.0.0.1:7070", /*token=*/""));
//   std::cout << agent->device_info().device_key();
//
// Authentication: a non-empty token is sent with every call as the metadata
// "x-qtune-token: <token>" (what qtune-agent --token checks).
//
// Thread-safety: one thread at a time (the underlying channel is
// thread-safe, the cached device info is not refreshed).
#ifndef QTUNE_TUNER_RPC_AGENT_CLIENT_H_
#define QTUNE_TUNER_RPC_AGENT_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tuner/core/device_pool.h"
#include "tuner/core/runner.h"

namespace qtune::proto {
class LoadModelReply;
class RunModelReply;
class RunModelRequest;
}  // namespace qtune::proto

namespace qtune::tuner {

struct AgentClientOptions {
  // Deadline of the reachability check in Connect().
  absl::Duration connect_timeout = absl::Seconds(3);
  // Deadline of GetDeviceInfo and DescribeSpace.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // RunTrials deadline: configs * (per-trial timeout + slack) + slack.
  absl::Duration trial_slack = absl::Seconds(5);
  // PEM of the CA that signed the agent's TLS certificate; empty: no TLS.
  std::string tls_ca_pem;
};

class AgentClient final : public AgentConnection {
 public:
  // Connects to "HOST:PORT" and fetches the device info under
  // `connect_timeout`. INVALID_ARGUMENT for a malformed address;
  // UNAVAILABLE "cannot reach qtune-agent at ADDR: ..." when the agent does
  // not answer in time.
  static absl::StatusOr<std::unique_ptr<AgentClient>> Connect(
      const std::string& address, const std::string& token,
      const AgentClientOptions& options = {});
  ~AgentClient() override;

  const std::string& address() const;
  // The device info fetched by Connect().
  const proto::DeviceInfo& device_info() const;

  // Returns the info cached at Connect().
  absl::StatusOr<proto::DeviceInfo> GetDeviceInfo() override;
  absl::StatusOr<kernels::ConfigSpace> DescribeSpace(const kernels::OpSpec& op) override;
  absl::Status RunTrials(const kernels::OpSpec& op, const std::vector<kernels::Config>& configs,
                         const proto::MeasureOptions& options,
                         const std::function<void(const proto::TrialResult&)>& on_result) override;
  // The standard health check (grpc.health.v1) under `connect_timeout`: OK
  // when the agent serves.
  absl::Status CheckHealth() override;

  // Whole models (ModelRunner service, proto/model.proto).
  // Streams `serialized` (a serialised proto::ModelGraph whose SHA-256 is
  // `sha256`, lower-case hex) in chunks of `chunk_bytes`; the agent checks
  // the hash and caches the model. Returns the agent's reply (cached: it had
  // the model already and the rest was not sent).
  absl::StatusOr<proto::LoadModelReply> LoadModel(const std::string& serialized,
                                                  const std::string& sha256,
                                                  size_t chunk_bytes = size_t{1} << 20);
  // Runs a loaded model under `timeout`. NOT_FOUND when the agent does not
  // have request.sha256 (e.g. it restarted without a disk cache).
  absl::StatusOr<proto::RunModelReply> RunModel(const proto::RunModelRequest& request,
                                                absl::Duration timeout);

 private:
  struct Impl;
  explicit AgentClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_RPC_AGENT_CLIENT_H_
