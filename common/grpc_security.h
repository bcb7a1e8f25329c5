// File: grpc_security.h
// The security pieces qtune's two gRPC servers (qtune-agent, qtune serve) and
// their clients share, so that both enforce one policy (docs/security.md):
//
//  * A server binds loopback by default. A non-loopback listen address
//    requires a token (checked on every call) AND TLS (--tls-cert/--tls-key);
//    a server refuses to start without them, with one line saying why.
//  * A client that talks to a non-loopback peer uses TLS (--tls-ca), since
//    its calls carry a token.
//  * Tokens travel as gRPC metadata kTokenMetadataKey and are compared in
//    constant time.
//
// Server side:
//   ServerSecurity security{.token = token, .tls_cert_file = cert, .tls_key_file = key};
//   QTUNE_RETURN_IF_ERROR(CheckServerSecurity(address, security));
//   QTUNE_ASSIGN_OR_RETURN(auto creds, MakeServerCredentials(security));
//   builder.AddListeningPort(address.ToString(), creds, &port);
//   QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<grpc::Server> server,
//                          StartServer(builder, address, &port));
//   ... in every handler: if (absl::Status s = CheckToken(*context, token); !s.ok()) ...
// Client side:
//   QTUNE_RETURN_IF_ERROR(CheckClientSecurity(target, ca_file));
//   QTUNE_ASSIGN_OR_RETURN(auto creds, MakeChannelCredentials(ca_file));
//   auto channel = grpc::CreateCustomChannel(target, creds, args);
//
// No gRPC headers here (only forward declarations): include
// <grpcpp/security/credentials.h> / <grpcpp/security/server_credentials.h>
// where the credentials are used. All functions are thread-safe.
#ifndef QTUNE_COMMON_GRPC_SECURITY_H_
#define QTUNE_COMMON_GRPC_SECURITY_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/listen_address.h"

namespace grpc {
class Channel;
class ChannelCredentials;
class Server;
class ServerBuilder;
class ServerContextBase;
class ServerCredentials;
}  // namespace grpc

namespace qtune {

// gRPC metadata key carrying a server's shared secret (--token).
inline constexpr char kTokenMetadataKey[] = "x-qtune-token";

// Largest certificate or key file read (a PEM chain is a few KiB).
inline constexpr size_t kMaxPemFileBytes = size_t{1} << 20;

// What a server needs for its listen address.
struct ServerSecurity {
  std::string token;          // empty: no token check (loopback only)
  std::string tls_cert_file;  // PEM certificate chain (--tls-cert); empty: no TLS
  std::string tls_key_file;   // PEM private key of that certificate (--tls-key)
  bool tls() const { return !tls_cert_file.empty() || !tls_key_file.empty(); }
};

// The listen policy. FAILED_PRECONDITION, one line naming the flag, for: a
// certificate without a key or a key without a certificate; a non-loopback
// address without a token, or without TLS. Does not read the files
// (MakeServerCredentials does).
absl::Status CheckServerSecurity(const ListenAddress& address, const ServerSecurity& security);

// TLS server credentials from the PEM files (no client certificate is
// requested: clients authenticate with the token), or insecure credentials
// when `security` has no TLS. INVALID_ARGUMENT when a file cannot be read,
// exceeds kMaxPemFileBytes, or holds no PEM certificate / private key. A key
// that does not match its certificate is only noticed by gRPC when the server
// starts (BuildAndStart fails).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurity& security);

// The client policy: FAILED_PRECONDITION when `target` (HOST:PORT) is not a
// loopback address and `tls_ca_file` is empty. `flag` names the option that
// holds the target in the message (e.g. "--register").
absl::Status CheckClientSecurity(std::string_view target, std::string_view tls_ca_file,
                                 std::string_view flag);

// The PEM text of the CA certificate file `path` (at most 1 MiB), for the
// option `flag` (named in messages, e.g. "--tls-ca"). INVALID_ARGUMENT when
// it cannot be read, is too large or holds no PEM certificate.
absl::StatusOr<std::string> ReadCaFile(std::string_view path, std::string_view flag);

// Channel credentials that trust only the CA certificates of `tls_ca_file`
// (PEM; the server's certificate must name the host dialled, e.g. with
// subjectAltName IP:127.0.0.1), or insecure credentials when it is empty.
// INVALID_ARGUMENT when the file cannot be read or holds no PEM certificate.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    std::string_view tls_ca_file);

// A client channel to `address` ("HOST:PORT", port 1..65535; otherwise
// INVALID_ARGUMENT "bad <what> address '...': expected HOST:PORT") that
// never goes through an HTTP proxy from the environment (agents and daemons
// are dialled directly: loopback, adb forwards, the lab network) and takes
// replies up to 64 MiB; TLS trusting only `tls_ca_pem` when it is not
// empty (PEM text, not a file name), insecure otherwise.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(const std::string& address,
                                                                 const std::string& tls_ca_pem,
                                                                 std::string_view what);

// Builds and starts `builder`'s server, whose listening port for `address`
// was added with `selected_port`, holding gRPC's own log lines back
// meanwhile. When gRPC cannot start it (no server, or no port bound: the
// address is not available, the TLS key does not match its certificate) the
// result is UNAVAILABLE "cannot listen on ADDRESS: <gRPC's first error>", one
// line, and gRPC's lines are dropped; on success they are logged as usual.
// (Check a taken port first with CheckBindable, for a clearer message.)
// Serialised: one start at a time per process.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartServer(grpc::ServerBuilder& builder,
                                                          const ListenAddress& address,
                                                          const int* selected_port);

// Equality whose running time depends only on the lengths, so that timing
// does not reveal how much of a guessed token was right.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// OK when `token` is empty or the call carries it as kTokenMetadataKey;
// UNAUTHENTICATED "missing or wrong x-qtune-token metadata" otherwise.
absl::Status CheckToken(const grpc::ServerContextBase& context, std::string_view token);

}  // namespace qtune

#endif  // QTUNE_COMMON_GRPC_SECURITY_H_
