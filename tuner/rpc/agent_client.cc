#include "tuner/rpc/agent_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_security.h"
#include "common/status_macros.h"
#include "device_agent/measure_options.h"
#include "proto/convert.h"
#include "proto/health.grpc.pb.h"
#include "proto/model.grpc.pb.h"
#include "proto/qtune.grpc.pb.h"

namespace qtune::tuner {
namespace {

// The largest cache flush an agent does (worker.cc: at most 64 MiB).
constexpr size_t kMaxFlushBytes = size_t{64} << 20;

absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

struct AgentClient::Impl {
  std::string address;
  std::string token;
  AgentClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<proto::DeviceAgent::Stub> stub;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  std::unique_ptr<proto::ModelRunner::Stub> models;
  proto::DeviceInfo info;

  void Prepare(grpc::ClientContext& context, absl::Duration timeout) const {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    if (!token.empty()) context.AddMetadata(kTokenMetadataKey, token);
  }
  std::string What() const { return absl::StrCat("qtune-agent at ", address); }
};

AgentClient::AgentClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AgentClient::~AgentClient() = default;

absl::StatusOr<std::unique_ptr<AgentClient>> AgentClient::Connect(
    const std::string& address, const std::string& token, const AgentClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->address = address;
  impl->token = token;
  impl->options = options;
  QTUNE_ASSIGN_OR_RETURN(impl->channel,
                         MakeClientChannel(address, options.tls_ca_pem, "agent"));
  impl->stub = proto::DeviceAgent::NewStub(impl->channel);
  impl->health = grpc::health::v1::Health::NewStub(impl->channel);
  impl->models = proto::ModelRunner::NewStub(impl->channel);

  grpc::ClientContext context;
  impl->Prepare(context, options.connect_timeout);
  grpc::Status status =
      impl->stub->GetDeviceInfo(&context, proto::GetDeviceInfoRequest(), &impl->info);
  if (!status.ok()) {
    const grpc::StatusCode code = status.error_code();
    if (code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED) {
      return FromGrpc(status, absl::StrCat(impl->What(), " refused the connection (check --token)"));
    }
    // Anything else (refused, timed out, not a qtune-agent at all): unreachable.
    return absl::UnavailableError(
        absl::StrCat("cannot reach qtune-agent at ", address, ": ", status.error_message()));
  }
  if (impl->info.device_key().empty()) {
    return absl::InternalError(absl::StrCat(impl->What(), " reported no device key"));
  }
  return std::unique_ptr<AgentClient>(new AgentClient(std::move(impl)));
}

const std::string& AgentClient::address() const { return impl_->address; }
const proto::DeviceInfo& AgentClient::device_info() const { return impl_->info; }

absl::StatusOr<proto::DeviceInfo> AgentClient::GetDeviceInfo() { return impl_->info; }

absl::StatusOr<kernels::ConfigSpace> AgentClient::DescribeSpace(const kernels::OpSpec& op) {
  proto::DescribeSpaceRequest request;
  *request.mutable_op() = ToProto(op);
  proto::ConfigSpace reply;
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.rpc_timeout);
  QTUNE_RETURN_IF_ERROR(FromGrpc(impl_->stub->DescribeSpace(&context, request, &reply),
                                 absl::StrCat(impl_->What(), " DescribeSpace")));
  absl::StatusOr<kernels::ConfigSpace> space = FromProto(reply);
  if (!space.ok()) {
    return absl::InternalError(absl::StrCat(impl_->What(), " sent an unusable config space: ",
                                            space.status().message()));
  }
  return space;
}

absl::Status AgentClient::RunTrials(
    const kernels::OpSpec& op, const std::vector<kernels::Config>& configs,
    const proto::MeasureOptions& options,
    const std::function<void(const proto::TrialResult&)>& on_result) {
  if (configs.empty()) return absl::OkStatus();
  proto::RunTrialsRequest request;
  *request.mutable_op() = ToProto(op);
  for (const kernels::Config& c : configs) *request.add_configs() = ToProto(c);
  *request.mutable_options() = options;

  // The agent answers every trial within its own deadlines (docs/agent.md,
  // "Deadlines"): at most one reference build for the op, then the kernel's
  // deadline per config; the call's deadline allows all of them.
  QTUNE_ASSIGN_OR_RETURN(agent::MeasureSettings settings, agent::ResolveMeasureOptions(options));
  const double per_trial_ms =
      settings.timeout_ms > 0
          ? settings.timeout_ms
          : agent::AutoKernelTimeoutMs(op.macs(), impl_->info.clock_ghz(), settings, kMaxFlushBytes);
  const absl::Duration deadline =
      absl::Milliseconds(agent::InstanceTimeoutMs(op.macs())) +
      static_cast<double>(configs.size()) *
          (absl::Milliseconds(per_trial_ms) + impl_->options.trial_slack) +
      impl_->options.trial_slack;
  grpc::ClientContext context;
  impl_->Prepare(context, deadline);
  std::unique_ptr<grpc::ClientReader<proto::TrialResult>> reader =
      impl_->stub->RunTrials(&context, request);
  proto::TrialResult result;
  while (reader->Read(&result)) on_result(result);
  return FromGrpc(reader->Finish(), absl::StrCat(impl_->What(), " RunTrials"));
}

absl::Status AgentClient::CheckHealth() {
  grpc::ClientContext context;
  impl_->Prepare(context, impl_->options.connect_timeout);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse reply;
  const grpc::Status status = impl_->health->Check(&context, request, &reply);
  // An agent without the health service (older builds) answered all the same.
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) return absl::OkStatus();
  QTUNE_RETURN_IF_ERROR(FromGrpc(status, absl::StrCat(impl_->What(), " health check")));
  if (reply.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(impl_->What(), " is not serving"));
  }
  return absl::OkStatus();
}

