#include "common/grpc_security.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <grpc/support/log.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"

namespace qtune {
namespace {

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The contents of `path` (at most kMaxPemFileBytes), for the option `flag`.
absl::StatusOr<std::string> ReadPemFile(std::string_view path, std::string_view flag) {
  const std::string name(path);
  int fd = open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", Sv(flag), " ", name, ": ", std::strerror(errno)));
  }
  std::string text;
  char buffer[4096];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read ", Sv(flag), " ", name, ": ", std::strerror(error)));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxPemFileBytes) {
      close(fd);
      return absl::InvalidArgumentError(absl::StrCat(Sv(flag), " ", name, " is larger than ",
                                                     kMaxPemFileBytes, " bytes"));
    }
  }
  close(fd);
  return text;
}

absl::Status NeedPem(const std::string& text, std::string_view begin_marker,
                     std::string_view flag, std::string_view path, std::string_view what) {
  if (absl::StrContains(text, Sv(begin_marker))) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(Sv(flag), " ", Sv(path), " holds no PEM ", Sv(what)));
}

// gRPC log lines held back by StartServer.
struct HeldLine {
  const char* file;  // static storage (__FILE__)
  int line;
  gpr_log_severity severity;
  std::string message;
};
std::mutex held_mu;
std::vector<HeldLine>* held_lines = nullptr;  // guarded by held_mu; null: not holding

void HoldLogLine(gpr_log_func_args* args) {
  {
    std::lock_guard<std::mutex> lock(held_mu);
    if (held_lines != nullptr) {
      held_lines->push_back({args->file, args->line, args->severity, args->message});
      return;
    }
  }
  // Holding ended (the default logger is back): log as usual.
  gpr_log_message(args->file, args->line, args->severity, args->message);
}

}  // namespace

absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(grpc::ServerBuilder& builder,
                                                          const ListenAddress& address,
                                                          const int* selected_port) {
  static std::mutex start_mu;
  std::lock_guard<std::mutex> start(start_mu);
  std::vector<HeldLine> lines;
  {
    std::lock_guard<std::mutex> lock(held_mu);
    held_lines = &lines;
  }
  gpr_set_log_function(HoldLogLine);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  gpr_set_log_function(nullptr);  // gRPC's default logger
  {
    std::lock_guard<std::mutex> lock(held_mu);
    held_lines = nullptr;
  }
  if (server != nullptr && *selected_port != 0) {
    for (const HeldLine& l : lines) gpr_log_message(l.file, l.line, l.severity, l.message.c_str());
    return server;
  }
  if (server != nullptr) server->Shutdown();
  std::string why = "address in use or not available";
  for (const HeldLine& l : lines) {
    if (l.severity == GPR_LOG_SEVERITY_ERROR) {
      why = absl::StrReplaceAll(l.message, {{"\n", "; "}});
      break;
    }
  }
  if (why.size() > 200) why = why.substr(0, 200) + "...";
  return absl::UnavailableError(absl::StrCat("cannot listen on ", address.ToString(), ": ", why));
}

absl::Status CheckServerSecurity(const ListenAddress& address, const ServerSecurity& security) {
  if (!security.tls_cert_file.empty() && security.tls_key_file.empty()) {
    return absl::FailedPreconditionError("--tls-cert needs --tls-key (the certificate's private key)");
  }
  if (security.tls_cert_file.empty() && !security.tls_key_file.empty()) {
    return absl::FailedPreconditionError("--tls-key needs --tls-cert (the certificate it belongs to)");
  }
  if (address.loopback()) return absl::OkStatus();
  std::vector<std::string> missing;
  if (security.token.empty()) missing.push_back("--token");
  if (!security.tls()) missing.push_back("TLS (--tls-cert and --tls-key)");
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("refusing to listen on non-loopback address ", address.ToString(), " without ",
                   absl::StrJoin(missing, " and without "),
                   "; a reachable server needs both (see docs/security.md)"));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurity& security) {
  if (!security.tls()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadPemFile(security.tls_cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  if (absl::Status s = NeedPem(*cert, "-----BEGIN CERTIFICATE-----", "--tls-cert",
                               security.tls_cert_file, "certificate");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> key = ReadPemFile(security.tls_key_file, "--tls-key");
  if (!key.ok()) return key.status();
  if (absl::Status s = NeedPem(*key, "PRIVATE KEY-----", "--tls-key", security.tls_key_file,
                               "private key");
      !s.ok()) {
    return s;
  }
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

absl::Status CheckClientSecurity(std::string_view target, std::string_view tls_ca_file,
                                 std::string_view flag) {
  absl::StatusOr<ListenAddress> address =
      ParseListenAddress(target, absl::StrCat(Sv(flag), " address"));
  if (!address.ok()) return address.status();
  if (address->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ", Sv(flag), " address \"", Sv(target), "\": port 0 cannot be dialled"));
  }
  if (address->loopback() || !tls_ca_file.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("refusing to connect to non-loopback ", Sv(flag), " address ",
                   address->ToString(), " without TLS (--tls-ca)"));
}

absl::StatusOr<std::string> ReadCaFile(std::string_view path, std::string_view flag) {
  absl::StatusOr<std::string> ca = ReadPemFile(path, flag);
  if (!ca.ok()) return ca.status();
  QTUNE_RETURN_IF_ERROR(NeedPem(*ca, "-----BEGIN CERTIFICATE-----", flag, path, "certificate"));
  return ca;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    std::string_view tls_ca_file) {
  if (tls_ca_file.empty()) return grpc::InsecureChannelCredentials();
  absl::StatusOr<std::string> ca = ReadCaFile(tls_ca_file, "--tls-ca");
  if (!ca.ok()) return ca.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = *ca;
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(const std::string& address,
                                                                 const std::string& tls_ca_pem,
                                                                 std::string_view what) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ", Sv(what), " address '", address, "': expected HOST:PORT"));
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!tls_ca_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls_ca_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(address, credentials, args);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

absl::Status CheckToken(const grpc::ServerContextBase& context, std::string_view token) {
  if (token.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kTokenMetadataKey);
  if (it != metadata.end() &&
      ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()), token)) {
    return absl::OkStatus();
  }
  return absl::UnauthenticatedError(
      absl::StrCat("missing or wrong ", kTokenMetadataKey, " metadata"));
}

}  // namespace qtune
