#include "device_agent/registrar.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/grpc_security.h"
#include "common/listen_address.h"
#include "proto/qtune.grpc.pb.h"

namespace qtune::agent {
namespace {

// How often the heartbeat thread looks at its clock and its stop flag.
constexpr auto kPollSlice = std::chrono::milliseconds(50);

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

// RegisterAgent over a channel to the daemon; the channel and stub are
// shared by every heartbeat (gRPC reconnects by itself).
RegisterTransport GrpcTransport(std::shared_ptr<grpc::Channel> channel,
                                std::string daemon_token) {
  auto stub = std::shared_ptr<proto::Tuner::Stub>(proto::Tuner::NewStub(channel));
  return [stub, daemon_token = std::move(daemon_token)](
             const proto::RegisterAgentRequest& request, absl::Duration timeout) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    if (!daemon_token.empty()) context.AddMetadata(kTokenMetadataKey, daemon_token);
    proto::DeviceInfo reply;
    return FromGrpc(stub->RegisterAgent(&context, request, &reply));
  };
}

}  // namespace

absl::Duration RegisterCallTimeout(absl::Duration interval) {
  return std::clamp(interval, absl::Seconds(1), absl::Seconds(10));
}

absl::StatusOr<std::unique_ptr<Registrar>> Registrar::Start(RegistrarOptions options) {
  if (absl::Status s = CheckClientSecurity(options.daemon, options.tls_ca_file, "--register");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<ListenAddress> advertise =
      ParseListenAddress(options.advertise, "--advertise address");
  if (!advertise.ok()) return advertise.status();
  if (advertise->port == 0 || advertise->wildcard()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad --advertise address \"", options.advertise,
                     "\": the daemon cannot dial a wildcard host or port 0"));
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options.tls_ca_file);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  // The daemon is dialled directly, never via an HTTP proxy of the environment.
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.daemon, *credentials, args);
  std::string daemon_token = options.daemon_token;
  return StartWithTransport(std::move(options),
                            GrpcTransport(std::move(channel), std::move(daemon_token)));
}

absl::StatusOr<std::unique_ptr<Registrar>> Registrar::StartWithTransport(
    RegistrarOptions options, RegisterTransport transport) {
  if (options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--heartbeat must be positive");
  }
  std::unique_ptr<Registrar> registrar(new Registrar(std::move(options), std::move(transport)));
  registrar->thread_ = std::thread([r = registrar.get()] { r->Loop(); });
  return registrar;
}

Registrar::Registrar(RegistrarOptions options, RegisterTransport transport)
    : options_(std::move(options)), transport_(std::move(transport)) {}

Registrar::~Registrar() { Stop(); }

void Registrar::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

int64_t Registrar::attempts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return attempts_;
}

int64_t Registrar::successes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return successes_;
}

void Registrar::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "qtune-agent: %s\n", line.c_str());
  }
}

void Registrar::Loop() {
  const Clock& clock = options_.clock != nullptr ? *options_.clock : Clock::Real();
  proto::RegisterAgentRequest request;
  request.set_address(options_.advertise);
  request.set_token(options_.agent_token);
  request.set_heartbeat(true);
  const absl::Duration timeout = RegisterCallTimeout(options_.interval);
  // The last outcome logged: none yet, or a status code (OK included). A
  // failure is logged again only when its code changes: the message of a
  // refused connection varies in its details from one attempt to the next.
  std::optional<absl::StatusCode> last_logged;
  while (true) {
    const absl::Time sent = clock.Now();
    const absl::Status status = transport_(request, timeout);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++attempts_;
      if (status.ok()) ++successes_;
    }
    if (last_logged != status.code()) {
      if (status.ok()) {
        Log(absl::StrCat("registered with the qtune daemon at ", options_.daemon, " as ",
                         options_.advertise));
      } else {
        Log(absl::StrFormat(
            "cannot register with the qtune daemon at %s: %s (%s); retrying every %s",
            options_.daemon, absl::StrReplaceAll(status.message(), {{"\n", "; "}}),
            absl::StatusCodeToString(status.code()), absl::FormatDuration(options_.interval)));
      }
      last_logged = status.code();
    }
    // The next heartbeat is due one interval after this one was sent.
    const absl::Time due = sent + options_.interval;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_ && clock.Now() < due) stop_cv_.wait_for(lock, kPollSlice);
    if (stop_) return;
  }
}

}  // namespace qtune::agent
