// A real DeviceAgent server in-process on 127.0.0.1:0, whose worker is the
// real qtune-agent binary, driven through the generated gRPC client.
#include "device_agent/agent_service.h"

#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/grpc_health.h"
#include "device_agent/measure_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/qtune.grpc.pb.h"
#include "proto/qtune.pb.h"
#include "tests/device_agent/trial_test_util.h"

#ifndef QTUNE_AGENT_BINARY
#error "QTUNE_AGENT_BINARY must name the qtune-agent executable"
#endif

namespace qtune::agent {
namespace {

using ::testing::HasSubstr;

proto::OpSpec SmallConv() {
  proto::OpSpec op;
  op.set_kind(proto::CONV2D);
  op.set_dtype(proto::INT8);
  op.set_n(1);
  op.set_h(8);
  op.set_w(8);
  op.set_c(8);
  op.set_k(16);
  op.set_r(3);
  op.set_s(3);
  op.set_stride_h(1);
  op.set_stride_w(1);
  op.set_pad_top(1);
  op.set_pad_left(1);
  op.set_pad_bottom(1);
  op.set_pad_right(1);
  op.set_dilation_h(1);
  op.set_dilation_w(1);
  op.set_groups(1);
  return op;
}

class AgentServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  void SetUp() override { StartServer(""); }

  void StartServer(const std::string& token) {
    server_.reset();
    AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.security.token = token;
    options.worker.binary = QTUNE_AGENT_BINARY;
    absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials());
    stub_ = proto::DeviceAgent::NewStub(channel);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  proto::ConfigSpace Space(const proto::OpSpec& op) {
    grpc::ClientContext context;
    proto::DescribeSpaceRequest request;
    *request.mutable_op() = op;
    proto::ConfigSpace space;
    grpc::Status status = stub_->DescribeSpace(&context, request, &space);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return space;
  }

  // Runs the trials; returns the call's status and fills `results`.
  grpc::Status Run(const proto::RunTrialsRequest& request, std::vector<proto::TrialResult>* results,
                   const std::string& token = "") {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata(kTokenMetadataKey, token);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    std::unique_ptr<grpc::ClientReader<proto::TrialResult>> reader =
        stub_->RunTrials(&context, request);
    proto::TrialResult result;
    while (reader->Read(&result)) results->push_back(result);
    return reader->Finish();
  }

  proto::RunTrialsRequest DefaultTrials(int copies) {
    proto::RunTrialsRequest request;
    *request.mutable_op() = SmallConv();
    proto::ConfigSpace space = Space(request.op());
    for (int i = 0; i < copies; ++i) *request.add_configs() = space.default_config();
    *request.mutable_options() = QuickOptions();
    return request;
  }

