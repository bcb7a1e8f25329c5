// The agent's ModelRunner service, in-process on 127.0.0.1:0 through the
// generated client: a model loaded in chunks and run (fast and reference
// equal), acknowledged when sent again, kept on disk for a restarted agent;
// and the errors: unknown model, bytes that do not hash to their SHA-256,
// chunks out of order, a graph the runtime refuses, a config for a node that
// is not a convolution, a missing token.
#include "device_agent/model_service.h"

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_security.h"
#include "common/sha256.h"
#include "device_agent/agent_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/model.grpc.pb.h"
#include "tests/runtime/test_graphs.h"

#ifndef QTUNE_AGENT_BINARY
#error "QTUNE_AGENT_BINARY must name the qtune-agent executable"
#endif

namespace qtune::agent {
namespace {

using ::testing::HasSubstr;

class ModelServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  void SetUp() override {
    cache_ = absl::StrCat(::testing::TempDir(), "/model_cache_", getpid(), "_",
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(cache_);
    Start("");
    graph_ = runtime::testing::Int8Chain(false);
    graph_.SerializeToString(&bytes_);
    sha_ = Sha256Hex(bytes_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
    std::filesystem::remove_all(cache_);
  }

  void Start(const std::string& token) {
    if (server_) server_->Shutdown(absl::Seconds(1));
    AgentServerOptions options;
    options.listen = "127.0.0.1:0";
    options.security.token = token;
    options.worker.binary = QTUNE_AGENT_BINARY;
    options.model_cache_dir = cache_;
    absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = proto::ModelRunner::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  // Sends `bytes` as `sha` in chunks of `chunk` bytes (offsets as given by
  // `offset_of`, in order by default).
  grpc::Status Load(const std::string& bytes, const std::string& sha, size_t chunk,
                    proto::LoadModelReply* reply, const std::string& token = "",
                    int64_t skew = 0) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata(kTokenMetadataKey, token);
    auto writer = stub_->LoadModel(&context, reply);
    for (size_t at = 0; at < bytes.size(); at += chunk) {
      proto::ModelChunk c;
      c.set_sha256(sha);
      c.set_total_bytes(static_cast<int64_t>(bytes.size()));
      c.set_offset(static_cast<int64_t>(at) + (at > 0 ? skew : 0));
      c.set_data(bytes.substr(at, chunk));
      if (!writer->Write(c)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Run(const proto::RunModelRequest& request, proto::RunModelReply* reply,
                   const std::string& token = "") {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata(kTokenMetadataKey, token);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->RunModel(&context, request, reply);
  }

  proto::RunModelRequest Request(bool reference = false) const {
    proto::RunModelRequest r;
    r.set_sha256(sha_);
    r.set_runs(3);
    r.set_return_output(true);
    r.set_reference(reference);
    return r;
  }

  std::string cache_;
  std::unique_ptr<AgentServer> server_;
  std::unique_ptr<proto::ModelRunner::Stub> stub_;
  proto::ModelGraph graph_;
  std::string bytes_, sha_;
};

TEST_F(ModelServiceTest, LoadInChunksRunAndReference) {
  proto::LoadModelReply loaded;
  ASSERT_TRUE(Load(bytes_, sha_, 97, &loaded).ok());
  EXPECT_EQ(loaded.sha256(), sha_);
  EXPECT_FALSE(loaded.cached());
  proto::RunModelReply fast, ref;
  grpc::Status s = Run(Request(), &fast);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(fast.runs(), 3);
  EXPECT_GT(fast.median_us(), 0);
  EXPECT_EQ(fast.nodes_size(), graph_.nodes_size());
  EXPECT_EQ(fast.output().size(), 20u);
  EXPECT_EQ(fast.output_type(), proto::F32);
  EXPECT_EQ(fast.kernel_build_id(), server_->device_info().kernel_build_id());
  ASSERT_TRUE(Run(Request(/*reference=*/true), &ref).ok());
  EXPECT_EQ(fast.output(), ref.output());
  // Sent again: acknowledged at the first chunk.
  proto::LoadModelReply again;
  ASSERT_TRUE(Load(bytes_, sha_, 97, &again).ok());
  EXPECT_TRUE(again.cached());
}

TEST_F(ModelServiceTest, KeptOnDiskForARestartedAgent) {
  proto::LoadModelReply loaded;
  ASSERT_TRUE(Load(bytes_, sha_, 1 << 20, &loaded).ok());
  Start("");  // a new agent on the same cache directory
  proto::RunModelReply reply;
  grpc::Status s = Run(Request(), &reply);
  EXPECT_TRUE(s.ok()) << s.error_message();
  // A damaged file is not used.
  ASSERT_TRUE(std::filesystem::exists(cache_ + "/" + sha_ + ".qmodel"));
  std::ofstream(cache_ + "/" + sha_ + ".qmodel", std::ios::trunc) << "damaged";
  Start("");
  EXPECT_EQ(Run(Request(), &reply).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ModelServiceTest, Errors) {
  proto::RunModelReply reply;
  grpc::Status unknown = Run(Request(), &reply);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(unknown.error_message(), HasSubstr("LoadModel"));

  proto::LoadModelReply loaded;
  std::string other_sha = sha_;
  other_sha[0] = other_sha[0] == 'a' ? 'b' : 'a';
  EXPECT_EQ(Load(bytes_, other_sha, 64, &loaded).error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(Load(bytes_, "not-a-sha", 64, &loaded).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Load(bytes_, sha_, 64, &loaded, "", /*skew=*/1).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A graph the runtime refuses: bytes that hash right but do not validate.
  proto::ModelGraph broken = graph_;
  broken.mutable_nodes(1)->mutable_weights()->pop_back();
  std::string broken_bytes;
  broken.SerializeToString(&broken_bytes);
  grpc::Status refused = Load(broken_bytes, Sha256Hex(broken_bytes), 1000, &loaded);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("conv1"));

  ASSERT_TRUE(Load(bytes_, sha_, 1000, &loaded).ok());
  proto::RunModelRequest request = Request();
  (*request.mutable_configs())["pool"] = proto::Config();
  grpc::Status not_conv = Run(request, &reply);
  EXPECT_EQ(not_conv.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(not_conv.error_message(), HasSubstr("not a convolution"));
  request = Request();
  request.set_runs(-1);
  EXPECT_EQ(Run(request, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request = Request();
  request.set_input("too short");
  EXPECT_EQ(Run(request, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ModelServiceTest, TokenRequired) {
  Start("s3cret");
  proto::LoadModelReply loaded;
  EXPECT_EQ(Load(bytes_, sha_, 1000, &loaded).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Load(bytes_, sha_, 1000, &loaded, "s3cret").ok());
  proto::RunModelReply reply;
  EXPECT_EQ(Run(Request(), &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Run(Request(), &reply, "s3cret").ok());
}

}  // namespace
}  // namespace qtune::agent
