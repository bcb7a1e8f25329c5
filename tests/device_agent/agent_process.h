// File: agent_process.h
// A qtune-agent (or any) child process for tests: started with flags and
// extra environment entries, its stdout and stderr going to files (so that it
// never blocks on a full pipe), killed and reaped when the object goes away.
// Every wait is bounded; Eventually() is the bounded wait for a condition.
#ifndef QTUNE_TESTS_DEVICE_AGENT_AGENT_PROCESS_H_
#define QTUNE_TESTS_DEVICE_AGENT_AGENT_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

extern char** environ;

namespace qtune::testing {

// Polls `done` every 10 ms until it holds or `timeout` passes; its last value.
template <typename Predicate>
bool Eventually(Predicate done, std::chrono::seconds timeout = std::chrono::seconds(10)) {
  auto give_up = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < give_up) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class AgentProcess {
 public:
  AgentProcess(const std::string& binary, const std::vector<std::string>& flags,
               const std::vector<std::string>& extra_env = {}) {
    static std::atomic<int> counter{0};
    const char* tmp = std::getenv("TMPDIR");
    dir_ = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
           ("qtune-agent-process." + std::to_string(getpid()) + "." + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args = {binary};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path().c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path().c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~AgentProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // The first line on stdout, or "" when none came within `timeout` or the
  // process exited without one.
  std::string FirstLine(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto give_up = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const std::string out = Stdout();
      if (size_t nl = out.find('\n'); nl != std::string::npos) return out.substr(0, nl);
      if (exited_ || std::chrono::steady_clock::now() >= give_up) return "";
      if (pid_ > 0) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) Reaped(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // The port of a "... listening on HOST:PORT (...)" line, or -1.
  static int PortOf(const std::string& line) {
    size_t on = line.find(" listening on ");
    if (on == std::string::npos) return -1;
    size_t space = line.find(' ', on + 14);
    std::string address = line.substr(on + 14, space - on - 14);
    size_t colon = address.rfind(':');
    return colon == std::string::npos ? -1 : std::atoi(address.c_str() + colon + 1);
  }

  // Exit code (128 + signal for a signal death); after `timeout` the process
  // is killed and -1 returned.
  int Wait(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    auto give_up = std::chrono::steady_clock::now() + timeout;
    while (!exited_) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        Reaped(status);
        break;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= give_up) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        pid_ = -1;
        exited_ = true;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
  }

  std::string Stdout() const { return Read(out_path()); }
  std::string Stderr() const { return Read(err_path()); }
  pid_t pid() const { return pid_; }

 private:
  std::string out_path() const { return (dir_ / "stdout").string(); }
  std::string err_path() const { return (dir_ / "stderr").string(); }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void Reaped(int status) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    exited_ = true;
    pid_ = -1;
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

}  // namespace qtune::testing

#endif  // QTUNE_TESTS_DEVICE_AGENT_AGENT_PROCESS_H_
