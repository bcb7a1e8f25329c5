// The shared listen/TLS/token policy, and TLS end to end through the helpers:
// a real in-process server with MakeServerCredentials, clients with
// MakeChannelCredentials (certificates from the openssl CLI).
#include "common/grpc_security.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "common/grpc_health.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/test_certs.h"

namespace qtune {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

ListenAddress Address(const std::string& text) { return ParseListenAddress(text).value(); }

TEST(ServerSecurityTest, LoopbackNeedsNothing) {
  EXPECT_TRUE(CheckServerSecurity(Address("127.0.0.1:0"), {}).ok());
  EXPECT_TRUE(CheckServerSecurity(Address("[::1]:7070"), {}).ok());
  EXPECT_TRUE(CheckServerSecurity(Address("localhost:7070"), {.token = "t"}).ok());
}

TEST(ServerSecurityTest, NonLoopbackNeedsTokenAndTls) {
  const ServerSecurity none;
  absl::Status s = CheckServerSecurity(Address("0.0.0.0:7070"), none);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("--token"));
  EXPECT_THAT(s.message(), HasSubstr("TLS"));
  EXPECT_THAT(s.message(), Not(HasSubstr("\n")));

  s = CheckServerSecurity(Address("192.168.1.5:7070"), {.token = "t"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("without TLS"));
  EXPECT_THAT(s.message(), Not(HasSubstr("--token")));

  s = CheckServerSecurity(Address("[::]:7070"),
                          {.tls_cert_file = "c.pem", .tls_key_file = "k.pem"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("without --token"));

  EXPECT_TRUE(CheckServerSecurity(Address("0.0.0.0:7070"),
                                  {.token = "t", .tls_cert_file = "c", .tls_key_file = "k"})
                  .ok());
}

TEST(ServerSecurityTest, CertificateAndKeyGoTogether) {
  absl::Status s = CheckServerSecurity(Address("127.0.0.1:0"), {.tls_cert_file = "c.pem"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("--tls-cert needs --tls-key"));
  s = CheckServerSecurity(Address("127.0.0.1:0"), {.tls_key_file = "k.pem"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("--tls-key needs --tls-cert"));
}

TEST(ClientSecurityTest, NonLoopbackPeersNeedTls) {
  EXPECT_TRUE(CheckClientSecurity("127.0.0.1:7000", "", "--register").ok());
  EXPECT_TRUE(CheckClientSecurity("localhost:7000", "", "--register").ok());
  EXPECT_TRUE(CheckClientSecurity("tuner.example:7000", "ca.pem", "--register").ok());
  absl::Status s = CheckClientSecurity("tuner.example:7000", "", "--register");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("--tls-ca"));
  EXPECT_EQ(CheckClientSecurity("nonsense", "", "--register").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckClientSecurity("127.0.0.1:0", "", "--register").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConstantTimeEqualsTest, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("s3cret", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3creT"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cre"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = testing::SharedTestCerts();
    ASSERT_NE(certs_, nullptr);
    dir_ = certs_->dir;
  }

  // A server with the health service (and a generic service: a server needs
  // one of its own) on 127.0.0.1:0 with `security`'s TLS.
  struct TestServer {
    grpc::CallbackGenericService generic;
    std::unique_ptr<grpc::Server> server;  // null when gRPC refused to start it
    absl::Status status;                   // why
    int port = 0;
  };
  std::unique_ptr<TestServer> Serve(const ServerSecurity& security) {
    auto s = std::make_unique<TestServer>();
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
        MakeServerCredentials(security);
    EXPECT_TRUE(creds.ok()) << creds.status();
    if (!creds.ok()) return s;
    EnableHealthService();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *creds, &s->port);
    builder.RegisterCallbackGenericService(&s->generic);
    absl::StatusOr<std::unique_ptr<grpc::Server>> server =
        StartServer(builder, ListenAddress{"127.0.0.1", 0}, &s->port);
    s->status = server.status();
    if (server.ok()) s->server = *std::move(server);
    return s;
  }

  absl::StatusOr<HealthState> Check(int port, const std::string& ca_file) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
        MakeChannelCredentials(ca_file);
    EXPECT_TRUE(creds.ok()) << creds.status();
    if (!creds.ok()) return creds.status();
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), *creds);
    return CheckHealth(channel, absl::Seconds(10));
  }

  const testing::TestCerts* certs_ = nullptr;
  fs::path dir_;
};

TEST_F(TlsTest, TheRightCaConnectsTheWrongOneFailsCleanly) {
  std::unique_ptr<TestServer> s =
      Serve({.tls_cert_file = certs_->server_cert, .tls_key_file = certs_->server_key});
  ASSERT_NE(s->server, nullptr);
  const int port = s->port;
  absl::StatusOr<HealthState> state = Check(port, certs_->ca);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, HealthState::kServing);
  // Another CA: the handshake fails, well within the call's deadline.
  state = Check(port, certs_->other_ca);
  EXPECT_EQ(state.status().code(), absl::StatusCode::kUnavailable) << state.status();
  EXPECT_FALSE(state.status().message().empty());
  // A plaintext client cannot talk to a TLS port.
  state = Check(port, "");
  EXPECT_EQ(state.status().code(), absl::StatusCode::kUnavailable) << state.status();
  s->server->Shutdown();
}

TEST_F(TlsTest, UnreadableOrForeignFilesAreInvalidArgument) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      MakeServerCredentials({.tls_cert_file = (dir_ / "missing.pem").string(),
                             .tls_key_file = certs_->server_key});
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(creds.status().message(), HasSubstr("cannot read --tls-cert"));
  // The key where the certificate belongs, and the other way round.
  creds = MakeServerCredentials(
      {.tls_cert_file = certs_->server_key, .tls_key_file = certs_->server_key});
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(creds.status().message(), HasSubstr("no PEM certificate"));
  creds = MakeServerCredentials(
      {.tls_cert_file = certs_->server_cert, .tls_key_file = certs_->server_cert});
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(creds.status().message(), HasSubstr("no PEM private key"));
  // A directory is not a certificate.
  creds = MakeServerCredentials({.tls_cert_file = dir_.string(),
                                 .tls_key_file = certs_->server_key});
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel =
      MakeChannelCredentials((dir_ / "missing-ca.pem").string());
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(channel.status().message(), HasSubstr("cannot read --tls-ca"));
  channel = MakeChannelCredentials(certs_->server_key);
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(MakeChannelCredentials("").ok());
  EXPECT_TRUE(MakeServerCredentials({}).ok());
}

TEST_F(TlsTest, AKeyThatDoesNotMatchTheCertificateFailsToStart) {
  std::unique_ptr<TestServer> s =
      Serve({.tls_cert_file = certs_->server_cert, .tls_key_file = certs_->other_key});
  EXPECT_EQ(s->server, nullptr);
  EXPECT_EQ(s->status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s->status.message(), HasSubstr("cannot listen on 127.0.0.1:0: "));
  EXPECT_THAT(s->status.message(), HasSubstr("key"));
  EXPECT_THAT(s->status.message(), Not(HasSubstr("\n")));
}

}  // namespace
}  // namespace qtune
