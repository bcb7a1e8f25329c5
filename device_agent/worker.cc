#include "device_agent/worker.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "device_agent/device_info.h"
#include "device_agent/frame_io.h"
#include "device_agent/machine_monitor.h"
#include "device_agent/measure_options.h"
#include "device_agent/trial_runner.h"
#include "proto/convert.h"
#include "proto/qtune.pb.h"
#include "qtune/kernels/kernel.h"

namespace qtune::agent {
namespace {

// Exits the worker once the agent that started it is gone (its pid is no
// longer our parent), so that a hung trial does not outlive a killed agent.
void StartParentWatchdog(pid_t parent) {
  std::thread([parent] {
    while (true) {
      if (getppid() != parent) _exit(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }).detach();
}

// Closes every descriptor above the reply pipe that leaked through exec
// (e.g. a socket some library opened without O_CLOEXEC), so that a hung
// worker never holds on to the agent's port or files.
void CloseInheritedFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  std::vector<int> fds;
  while (dirent* entry = readdir(dir)) {
    int fd = -1;
    if (absl::SimpleAtoi(entry->d_name, &fd) && fd > kWorkerReplyFd && fd != dirfd(dir)) {
      fds.push_back(fd);
    }
  }
  closedir(dir);
  for (int fd : fds) close(fd);
}

// The test fault for the next request (worker.h): the contents of the file
// named by kTestFaultFileEnv when that is set (re-read per request, missing
// or empty = none), else kTestFaultEnv.
std::string CurrentTestFault() {
  if (const char* file = std::getenv(kTestFaultFileEnv); file != nullptr && *file != '\0') {
    std::ifstream in(file);
    std::string fault;
    std::getline(in, fault);
    return std::string(absl::StripAsciiWhitespace(fault));
  }
  const char* fault = std::getenv(kTestFaultEnv);
  return fault != nullptr ? fault : "";
}

proto::TrialResult Internal(std::string message) {
  proto::TrialResult result;
  result.set_status(proto::INTERNAL);
  result.set_message(std::move(message));
  return result;
}

proto::TrialResult RunOne(TrialRunner& runner, const proto::RunTrialsRequest& request) {
  if (request.configs_size() != 1) {
    return Internal(absl::StrCat("worker request with ", request.configs_size(), " configs"));
  }
  absl::StatusOr<kernels::OpSpec> op = FromProto(request.op());
  if (!op.ok()) return Internal(absl::StrCat("worker: ", op.status().message()));
  absl::StatusOr<MeasureSettings> settings = ResolveMeasureOptions(request.options());
  if (!settings.ok()) return Internal(absl::StrCat("worker: ", settings.status().message()));
  try {
    return runner.Run(*op, FromProto(request.configs(0)), *settings);
  } catch (const std::exception& e) {
    return Internal(absl::StrCat("exception in the worker: ", e.what()));
  } catch (...) {
    return Internal("unknown exception in the worker");
  }
}

}  // namespace

size_t WorkerFlushBytes() {
  int64_t llc = LastLevelCacheBytes(ProbeDeviceInfo(ClockProbe::kSkip));
  // Some VMs report absurd L3 sizes, and flushing must stay cheap next to a
  // trial.
  int64_t bytes = std::clamp<int64_t>(2 * llc, int64_t{4} << 20, int64_t{64} << 20);
  return static_cast<size_t>(bytes);
}

bool IsWorkerInvocation(int argc, char** argv) {
  return argc >= 2 && argv[1] != nullptr && std::string_view(argv[1]) == kWorkerFlag;
}

int RunWorker(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  CloseInheritedFds();
  int parent = 0;
  if (argc >= 3 && absl::SimpleAtoi(argv[2], &parent) && parent > 1) {
    if (getppid() != parent) return 1;
    StartParentWatchdog(parent);
  }
  std::string fault;  // the test fault of the current request

  TrialRunnerOptions options;
  options.target = kernels::HostTarget();
  options.flush_bytes = WorkerFlushBytes();
  options.monitor = NewSystemMonitor();
  options.on_instance_ready = [&fault] {
    // The ready marker (worker.h). A write error shows again, and ends the
    // worker, when the result is written.
    (void)WriteFrame(kWorkerReplyFd, proto::TrialResult());
    if (fault == "hang") {
      while (true) pause();
    }
    if (fault == "segv") {
      // A kernel dereferencing a wild pointer.
      volatile int* wild = nullptr;
      *wild = 1;
    }
  };
  TrialRunner runner(std::move(options));

  while (true) {
    proto::RunTrialsRequest request;
    absl::Status status = ReadFrame(kWorkerRequestFd, absl::InfiniteFuture(), &request);
    if (absl::IsUnavailable(status)) return 0;  // the agent closed the pipe
    if (!status.ok()) {
      std::fprintf(stderr, "qtune-agent worker: %s\n", std::string(status.message()).c_str());
      return 1;
    }
    fault = CurrentTestFault();
    if (fault == "crash") std::abort();
    if (fault == "hang_instance") {
      while (true) pause();
    }
    constexpr absl::string_view kSlowInstance = "slow_instance:";
    int slow_instance_ms = 0;
    if (absl::StartsWith(fault, kSlowInstance) &&
        absl::SimpleAtoi(absl::string_view(fault).substr(kSlowInstance.size()),
                         &slow_instance_ms) &&
        slow_instance_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(slow_instance_ms));
    }
    proto::TrialResult result = RunOne(runner, request);
    status = WriteFrame(kWorkerReplyFd, result);
    if (!status.ok()) return absl::IsUnavailable(status) ? 0 : 1;
  }
}

}  // namespace qtune::agent
