// The agent's part of the fault suite, with real qtune-agent processes on
// loopback:
//   4. kernels that segfault, abort or hang are recorded as CRASH and TIMEOUT,
//      and the agent answers afterwards (device info, health, a normal trial);
//   5. over a thousand malformed or hostile requests (raw TCP garbage, random
//      bytes as gRPC messages, random OpSpecs, configs and MeasureOptions,
//      huge shapes, unknown enums, oversized batches) each get an error
//      status, or failure results where only the config is wrong, and the
//      agent still answers at the end;
//   6. the token, TLS and listen policy: UNAUTHENTICATED without the token, a
//      non-loopback listen without a token or TLS refused with one line, a
//      TLS client with the wrong CA failing cleanly, registration over TLS.
// Seeded and bounded: every call has a deadline, every process wait a limit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "common/grpc_health.h"
#include "common/grpc_security.h"
#include "device_agent/measure_options.h"
#include "device_agent/request_limits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/convert.h"
#include "proto/qtune.grpc.pb.h"
#include "tests/common/test_certs.h"
#include "tests/device_agent/agent_process.h"
#include "tests/device_agent/fake_daemon.h"
#include "tests/device_agent/trial_test_util.h"

#ifndef QTUNE_AGENT_BINARY
#error "QTUNE_AGENT_BINARY must name the qtune-agent executable"
#endif

namespace qtune {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kCallTimeout = std::chrono::seconds(30);

int Lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / (name + "." + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A running qtune-agent and clients for it.
class RunningAgent {
 public:
  RunningAgent(std::vector<std::string> flags, std::vector<std::string> env = {},
               std::string ca_file = "")
      : process_(QTUNE_AGENT_BINARY, WithListen(std::move(flags)), env),
        ca_file_(std::move(ca_file)) {
    port_ = testing::AgentProcess::PortOf(process_.FirstLine());
  }

  bool ok() const { return port_ > 0; }
  int port() const { return port_; }
  testing::AgentProcess& process() { return process_; }

  // A channel with the agent's TLS CA when it has one (`ca` overrides it;
  // "-" means plaintext).
  std::shared_ptr<grpc::Channel> Channel(const std::string& ca = "") const {
    const std::string file = ca == "-" ? "" : (ca.empty() ? ca_file_ : ca);
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = MakeChannelCredentials(file);
    EXPECT_TRUE(creds.ok()) << creds.status();
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                     creds.ok() ? *creds : grpc::InsecureChannelCredentials(),
                                     args);
  }
  std::unique_ptr<proto::DeviceAgent::Stub> Stub(const std::string& ca = "") const {
    return proto::DeviceAgent::NewStub(Channel(ca));
  }

 private:
  static std::vector<std::string> WithListen(std::vector<std::string> flags) {
    bool has_listen = false;
    for (const std::string& f : flags) has_listen |= f.rfind("--listen", 0) == 0;
    if (!has_listen) flags.insert(flags.begin(), "--listen=127.0.0.1:0");
    return flags;
  }

  testing::AgentProcess process_;
  std::string ca_file_;
  int port_ = -1;
};

void Prepare(grpc::ClientContext& context, const std::string& token) {
  context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  if (!token.empty()) context.AddMetadata(kTokenMetadataKey, token);
}

grpc::Status GetInfo(proto::DeviceAgent::Stub& stub, const std::string& token = "") {
  grpc::ClientContext context;
  Prepare(context, token);
  proto::DeviceInfo info;
  grpc::Status status = stub.GetDeviceInfo(&context, proto::GetDeviceInfoRequest(), &info);
  if (status.ok() && info.device_key().empty()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "no device key");
  }
  return status;
}

grpc::Status Describe(proto::DeviceAgent::Stub& stub, const proto::OpSpec& op,
                      proto::ConfigSpace* space, const std::string& token = "") {
  grpc::ClientContext context;
  Prepare(context, token);
  proto::DescribeSpaceRequest request;
  *request.mutable_op() = op;
  return stub.DescribeSpace(&context, request, space);
}