  std::unique_ptr<AgentServer> server_;
  std::unique_ptr<proto::DeviceAgent::Stub> stub_;
};

TEST_F(AgentServiceTest, GetDeviceInfo) {
  grpc::ClientContext context;
  proto::DeviceInfo info;
  grpc::Status status = stub_->GetDeviceInfo(&context, proto::GetDeviceInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(info.device_key().empty());
  EXPECT_EQ(info.device_key(), server_->device_info().device_key());
  EXPECT_GE(info.cores(), 1);
  EXPECT_FALSE(info.agent_version().empty());
  EXPECT_GT(info.kernel_paths_size(), 0);
}

TEST_F(AgentServiceTest, DescribeSpace) {
  proto::ConfigSpace space = Space(SmallConv());
  EXPECT_GT(space.knobs_size(), 0);
  EXPECT_GT(space.default_config().knobs_size(), 0);
}

TEST_F(AgentServiceTest, MalformedOpIsInvalidArgument) {
  proto::OpSpec bad = SmallConv();
  bad.set_c(0);
  grpc::ClientContext context;
  proto::DescribeSpaceRequest describe;
  *describe.mutable_op() = bad;
  proto::ConfigSpace space;
  EXPECT_EQ(stub_->DescribeSpace(&context, describe, &space).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  proto::RunTrialsRequest request = DefaultTrials(1);
  *request.mutable_op() = bad;
  std::vector<proto::TrialResult> results;
  EXPECT_EQ(Run(request, &results).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(results.empty());

  proto::RunTrialsRequest unspecified = DefaultTrials(1);
  unspecified.mutable_op()->set_kind(proto::OP_KIND_UNSPECIFIED);
  EXPECT_EQ(Run(unspecified, &results).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AgentServiceTest, BadMeasureOptionsAreInvalidArgument) {
  proto::RunTrialsRequest request = DefaultTrials(1);
  request.mutable_options()->set_max_repeats(-3);
  std::vector<proto::TrialResult> results;
  grpc::Status status = Run(request, &results);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("max_repeats"));
}

TEST_F(AgentServiceTest, MixedValidAndInvalidConfigsStreamInOrder) {
  proto::RunTrialsRequest request = DefaultTrials(1);
  proto::Config invalid = request.configs(0);
  (*invalid.mutable_knobs())["no_such_knob"] = 3;
  *request.add_configs() = invalid;
  *request.add_configs() = request.configs(0);
  *request.add_configs() = proto::Config();  // empty: misses every knob
  std::vector<proto::TrialResult> results;
  grpc::Status status = Run(request, &results);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(results.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(results[i].index(), i);
  EXPECT_EQ(results[0].status(), proto::OK) << results[0].message();
  EXPECT_EQ(results[1].status(), proto::INVALID_CONFIG);
  EXPECT_THAT(results[1].message(), HasSubstr("no_such_knob"));
  EXPECT_EQ(results[2].status(), proto::OK) << results[2].message();
  EXPECT_EQ(results[3].status(), proto::INVALID_CONFIG);
  EXPECT_GT(results[0].median_us(), 0);
  EXPECT_GE(results[0].repeats(), 3);
  EXPECT_FALSE(results[0].kernel_name().empty());
}

TEST_F(AgentServiceTest, EmptyRequestStreamsNothing) {
  proto::RunTrialsRequest request = DefaultTrials(0);
  std::vector<proto::TrialResult> results;
  EXPECT_TRUE(Run(request, &results).ok());
  EXPECT_TRUE(results.empty());
}

TEST_F(AgentServiceTest, CrashingWorkerIsReportedAndReplaced) {
  proto::RunTrialsRequest request = DefaultTrials(2);
  server_->supervisor().SetWorkerEnvironment({"QTUNE_AGENT_TEST_FAULT=crash"});
  std::vector<proto::TrialResult> results;
  ASSERT_TRUE(Run(request, &results).ok());
  ASSERT_EQ(results.size(), 2u);
  for (const proto::TrialResult& r : results) {
    EXPECT_EQ(r.status(), proto::CRASH);
    EXPECT_THAT(r.message(), HasSubstr("SIGABRT"));
  }
  server_->supervisor().SetWorkerEnvironment({});
  results.clear();
  ASSERT_TRUE(Run(request, &results).ok());
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status(), proto::OK) << results[0].message();
  EXPECT_EQ(results[1].status(), proto::OK) << results[1].message();
}

TEST_F(AgentServiceTest, HangingWorkerTimesOutAndIsReplaced) {
  proto::RunTrialsRequest request = DefaultTrials(1);
  request.mutable_options()->set_timeout_ms(300);
  server_->supervisor().SetWorkerEnvironment({"QTUNE_AGENT_TEST_FAULT=hang"});
  std::vector<proto::TrialResult> results;
  ASSERT_TRUE(Run(request, &results).ok());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), proto::TIMEOUT);
  EXPECT_THAT(results[0].message(), HasSubstr("300"));
  EXPECT_EQ(server_->supervisor().worker_pid(), -1);  // killed and reaped

  server_->supervisor().SetWorkerEnvironment({});
  request.mutable_options()->set_timeout_ms(0);  // default
  results.clear();
  ASSERT_TRUE(Run(request, &results).ok());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), proto::OK) << results[0].message();
}

TEST_F(AgentServiceTest, WorkerKilledWhileIdleIsReplacedSilently) {
  proto::RunTrialsRequest request = DefaultTrials(1);
  std::vector<proto::TrialResult> results;
  ASSERT_TRUE(Run(request, &results).ok());
  pid_t pid = server_->supervisor().worker_pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  // Wait until it is dead (a zombie: the server, in this process, reaps it).
  siginfo_t info{};
  while (waitid(P_PID, pid, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
  results.clear();
  ASSERT_TRUE(Run(request, &results).ok());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), proto::OK) << results[0].message();
  EXPECT_NE(server_->supervisor().worker_pid(), pid);
}

