#include "device_agent/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "device_agent/device_info.h"
#include "device_agent/frame_io.h"
#include "device_agent/measure_options.h"
#include "device_agent/worker.h"
#include "proto/convert.h"

extern char** environ;

namespace qtune::agent {
namespace {

proto::TrialResult Result(proto::TrialStatus status, std::string message) {
  proto::TrialResult result;
  result.set_status(status);
  result.set_message(std::move(message));
  return result;
}

// Moves `fd` to a number >= 10 (keeping O_CLOEXEC), so that the worker's
// dup2 onto fds 3 and 4 never has a source equal to its target.
int MoveHigh(int fd) {
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  int saved = errno;
  close(fd);
  errno = saved;
  return high;
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::string EnvName(const std::string& entry) { return entry.substr(0, entry.find('=')); }

// The agent's environment with `extra` entries replacing same-named ones.
std::vector<std::string> WorkerEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    bool overridden = false;
    for (const std::string& x : extra) overridden |= EnvName(x) == EnvName(entry);
    if (!overridden) env.push_back(std::move(entry));
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string DescribeWaitStatus(int wait_status) {
  if (wait_status == -1) return "no worker";
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr) return absl::StrCat("SIG", abbrev, " (", strsignal(sig), ")");
#endif
    return absl::StrCat("signal ", sig, " (", strsignal(sig), ")");
  }
  if (WIFEXITED(wait_status)) return absl::StrCat("exit code ", WEXITSTATUS(wait_status));
  return absl::StrFormat("wait status 0x%x", wait_status);
}

WorkerSupervisor::WorkerSupervisor(WorkerOptions options) : options_(std::move(options)) {}

WorkerSupervisor::~WorkerSupervisor() {
  std::lock_guard<std::timed_mutex> run(run_mu_);
  StopWorkerLocked(/*kill=*/false);
}

bool WorkerSupervisor::is_shut_down() const {
  std::lock_guard<std::mutex> state(state_mu_);
  return shut_down_;
}

pid_t WorkerSupervisor::worker_pid() const {
  std::lock_guard<std::mutex> state(state_mu_);
  return pid_;
}

void WorkerSupervisor::Shutdown() {
  {
    std::lock_guard<std::mutex> state(state_mu_);
    shut_down_ = true;
    if (pid_ > 0) kill(pid_, SIGKILL);  // wakes a trial in progress
  }
  std::lock_guard<std::timed_mutex> run(run_mu_);
  StopWorkerLocked(/*kill=*/true);
}

void WorkerSupervisor::SetWorkerEnvironment(std::vector<std::string> extra_env) {
  std::lock_guard<std::timed_mutex> run(run_mu_);
  StopWorkerLocked(/*kill=*/false);
  options_.extra_env = std::move(extra_env);
}

absl::Status WorkerSupervisor::StartWorkerLocked() {
  if (is_shut_down()) return absl::CancelledError("the agent is shutting down");
  int req[2], rep[2];
  if (pipe2(req, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  if (pipe2(rep, O_CLOEXEC) != 0) {
    close(req[0]);
    close(req[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  for (int* fd : {&req[0], &req[1], &rep[0], &rep[1]}) *fd = MoveHigh(*fd);
  auto close_all = [&] {
    for (int fd : {req[0], req[1], rep[0], rep[1]}) {
      if (fd >= 0) close(fd);
    }
  };
  if (req[0] < 0 || req[1] < 0 || rep[0] < 0 || rep[1] < 0) {
    close_all();
    return absl::InternalError(absl::StrCat("fcntl: ", strerror(errno)));
  }

  std::string binary = options_.binary.empty() ? "/proc/self/exe" : options_.binary;
  std::vector<std::string> args = {binary, std::string(kWorkerFlag), std::to_string(getpid())};
  std::vector<std::string> env = WorkerEnvironment(options_.extra_env);
  std::vector<char*> argv = CStrings(args);
  std::vector<char*> envp = CStrings(env);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // Stray prints of kernels go to the agent's stderr, never its stdout.
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, req[0], kWorkerRequestFd);
  posix_spawn_file_actions_adddup2(&actions, rep[1], kWorkerReplyFd);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  // Own process group: a Ctrl-C on the agent's terminal reaches only the
  // agent, which then stops the worker.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(req[0]);
  close(rep[1]);
  req[0] = rep[1] = -1;
  if (rc != 0) {
    close_all();
    return absl::InternalError(absl::StrCat("cannot start ", binary, ": ", strerror(rc)));
  }
  request_fd_ = req[1];
  reply_fd_ = rep[0];
  std::lock_guard<std::mutex> state(state_mu_);
  pid_ = pid;
  if (shut_down_) kill(pid, SIGKILL);  // Shutdown() raced with the spawn
  return absl::OkStatus();
}

int WorkerSupervisor::StopWorkerLocked(bool kill_now) {
  CloseFd(request_fd_);  // an idle worker exits on end of file
  CloseFd(reply_fd_);
  pid_t pid;
  {
    std::lock_guard<std::mutex> state(state_mu_);
    pid = pid_;
    pid_ = -1;  // from here on only we may signal it: it is not reaped yet
  }
  if (pid <= 0) return -1;
  int status = 0;
  if (kill_now) {
    kill(pid, SIGKILL);
  } else {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (true) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) return status;
      if (r < 0 && errno != EINTR) return -1;
      if (std::chrono::steady_clock::now() >= give_up) {
        kill(pid, SIGKILL);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

proto::TrialResult WorkerSupervisor::TrialLocked(const proto::RunTrialsRequest& request,
                                                 const TrialDeadlines& deadlines,
                                                 const std::function<bool()>& cancelled,
                                                 bool* retry) {
  *retry = false;
  if (cancelled && cancelled()) return Result(proto::INTERNAL, "cancelled before it started");
  bool fresh = false;
  if (request_fd_ >= 0) {
    // A worker that died while idle (e.g. killed from outside) is replaced
    // instead of being blamed for this trial.
    pid_t pid = worker_pid();
    siginfo_t info{};
    if (pid > 0 && waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid) {
      StopWorkerLocked(/*kill=*/true);
    }
  }
  if (request_fd_ < 0) {
    absl::Status started = StartWorkerLocked();
    if (!started.ok()) {
      StopWorkerLocked(/*kill=*/true);
      return Result(proto::INTERNAL, absl::StrCat("cannot start the worker: ", started.message()));
    }
    fresh = true;
  }
  absl::Status sent = WriteFrame(request_fd_, request);
  if (!sent.ok()) {
    int ws = StopWorkerLocked(/*kill=*/true);
    if (is_shut_down()) return Result(proto::INTERNAL, "the agent is shutting down");
    *retry = !fresh;
    return Result(proto::INTERNAL, absl::StrCat("cannot send the trial to the worker (",
                                                DescribeWaitStatus(ws), "): ", sent.message()));
  }
  // Phase 1: the instance (and its reference) until the ready marker, or a
  // result that ends the trial before it. Phase 2: the kernel.
  const Clock& clock = options_.clock != nullptr ? *options_.clock : Clock::Real();
  bool kernel_phase = false;
  proto::TrialResult result;
  absl::Status got =
      ReadFrame(reply_fd_, clock.Now() + absl::Milliseconds(deadlines.instance_ms), &result,
                clock, cancelled);
  if (got.ok() && result.status() == proto::TRIAL_STATUS_UNSPECIFIED) {
    kernel_phase = true;
    got = ReadFrame(reply_fd_, clock.Now() + absl::Milliseconds(deadlines.kernel_ms), &result,
                    clock, cancelled);
    if (got.ok() && result.status() == proto::TRIAL_STATUS_UNSPECIFIED) {
      got = absl::DataLossError("a second ready marker");
    }
  }
  if (got.ok()) return result;
  if (absl::IsCancelled(got)) {
    StopWorkerLocked(/*kill=*/true);
    return Result(proto::INTERNAL, "cancelled during the trial; worker killed");
  }
  if (absl::IsDeadlineExceeded(got)) {
    StopWorkerLocked(/*kill=*/true);
    if (kernel_phase) {
      return Result(proto::TIMEOUT,
                    absl::StrFormat("the kernel exceeded its %.10g ms deadline (%s; compile, "
                                    "verification and timed runs, counted from the operator "
                                    "instance being ready); worker killed",
                                    deadlines.kernel_ms, deadlines.kernel_basis));
    }
    return Result(proto::TIMEOUT,
                  absl::StrFormat("building the operator instance and its reference output "
                                  "exceeded its %.10g ms bound; the reference, not the kernel, "
                                  "took too long (the kernel had not started); worker killed",
                                  deadlines.instance_ms));
  }
  if (absl::IsUnavailable(got)) {
    int ws = StopWorkerLocked(/*kill=*/false);
    if (is_shut_down()) return Result(proto::INTERNAL, "the agent is shutting down");
    return Result(proto::CRASH,
                  absl::StrCat("worker died during the trial: ", DescribeWaitStatus(ws)));
  }
  StopWorkerLocked(/*kill=*/true);
  return Result(proto::INTERNAL, absl::StrCat("worker protocol error: ", got.message()));
}

double WorkerSupervisor::ClockGhz() {
  std::call_once(clock_once_, [this] {
    clock_ghz_ = options_.clock_ghz >= 0 ? options_.clock_ghz
                                         : ProbeDeviceInfo(ClockProbe::kMeasure).clock_ghz();
  });
  return clock_ghz_;
}

absl::StatusOr<WorkerSupervisor::TrialDeadlines> WorkerSupervisor::Deadlines(
    const proto::OpSpec& op, const proto::MeasureOptions& options, double timeout_ms) {
  absl::StatusOr<kernels::OpSpec> spec = FromProto(op);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<MeasureSettings> settings = ResolveMeasureOptions(options);
  if (!settings.ok()) return settings.status();
  const int64_t macs = spec->macs();
  TrialDeadlines deadlines;
  deadlines.instance_ms = InstanceTimeoutMs(macs, options_.instance_timeout_floor_ms);
  if (timeout_ms > 0) {
    deadlines.kernel_ms = timeout_ms;
    deadlines.kernel_basis = "MeasureOptions.timeout_ms";
    return deadlines;
  }
  const double clock_ghz = ClockGhz();
  deadlines.kernel_ms = AutoKernelTimeoutMs(macs, clock_ghz, *settings, WorkerFlushBytes());
  deadlines.kernel_basis = absl::StrFormat(
      "automatic: %.4g M MACs at %s", static_cast<double>(macs) / 1e6,
      clock_ghz > 0 ? absl::StrFormat("%.2f GHz", clock_ghz)
                    : absl::StrFormat("an assumed %.2f GHz (clock unknown)", kUnknownClockGhz));
  return deadlines;
}

proto::TrialResult WorkerSupervisor::RunTrial(const proto::OpSpec& op, const proto::Config& config,
                                              const proto::MeasureOptions& options,
                                              double timeout_ms,
                                              const std::function<bool()>& cancelled) {
  proto::RunTrialsRequest request;
  *request.mutable_op() = op;
  *request.add_configs() = config;
  *request.mutable_options() = options;
  std::unique_lock<std::timed_mutex> run(run_mu_, std::defer_lock);
  while (!run.try_lock_for(std::chrono::milliseconds(kReadSliceMs))) {
    if (cancelled && cancelled()) {
      return Result(proto::INTERNAL, "cancelled while waiting for the trial before it");
    }
  }
  if (is_shut_down()) return Result(proto::INTERNAL, "the agent is shutting down");
  absl::StatusOr<TrialDeadlines> deadlines = Deadlines(op, options, timeout_ms);
  if (!deadlines.ok()) {
    return Result(proto::INTERNAL, absl::StrCat("invalid trial: ", deadlines.status().message()));
  }
  bool retry = false;
  proto::TrialResult result = TrialLocked(request, *deadlines, cancelled, &retry);
  if (retry) result = TrialLocked(request, *deadlines, cancelled, &retry);
  return result;
}

absl::Status WorkerSupervisor::RunExclusive(const std::function<absl::Status()>& body,
                                          const std::function<bool()>& cancelled) {
  std::unique_lock<std::timed_mutex> run(run_mu_, std::defer_lock);
  while (!run.try_lock_for(std::chrono::milliseconds(kReadSliceMs))) {
    if (cancelled && cancelled()) {
      return absl::CancelledError("cancelled while waiting for the trial in progress");
    }
  }
  if (is_shut_down()) return absl::UnavailableError("the agent is shutting down");
  return body();
}

}  // namespace qtune::agent
