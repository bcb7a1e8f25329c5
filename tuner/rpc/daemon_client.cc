#include "tuner/rpc/daemon_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_security.h"
#include "common/status_macros.h"
#include "proto/convert.h"
#include "proto/health.grpc.pb.h"
#include "proto/qtune.grpc.pb.h"

namespace qtune::tuner {

struct DaemonClient::Impl {
  std::string address;
  std::string token;
  DaemonClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<proto::Tuner::Stub> stub;

  void Prepare(grpc::ClientContext& context, absl::Duration timeout) const {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    if (!token.empty()) context.AddMetadata(kTokenMetadataKey, token);
  }
  absl::Status FromGrpc(const grpc::Status& status, const char* what) const {
    if (status.ok()) return absl::OkStatus();
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("qtune daemon at ", address, ": ", what, ": ",
                                     status.error_message()));
  }
};

DaemonClient::DaemonClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DaemonClient::~DaemonClient() = default;

absl::StatusOr<std::unique_ptr<DaemonClient>> DaemonClient::Connect(
    const std::string& address, const std::string& token, const DaemonClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->address = address;
  impl->token = token;
  impl->options = options;
  QTUNE_ASSIGN_OR_RETURN(impl->channel,
                         MakeClientChannel(address, options.tls_ca_pem, "daemon"));
  impl->stub = proto::Tuner::NewStub(impl->channel);

  auto health = grpc::health::v1::Health::NewStub(impl->channel);
  grpc::ClientContext context;
  impl->Prepare(context, options.connect_timeout);
  grpc::health::v1::HealthCheckResponse reply;
  const grpc::Status status =
      health->Check(&context, grpc::health::v1::HealthCheckRequest(), &reply);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot reach the qtune daemon at ", address, ": ",
                                               status.error_message()));
  }
  return std::unique_ptr<DaemonClient>(new DaemonClient(std::move(impl)));
}

absl::StatusOr<proto::JobStatus> DaemonClient::Submit(const proto::JobSpec& spec) {
  proto::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  proto::JobStatus reply;
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.rpc_timeout);
  QTUNE_RETURN_IF_ERROR(impl_->FromGrpc(impl_->stub->SubmitJob(&context, request, &reply), "submit"));
  return reply;
}

absl::Status DaemonClient::Watch(const std::string& job_id,
                                 const std::function<void(const proto::JobStatus&)>& on_status) {
  proto::WatchJobRequest request;
  request.set_job_id(job_id);
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.watch_timeout);
  std::unique_ptr<grpc::ClientReader<proto::JobStatus>> reader =
      impl_->stub->WatchJob(&context, request);
  proto::JobStatus status;
  while (reader->Read(&status)) on_status(status);
  return impl_->FromGrpc(reader->Finish(), "watch");
}

absl::StatusOr<proto::JobStatus> DaemonClient::Cancel(const std::string& job_id) {
  proto::CancelJobRequest request;
  request.set_job_id(job_id);
  proto::JobStatus reply;
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.rpc_timeout);
  QTUNE_RETURN_IF_ERROR(impl_->FromGrpc(impl_->stub->CancelJob(&context, request, &reply), "cancel"));
  return reply;
}

absl::StatusOr<std::vector<proto::JobStatus>> DaemonClient::Jobs() {
  proto::ListJobsResponse reply;
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.rpc_timeout);
  QTUNE_RETURN_IF_ERROR(impl_->FromGrpc(
      impl_->stub->ListJobs(&context, proto::ListJobsRequest(), &reply), "jobs"));
  return std::vector<proto::JobStatus>(reply.jobs().begin(), reply.jobs().end());
}

absl::StatusOr<proto::ListDevicesResponse> DaemonClient::Devices() {
  proto::ListDevicesResponse reply;
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.rpc_timeout);
  QTUNE_RETURN_IF_ERROR(impl_->FromGrpc(
      impl_->stub->ListDevices(&context, proto::ListDevicesRequest(), &reply), "devices"));
  return reply;
}

absl::StatusOr<proto::DeviceInfo> DaemonClient::AddAgent(const std::string& address,
                                                         const std::string& agent_token) {
  proto::RegisterAgentRequest request;
  request.set_address(address);
  request.set_token(agent_token);
  proto::DeviceInfo reply;
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.rpc_timeout);
  QTUNE_RETURN_IF_ERROR(
      impl_->FromGrpc(impl_->stub->RegisterAgent(&context, request, &reply), "devices add"));
  return reply;
}

}  // namespace qtune::tuner
