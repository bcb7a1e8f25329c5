#include "tuner/rpc/daemon_server.h"

#include <grpcpp/grpcpp.h>

#include <mutex>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/grpc_health.h"
#include "common/grpc_security.h"
#include "common/listen_address.h"
#include "common/rpc_guard.h"
#include "common/status_macros.h"
#include "proto/convert.h"
#include "proto/qtune.grpc.pb.h"
#include "qtune/db/store.h"
#include "tuner/core/job_manager.h"
#include "tuner/rpc/agent_client.h"

namespace qtune::tuner {
namespace {

// A job's final states, where a watch ends.
bool WatchEnds(const proto::JobStatus& s) {
  return s.state() == "done" || s.state() == "failed" || s.state() == "cancelled" ||
         s.state() == "interrupted";
}

class TunerService final : public proto::Tuner::Service {
 public:
  TunerService(std::string token, std::string db_path, DevicePool& pool, JobManager& jobs)
      : token_(std::move(token)), db_path_(std::move(db_path)), pool_(pool), jobs_(jobs) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const proto::SubmitJobRequest* request,
                         proto::JobStatus* reply) override {
    return Guard("daemon", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      absl::StatusOr<proto::JobStatus> status = jobs_.Submit(request->spec());
      if (!status.ok()) return ToGrpc(status.status());
      *reply = *std::move(status);
      return grpc::Status::OK;
    });
  }

  grpc::Status WatchJob(grpc::ServerContext* context, const proto::WatchJobRequest* request,
                        grpc::ServerWriter<proto::JobStatus>* writer) override {
    return Guard("daemon", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      int64_t version = 0;
      while (true) {
        absl::StatusOr<proto::JobStatus> status = jobs_.Status(request->job_id());
        if (!status.ok()) return ToGrpc(status.status());
        if (!writer->Write(*status)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
        }
        if (WatchEnds(*status)) return grpc::Status::OK;
        // At once on progress, else once a second (so that a client sees
        // what a waiting job waits for).
        jobs_.WaitForUpdate(request->job_id(), &version, absl::Seconds(1));
        if (context->IsCancelled()) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
        }
      }
    });
  }

  grpc::Status CancelJob(grpc::ServerContext* context, const proto::CancelJobRequest* request,
                         proto::JobStatus* reply) override {
    return Guard("daemon", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      absl::StatusOr<proto::JobStatus> status = jobs_.Cancel(request->job_id());
      if (!status.ok()) return ToGrpc(status.status());
      *reply = *std::move(status);
      return grpc::Status::OK;
    });
  }

  grpc::Status ListJobs(grpc::ServerContext* context, const proto::ListJobsRequest*,
                        proto::ListJobsResponse* reply) override {
    return Guard("daemon", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      absl::StatusOr<std::vector<proto::JobStatus>> jobs = jobs_.List();
      if (!jobs.ok()) return ToGrpc(jobs.status());
      for (proto::JobStatus& j : *jobs) *reply->add_jobs() = std::move(j);
      return grpc::Status::OK;
    });
  }

  grpc::Status ListDevices(grpc::ServerContext* context, const proto::ListDevicesRequest*,
                           proto::ListDevicesResponse* reply) override {
    return Guard("daemon", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      for (proto::DeviceInfo& d : pool_.Devices()) *reply->add_devices() = std::move(d);
      for (proto::AgentStatus& a : pool_.Agents()) *reply->add_agents() = std::move(a);
      return grpc::Status::OK;
    });
  }

  grpc::Status RegisterAgent(grpc::ServerContext* context, const proto::RegisterAgentRequest* request,
                             proto::DeviceInfo* reply) override {
    return Guard("daemon", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      absl::StatusOr<proto::DeviceInfo> info =
          jobs_.RegisterAgent(request->address(), request->token(), request->heartbeat());
      if (!info.ok()) return ToGrpc(info.status());
      *reply = *std::move(info);
      return grpc::Status::OK;
    });
  }

  grpc::Status QueryBest(grpc::ServerContext* context, const proto::QueryBestRequest* request,
                         proto::QueryBestResponse* reply) override {
    return Guard("daemon", [&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      absl::StatusOr<kernels::OpSpec> op = FromProto(request->op());
      if (!op.ok()) return ToGrpc(op.status());
      if (request->device_key().empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "device_key is required");
      }
      absl::StatusOr<std::unique_ptr<db::Store>> store =
          db::Store::Open(db_path_, db::Store::Mode::kReadOnly);
      if (!store.ok()) return ToGrpc(store.status());
      db::Filter filter;
      filter.device_key = request->device_key();
      filter.workload_key = kernels::CanonicalKey(*op);
      absl::StatusOr<std::vector<db::BestRecord>> best = (*store)->Best(filter);
      if (!best.ok()) return ToGrpc(best.status());
      if (best->empty()) return grpc::Status::OK;  // found = false
      const db::BestRecord& b = best->front();
      reply->set_found(true);
      reply->set_kernel_name(b.kernel);
      reply->set_median_us(b.median_us);
      reply->set_config_text(b.config);
      reply->set_kernel_build(b.build_id);
      for (absl::string_view item : absl::StrSplit(b.config, ',', absl::SkipEmpty())) {
        const size_t eq = item.find('=');
        int64_t value = 0;
        if (eq != absl::string_view::npos && absl::SimpleAtoi(item.substr(eq + 1), &value)) {
          (*reply->mutable_config()->mutable_knobs())[std::string(item.substr(0, eq))] = value;
        }
      }
      return grpc::Status::OK;
    });
  }

 private:
  grpc::Status Authenticate(const grpc::ServerContext& context) const {
    return ToGrpc(CheckToken(context, token_));
  }

  const std::string token_;
  const std::string db_path_;
  DevicePool& pool_;
  JobManager& jobs_;
};

}  // namespace