TEST_F(AgentServiceTest, CancelledCallStopsAndTheAgentStaysUsable) {
  proto::RunTrialsRequest request = DefaultTrials(50);
  request.mutable_options()->set_min_repeat_ms(20);
  request.mutable_options()->set_max_repeats(100000);
  {
    grpc::ClientContext context;
    auto reader = stub_->RunTrials(&context, request);
    proto::TrialResult first;
    ASSERT_TRUE(reader->Read(&first));
    EXPECT_EQ(first.index(), 0);
    context.TryCancel();
    proto::TrialResult more;
    int extra = 0;
    while (reader->Read(&more)) ++extra;
    EXPECT_LT(extra, 49);
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  proto::RunTrialsRequest one = DefaultTrials(1);
  std::vector<proto::TrialResult> results;
  ASSERT_TRUE(Run(one, &results).ok());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), proto::OK) << results[0].message();
}

TEST_F(AgentServiceTest, TokenIsRequiredWhenConfigured) {
  StartServer("s3cret");
  {
    grpc::ClientContext context;
    proto::DeviceInfo info;
    EXPECT_EQ(stub_->GetDeviceInfo(&context, proto::GetDeviceInfoRequest(), &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata(kTokenMetadataKey, "wrong");
    proto::DeviceInfo info;
    EXPECT_EQ(stub_->GetDeviceInfo(&context, proto::GetDeviceInfoRequest(), &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata(kTokenMetadataKey, "s3cret");
    proto::DeviceInfo info;
    EXPECT_TRUE(stub_->GetDeviceInfo(&context, proto::GetDeviceInfoRequest(), &info).ok());
  }
  {
    grpc::ClientContext context;
    proto::DescribeSpaceRequest request;
    *request.mutable_op() = SmallConv();
    proto::ConfigSpace space;
    EXPECT_EQ(stub_->DescribeSpace(&context, request, &space).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  proto::RunTrialsRequest request;
  *request.mutable_op() = SmallConv();
  request.add_configs();
  std::vector<proto::TrialResult> results;
  EXPECT_EQ(Run(request, &results).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(results.empty());
  EXPECT_TRUE(Run(request, &results, "s3cret").ok());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), proto::INVALID_CONFIG);
}

TEST_F(AgentServiceTest, HealthServiceReportsServing) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                     grpc::InsecureChannelCredentials());
  absl::StatusOr<HealthState> state = CheckHealth(channel, absl::Seconds(10));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, HealthState::kServing);
  state = CheckHealth(channel, absl::Seconds(10), "qtune.proto.DeviceAgent");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, HealthState::kServing);
  EXPECT_EQ(CheckHealth(channel, absl::Seconds(10), "no.such.Service").status().code(),
            absl::StatusCode::kNotFound);
  // The health service needs no token (it tells only whether the agent serves).
  StartServer("s3cret");
  channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                grpc::InsecureChannelCredentials());
  state = CheckHealth(channel, absl::Seconds(10));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, HealthState::kServing);
}

TEST_F(AgentServiceTest, RequestsBeyondTheBoundsAreInvalidArgument) {
  std::vector<proto::TrialResult> results;
  // Too many configs: rejected before any of them runs.
  proto::RunTrialsRequest batch = DefaultTrials(0);
  for (int i = 0; i <= kMaxConfigsPerRequest; ++i) batch.add_configs();
  grpc::Status status = Run(batch, &results);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("4096"));
  EXPECT_TRUE(results.empty());

  // A tensor beyond 1 GiB: 2 x 16384 x 16384 x 4 fp32 input = 8 GiB.
  proto::RunTrialsRequest huge = DefaultTrials(1);
  huge.mutable_op()->set_dtype(proto::FP32);
  huge.mutable_op()->set_n(2);
  huge.mutable_op()->set_h(16384);
  huge.mutable_op()->set_w(16384);
  huge.mutable_op()->set_c(4);
  status = Run(huge, &results);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("input tensor"));
  grpc::ClientContext describe_context;
  proto::DescribeSpaceRequest describe;
  *describe.mutable_op() = huge.op();
  proto::ConfigSpace space;
  EXPECT_EQ(stub_->DescribeSpace(&describe_context, describe, &space).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Tensors within bounds, too many MACs: int8 3x3 conv 512x512x1024 -> 1024
  // (256 MiB input and output) is 2.5e12.
  proto::RunTrialsRequest macs = DefaultTrials(1);
  macs.mutable_op()->set_h(512);
  macs.mutable_op()->set_w(512);
  macs.mutable_op()->set_c(1024);
  macs.mutable_op()->set_k(1024);
  status = Run(macs, &results);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("multiply-accumulates"));

  // Unknown enum values (proto3 keeps them as plain ints).
  for (int field = 0; field < 3; ++field) {
    proto::RunTrialsRequest unknown = DefaultTrials(1);
    if (field == 0) unknown.mutable_op()->set_kind(static_cast<proto::OpKind>(77));
    if (field == 1) unknown.mutable_op()->set_dtype(static_cast<proto::DType>(-5));
    if (field == 2) unknown.mutable_op()->set_activation(static_cast<proto::Activation>(3));
    status = Run(unknown, &results);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_THAT(status.error_message(), HasSubstr("unknown")) << field;
  }
  EXPECT_TRUE(results.empty());
}