grpc::Status RunTrials(proto::DeviceAgent::Stub& stub, const proto::RunTrialsRequest& request,
                 std::vector<proto::TrialResult>* results, const std::string& token = "") {
  results->clear();
  grpc::ClientContext context;
  Prepare(context, token);
  std::unique_ptr<grpc::ClientReader<proto::TrialResult>> reader =
      stub.RunTrials(&context, request);
  proto::TrialResult result;
  while (reader->Read(&result)) results->push_back(result);
  return reader->Finish();
}

absl::StatusOr<HealthState> Health(const std::shared_ptr<grpc::Channel>& channel) {
  return CheckHealth(channel, absl::Seconds(10));
}

// A padded 3x3 int8 conv and a tiny int8 dense op (trial_test_util.h).
proto::OpSpec SmallConv() { return ToProto(agent::SmallConv(kernels::DType::kInt8)); }
proto::OpSpec TinyDense() { return ToProto(agent::Dense(1, 32, 16)); }

// One trial of TinyDense's default config.
proto::RunTrialsRequest OneTrial(proto::DeviceAgent::Stub& stub, const std::string& token = "") {
  proto::RunTrialsRequest request;
  *request.mutable_op() = TinyDense();
  proto::ConfigSpace space;
  EXPECT_TRUE(Describe(stub, request.op(), &space, token).ok());
  *request.add_configs() = space.default_config();
  *request.mutable_options() = agent::QuickOptions();
  return request;
}

// The agent answers: device info, health SERVING, and a normal trial OK.
void ExpectAnswers(const RunningAgent& agent, const std::string& token = "") {
  auto stub = agent.Stub();
  grpc::Status info = GetInfo(*stub, token);
  EXPECT_TRUE(info.ok()) << info.error_message();
  absl::StatusOr<HealthState> health = Health(agent.Channel());
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthState::kServing);
  std::vector<proto::TrialResult> results;
  grpc::Status run = RunTrials(*stub, OneTrial(*stub, token), &results, token);
  ASSERT_TRUE(run.ok()) << run.error_message();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), proto::OK) << results[0].message();
}

// --- 4. Crashing and hanging kernels ----------------------------------------

TEST(AgentFaultsTest, CrashingAndHangingKernelsAreRecordedAndTheAgentStillAnswers) {
  const fs::path dir = TempDir("qtune-agent-faults");
  const fs::path fault = dir / "fault";
  RunningAgent agent({}, {"QTUNE_AGENT_TEST_FAULT_FILE=" + fault.string()});
  ASSERT_TRUE(agent.ok()) << agent.process().Stderr();
  auto stub = agent.Stub();
  const proto::RunTrialsRequest trial = OneTrial(*stub);
  std::vector<proto::TrialResult> results;

  struct Case {
    const char* fault;
    double timeout_ms;
    proto::TrialStatus status;
    const char* message;
  };
  const Case cases[] = {
      {"segv", 0, proto::CRASH, "SIGSEGV"},   // a kernel writing through a wild pointer
      {"crash", 0, proto::CRASH, "SIGABRT"},  // a worker that aborts
      {"hang", 500, proto::TIMEOUT, "500 ms deadline"},  // a kernel that never returns
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fault);
    std::ofstream(fault) << c.fault << "\n";
    proto::RunTrialsRequest request = trial;
    request.mutable_options()->set_timeout_ms(c.timeout_ms);
    grpc::Status status = RunTrials(*stub, request, &results);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].status(), c.status) << results[0].message();
    EXPECT_THAT(results[0].message(), HasSubstr(c.message));
    // Still serving while the fault is on: device info and health.
    EXPECT_TRUE(GetInfo(*stub).ok());
    absl::StatusOr<HealthState> health = Health(agent.Channel());
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(*health, HealthState::kServing);
  }
  fs::remove(fault);
  ExpectAnswers(agent);
  ASSERT_EQ(kill(agent.process().pid(), SIGTERM), 0);
  EXPECT_EQ(agent.process().Wait(), 0);
  fs::remove_all(dir);
}

// --- 5. Malformed and hostile requests ---------------------------------------

