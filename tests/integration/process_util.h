// File: process_util.h
// Real processes for the integration tests: start one with its output in
// files, run one to completion with a time limit, read files.
#ifndef QTUNE_TESTS_INTEGRATION_PROCESS_UTIL_H_
#define QTUNE_TESTS_INTEGRATION_PROCESS_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace qtune::testing_util {

struct Output {
  int exit_code = -1;
  std::string out;
  std::string err;
  double seconds = 0;
};

// A process started with stdout/stderr redirected to files.
struct Started {
  pid_t pid = -1;
  std::filesystem::path out_path, err_path;
  std::chrono::steady_clock::time_point start;
};

std::string ReadFile(const std::filesystem::path& path);

// Starts `argv` (argv[0] a path) with stdin from /dev/null and stdout and
// stderr in new files of `dir`; pid -1 when it could not be started.
Started StartProcess(const std::vector<std::string>& argv, const std::filesystem::path& dir);

// Runs `argv` to completion with stdout/stderr redirected to files in `dir`.
// Kills it after `timeout` (err then starts with "timed out").
Output RunProcess(const std::vector<std::string>& argv, const std::filesystem::path& dir,
                  std::chrono::seconds timeout = std::chrono::seconds(240));

// The non-empty lines of `text`.
std::vector<std::string> Lines(const std::string& text);

// Waits up to `timeout` for `path` to hold a line (e.g. a port file) and
// returns it without the newline; empty on timeout.
std::string WaitForLine(const std::filesystem::path& path,
                        std::chrono::milliseconds timeout = std::chrono::seconds(15));

}  // namespace qtune::testing_util

#endif  // QTUNE_TESTS_INTEGRATION_PROCESS_UTIL_H_
