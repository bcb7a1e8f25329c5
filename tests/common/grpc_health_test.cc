// The health service helpers against a real in-process gRPC server.
#include "common/grpc_health.h"

#include <memory>
#include <string>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune {
namespace {

using ::testing::HasSubstr;

// A server with the health service and a generic service (a server needs a
// service of its own besides the health service); the service outlives it.
struct TestServer {
  grpc::CallbackGenericService generic;
  std::unique_ptr<grpc::Server> server;
};

std::unique_ptr<TestServer> StartServer(int* port) {
  EnableHealthService();
  auto s = std::make_unique<TestServer>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterCallbackGenericService(&s->generic);
  s->server = builder.BuildAndStart();
  return s;
}

std::shared_ptr<grpc::Channel> Channel(int port) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                             grpc::InsecureChannelCredentials());
}

TEST(GrpcHealthTest, ReportsTheServingState) {
  int port = 0;
  std::unique_ptr<TestServer> s = StartServer(&port);
  ASSERT_NE(s->server, nullptr);
  ASSERT_GT(port, 0);
  grpc::Server* server = s->server.get();
  SetHealthServing(*server, true, {"test.Service"});
  auto channel = Channel(port);
  absl::StatusOr<HealthState> state = CheckHealth(channel, absl::Seconds(10));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, HealthState::kServing);
  state = CheckHealth(channel, absl::Seconds(10), "test.Service", "any-token");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, HealthState::kServing);
  EXPECT_EQ(CheckHealth(channel, absl::Seconds(10), "no.Such").status().code(),
            absl::StatusCode::kNotFound);

  SetHealthServing(*server, false, {"test.Service"});
  state = CheckHealth(channel, absl::Seconds(10));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, HealthState::kNotServing);
  EXPECT_EQ(HealthStateName(*state), "NOT_SERVING");
  state = CheckHealth(channel, absl::Seconds(10), "test.Service");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, HealthState::kNotServing);
  server->Shutdown();
}

TEST(GrpcHealthTest, NothingListeningIsUnavailable) {
  int port = 0;
  std::unique_ptr<TestServer> s = StartServer(&port);
  ASSERT_NE(s->server, nullptr);
  s->server->Shutdown();
  s.reset();
  absl::StatusOr<HealthState> state = CheckHealth(Channel(port), absl::Seconds(10));
  EXPECT_EQ(state.status().code(), absl::StatusCode::kUnavailable) << state.status();
  EXPECT_THAT(state.status().message(), HasSubstr("health check"));
}

}  // namespace
}  // namespace qtune