struct DaemonServer::Impl {
  DaemonOptions options;
  std::string address;
  std::unique_ptr<DevicePool> pool;
  std::unique_ptr<JobManager> jobs;
  std::unique_ptr<TunerService> service;
  std::unique_ptr<grpc::Server> server;
  std::mutex shutdown_mu;
  bool shut_down = false;
};

DaemonServer::DaemonServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DaemonServer::~DaemonServer() { Shutdown(); }

const std::string& DaemonServer::address() const { return impl_->address; }

absl::StatusOr<std::unique_ptr<DaemonServer>> DaemonServer::Start(DaemonOptions options) {
  // The listen policy and TLS both servers share (common/grpc_security.h).
  QTUNE_ASSIGN_OR_RETURN(ListenAddress listen, ParseListenAddress(options.listen));
  const ServerSecurity security{.token = options.token,
                                .tls_cert_file = options.tls_cert_file,
                                .tls_key_file = options.tls_key_file};
  QTUNE_RETURN_IF_ERROR(CheckServerSecurity(listen, security));
  QTUNE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                         MakeServerCredentials(security));
  std::string agent_ca;
  if (!options.agent_tls_ca_file.empty()) {
    QTUNE_ASSIGN_OR_RETURN(agent_ca, ReadCaFile(options.agent_tls_ca_file, "--agent-tls-ca"));
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  DevicePoolOptions pool_options = options.pool;
  pool_options.clock = options.clock;
  const std::string agent_token = options.agent_token;
  impl->pool = std::make_unique<DevicePool>(
      [agent_token, agent_ca](const std::string& address, const std::string& token)
          -> absl::StatusOr<std::unique_ptr<AgentConnection>> {
        AgentClientOptions client;
        client.tls_ca_pem = agent_ca;
        QTUNE_ASSIGN_OR_RETURN(
            std::unique_ptr<AgentClient> agent,
            AgentClient::Connect(address, token.empty() ? agent_token : token, client));
        return std::unique_ptr<AgentConnection>(std::move(agent));
      },
      pool_options);
  JobManagerOptions job_options;
  job_options.db_path = options.db_path;
  job_options.agent_token = options.agent_token;
  job_options.clock = options.clock;
  impl->jobs = std::make_unique<JobManager>(*impl->pool, job_options);
  QTUNE_RETURN_IF_ERROR(impl->jobs->Start());
  impl->service =
      std::make_unique<TunerService>(options.token, options.db_path, *impl->pool, *impl->jobs);

  EnableHealthService();
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(listen.ToString(), credentials, &port);
  builder.RegisterService(impl->service.get());
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartServer(builder, listen, &port);
  if (!server.ok()) {
    impl->jobs->Stop();
    return server.status();
  }
  impl->server = *std::move(server);
  SetHealthServing(*impl->server, true, {proto::Tuner::service_full_name()});
  listen.port = port;
  impl->address = listen.ToString();
  return std::unique_ptr<DaemonServer>(new DaemonServer(std::move(impl)));
}

void DaemonServer::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> lock(impl_->shutdown_mu);
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  SetHealthServing(*impl_->server, false, {proto::Tuner::service_full_name()});
  impl_->jobs->Stop();  // jobs end interrupted, and watches see it
  impl_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

void DaemonServer::Wait() { impl_->server->Wait(); }

}  // namespace qtune::tuner