class Hostile {
 public:
  explicit Hostile(uint64_t seed) : rng_(seed) {}

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  // A size that is plausible half of the time and hostile otherwise.
  int32_t Size() {
    if (Chance(0.6)) return Int(1, 6);
    switch (Int(0, 6)) {
      case 0: return 0;
      case 1: return -Int(1, 1000);
      case 2: return std::numeric_limits<int32_t>::max();
      case 3: return std::numeric_limits<int32_t>::min();
      case 4: return 1 << Int(10, 30);
      case 5: return Int(7, 70000);
      default: return static_cast<int32_t>(rng_());
    }
  }
  template <typename Enum>
  Enum EnumValue(int known) {
    if (Chance(0.8)) return static_cast<Enum>(Int(0, known - 1));
    return static_cast<Enum>(Chance(0.5) ? Int(known, 1000) : -Int(1, 1000));
  }

  // Half of the time a small valid conv with one to three fields made
  // hostile (the edges of validation), else every field at random.
  proto::OpSpec Op() {
    if (Chance(0.5)) {
      proto::OpSpec op = SmallConv();
      const google::protobuf::Descriptor* d = op.GetDescriptor();
      const google::protobuf::Reflection* r = op.GetReflection();
      for (int n = Int(1, 3); n > 0; --n) {
        const google::protobuf::FieldDescriptor* f = d->field(Int(0, d->field_count() - 1));
        switch (f->cpp_type()) {
          case google::protobuf::FieldDescriptor::CPPTYPE_ENUM:
            r->SetEnumValue(&op, f, Chance(0.5) ? Int(0, 3) : Int(-5, 100));
            break;
          case google::protobuf::FieldDescriptor::CPPTYPE_INT32:
            r->SetInt32(&op, f, Size());
            break;
          case google::protobuf::FieldDescriptor::CPPTYPE_BOOL:
            r->SetBool(&op, f, Chance(0.5));
            break;
          default:
            break;
        }
      }
      return op;
    }
    proto::OpSpec op;
    op.set_kind(EnumValue<proto::OpKind>(4));
    op.set_dtype(EnumValue<proto::DType>(3));
    op.set_activation(EnumValue<proto::Activation>(3));
    op.set_n(Size());
    op.set_h(Size());
    op.set_w(Size());
    op.set_c(Size());
    op.set_k(Size());
    op.set_r(Chance(0.5) ? 1 : Size());
    op.set_s(Chance(0.5) ? 1 : Size());
    op.set_stride_h(Chance(0.7) ? 1 : Size());
    op.set_stride_w(Chance(0.7) ? 1 : Size());
    op.set_pad_top(Chance(0.7) ? 0 : Size());
    op.set_pad_left(Chance(0.7) ? 0 : Size());
    op.set_pad_bottom(Chance(0.7) ? 0 : Size());
    op.set_pad_right(Chance(0.7) ? 0 : Size());
    op.set_dilation_h(Chance(0.7) ? 1 : Size());
    op.set_dilation_w(Chance(0.7) ? 1 : Size());
    op.set_groups(Chance(0.7) ? 1 : Size());
    op.set_signed_io(Chance(0.2));
    return op;
  }

  // A knob name: a real one, an odd one, or random characters (valid UTF-8:
  // proto3 strings must be, and a message with invalid UTF-8 does not parse
  // at all, which the random-bytes requests cover).
  std::string Name() {
    static const char* const kNames[] = {"mr", "nr", "kc", "threads", "loop", "", "\x01\x7f",
                                         "no_such_knob"};
    if (Chance(0.7)) return kNames[Int(0, 7)];
    static const std::string kPieces[] = {"a", "Z", "0", "_", " ", "\"", "==", "\xc3\xa9",
                                          "\xe2\x88\x91", std::string(1, '\0')};
    std::string name;
    for (int n = Int(1, 40); n > 0; --n) name += kPieces[Int(0, 9)];
    return name;
  }
  int64_t Value() {
    switch (Int(0, 4)) {
      case 0: return Int(0, 8);
      case 1: return -Int(1, 1000);
      case 2: return std::numeric_limits<int64_t>::max();
      case 3: return std::numeric_limits<int64_t>::min();
      default: return static_cast<int64_t>(rng_());
    }
  }
  // A config of random knobs; with `space`, mostly its own knobs with values
  // from their lists or beyond.
  proto::Config Config(const proto::ConfigSpace* space = nullptr) {
    proto::Config config;
    if (space != nullptr && Chance(0.8)) {
      for (const proto::Knob& knob : space->knobs()) {
        if (Chance(0.05)) continue;  // missing knob
        int64_t value = knob.values_size() > 0 && Chance(0.8)
                            ? knob.values(Int(0, knob.values_size() - 1))
                            : Value();
        (*config.mutable_knobs())[knob.name()] = value;
      }
      if (Chance(0.2)) (*config.mutable_knobs())[Name()] = Value();
      return config;
    }
    const int knobs = Int(0, 6);
    for (int i = 0; i < knobs; ++i) (*config.mutable_knobs())[Name()] = Value();
    return config;
  }

