// File: job_manager.h
// The daemon's jobs: each a tuning job (core/tuner.h) run in a thread of its
// own on the device pool, recorded in the database from the moment it is
// submitted, so that it survives anything.
//
//   JobManager jobs(pool, {.db_path = "qtune.db"});
//   RETURN_IF_ERROR(jobs.Start());      // resumes the unfinished jobs of the file
//   ASSIGN_OR_RETURN(proto::JobStatus s, jobs.Submit(spec));
//   while (jobs.WaitForUpdate(s.job_id(), &version, absl::Seconds(1))) ...
//
// - Submit validates the spec (model, layers, dtypes, strategy, budget) and
//   the device (an agent address joins the pool; a device key must be known
//   to the pool or the database), then records the job as "queued" with its
//   spec, and starts it. A spec with the name of an earlier job that is not
//   done resumes that job.
// - A job stays "running" while it waits for a device (its status message
//   says what for): an agent that dies mid-job costs nothing but time.
// - Stop() (daemon shutdown) interrupts the running jobs: they end
//   "interrupted". Start() resumes every daemon job that is queued or
//   interrupted, from the trials already recorded; a killed daemon's jobs
//   read as interrupted (their owner is gone). Jobs of `qtune tune` are
//   never taken over.
// - Every trial is stored once: jobs record through their own database
//   connection, one transaction per batch, and a resumed job never measures
//   a config it has already recorded.
//
// Thread-safety: every method may be called from any thread.
#ifndef QTUNE_TUNER_CORE_JOB_MANAGER_H_
#define QTUNE_TUNER_CORE_JOB_MANAGER_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "proto/qtune.pb.h"
#include "qtune/db/store.h"
#include "tuner/core/device_pool.h"

namespace qtune::tuner {

struct JobManagerOptions {
  std::string db_path;
  // Token the daemon sends to agents it dials for a job's `agent` address.
  std::string agent_token;
  const Clock* clock = nullptr;  // not owned; null = Clock::Real()
};

class JobManager {
 public:
  JobManager(DevicePool& pool, JobManagerOptions options);
  // Stop()s.
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Opens the database, puts the agents it remembers into the pool, and
  // resumes its unfinished daemon jobs.
  absl::Status Start();
  // Dials `address` into the pool and, for an agent added by hand
  // (`heartbeat` false), remembers it in the database for the next start.
  absl::StatusOr<proto::DeviceInfo> RegisterAgent(const std::string& address,
                                                  const std::string& token, bool heartbeat);
  // INVALID_ARGUMENT for a bad spec, FAILED_PRECONDITION for an unknown
  // device or a name of a job that is done or running, UNAVAILABLE for an
  // agent address that cannot be reached.
  absl::StatusOr<proto::JobStatus> Submit(const proto::JobSpec& spec);
  // Cancels a queued or running job (it ends "cancelled" after its current
  // batch); the status of a finished one. NOT_FOUND for an unknown id.
  absl::StatusOr<proto::JobStatus> Cancel(const std::string& job_id);
  absl::StatusOr<proto::JobStatus> Status(const std::string& job_id);
  // Every job of the database, oldest first; running ones with their progress.
  absl::StatusOr<std::vector<proto::JobStatus>> List();
  // Waits up to `timeout` for a change of the job's status after version
  // `*version` (0 at first); true (and the new version) when there was one.
  // For a job this daemon does not run, waits `timeout` and returns false.
  bool WaitForUpdate(const std::string& job_id, int64_t* version, absl::Duration timeout);
  // Interrupts every running job and waits for their threads.
  void Stop();

  // The spec of a job submitted to a daemon, from its args_json; NOT_FOUND
  // for a job of `qtune tune`.
  static absl::StatusOr<proto::JobSpec> SpecOf(const db::JobRecord& job);

 private:
  struct Live;
  // Starts the thread of a recorded job.
  void Launch(const std::string& job_id, const proto::JobSpec& spec, const std::string& device_key);
  void Run(Live& live);
  // The status of a job from the database (no live progress).
  absl::StatusOr<proto::JobStatus> Recorded(const std::string& job_id);
  // Holds db_mu_.
  absl::StatusOr<proto::JobStatus> RecordedLocked(const db::JobRecord& job);

  DevicePool& pool_;
  const JobManagerOptions options_;
  absl::Mutex db_mu_;  // the manager's own connection, for metadata
  std::unique_ptr<db::Store> store_ ABSL_GUARDED_BY(db_mu_);
  mutable absl::Mutex mu_;
  absl::CondVar changed_;
  std::map<std::string, std::unique_ptr<Live>> live_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CORE_JOB_MANAGER_H_
