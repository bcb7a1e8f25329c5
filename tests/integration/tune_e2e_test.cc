// End to end across processes: a real qtune-agent on an ephemeral loopback
// port, `qtune tune` against it, then the database through the Store API and
// through `qtune db best --json`. Also the one-line failures a user meets
// first: unreachable agent, foreign database, unknown model or flag.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/db/store.h"
#include "tests/integration/process_util.h"

extern char** environ;

namespace qtune {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing_util::Lines;
using testing_util::Output;
using testing_util::ReadFile;
using testing_util::RunProcess;
using testing_util::Started;
using testing_util::StartProcess;

class TuneEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/qtune-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // The agent, on port 0: it writes the port it got.
    const std::string port_file = (dir_ / "port").string();
    std::vector<std::string> argv = {QTUNE_AGENT_BINARY, "--listen", "127.0.0.1:0",
                                     "--port-file", port_file};
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = (dir_ / "agent.log").string();
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    ASSERT_EQ(posix_spawn(&agent_pid_, args[0], &actions, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 300 && port_.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::string text = ReadFile(port_file);
      if (!text.empty() && text.back() == '\n') text.pop_back();
      if (!text.empty()) port_ = text;
    }
    ASSERT_FALSE(port_.empty()) << "agent did not start: " << ReadFile(dir_ / "agent.log");
    agent_ = "127.0.0.1:" + port_;
  }

  void TearDown() override {
    if (agent_pid_ > 0) {
      kill(agent_pid_, SIGTERM);
      int status = 0;
      waitpid(agent_pid_, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "agent did not shut down cleanly: " << ReadFile(dir_ / "agent.log");
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  Output Qtune(std::vector<std::string> args) {
    args.insert(args.begin(), QTUNE_BINARY);
    return RunProcess(args, dir_);
  }

  // The names of the two cheapest layers of ResNet18 (read from `qtune tasks`
  // so the test does not depend on naming details).
  std::vector<std::string> TwoSmallLayers() {
    Output tasks = Qtune({"tasks", "--model", "resnet18", "--json"});
    EXPECT_EQ(tasks.exit_code, 0) << tasks.err;
    std::vector<std::pair<long long, std::string>> by_macs;
    const std::regex name_re("\"name\"\\s*:\\s*\"([^\"]+)\"");
    const std::regex macs_re("\"macs\"\\s*:\\s*\"?([0-9]+)");
    for (const std::string& line : Lines(tasks.out)) {
      std::smatch name, macs;
      if (std::regex_search(line, name, name_re) && std::regex_search(line, macs, macs_re)) {
        by_macs.emplace_back(std::stoll(macs[1]), name[1]);
      }
    }
    std::sort(by_macs.begin(), by_macs.end());
    EXPECT_GE(by_macs.size(), 13u) << tasks.out;
    std::vector<std::string> names;
    for (size_t i = 0; i < 2 && i < by_macs.size(); ++i) names.push_back(by_macs[i].second);
    return names;
  }

  fs::path dir_;
  pid_t agent_pid_ = -1;
  std::string port_;
  std::string agent_;
};

TEST_F(TuneEndToEndTest, TunesTwoLayersAndRecordsEveryTrial) {
  const std::vector<std::string> layers = TwoSmallLayers();
  ASSERT_EQ(layers.size(), 2u);
  const std::string db_path = (dir_ / "tune.db").string();
  constexpr int kTrials = 3;
  Output tune = Qtune({"tune", "--model", "resnet18", "--agent", agent_, "--db", db_path,
                       "--layers", layers[0] + "," + layers[1], "--dtype", "int8,fp32",
                       "--trials", std::to_string(kTrials), "--json"});
  ASSERT_EQ(tune.exit_code, 0) << tune.err << tune.out;
  const std::vector<std::string> lines = Lines(tune.out);
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) EXPECT_EQ(line.front(), '{') << line;
  EXPECT_THAT(lines.back(), HasSubstr("\"trials\""));
  EXPECT_THAT(lines.back(), HasSubstr("\"overhead_ms_per_trial\""));

  // The database, through the Store API.
  auto store = db::Store::Open(db_path, db::Store::Mode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status();
  auto devices = (*store)->Devices();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 1u);
  auto history = (*store)->History();
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u * 2u * kTrials);  // layers x dtypes x trials
  for (const db::TrialRecord& t : *history) {
    EXPECT_EQ(t.status, "OK") << t.message;
    EXPECT_GT(t.median_us, 0);
    EXPECT_GE(t.median_us, t.min_us);
    EXPECT_FALSE(t.kernel.empty());
    EXPECT_FALSE(t.config.empty());
    EXPECT_EQ(t.device_key, (*devices)[0].device_key);
  }
  auto best = (*store)->Best();
  ASSERT_TRUE(best.ok());
  EXPECT_EQ(best->size(), 4u);  // (layer, dtype) pairs
  auto jobs = (*store)->Jobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state, "done");
  auto tasks = (*store)->Tasks();
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ(tasks->size(), 4u);