  double Real() {
    switch (Int(0, 6)) {
      case 0: return -Int(1, 100);
      case 1: return std::numeric_limits<double>::quiet_NaN();
      case 2: return std::numeric_limits<double>::infinity();
      case 3: return -std::numeric_limits<double>::infinity();
      case 4: return 1e300;
      case 5: return 0;
      default: return Int(0, 10);
    }
  }
  // MeasureOptions with at least one field out of range.
  proto::MeasureOptions BadOptions() {
    proto::MeasureOptions o;
    o.set_warmup_runs(Chance(0.5) ? Size() : 0);
    o.set_min_repeat_ms(Chance(0.5) ? Real() : 0);
    o.set_max_repeats(Chance(0.5) ? Size() : 0);
    o.set_min_repeats(Chance(0.5) ? Size() : 0);
    o.set_threads(Chance(0.5) ? Size() : 0);
    o.set_flush_cache(Chance(0.5));
    o.set_timeout_ms(Chance(0.5) ? Real() : 0);
    o.set_seed(rng_());
    switch (Int(0, 5)) {  // make sure one field is out of range
      case 0: o.set_warmup_runs(-Int(1, 100)); break;
      case 1: o.set_min_repeat_ms(Chance(0.5) ? std::nan("") : 1e9); break;
      case 2: o.set_max_repeats(Chance(0.5) ? -1 : std::numeric_limits<int32_t>::max()); break;
      case 3: o.set_min_repeats(-Int(1, 5)); break;
      case 4: o.set_threads(1 << 20); break;
      default: o.set_timeout_ms(Chance(0.5) ? -1.0 : 1e12); break;
    }
    return o;
  }

  std::string Bytes(size_t max) {
    std::string bytes(static_cast<size_t>(Int(1, static_cast<int>(max))), '\0');
    for (char& ch : bytes) ch = static_cast<char>(Int(0, 255));
    return bytes;
  }

 private:
  std::mt19937_64 rng_;
};

// Whether the agent must reject `op` with INVALID_ARGUMENT.
bool InvalidOp(const proto::OpSpec& op) {
  absl::StatusOr<kernels::OpSpec> spec = FromProto(op);
  return !spec.ok() || !agent::CheckOpBounds(*spec).ok();
}

bool IsFailure(proto::TrialStatus status) {
  return status == proto::INVALID_CONFIG || status == proto::UNSUPPORTED;
}

// Sends `bytes` over a fresh TCP connection, reads what comes back for a
// moment, closes.
void SendGarbage(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    (void)send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    char buffer[1024];
    if (poll(&p, 1, 50) > 0) (void)recv(fd, buffer, sizeof(buffer), 0);
  }
  close(fd);
}

