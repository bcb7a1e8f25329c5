#include "tests/integration/process_util.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace qtune::testing_util {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Started StartProcess(const std::vector<std::string>& argv, const fs::path& dir) {
  static int counter = 0;
  Started p;
  p.out_path = dir / ("out" + std::to_string(counter) + ".txt");
  p.err_path = dir / ("err" + std::to_string(counter++) + ".txt");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, p.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, p.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  p.start = std::chrono::steady_clock::now();
  if (posix_spawn(&p.pid, args[0], &actions, nullptr, args.data(), environ) != 0) p.pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return p;
}

// Runs `argv` to completion with stdout/stderr redirected to files in `dir`.
// Kills it after `timeout`.
Output RunProcess(const std::vector<std::string>& argv, const fs::path& dir,
                  std::chrono::seconds timeout) {
  const Started started = StartProcess(argv, dir);
  const pid_t pid = started.pid;
  const auto start = started.start;
  const fs::path& out_path = started.out_path;
  const fs::path& err_path = started.err_path;
  Output result;
  if (pid < 0) {
    result.err = "spawn failed";
    return result;
  }
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() - start > timeout) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.err = "timed out";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = ReadFile(out_path);
  result.err += ReadFile(err_path);
  return result;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string WaitForLine(const fs::path& path, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    std::string text = ReadFile(path);
    if (!text.empty() && text.back() == '\n') {
      text.pop_back();
      return text;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

}  // namespace qtune::testing_util