TEST_F(AgentServiceTest, OkResultsCarryTheCoefficientOfVariation) {
  proto::RunTrialsRequest request = DefaultTrials(1);
  std::vector<proto::TrialResult> results;
  ASSERT_TRUE(Run(request, &results).ok());
  ASSERT_EQ(results.size(), 1u);
  const proto::TrialResult& r = results[0];
  ASSERT_EQ(r.status(), proto::OK) << r.message();
  ASSERT_GE(r.repeats(), 2);
  // cv = stddev / mean, and min <= mean.
  EXPECT_GE(r.cv(), 0);
  EXPECT_LE(r.cv(), r.stddev_us() / r.min_us() * (1 + 1e-9));
  EXPECT_EQ(r.cv() > 0, r.stddev_us() > 0);
  EXPECT_GE(r.outside_load(), 0);
  EXPECT_GE(r.remeasures(), 0);
  EXPECT_LE(r.remeasures(), kMaxRemeasures);
  EXPECT_GE(r.cpu_mhz(), 0);
  EXPECT_GE(r.temp_c(), 0);
}

// A call whose deadline passes in the middle of a long trial abandons it:
// the agent is free for the next call long before the trial's own deadline
// (60 s here; the next call allows itself 20 s).
TEST_F(AgentServiceTest, ExpiredCallAbandonsItsTrial) {
  proto::RunTrialsRequest request = DefaultTrials(1);
  request.mutable_options()->set_timeout_ms(60000);
  server_->supervisor().SetWorkerEnvironment({"QTUNE_AGENT_TEST_FAULT=hang"});
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    auto reader = stub_->RunTrials(&context, request);
    proto::TrialResult result;
    while (reader->Read(&result)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  server_->supervisor().SetWorkerEnvironment({});
  request.mutable_options()->set_timeout_ms(0);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto reader = stub_->RunTrials(&context, request);
  proto::TrialResult result;
  ASSERT_TRUE(reader->Read(&result));
  EXPECT_EQ(result.status(), proto::OK) << result.message();
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(AgentServiceTest, SecondServerOnTheSamePortIsUnavailable) {
  AgentServerOptions options;
  options.listen = "127.0.0.1:" + std::to_string(server_->port());
  EXPECT_EQ(AgentServer::Start(options).status().code(), absl::StatusCode::kUnavailable);
}

TEST(AgentServerStartTest, NonLoopbackNeedsATokenAndTls) {
  AgentServerOptions options;
  options.listen = "0.0.0.0:0";
  absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(server.status().message(), HasSubstr("--token"));
  options.security.token = "s3cret";
  server = AgentServer::Start(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(server.status().message(), HasSubstr("TLS"));
  options.security.tls_cert_file = "/nonexistent/cert.pem";
  EXPECT_EQ(AgentServer::Start(options).status().code(), absl::StatusCode::kFailedPrecondition)
      << "a certificate without its key";
  options.security.tls_key_file = "/nonexistent/key.pem";
  server = AgentServer::Start(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("cannot read --tls-cert"));
  options.listen = "bogus";
  EXPECT_EQ(AgentServer::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qtune::agent
