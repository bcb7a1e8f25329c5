#include "device_agent/agent_service.h"

#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_health.h"
#include "device_agent/device_info.h"
#include "device_agent/measure_options.h"
#include "device_agent/model_service.h"
#include "common/rpc_guard.h"
#include "proto/convert.h"
#include "proto/qtune.grpc.pb.h"
#include "qtune/kernels/kernel.h"

namespace qtune::agent {
namespace {

class DeviceAgentService final : public proto::DeviceAgent::Service {
 public:
  DeviceAgentService(std::string token, proto::DeviceInfo info, kernels::Target target,
                     WorkerSupervisor* supervisor)
      : token_(std::move(token)),
        info_(std::move(info)),
        target_(std::move(target)),
        supervisor_(supervisor) {}

  grpc::Status GetDeviceInfo(grpc::ServerContext* context, const proto::GetDeviceInfoRequest*,
                             proto::DeviceInfo* reply) override {
    return Guard("agent", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      *reply = info_;
      // The clock is re-measured per call (~0.1 s), so that a job records
      // the clock of its own start rather than the agent's.
      if (info_.clock_ghz() > 0) {
        if (const double ghz = MeasureClockGhz(); ghz > 0) reply->set_clock_ghz(ghz);
      }
      return grpc::Status::OK;
    });
  }

  grpc::Status DescribeSpace(grpc::ServerContext* context,
                             const proto::DescribeSpaceRequest* request,
                             proto::ConfigSpace* reply) override {
    return Guard("agent", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      absl::StatusOr<kernels::OpSpec> op = BoundedOp(request->op());
      if (!op.ok()) return ToGrpc(op.status());
      absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(*op, target_);
      if (!space.ok()) return ToGrpc(space.status());
      *reply = ToProto(*space);
      return grpc::Status::OK;
    });
  }

  grpc::Status RunTrials(grpc::ServerContext* context, const proto::RunTrialsRequest* request,
                         grpc::ServerWriter<proto::TrialResult>* writer) override {
    return Guard("agent", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      if (request->configs_size() > kMaxConfigsPerRequest) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat(request->configs_size(), " configs in one request; at most ",
                                         kMaxConfigsPerRequest));
      }
      absl::StatusOr<kernels::OpSpec> op = BoundedOp(request->op());
      if (!op.ok()) return ToGrpc(op.status());
      absl::StatusOr<MeasureSettings> settings = ResolveMeasureOptions(request->options());
      if (!settings.ok()) return ToGrpc(settings.status());
      // The worker gets the op in canonical form.
      proto::OpSpec canonical_op = ToProto(*op);
      // Polled by the supervisor while a trial waits or runs: a cancelled
      // call (or one past its deadline) abandons its trial.
      const std::function<bool()> cancelled = [context] { return context->IsCancelled(); };
      auto cancelled_status = [] {
        return grpc::Status(grpc::StatusCode::CANCELLED,
                            "cancelled by the client or past its deadline");
      };
      for (int i = 0; i < request->configs_size(); ++i) {
        if (cancelled()) return cancelled_status();
        proto::TrialResult result =
            supervisor_->RunTrial(canonical_op, request->configs(i), request->options(),
                                  settings->timeout_ms, cancelled);
        if (supervisor_->is_shut_down()) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is shutting down");
        }
        if (cancelled()) return cancelled_status();
        result.set_index(i);
        result.set_kernel_build_id(info_.kernel_build_id());
        if (!writer->Write(result)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
        }
      }
      return grpc::Status::OK;
    });
  }

 private:
  grpc::Status Authenticate(const grpc::ServerContext& context) const {
    return ToGrpc(CheckToken(context, token_));
  }

  // The request's op, validated (FromProto) and within the request bounds.
  static absl::StatusOr<kernels::OpSpec> BoundedOp(const proto::OpSpec& wire) {
    absl::StatusOr<kernels::OpSpec> op = FromProto(wire);
    if (!op.ok()) return op.status();
    if (absl::Status bounded = CheckOpBounds(*op); !bounded.ok()) return bounded;
    return op;
  }

  const std::string token_;
  const proto::DeviceInfo info_;
  const kernels::Target target_;
  WorkerSupervisor* const supervisor_;
};

}  // namespace

struct AgentServer::Impl {
  ListenAddress address;
  proto::DeviceInfo info;
  std::unique_ptr<WorkerSupervisor> supervisor;
  std::unique_ptr<DeviceAgentService> service;
  std::unique_ptr<grpc::Service> models;
  std::unique_ptr<grpc::Server> server;
  std::mutex shutdown_mu;
  bool shut_down = false;
};

AgentServer::AgentServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AgentServer::~AgentServer() { Shutdown(absl::ZeroDuration()); }

const ListenAddress& AgentServer::address() const { return impl_->address; }
const proto::DeviceInfo& AgentServer::device_info() const { return impl_->info; }
WorkerSupervisor& AgentServer::supervisor() { return *impl_->supervisor; }

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(AgentServerOptions options) {
  absl::StatusOr<ListenAddress> address = ParseListenAddress(options.listen);
  if (!address.ok()) return address.status();
  if (absl::Status policy = CheckServerSecurity(*address, options.security); !policy.ok()) {
    return policy;
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.security);
  if (!credentials.ok()) return credentials.status();
  if (absl::Status bindable = CheckBindable(*address); !bindable.ok()) return bindable;
  auto impl = std::make_unique<Impl>();
  impl->info = ProbeDeviceInfo();
  impl->supervisor = std::make_unique<WorkerSupervisor>(std::move(options.worker));
  impl->service = std::make_unique<DeviceAgentService>(options.security.token, impl->info,
                                                       kernels::HostTarget(),
                                                       impl->supervisor.get());
  impl->models = MakeModelRunnerService(
      ModelServiceOptions{options.security.token, options.model_cache_dir, impl->info},
      impl->supervisor.get());
  EnableHealthService();
  grpc::ServerBuilder builder;
  // Without this, Linux lets a second agent bind the same port silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  grpc::ResourceQuota quota("qtune-agent");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  int port = 0;
  builder.AddListeningPort(address->ToString(), *credentials, &port);
  builder.RegisterService(impl->service.get());
  builder.RegisterService(impl->models.get());
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartServer(builder, *address, &port);
  if (!server.ok()) return server.status();
  impl->server = *std::move(server);
  SetHealthServing(*impl->server, true, {proto::DeviceAgent::service_full_name()});
  address->port = port;
  impl->address = *address;
  return std::unique_ptr<AgentServer>(new AgentServer(std::move(impl)));
}

void AgentServer::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> lock(impl_->shutdown_mu);
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  SetHealthServing(*impl_->server, false, {proto::DeviceAgent::service_full_name()});
  impl_->supervisor->Shutdown();
  impl_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  impl_->server->Wait();
}

}  // namespace qtune::agent