TEST(AgentFaultsTest, HostileRequestsGetErrorsAndTheAgentSurvives) {
  RunningAgent agent({});
  ASSERT_TRUE(agent.ok()) << agent.process().Stderr();
  auto stub = agent.Stub();
  Hostile random(20261206);
  int requests = 0;
  std::vector<proto::TrialResult> results;

  // Raw bytes on the port: garbage, and garbage after a valid HTTP/2 preface.
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  for (int i = 0; i < 40; ++i, ++requests) {
    SendGarbage(agent.port(), (i % 2 == 0 ? "" : preface) + random.Bytes(4096));
  }
  ASSERT_TRUE(GetInfo(*stub).ok()) << "the agent stopped answering after raw garbage";

  // Random bytes as the messages of each method.
  grpc::GenericStub generic(agent.Channel());
  const char* const kMethods[] = {"/qtune.proto.DeviceAgent/DescribeSpace",
                                  "/qtune.proto.DeviceAgent/GetDeviceInfo",
                                  "/qtune.proto.DeviceAgent/RunTrials"};
  for (int i = 0; i < 60; ++i, ++requests) {
    const std::string bytes = random.Bytes(512);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ClientContext context;
    Prepare(context, "");
    grpc::CompletionQueue cq;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
        generic.PrepareUnaryCall(&context, kMethods[i % 3], request, &cq);
    call->StartCall();
    grpc::ByteBuffer reply;
    grpc::Status status;
    call->Finish(&reply, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    // Whatever the bytes parse as, the agent answers within the deadline.
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }

  // Random OpSpecs: huge, negative and zero sizes, unknown enum values.
  int valid_ops = 0;
  for (int i = 0; i < 400; ++i, ++requests) {
    const proto::OpSpec op = random.Op();
    proto::ConfigSpace space;
    grpc::Status status = Describe(*stub, op, &space);
    if (InvalidOp(op)) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << op.ShortDebugString();
    } else {
      ++valid_ops;
      EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::UNIMPLEMENTED)
          << status.error_message();
    }
  }
  // ... with random configs: rejected before anything runs, or failure
  // results (a config of random knobs is never valid).
  for (int i = 0; i < 300; ++i, ++requests) {
    proto::RunTrialsRequest request;
    *request.mutable_op() = random.Op();
    for (int c = random.Int(0, 4); c > 0; --c) *request.add_configs() = random.Config();
    *request.mutable_options() = agent::QuickOptions();
    grpc::Status status = RunTrials(*stub, request, &results);
    if (InvalidOp(request.op())) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_TRUE(results.empty());
    } else {
      ++valid_ops;
      ASSERT_TRUE(status.ok()) << status.error_message();
      ASSERT_EQ(results.size(), static_cast<size_t>(request.configs_size()));
      for (const proto::TrialResult& r : results) {
        EXPECT_TRUE(IsFailure(r.status())) << r.ShortDebugString();
      }
    }
  }
  EXPECT_GT(valid_ops, 0) << "the generator should hit some valid ops";

  // A valid op with MeasureOptions out of range.
  proto::RunTrialsRequest tiny = OneTrial(*stub);
  for (int i = 0; i < 150; ++i, ++requests) {
    proto::RunTrialsRequest request = tiny;
    *request.mutable_options() = random.BadOptions();
    ASSERT_FALSE(agent::ResolveMeasureOptions(request.options()).ok());
    grpc::Status status = RunTrials(*stub, request, &results);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << request.options().ShortDebugString();
    EXPECT_THAT(status.error_message(), HasSubstr("MeasureOptions"));
  }

  // A valid op with random configs of its own knobs: INVALID_CONFIG or, for
  // the few valid ones, a real (tiny) trial.
  proto::ConfigSpace space;
  ASSERT_TRUE(Describe(*stub, TinyDense(), &space).ok());
  int ok_trials = 0;
  for (int i = 0; i < 150; ++i, ++requests) {
    proto::RunTrialsRequest request = tiny;
    request.clear_configs();
    for (int c = random.Int(1, 3); c > 0; --c) *request.add_configs() = random.Config(&space);
    grpc::Status status = RunTrials(*stub, request, &results);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(results.size(), static_cast<size_t>(request.configs_size()));
    for (const proto::TrialResult& r : results) {
      EXPECT_TRUE(r.status() == proto::OK || r.status() == proto::INVALID_CONFIG)
          << r.ShortDebugString();
      ok_trials += r.status() == proto::OK;
    }
  }

  // Shapes within the library's limits but beyond the agent's, unknown
  // enums, oversized batches.
  for (int i = 0; i < 20; ++i, ++requests) {
    proto::RunTrialsRequest request = tiny;
    proto::OpSpec* op = request.mutable_op();
    op->set_dtype(random.Chance(0.5) ? proto::FP32 : proto::INT8);
    op->set_n(random.Int(1, 4));
    op->set_c(random.Int(33000, 46000));
    op->set_k(random.Int(33000, 46000));  // K x C weights: > 1 GiB, < 2^31 elements
    grpc::Status status = RunTrials(*stub, request, &results);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << op->ShortDebugString();
    EXPECT_THAT(status.error_message(), HasSubstr("limit"));
  }
  for (int i = 0; i < 20; ++i, ++requests) {
    proto::RunTrialsRequest request = tiny;
    const int value = random.Chance(0.5) ? random.Int(4, 1 << 30) : -random.Int(1, 1 << 30);
    switch (i % 3) {
      case 0: request.mutable_op()->set_kind(static_cast<proto::OpKind>(value)); break;
      case 1: request.mutable_op()->set_dtype(static_cast<proto::DType>(value)); break;
      default: request.mutable_op()->set_activation(static_cast<proto::Activation>(value)); break;
    }
    grpc::Status status = RunTrials(*stub, request, &results);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("unknown"));
  }
  for (int i = 0; i < 5; ++i, ++requests) {
    proto::RunTrialsRequest request = tiny;
    for (int c = agent::kMaxConfigsPerRequest + random.Int(0, 5000); c > 0; --c) {
      *request.add_configs() = tiny.configs(0);
    }
    grpc::Status status = RunTrials(*stub, request, &results);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(results.empty());
  }
  // A request beyond the message size limit.
  {
    proto::RunTrialsRequest request = tiny;
    (*request.mutable_configs(0)->mutable_knobs())[std::string(agent::kMaxRequestBytes, 'x')] = 1;
    EXPECT_EQ(RunTrials(*stub, request, &results).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    ++requests;
  }

  EXPECT_GE(requests, 1000);
  std::printf("%d hostile requests; %d valid random ops; %d ok trials among random configs\n",
              requests, valid_ops, ok_trials);
  ExpectAnswers(agent);
  ASSERT_EQ(kill(agent.process().pid(), SIGTERM), 0);
  EXPECT_EQ(agent.process().Wait(), 0);
}