absl::StatusOr<proto::LoadModelReply> AgentClient::LoadModel(const std::string& serialized,
                                                             const std::string& sha256,
                                                             size_t chunk_bytes) {
  if (chunk_bytes == 0) return absl::InvalidArgumentError("chunk size 0");
  // Generous for a slow link (adb forwards a few MB/s): a minute plus a
  // second per MiB.
  const absl::Duration deadline =
      absl::Minutes(1) + absl::Seconds(static_cast<double>(serialized.size()) / (1 << 20));
  grpc::ClientContext context;
  impl_->Prepare(context, deadline);
  proto::LoadModelReply reply;
  std::unique_ptr<grpc::ClientWriter<proto::ModelChunk>> writer =
      impl_->models->LoadModel(&context, &reply);
  size_t offset = 0;
  do {
    proto::ModelChunk chunk;
    chunk.set_sha256(sha256);
    chunk.set_total_bytes(static_cast<int64_t>(serialized.size()));
    chunk.set_offset(static_cast<int64_t>(offset));
    const size_t n = std::min(chunk_bytes, serialized.size() - offset);
    chunk.set_data(serialized.substr(offset, n));
    offset += n;
    // A failed write means the agent ended the call (it had the model
    // cached, or refused it): Finish() says which.
    if (!writer->Write(chunk)) break;
  } while (offset < serialized.size());
  writer->WritesDone();
  QTUNE_RETURN_IF_ERROR(FromGrpc(writer->Finish(), absl::StrCat(impl_->What(), " LoadModel")));
  return reply;
}

absl::StatusOr<proto::RunModelReply> AgentClient::RunModel(const proto::RunModelRequest& request,
                                                           absl::Duration timeout) {
  grpc::ClientContext context;
  impl_->Prepare(context, timeout);
  proto::RunModelReply reply;
  QTUNE_RETURN_IF_ERROR(FromGrpc(impl_->models->RunModel(&context, request, &reply),
                                 absl::StrCat(impl_->What(), " RunModel")));
  return reply;
}

}  // namespace qtune::tuner
