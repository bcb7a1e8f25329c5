// File: device_pool.h
// The daemon's device pool: the agents it can run trials on, their health,
// and who uses which agent when.
//
//   DevicePool pool(dial, options);
//   ASSIGN_OR_RETURN(proto::DeviceInfo info, pool.Register("127.0.0.1:7070", "", false));
//   PoolRunner runner(pool, job_id, info.device_key(), &cancel);
//   RETURN_IF_ERROR(Tune(runner, store, tasks, options, observer, &report));
//
// - Agents join by address (Register): an agent's own `--register`
//   heartbeats, or `qtune devices add` once. The pool dials them through the
//   injected AgentDialer, so core/ never sees gRPC.
// - A job's trials go only to agents whose device key matches the job's.
// - An agent runs trials for one job at a time. Jobs waiting for agents of
//   the same key are served in the order they asked (FIFO), one batch at a
//   time, so jobs sharing devices take turns.
// - A batch is spread over the idle agents of its key when no other job
//   waits for them; when an agent fails mid-batch (unreachable, deadline), it
//   is marked unhealthy and the configs it did not answer go to another
//   agent of the key, or wait until one is healthy again. Every config of a
//   batch is answered exactly once.
// - A background thread checks the health of idle agents every
//   `health_interval`; unhealthy agents that recover return to service;
//   heartbeat agents that stay silent and unhealthy for `expire_after`
//   leave the pool.
//
// Thread-safety: every method may be called from any thread.
#ifndef QTUNE_TUNER_CORE_DEVICE_POOL_H_
#define QTUNE_TUNER_CORE_DEVICE_POOL_H_

#include <atomic>
#include <deque>
#include <functional>
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
#include "tuner/core/runner.h"

namespace qtune::tuner {

// One agent as the pool uses it: a Runner, plus a cheap health check. Used
// by one thread at a time (the pool sees to it).
class AgentConnection : public Runner {
 public:
  // OK when the agent answers now (with a short deadline).
  virtual absl::Status CheckHealth() = 0;
};

// Dials the agent at `address` with its `token`: OK only when it answered
// (its DeviceInfo is then GetDeviceInfo()'s answer).
using AgentDialer = std::function<absl::StatusOr<std::unique_ptr<AgentConnection>>(
    const std::string& address, const std::string& token)>;

struct DevicePoolOptions {
  absl::Duration health_interval = absl::Seconds(2);
  // A heartbeat agent unhealthy and without a heartbeat for this long is
  // dropped from the pool.
  absl::Duration expire_after = absl::Seconds(60);
  // A batch is split over several agents only when each gets at least this
  // many configs.
  int min_configs_per_agent = 2;
  const Clock* clock = nullptr;  // not owned; null = Clock::Real()
};

class DevicePool {
 public:
  DevicePool(AgentDialer dial, DevicePoolOptions options = {});
  // Stops the health thread; leases must have been returned.
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  // Adds the agent at `address` (dialing it), or refreshes a known one (a
  // heartbeat). Returns its DeviceInfo; UNAVAILABLE when it cannot be
  // reached, INVALID_ARGUMENT for a malformed address.
  absl::StatusOr<proto::DeviceInfo> Register(const std::string& address,
                                             const std::string& token, bool heartbeat);

  // Adds `address` without dialing it now: the health checks dial it until
  // it answers (a restarted daemon's agents from `qtune devices add`).
  void Remember(const std::string& address, const std::string& token);

  // Every agent, by address.
  std::vector<proto::AgentStatus> Agents() const;
  // One DeviceInfo per device key with at least one agent.
  std::vector<proto::DeviceInfo> Devices() const;
  // Whether an agent of `device_key` has been seen (healthy or not).
  bool Knows(const std::string& device_key) const;