// --- 6. Token, TLS and the listen policy ------------------------------------

class AgentSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certs_ = testing::SharedTestCerts();
    ASSERT_NE(certs_, nullptr);
    dir_ = certs_->dir;
  }

  // `flags` followed by the TLS flags of the server certificate.
  std::vector<std::string> WithTls(std::vector<std::string> flags) const {
    flags.push_back("--tls-cert=" + certs_->server_cert);
    flags.push_back("--tls-key=" + certs_->server_key);
    return flags;
  }

  // Runs the agent with `flags`, expecting it to refuse to start: a non-zero
  // exit, nothing on stdout (it never served), one line on stderr that
  // contains `why`.
  static void ExpectRefused(const std::vector<std::string>& flags, const std::string& why) {
    SCOPED_TRACE(::testing::PrintToString(flags));
    testing::AgentProcess agent(QTUNE_AGENT_BINARY, flags);
    const int code = agent.Wait();
    EXPECT_TRUE(code == 2 || code == 3) << code;
    EXPECT_EQ(agent.Stdout(), "");
    const std::string err = agent.Stderr();
    EXPECT_EQ(Lines(err), 1) << err;
    EXPECT_THAT(err, HasSubstr(why));
  }

  const testing::TestCerts* certs_ = nullptr;
  fs::path dir_;
};