  // The same, as a user sees it.
  Output db_best = Qtune({"db", "best", "--db", db_path, "--json"});
  ASSERT_EQ(db_best.exit_code, 0) << db_best.err;
  const std::vector<std::string> rows = Lines(db_best.out);
  ASSERT_EQ(rows.size(), 4u) << db_best.out;
  for (const std::string& row : rows) {
    EXPECT_THAT(row, HasSubstr("\"median_us\""));
    EXPECT_THAT(row, HasSubstr("\"kernel\""));
    EXPECT_THAT(row, HasSubstr((*devices)[0].device_key));
  }
  Output table = Qtune({"db", "best", "--db", db_path});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_GE(Lines(table.out).size(), 5u) << table.out;  // header + 4 rows
}

TEST_F(TuneEndToEndTest, UnreachableAgentFailsFastAndLeavesTheDatabaseAlone) {
  const std::string db_path = (dir_ / "keep.db").string();
  Output first = Qtune({"tune", "--model", "resnet18", "--agent", agent_, "--db", db_path,
                        "--layers", "fc", "--dtype", "int8", "--trials", "2", "--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string before = ReadFile(db_path);
  Output db_before = Qtune({"db", "export", "--db", db_path});
  ASSERT_EQ(db_before.exit_code, 0) << db_before.err;

  // Port 1 on loopback: nothing listens there.
  Output tune = Qtune({"tune", "--model", "resnet18", "--agent", "127.0.0.1:1", "--db", db_path,
                       "--layers", "fc", "--trials", "2"});
  EXPECT_NE(tune.exit_code, 0);
  EXPECT_LT(tune.seconds, 15.0);
  EXPECT_EQ(Lines(tune.err).size(), 1u) << tune.err;
  EXPECT_THAT(tune.err, HasSubstr("127.0.0.1:1"));
  Output db_after = Qtune({"db", "export", "--db", db_path});
  EXPECT_EQ(db_after.out, db_before.out);
}

TEST_F(TuneEndToEndTest, RefusesForeignFilesUnknownModelsAndFlags) {
  const fs::path foreign = dir_ / "notes.txt";
  {
    std::ofstream out(foreign);
    out << "this is not a database\n";
  }
  const std::string before = ReadFile(foreign);
  Output tune = Qtune({"tune", "--model", "resnet18", "--agent", agent_, "--db", foreign.string(),
                       "--layers", "fc", "--trials", "1"});
  EXPECT_NE(tune.exit_code, 0);
  EXPECT_EQ(Lines(tune.err).size(), 1u) << tune.err;
  EXPECT_EQ(ReadFile(foreign), before);
  Output best = Qtune({"db", "best", "--db", foreign.string()});
  EXPECT_NE(best.exit_code, 0);
  EXPECT_EQ(Lines(best.err).size(), 1u) << best.err;
  EXPECT_EQ(ReadFile(foreign), before);

  Output model = Qtune({"tune", "--model", "resnet9000", "--agent", agent_, "--db",
                        (dir_ / "x.db").string()});
  EXPECT_NE(model.exit_code, 0);
  EXPECT_EQ(Lines(model.err).size(), 1u) << model.err;
  EXPECT_THAT(model.err, HasSubstr("resnet9000"));

  Output flag = Qtune({"tune", "--modle", "resnet18"});
  EXPECT_NE(flag.exit_code, 0);
  EXPECT_THAT(flag.err, HasSubstr("modle"));

  Output missing = Qtune({"db", "best", "--db", (dir_ / "absent.db").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_FALSE(fs::exists(dir_ / "absent.db"));

  Output info = Qtune({"info", "--agent", agent_, "--json"});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("device_key"));
}

// A tune killed with SIGKILL leaves its job "running" in the file; `qtune db
// jobs` reports it interrupted, and the same --job-name resumes it to exactly
// the asked number of trials per task, none measured twice.
TEST_F(TuneEndToEndTest, AKilledTuneIsReportedInterruptedAndResumes) {
  const std::string db_path = (dir_ / "killed.db").string();
  constexpr int kTrials = 24;
  const std::vector<std::string> tune = {
      QTUNE_BINARY, "tune", "--model", "resnet18", "--agent", agent_, "--db", db_path,
      "--layers", "fc", "--dtype", "int8,fp32", "--trials", std::to_string(kTrials),
      "--batch-size", "2", "--min-repeat-ms", "40", "--job-name", "nightly", "--json"};
  Started first = StartProcess(tune, dir_);
  ASSERT_GT(first.pid, 0);
  size_t recorded = 0;
  for (int i = 0; i < 1500 && recorded < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto store = db::Store::Open(db_path, db::Store::Mode::kReadOnly);
    if (!store.ok()) continue;
    auto history = (*store)->History();
    if (history.ok()) recorded = history->size();
  }
  ASSERT_GE(recorded, 4u) << ReadFile(first.err_path);
  kill(first.pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(first.pid, &status, 0), first.pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the tune finished before it was killed";

  Output jobs = Qtune({"db", "jobs", "--db", db_path, "--json"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  ASSERT_EQ(Lines(jobs.out).size(), 1u) << jobs.out;
  EXPECT_THAT(jobs.out, HasSubstr("\"state\":\"interrupted\""));
  EXPECT_THAT(jobs.out, HasSubstr("\"name\":\"nightly\""));

  std::vector<std::string> again(tune.begin() + 1, tune.end());
  Output resumed = Qtune(again);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err << resumed.out;
  EXPECT_THAT(resumed.out, HasSubstr("\"resumed\":true"));

  auto store = db::Store::Open(db_path, db::Store::Mode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status();
  auto all_jobs = (*store)->Jobs();
  ASSERT_TRUE(all_jobs.ok());
  ASSERT_EQ(all_jobs->size(), 1u);
  EXPECT_EQ((*all_jobs)[0].state, "done");
  auto history = (*store)->History();
  ASSERT_TRUE(history.ok());
  std::map<std::string, std::set<std::string>> configs;
  std::set<int64_t> seqs;
  for (const db::TrialRecord& t : *history) {
    EXPECT_TRUE(configs[t.workload_key].insert(t.config).second) << t.config;
    EXPECT_TRUE(seqs.insert(t.seq).second) << t.seq;
    EXPECT_FALSE(t.build_id.empty());
    EXPECT_NE(t.build_id, db::kUnknownBuild);
  }
  ASSERT_EQ(configs.size(), 2u);
  for (const auto& [workload, c] : configs) EXPECT_EQ(c.size(), size_t{kTrials}) << workload;
}

}  // namespace
}  // namespace qtune
