// File: supervisor.h
// The agent side of trial isolation: owns one worker process (the agent
// binary re-executed in worker mode, see worker.h), sends it one trial at a
// time and turns its death or silence into a TrialResult, so that a crashing
// or hanging kernel costs only the worker. A new worker is started lazily by
// the next trial.
#ifndef QTUNE_DEVICE_AGENT_SUPERVISOR_H_
#define QTUNE_DEVICE_AGENT_SUPERVISOR_H_

#include <sys/types.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "absl/status/statusor.h"
#include "proto/qtune.pb.h"

namespace qtune::agent {

struct WorkerOptions {
  // The executable to run in worker mode. Empty: this process's own binary
  // (/proc/self/exe). Tests pass the path of the real qtune-agent.
  std::string binary;
  // "NAME=VALUE" entries added to (or replacing in) the agent's environment
  // for the worker.
  std::vector<std::string> extra_env;
  // The device's core clock in GHz for the automatic kernel deadline
  // (AutoKernelTimeoutMs). Negative: ProbeDeviceInfo(ClockProbe::kMeasure)
  // at the first trial that needs it (measured once per process); 0: unknown.
  double clock_ghz = -1;
  // Floor of the bound on building an operator instance and its reference
  // (InstanceTimeoutMs). Tests lower it.
  double instance_timeout_floor_ms = 30000;
  // The clock the trial deadlines run on; not owned; null = Clock::Real().
  const Clock* clock = nullptr;
};

// Thread-safe. Trials are serialised: a caller of RunTrial() waits for the
// trial before it. The agent process must ignore SIGPIPE.
class WorkerSupervisor {
 public:
  explicit WorkerSupervisor(WorkerOptions options);
  // Kills and reaps the worker.
  ~WorkerSupervisor();

  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // Runs one trial of `config` in the worker, starting a worker if none is
  // running. `op` and `options` must have been validated (FromProto,
  // ResolveMeasureOptions). The trial has two deadlines (Deadlines()): the
  // instance phase's, counted from the moment the request is sent, and the
  // kernel's, counted from the worker's ready marker (worker.h);
  // `timeout_ms` is the kernel's (MeasureSettings::timeout_ms: 0 =
  // automatic). Every failure is a status in the result: TIMEOUT (the
  // worker was killed; the message says which deadline passed and its
  // value), CRASH (the worker died; the message names the signal or exit
  // code), INTERNAL (no worker could be started, the worker broke the
  // protocol, or Shutdown() was called). result.index is 0.
  //
  // `cancelled`, when set, is polled (at least every kReadSliceMs) while the
  // trial waits for its turn (the trial before it) and for the worker: once
  // it returns
  // true the trial is abandoned — the worker is killed (the next trial starts
  // a new one) — and the result is INTERNAL "cancelled". So a trial never
  // outlives a cancelled call by more than ~kReadSliceMs, and never by more
  // than its own deadlines. Called on the caller's thread.
  proto::TrialResult RunTrial(const proto::OpSpec& op, const proto::Config& config,
                              const proto::MeasureOptions& options, double timeout_ms,
                              const std::function<bool()>& cancelled = nullptr);

  // Runs `body` on the caller's thread while no trial runs (the device is
  // used by one thing at a time: a whole-model run waits for the trial in
  // progress and trials wait for it). CANCELLED when `cancelled` (polled as
  // in RunTrial) returns true before the turn comes; UNAVAILABLE after
  // Shutdown(). The worker is left as it is.
  absl::Status RunExclusive(const std::function<absl::Status()>& body,
                            const std::function<bool()>& cancelled = nullptr);

  struct TrialDeadlines {
    double instance_ms = 0;    // InstanceTimeoutMs(op's MACs, instance_timeout_floor_ms)
    double kernel_ms = 0;      // timeout_ms, or AutoKernelTimeoutMs when it is 0
    std::string kernel_basis;  // how kernel_ms was set, for the TIMEOUT message
  };
  // The deadlines RunTrial() applies. The first automatic one may measure
  // the clock (WorkerOptions::clock_ghz). INVALID_ARGUMENT for an invalid op
  // or options.
  absl::StatusOr<TrialDeadlines> Deadlines(const proto::OpSpec& op,
                                           const proto::MeasureOptions& options, double timeout_ms);

  // Replaces WorkerOptions::extra_env for workers started from now on and
  // stops the current worker (between trials).
  void SetWorkerEnvironment(std::vector<std::string> extra_env);

  // Kills the worker, including one in the middle of a trial (whose result
  // becomes INTERNAL), and makes every later RunTrial() return INTERNAL.
  // Idempotent.
  void Shutdown();
  bool is_shut_down() const;

  // The running worker's pid, or -1.
  pid_t worker_pid() const;

 private:
  // All *Locked methods require run_mu_.
  absl::Status StartWorkerLocked();
  // Closes the pipes, kills the worker with SIGKILL if `kill` (else gives it
  // up to 2 s to exit by itself) and reaps it. Returns its wait status, or -1
  // when no worker was running.
  int StopWorkerLocked(bool kill);
  proto::TrialResult TrialLocked(const proto::RunTrialsRequest& request,
                                 const TrialDeadlines& deadlines,
                                 const std::function<bool()>& cancelled, bool* retry);
  // The clock for automatic deadlines (WorkerOptions::clock_ghz, else
  // measured once).
  double ClockGhz();

  std::timed_mutex run_mu_;  // serialises trials and owns the pipes
  WorkerOptions options_;
  int request_fd_ = -1;
  int reply_fd_ = -1;

  std::once_flag clock_once_;
  double clock_ghz_ = 0;  // set under clock_once_

  mutable std::mutex state_mu_;  // guards pid_ and shut_down_ (taken inside run_mu_)
  pid_t pid_ = -1;
  bool shut_down_ = false;
};

// "SIGSEGV (Segmentation fault)" / "exit code 3" for a wait status.
std::string DescribeWaitStatus(int wait_status);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_SUPERVISOR_H_