TEST_F(AgentSecurityTest, WrongOrMissingTokenIsUnauthenticated) {
  RunningAgent agent({"--token=s3cret"});
  ASSERT_TRUE(agent.ok()) << agent.process().Stderr();
  auto stub = agent.Stub();
  for (const std::string token : {"", "wrong", "s3cre", "s3cret "}) {
    SCOPED_TRACE(token);
    EXPECT_EQ(GetInfo(*stub, token).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    proto::ConfigSpace space;
    EXPECT_EQ(Describe(*stub, TinyDense(), &space, token).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    proto::RunTrialsRequest request;
    *request.mutable_op() = TinyDense();
    request.add_configs();
    std::vector<proto::TrialResult> results;
    EXPECT_EQ(RunTrials(*stub, request, &results, token).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_TRUE(results.empty());
  }
  ExpectAnswers(agent, "s3cret");
}

TEST_F(AgentSecurityTest, NonLoopbackWithoutTokenOrTlsRefusesToStart) {
  ExpectRefused({"--listen=0.0.0.0:0"}, "--token");
  ExpectRefused({"--listen=0.0.0.0:0", "--token=s3cret"}, "without TLS");
  ExpectRefused(WithTls({"--listen=0.0.0.0:0"}), "without --token");
  ExpectRefused({"--listen=0.0.0.0:0", "--token=s3cret", "--tls-cert=" + certs_->server_cert},
                "--tls-cert needs --tls-key");
  ExpectRefused({"--listen=0.0.0.0:0", "--token=s3cret",
                 "--tls-cert=" + (dir_ / "missing.pem").string(),
                 "--tls-key=" + certs_->server_key},
                "cannot read --tls-cert");
  ExpectRefused({"--listen=0.0.0.0:0", "--token=s3cret", "--tls-cert=" + certs_->server_cert,
                 "--tls-key=" + (dir_ / "missing.key").string()},
                "cannot read --tls-key");
  ExpectRefused({"--listen=127.0.0.1:0", "--tls-cert=" + certs_->server_cert,
                 "--tls-key=" + certs_->other_key},
                "cannot listen on 127.0.0.1:0");
}

TEST_F(AgentSecurityTest, TlsAgentServesTheRightCaAndFailsTheWrongOneCleanly) {
  RunningAgent agent(WithTls({"--token=s3cret"}), {}, certs_->ca);
  ASSERT_TRUE(agent.ok()) << agent.process().Stderr();
  ExpectAnswers(agent, "s3cret");

  // Another CA: the handshake fails with UNAVAILABLE and a message, well
  // within the call's deadline (DEADLINE_EXCEEDED would mean a hang).
  auto wrong = agent.Stub(certs_->other_ca);
  grpc::Status status = GetInfo(*wrong, "s3cret");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_FALSE(status.error_message().empty());
  absl::StatusOr<HealthState> health = Health(agent.Channel(certs_->other_ca));
  EXPECT_EQ(health.status().code(), absl::StatusCode::kUnavailable);
  // Plaintext against the TLS port.
  auto plain = agent.Stub("-");
  EXPECT_EQ(GetInfo(*plain, "s3cret").error_code(), grpc::StatusCode::UNAVAILABLE);
  // TLS does not replace the token.
  auto right = agent.Stub();
  EXPECT_EQ(GetInfo(*right, "wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_EQ(kill(agent.process().pid(), SIGTERM), 0);
  EXPECT_EQ(agent.process().Wait(), 0);
}

TEST_F(AgentSecurityTest, NonLoopbackWithTokenAndTlsServes) {
  RunningAgent agent(WithTls({"--listen=0.0.0.0:0", "--token=s3cret"}), {}, certs_->ca);
  ASSERT_TRUE(agent.ok()) << agent.process().Stderr();
  auto stub = agent.Stub();
  EXPECT_TRUE(GetInfo(*stub, "s3cret").ok());
  ASSERT_EQ(kill(agent.process().pid(), SIGTERM), 0);
  EXPECT_EQ(agent.process().Wait(), 0);
}

TEST_F(AgentSecurityTest, RegistrationUsesTlsWithTlsCa) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds = MakeServerCredentials(
      {.tls_cert_file = certs_->server_cert, .tls_key_file = certs_->server_key});
  ASSERT_TRUE(creds.ok()) << creds.status();
  testing::FakeDaemon daemon(*creds);
  ASSERT_TRUE(daemon.ok());
  {
    RunningAgent agent({"--register=" + daemon.address(), "--tls-ca=" + certs_->ca,
                        "--heartbeat=0.2", "--token=agent-secret"});
    ASSERT_TRUE(agent.ok()) << agent.process().Stderr();
    ASSERT_TRUE(testing::Eventually([&] { return daemon.calls() >= 1; }))
        << agent.process().Stderr();
    EXPECT_EQ(daemon.request(0).address(), "127.0.0.1:" + std::to_string(agent.port()));
    EXPECT_EQ(daemon.request(0).token(), "agent-secret");
  }
  // The wrong CA: the agent keeps serving and says once why it cannot register.
  const size_t before = daemon.calls();
  RunningAgent agent({"--register=" + daemon.address(), "--tls-ca=" + certs_->other_ca,
                      "--heartbeat=0.2"});
  ASSERT_TRUE(agent.ok()) << agent.process().Stderr();
  EXPECT_TRUE(testing::Eventually(
      [&] { return agent.process().Stderr().find("cannot register") != std::string::npos; }));
  EXPECT_THAT(agent.process().Stderr(), HasSubstr("UNAVAILABLE"));
  EXPECT_TRUE(GetInfo(*agent.Stub()).ok());
  EXPECT_EQ(daemon.calls(), before);
}

}  // namespace
}  // namespace qtune
