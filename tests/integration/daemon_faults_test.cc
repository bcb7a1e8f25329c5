// The daemon's fault suite: real processes on loopback (qtune serve, two
// qtune-agent processes, the qtune clients), killed mid-job. A job with
// --trials N must end with exactly N trial records per task, all with
// distinct configs, whatever was killed along the way.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/health.grpc.pb.h"
#include "proto/qtune.grpc.pb.h"
#include "qtune/db/store.h"
#include "tests/common/test_certs.h"
#include "tests/integration/process_util.h"

namespace qtune {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_util::Lines;
using testing_util::Output;
using testing_util::RunProcess;
using testing_util::Started;
using testing_util::StartProcess;
using testing_util::WaitForLine;

constexpr int kTrials = 16;  // per task; fc in int8 and fp32: two tasks

class DaemonFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/qtune-daemon-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_ = (dir_ / "daemon.db").string();
  }
  void TearDown() override {
    for (pid_t pid : pids_) {
      if (pid > 0 && kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // An agent on `port` (0: any); returns its port.
  int StartAgent(int port = 0, pid_t* pid_out = nullptr) {
    const std::string port_file = (dir_ / absl::StrCat("agent", counter_++, ".port")).string();
    Started p = StartProcess({QTUNE_AGENT_BINARY, "--listen", absl::StrCat("127.0.0.1:", port),
                              "--port-file", port_file},
                             dir_);
    EXPECT_GT(p.pid, 0);
    pids_.push_back(p.pid);
    if (pid_out != nullptr) *pid_out = p.pid;
    const std::string got = WaitForLine(port_file);
    EXPECT_FALSE(got.empty()) << testing_util::ReadFile(p.err_path);
    return got.empty() ? -1 : std::stoi(got);
  }

  // The daemon on `port` (0: any); returns its port.
  int StartDaemon(int port = 0) {
    const std::string port_file = (dir_ / absl::StrCat("daemon", counter_++, ".port")).string();
    Started p = StartProcess({QTUNE_BINARY, "serve", "--listen", absl::StrCat("127.0.0.1:", port),
                              "--db", db_, "--port-file", port_file},
                             dir_);
    EXPECT_GT(p.pid, 0);
    pids_.push_back(p.pid);
    daemon_pid_ = p.pid;
    const std::string got = WaitForLine(port_file);
    EXPECT_FALSE(got.empty()) << testing_util::ReadFile(p.err_path);
    daemon_ = absl::StrCat("127.0.0.1:", got);
    return got.empty() ? -1 : std::stoi(got);
  }

  Output Qtune(std::vector<std::string> args) {
    args.insert(args.begin(), QTUNE_BINARY);
    args.push_back("--server");
    args.push_back(daemon_);
    return RunProcess(args, dir_, std::chrono::seconds(180));
  }

  void AddAgent(int port) {
    Output add = Qtune({"devices", "add", absl::StrCat("127.0.0.1:", port), "--nojson"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
  }

  std::string Submit(int agent_port) {
    Output submit = Qtune({"submit", "--agent", absl::StrCat("127.0.0.1:", agent_port), "--layers",
                           "fc", "--dtype", "int8,fp32", "--trials", std::to_string(kTrials),
                           "--batch-size", "2", "--min-repeat-ms", "100", "--nojson"});
    EXPECT_EQ(submit.exit_code, 0) << submit.err;
    std::vector<std::string> lines = Lines(submit.out);
    return lines.empty() ? "" : lines.back();
  }

  size_t TrialCount(const std::string& job) {
    auto store = db::Store::Open(db_, db::Store::Mode::kReadOnly);
    if (!store.ok()) return 0;
    db::Filter f;
    f.job_id = job;
    auto trials = (*store)->History(f);
    return trials.ok() ? trials->size() : 0;
  }

  // Waits until the database holds at least `n` trials of `job`.
  void WaitForTrials(const std::string& job, size_t n) {
    for (int i = 0; i < 3000; ++i) {
      if (TrialCount(job) >= n) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "fewer than " << n << " trials of " << job << " after 60 s";
  }

  // Kills a process of the job mid-job: the job must not have finished.
  void KillMidJob(pid_t pid, const std::string& job) {
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    waitpid(pid, nullptr, 0);
    ASSERT_LT(TrialCount(job), 2u * kTrials) << "the job ended before the kill";
  }

  std::string Raw(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    std::string result;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      result = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return result;
  }

  // Watches the job to its end and checks its records: done, exactly
  // kTrials per task, distinct configs, distinct sequence numbers.
  void ExpectCompleteJob(const std::string& job) {
    Output watch = Qtune({"watch", job, "--nojson"});
    EXPECT_EQ(watch.exit_code, 0) << watch.out << watch.err;
    auto store = db::Store::Open(db_, db::Store::Mode::kReadOnly);
    ASSERT_TRUE(store.ok()) << store.status();
    db::Filter f;
    f.job_id = job;
    auto jobs = (*store)->Jobs(f);
    ASSERT_TRUE(jobs.ok());
    ASSERT_EQ(jobs->size(), 1u);
    EXPECT_EQ((*jobs)[0].state, "done");
    auto trials = (*store)->History(f);
    ASSERT_TRUE(trials.ok());
    std::map<std::string, std::set<std::string>> configs;
    std::set<int64_t> seqs;
    for (const db::TrialRecord& t : *trials) {
      EXPECT_TRUE(configs[t.workload_key].insert(t.config).second) << "config twice: " << t.config;
      EXPECT_TRUE(seqs.insert(t.seq).second) << "seq twice: " << t.seq;
    }
    ASSERT_EQ(configs.size(), 2u);
    for (const auto& [workload, c] : configs) {
      EXPECT_EQ(c.size(), size_t{kTrials}) << workload;
    }
    EXPECT_EQ(trials->size(), 2u * kTrials);
  }

  fs::path dir_;
  std::string db_;
  std::string daemon_;
  pid_t daemon_pid_ = -1;
  std::vector<pid_t> pids_;
  int counter_ = 0;
};

// 1. SIGKILL the agent mid-job: the job completes on a second agent of the
// same device key.
TEST_F(DaemonFaultsTest, AgentKilledMidJobTheJobCompletesOnASecondAgent) {
  pid_t agent = -1;
  const int port = StartAgent(0, &agent);
  StartDaemon();
  const std::string job = Submit(port);
  ASSERT_FALSE(job.empty());
  WaitForTrials(job, 4);
  KillMidJob(agent, job);
  AddAgent(StartAgent());
  ExpectCompleteJob(job);
}

// 1'. ... or after the agent restarts on its address.
TEST_F(DaemonFaultsTest, AgentKilledMidJobTheJobCompletesWhenItRestarts) {
  pid_t agent = -1;
  const int port = StartAgent(0, &agent);
  StartDaemon();
  const std::string job = Submit(port);
  ASSERT_FALSE(job.empty());
  WaitForTrials(job, 4);
  KillMidJob(agent, job);
  Output jobs = Qtune({"jobs", "--json"});
  EXPECT_THAT(jobs.out, HasSubstr(job));
  StartAgent(port);
  ExpectCompleteJob(job);
}

// 2. SIGKILL the daemon mid-job: the database is intact, and the restarted
// daemon resumes the job.
TEST_F(DaemonFaultsTest, DaemonKilledMidJobTheJobResumesAfterARestart) {
  const int agent_port = StartAgent();
  const int daemon_port = StartDaemon();
  const std::string job = Submit(agent_port);
  ASSERT_FALSE(job.empty());
  WaitForTrials(job, 4);
  KillMidJob(daemon_pid_, job);
  EXPECT_EQ(Raw("PRAGMA integrity_check"), "ok");
  StartDaemon(daemon_port);  // dials the agents it was given again, resumes the job
  ExpectCompleteJob(job);
}

// 3. Kill both, one after the other, in the same job.
TEST_F(DaemonFaultsTest, AgentThenDaemonKilledInTheSameJob) {
  pid_t agent = -1;
  const int agent_port = StartAgent(0, &agent);
  const int daemon_port = StartDaemon();
  const std::string job = Submit(agent_port);
  ASSERT_FALSE(job.empty());
  WaitForTrials(job, 4);
  KillMidJob(agent, job);
  StartAgent(agent_port);
  WaitForTrials(job, 12);
  KillMidJob(daemon_pid_, job);
  EXPECT_EQ(Raw("PRAGMA integrity_check"), "ok");
  StartDaemon(daemon_port);  // dials the agents it was given again, resumes the job
  ExpectCompleteJob(job);
}

// 5. Hostile requests to the daemon: random bytes on its port, and 1,000
// requests with random or absurd fields. Each gets an error (or a harmless
// answer), nothing crashes, and the daemon still works afterwards.
TEST_F(DaemonFaultsTest, HostileRequestsGetErrorsAndTheDaemonStillAnswers) {
  const int port = StartDaemon();
  // Random bytes on the port, a few connections' worth.
  std::mt19937_64 rng(20261206);
  for (int c = 0; c < 8; ++c) {
    std::string bytes(4096, '\0');
    for (char& b : bytes) b = static_cast<char>(rng());
    Output sent = RunProcess({"/bin/bash", "-c",
                              absl::StrCat("exec 3<>/dev/tcp/127.0.0.1/", port,
                                           " && head -c 4096 /dev/urandom >&3; exec 3>&-")},
                             dir_, std::chrono::seconds(10));
    (void)sent;
  }
  auto channel = grpc::CreateChannel(daemon_, grpc::InsecureChannelCredentials());
  auto stub = proto::Tuner::NewStub(channel);
  auto deadline = [](grpc::ClientContext& c) {
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  };
  const std::vector<std::string> words = {"", "resnet18", "fc", "x", "../../etc/passwd",
                                          std::string(10000, 'a'), "layer1.0.conv1", "\xff\xfe"};
  auto word = [&] { return words[rng() % words.size()]; };
  int errors = 0, answers = 0;
  for (int i = 0; i < 1000; ++i) {
    grpc::ClientContext context;
    deadline(context);
    grpc::Status status;
    switch (i % 5) {
      case 0: {  // a job spec with random fields
        proto::SubmitJobRequest request;
        proto::JobSpec* spec = request.mutable_spec();
        spec->set_model(word());
        spec->add_dtypes(static_cast<proto::DType>(static_cast<int>(rng() % 7) - 2));
        spec->add_layers(word());
        spec->set_trials_per_task(static_cast<int32_t>(rng()));
        spec->set_batch_size(static_cast<int32_t>(rng()));
        spec->set_time_budget_s(static_cast<double>(static_cast<int64_t>(rng())));
        spec->set_patience(static_cast<int32_t>(rng()));
        spec->set_strategy(word());
        spec->set_device_key(word());
        // Unparsable or refusing agent addresses only: no 3 s dial timeouts.
        if (rng() % 4 == 0) spec->set_agent(rng() % 2 ? "127.0.0.1:1" : "no port");
        spec->mutable_measure()->set_min_repeats(static_cast<int32_t>(rng()));
        proto::JobStatus reply;
        status = stub->SubmitJob(&context, request, &reply);
        break;
      }
      case 1: {
        proto::WatchJobRequest request;
        request.set_job_id(word());
        auto reader = stub->WatchJob(&context, request);
        proto::JobStatus reply;
        while (reader->Read(&reply)) {
        }
        status = reader->Finish();
        break;
      }
      case 2: {
        proto::CancelJobRequest request;
        request.set_job_id(word());
        proto::JobStatus reply;
        status = stub->CancelJob(&context, request, &reply);
        break;
      }
      case 3: {
        proto::RegisterAgentRequest request;
        request.set_address(rng() % 2 ? word() : "127.0.0.1:1");
        request.set_heartbeat(rng() % 2);
        proto::DeviceInfo reply;
        status = stub->RegisterAgent(&context, request, &reply);
        break;
      }
      default: {
        proto::QueryBestRequest request;
        request.set_device_key(word());
        proto::OpSpec* op = request.mutable_op();
        op->set_kind(static_cast<proto::OpKind>(static_cast<int>(rng() % 9) - 3));
        op->set_dtype(static_cast<proto::DType>(static_cast<int>(rng() % 5) - 1));
        for (auto set : {&proto::OpSpec::set_n, &proto::OpSpec::set_h, &proto::OpSpec::set_w,
                         &proto::OpSpec::set_c, &proto::OpSpec::set_k, &proto::OpSpec::set_r,
                         &proto::OpSpec::set_s}) {
          (op->*set)(static_cast<int32_t>(rng()));
        }
        proto::QueryBestResponse reply;
        status = stub->QueryBest(&context, request, &reply);
        break;
      }
    }
    if (status.ok()) {
      ++answers;
    } else {
      ++errors;
      EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << i;
      // UNAVAILABLE only for the agent the request named, never the daemon.
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        EXPECT_THAT(status.error_message(), HasSubstr("cannot reach qtune-agent")) << i;
      }
    }
  }
  EXPECT_EQ(errors + answers, 1000);
  EXPECT_GT(errors, 900);  // nearly everything above is malformed
  // Still alive and well.
  grpc::ClientContext context;
  deadline(context);
  proto::ListJobsResponse jobs;
  EXPECT_TRUE(stub->ListJobs(&context, proto::ListJobsRequest(), &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0);
  EXPECT_EQ(kill(daemon_pid_, 0), 0);
}

// 6 (daemon). A token-protected daemon refuses a wrong or missing token; a
// non-loopback listen without a token or without TLS refuses to start.
TEST_F(DaemonFaultsTest, TokensAndNonLoopbackListens) {
  const std::string port_file = (dir_ / "token.port").string();
  Started daemon = StartProcess({QTUNE_BINARY, "serve", "--listen", "127.0.0.1:0", "--db", db_,
                                 "--token", "s3cret", "--port-file", port_file},
                                dir_);
  pids_.push_back(daemon.pid);
  daemon_ = absl::StrCat("127.0.0.1:", WaitForLine(port_file));
  Output missing = Qtune({"jobs", "--nojson"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("x-qtune-token"));
  EXPECT_EQ(Lines(missing.err).size(), 1u) << missing.err;
  Output wrong = Qtune({"jobs", "--nojson", "--token", "guess"});
  EXPECT_NE(wrong.exit_code, 0);
  Output right = Qtune({"jobs", "--nojson", "--token", "s3cret"});
  EXPECT_EQ(right.exit_code, 0) << right.err;

  Output open = RunProcess({QTUNE_BINARY, "serve", "--listen", "0.0.0.0:0", "--db", db_}, dir_,
                           std::chrono::seconds(20));
  EXPECT_NE(open.exit_code, 0);
  EXPECT_THAT(open.err, HasSubstr("without --token"));
  Output no_tls = RunProcess(
      {QTUNE_BINARY, "serve", "--listen", "0.0.0.0:0", "--db", db_, "--token", "t"}, dir_,
      std::chrono::seconds(20));
  EXPECT_NE(no_tls.exit_code, 0);
  EXPECT_THAT(no_tls.err, HasSubstr("without TLS"));
}

// 6 (daemon, TLS). A TLS daemon serves a client with the right CA; a client
// with the wrong CA, or without TLS, fails cleanly (one line, no hang).
TEST_F(DaemonFaultsTest, TlsClientsNeedTheRightCa) {
  testing::TestCerts certs;
  ASSERT_TRUE(testing::MakeTestCerts(dir_ / "certs", &certs));
  const std::string port_file = (dir_ / "tls.port").string();
  Started daemon =
      StartProcess({QTUNE_BINARY, "serve", "--listen", "127.0.0.1:0", "--db", db_, "--tls-cert",
                    certs.server_cert, "--tls-key", certs.server_key, "--port-file", port_file},
                   dir_);
  pids_.push_back(daemon.pid);
  const std::string port = WaitForLine(port_file);
  ASSERT_FALSE(port.empty()) << testing_util::ReadFile(daemon.err_path);
  daemon_ = absl::StrCat("127.0.0.1:", port);
  Output right = Qtune({"jobs", "--nojson", "--tls-ca", certs.ca});
  EXPECT_EQ(right.exit_code, 0) << right.err;
  Output wrong = Qtune({"jobs", "--nojson", "--tls-ca", certs.other_ca});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_THAT(wrong.err, HasSubstr("cannot reach the qtune daemon"));
  EXPECT_EQ(Lines(wrong.err).size(), 1u) << wrong.err;
  EXPECT_LT(wrong.seconds, 30);
  Output plain = Qtune({"jobs", "--nojson"});
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_EQ(Lines(plain.err).size(), 1u) << plain.err;
}

}  // namespace
}  // namespace qtune
