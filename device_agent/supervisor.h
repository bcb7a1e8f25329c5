// File: supervisor.h
// The agent side of trial isolation: owns one worker process (the agent
// binary re-executed in worker mode, see worker.h), sends it one trial at a
// time and turns its death or silence into a TrialResult, so that a crashing
// or hanging kernel costs only the worker. A new worker is started lazily by
// the next trial.
#ifndef QTUNE_DEVICE_AGENT_SUPERVISOR_H_
#define QTUNE_DEVICE_AGENT_SUPERVISOR_H_

#include <sys/types.h>

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/qtune.pb.h"

namespace qtune::agent {

struct WorkerOptions {
  // The executable to run in worker mode. Empty: this process's own binary
  // (/proc/self/exe). Tests pass the path of the real qtune-agent.
  std::string binary;
  // "NAME=VALUE" entries added to (or replacing in) the agent's environment
  // for the worker.
  std::vector<std::string> extra_env;
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
  // running. `options` must have been validated (ResolveMeasureOptions) and
  // `timeout_ms` is its resolved per-trial timeout, counted from the moment
  // the request is sent. Every failure is a status in the result: TIMEOUT
  // (the worker was killed), CRASH (the worker died; the message names the
  // signal or exit code), INTERNAL (no worker could be started, the worker
  // broke the protocol, or Shutdown() was called). result.index is 0.
  proto::TrialResult RunTrial(const proto::OpSpec& op, const proto::Config& config,
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
  proto::TrialResult TrialLocked(const proto::RunTrialsRequest& request, double timeout_ms,
                                 bool* retry);

  std::mutex run_mu_;  // serialises trials and owns the pipes
  WorkerOptions options_;
  int request_fd_ = -1;
  int reply_fd_ = -1;

  mutable std::mutex state_mu_;  // guards pid_ and shut_down_ (taken inside run_mu_)
  pid_t pid_ = -1;
  bool shut_down_ = false;
};

// "SIGSEGV (Segmentation fault)" / "exit code 3" for a wait status.
std::string DescribeWaitStatus(int wait_status);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_SUPERVISOR_H_
