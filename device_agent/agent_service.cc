#include "device_agent/agent_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "device_agent/device_info.h"
#include "device_agent/measure_options.h"
#include "proto/convert.h"
#include "proto/qtune.grpc.pb.h"
#include "qtune/kernels/kernel.h"

namespace qtune::agent {
namespace {

grpc::Status ToGrpc(const absl::Status& status, absl::string_view context = "") {
  if (status.ok()) return grpc::Status::OK;
  std::string message = context.empty() ? std::string(status.message())
                                        : absl::StrCat(context, ": ", status.message());
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message);
}

// Runs a handler body; an exception becomes INTERNAL instead of escaping
// into gRPC.
grpc::Status Guard(const std::function<grpc::Status()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("agent error: ", e.what()));
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "agent error: unknown exception");
  }
}

// Compares without an early exit, so the time taken does not reveal how
// much of a guessed token was right.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

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
    return Guard([&] {
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
    return Guard([&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      absl::StatusOr<kernels::OpSpec> op = FromProto(request->op());
      if (!op.ok()) return ToGrpc(op.status(), "op");
      absl::StatusOr<kernels::ConfigSpace> space = kernels::DescribeSpace(*op, target_);
      if (!space.ok()) return ToGrpc(space.status());
      *reply = ToProto(*space);
      return grpc::Status::OK;
    });
  }

  grpc::Status RunTrials(grpc::ServerContext* context, const proto::RunTrialsRequest* request,
                         grpc::ServerWriter<proto::TrialResult>* writer) override {
    return Guard([&] {
      if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
      absl::StatusOr<kernels::OpSpec> op = FromProto(request->op());
      if (!op.ok()) return ToGrpc(op.status(), "op");
      absl::StatusOr<MeasureSettings> settings = ResolveMeasureOptions(request->options());
      if (!settings.ok()) return ToGrpc(settings.status());
      if (request->configs_size() > kMaxConfigsPerRequest) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat(request->configs_size(), " configs in one request; at most ",
                                         kMaxConfigsPerRequest));
      }
      // The worker gets the op in canonical form.
      proto::OpSpec canonical_op = ToProto(*op);
      for (int i = 0; i < request->configs_size(); ++i) {
        if (context->IsCancelled()) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client");
        }
        proto::TrialResult result = supervisor_->RunTrial(canonical_op, request->configs(i),
                                                          request->options(), settings->timeout_ms);
        if (supervisor_->is_shut_down()) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is shutting down");
        }
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
    if (token_.empty()) return grpc::Status::OK;
    const auto& metadata = context.client_metadata();
    auto it = metadata.find(kTokenMetadataKey);
    if (it != metadata.end() &&
        ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()), token_)) {
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat("missing or wrong ", kTokenMetadataKey, " metadata"));
  }

  const std::string token_;
  const proto::DeviceInfo info_;
  const kernels::Target target_;
  WorkerSupervisor* const supervisor_;
};

// Binds (and releases) the address the way gRPC will, so that a taken port
// is reported as one clean error instead of gRPC's multi-line log. Hosts
// other than numeric addresses and "localhost" are left to gRPC.
absl::Status CheckBindable(const ListenAddress& address) {
  if (address.port == 0) return absl::OkStatus();
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string host = address.host == "localhost" ? "127.0.0.1" : address.host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(address.port));
    length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(address.port));
    length = sizeof(sockaddr_in6);
  } else {
    return absl::OkStatus();
  }
  int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::OkStatus();
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&storage), length);
  int error = errno;
  close(fd);
  if (rc == 0) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("cannot listen on ", address.ToString(), ": ",
                                             error == EADDRINUSE ? "port already in use"
                                                                 : std::strerror(error)));
}

}  // namespace

bool ListenAddress::loopback() const {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

std::string ListenAddress::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text_in) {
  absl::string_view text(text_in.data(), text_in.size());
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad listen address \"", text, "\": ", why, " (want HOST:PORT)"));
  };
  ListenAddress address;
  absl::string_view port_text;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("unterminated IPv6 address");
    }
    address.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return bad("no port");
    address.host = std::string(text.substr(0, colon));
    if (address.host.find(':') != std::string::npos) return bad("IPv6 hosts need brackets");
    port_text = text.substr(colon + 1);
  }
  if (address.host.empty()) return bad("empty host");
  for (char ch : address.host) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' ||
          ch == ':' || ch == '_')) {
      return bad("invalid character in host");
    }
  }
  if (port_text.empty() || !absl::SimpleAtoi(port_text, &address.port) || address.port < 0 ||
      address.port > 65535) {
    return bad("port must be a number in [0, 65535]");
  }
  return address;
}

struct AgentServer::Impl {
  ListenAddress address;
  proto::DeviceInfo info;
  std::unique_ptr<WorkerSupervisor> supervisor;
  std::unique_ptr<DeviceAgentService> service;
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
  if (!address->loopback() && options.token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to listen on non-loopback address ", address->ToString(),
                     " without --token"));
  }
  if (absl::Status bindable = CheckBindable(*address); !bindable.ok()) return bindable;
  auto impl = std::make_unique<Impl>();
  impl->info = ProbeDeviceInfo();
  impl->supervisor = std::make_unique<WorkerSupervisor>(std::move(options.worker));
  impl->service = std::make_unique<DeviceAgentService>(options.token, impl->info,
                                                       kernels::HostTarget(),
                                                       impl->supervisor.get());
  grpc::ServerBuilder builder;
  // Without this, Linux lets a second agent bind the same port silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(address->ToString(), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || port == 0) {
    if (impl->server != nullptr) impl->server->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address->ToString(),
                                               ": address in use or not available"));
  }
  address->port = port;
  impl->address = *address;
  return std::unique_ptr<AgentServer>(new AgentServer(std::move(impl)));
}

void AgentServer::Shutdown(absl::Duration grace) {
  std::lock_guard<std::mutex> lock(impl_->shutdown_mu);
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  impl_->supervisor->Shutdown();
  impl_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  impl_->server->Wait();
}

}  // namespace qtune::agent
