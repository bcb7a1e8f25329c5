// The qtune-agent executable: flags, startup line, port file, exit codes,
// graceful stop on SIGTERM/SIGINT.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#ifndef QTUNE_AGENT_BINARY
#error "QTUNE_AGENT_BINARY must name the qtune-agent executable"
#endif

extern char** environ;

namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// A child process running qtune-agent with its stdout and stderr on pipes.
class Agent {
 public:
  explicit Agent(const std::vector<std::string>& flags) {
    int out[2], err[2];
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
    std::vector<std::string> args = {QTUNE_AGENT_BINARY};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    EXPECT_EQ(posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Agent() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
    close(out_);
    close(err_);
  }

  // The first line on stdout, or "" after 20 s or at end of file.
  std::string ReadLine() {
    std::string line;
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < give_up) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char ch;
      if (read(out_, &ch, 1) != 1) break;
      if (ch == '\n') return line;
      line.push_back(ch);
    }
    return line;
  }

  std::string Stderr() {
    std::string text;
    char buf[256];
    ssize_t n;
    while ((n = read(err_, buf, sizeof(buf))) > 0) text.append(buf, n);
    return text;
  }

  // Exit code (128 + signal for a signal death).
  int Wait() {
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
};

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name + "." + std::to_string(getpid());
}

int PortFromLine(const std::string& line) {
  size_t colon = line.find("127.0.0.1:");
  if (colon == std::string::npos) return -1;
  return std::atoi(line.c_str() + colon + 10);
}

TEST(AgentMainTest, ServesWritesThePortFileAndStopsOnSigterm) {
  std::string port_file = TempPath("qtune-agent-port");
  std::remove(port_file.c_str());
  Agent agent({"--listen=127.0.0.1:0", "--port-file=" + port_file});
  std::string line = agent.ReadLine();
  EXPECT_THAT(line, MatchesRegex("qtune-agent [0-9.]+ listening on 127\\.0\\.0\\.1:[0-9]+ "
                                 "\\(device [a-z0-9_]+/[a-z0-9_+]+/[a-z0-9-]+/[0-9]+c\\)"));
  int port = PortFromLine(line);
  EXPECT_GT(port, 0);
  std::ifstream in(port_file);
  int written = -1;
  in >> written;
  EXPECT_EQ(written, port);
  std::remove(port_file.c_str());
  ASSERT_EQ(kill(agent.pid(), SIGTERM), 0);
  EXPECT_EQ(agent.Wait(), 0);
}

TEST(AgentMainTest, StopsOnSigint) {
  Agent agent({"--listen=127.0.0.1:0"});
  EXPECT_THAT(agent.ReadLine(), HasSubstr("listening on"));
  ASSERT_EQ(kill(agent.pid(), SIGINT), 0);
  EXPECT_EQ(agent.Wait(), 0);
}

TEST(AgentMainTest, NonLoopbackWithoutTokenIsRefused) {
  Agent agent({"--listen=0.0.0.0:0"});
  EXPECT_EQ(agent.Wait(), 2);
  std::string err = agent.Stderr();
  EXPECT_THAT(err, HasSubstr("--token"));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST(AgentMainTest, TakenPortExitsWith3) {
  Agent first({"--listen=127.0.0.1:0"});
  int port = PortFromLine(first.ReadLine());
  ASSERT_GT(port, 0);
  Agent second({"--listen=127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(second.Wait(), 3);
  std::string err = second.Stderr();
  EXPECT_THAT(err, HasSubstr(std::to_string(port)));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST(AgentMainTest, BadArgumentsExitNonZero) {
  Agent positional({"--listen=127.0.0.1:0", "extra"});
  EXPECT_EQ(positional.Wait(), 2);
  Agent bad_address({"--listen=nonsense"});
  EXPECT_EQ(bad_address.Wait(), 2);
  Agent unknown({"--no-such-flag"});
  EXPECT_NE(unknown.Wait(), 0);
}

}  // namespace