  // Waits until some agent of `device_key` is healthy and returns its info.
  // CANCELLED when `cancel` is set first.
  absl::StatusOr<proto::DeviceInfo> WaitForDevice(const std::string& device_key,
                                                  const std::atomic<bool>* cancel);
  // DescribeSpace on an agent of the key (waiting for one, failing over).
  absl::StatusOr<kernels::ConfigSpace> DescribeSpace(const std::string& job_id,
                                                     const std::string& device_key,
                                                     const kernels::OpSpec& op,
                                                     const std::atomic<bool>* cancel);
  // Runs every config on agents of the key; see the file comment. Results
  // reach `on_result` on the calling thread, with index() the config's
  // position in `configs`. Returns OK when every config was answered;
  // CANCELLED when `cancel` was set (the answered ones were delivered); the
  // agent's error for a request the agent refuses (e.g. INVALID_ARGUMENT).
  absl::Status RunTrials(const std::string& job_id, const std::string& device_key,
                         const kernels::OpSpec& op, const std::vector<kernels::Config>& configs,
                         const proto::MeasureOptions& options,
                         const std::function<void(const proto::TrialResult&)>& on_result,
                         const std::atomic<bool>* cancel);

  // What `job_id` is waiting for, for its status ("" when it waits for
  // nothing).
  std::string WaitingReason(const std::string& job_id) const;

  // One round of health checks (the background thread's work; tests call
  // it directly).
  void CheckHealthNow();

 private:
  struct Agent;
  struct Lease {
    std::string address;
    std::shared_ptr<AgentConnection> conn;
  };

  // Waits (FIFO among waiters for the key) for an idle healthy agent of
  // `device_key` and marks it busy for `job_id`.
  absl::StatusOr<Lease> Acquire(const std::string& job_id, const std::string& device_key,
                                const std::atomic<bool>* cancel);
  // Up to `max` more idle healthy agents of the key, when nobody waits.
  std::vector<Lease> TryAcquireMore(const std::string& job_id, const std::string& device_key,
                                    int max);
  // Returns a lease; a non-OK `failure` marks the agent unhealthy.
  void Release(const Lease& lease, const absl::Status& failure);
  void HealthLoop();
  absl::Time Now() const;

  const AgentDialer dial_;
  const DevicePoolOptions options_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // an agent became idle or healthy, a waiter left
  std::map<std::string, Agent> agents_ ABSL_GUARDED_BY(mu_);
  // Waiting acquisitions in arrival order: (ticket, device key).
  std::deque<std::pair<uint64_t, std::string>> waiters_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> waiting_for_ ABSL_GUARDED_BY(mu_);  // job -> reason
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread health_thread_;
};

// A Runner over the pool for one job on one device key: what the tuning
// loop sees. GetDeviceInfo waits for a healthy agent of the key. Calls from
// one thread at a time; `cancel` (not owned, may be null) stops waits.
class PoolRunner final : public Runner {
 public:
  PoolRunner(DevicePool& pool, std::string job_id, std::string device_key,
             const std::atomic<bool>* cancel)
      : pool_(pool), job_id_(std::move(job_id)), device_key_(std::move(device_key)),
        cancel_(cancel) {}

  absl::StatusOr<proto::DeviceInfo> GetDeviceInfo() override {
    return pool_.WaitForDevice(device_key_, cancel_);
  }
  absl::StatusOr<kernels::ConfigSpace> DescribeSpace(const kernels::OpSpec& op) override {
    return pool_.DescribeSpace(job_id_, device_key_, op, cancel_);
  }
  absl::Status RunTrials(const kernels::OpSpec& op, const std::vector<kernels::Config>& configs,
                         const proto::MeasureOptions& options,
                         const std::function<void(const proto::TrialResult&)>& on_result) override {
    return pool_.RunTrials(job_id_, device_key_, op, configs, options, on_result, cancel_);
  }

 private:
  DevicePool& pool_;
  const std::string job_id_;
  const std::string device_key_;
  const std::atomic<bool>* cancel_;
};

// Whether `status` from an agent means the agent (not the request) failed:
// it is unreachable, timed out, or went away.
bool IsAgentFailure(const absl::Status& status);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CORE_DEVICE_POOL_H_
