#include "tuner/core/device_pool.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace qtune::tuner {

// How long a waiting call sleeps between checks of its cancel flag (real
// time: a wait is woken at once when an agent frees up).
constexpr absl::Duration kWaitSlice = absl::Milliseconds(100);
// A config that no agent answered this many times (while the agents said
// OK) is reported as INTERNAL instead of being sent again.
constexpr int kMaxSilentAttempts = 3;

struct DevicePool::Agent {
  std::string address;
  std::string token;
  std::shared_ptr<AgentConnection> conn;  // null until dialed
  proto::DeviceInfo info;
  std::string health = "unknown";  // "healthy", "unhealthy", "unknown"
  std::string message;             // the last error
  absl::Time last_seen = absl::InfinitePast();
  absl::Time last_heartbeat = absl::InfinitePast();
  bool registered = false;  // heartbeats
  bool busy = false;
  std::string job_id;       // while busy
};

bool IsAgentFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return true;
    default:
      return false;
  }
}

DevicePool::DevicePool(AgentDialer dial, DevicePoolOptions options)
    : dial_(std::move(dial)), options_(options) {
  health_thread_ = std::thread([this] { HealthLoop(); });
}

DevicePool::~DevicePool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    changed_.SignalAll();
  }
  health_thread_.join();
}

absl::Time DevicePool::Now() const {
  return (options_.clock != nullptr ? *options_.clock : Clock::Real()).Now();
}

absl::StatusOr<proto::DeviceInfo> DevicePool::Register(const std::string& address,
                                                       const std::string& token, bool heartbeat) {
  {
    absl::MutexLock lock(&mu_);
    auto it = agents_.find(address);
    if (it != agents_.end() && it->second.health == "healthy" && it->second.token == token) {
      Agent& a = it->second;
      if (heartbeat) {
        a.last_heartbeat = Now();
        a.registered = true;
      }
      return a.info;
    }
  }
  // Dial outside the lock: it may take seconds.
  absl::StatusOr<std::unique_ptr<AgentConnection>> dialed = dial_(address, token);
  absl::StatusOr<proto::DeviceInfo> info =
      dialed.ok() ? (*dialed)->GetDeviceInfo() : absl::StatusOr<proto::DeviceInfo>(dialed.status());
  absl::MutexLock lock(&mu_);
  if (!info.ok()) {
    auto it = agents_.find(address);
    if (it != agents_.end() && !it->second.busy) {
      it->second.health = "unhealthy";
      it->second.message = std::string(info.status().message());
    }
    return info.status();
  }
  Agent& a = agents_[address];
  a.address = address;
  a.token = token;
  if (!a.busy) a.conn = std::shared_ptr<AgentConnection>(std::move(*dialed));
  a.info = *info;
  a.health = "healthy";
  a.message.clear();
  a.last_seen = Now();
  if (heartbeat) {
    a.last_heartbeat = a.last_seen;
    a.registered = true;
  }
  changed_.SignalAll();
  return a.info;
}

void DevicePool::Remember(const std::string& address, const std::string& token) {
  absl::MutexLock lock(&mu_);
  Agent& a = agents_[address];
  if (!a.address.empty()) return;  // known already
  a.address = address;
  a.token = token;
  a.message = "not reached yet";
}

std::vector<proto::AgentStatus> DevicePool::Agents() const {
  absl::MutexLock lock(&mu_);
  std::vector<proto::AgentStatus> out;
  for (const auto& [address, a] : agents_) {
    proto::AgentStatus s;
    s.set_address(address);
    *s.mutable_info() = a.info;
    s.set_health(a.health);
    if (a.last_seen != absl::InfinitePast()) {
      s.set_last_seen(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", a.last_seen, absl::UTCTimeZone()));
    }
    s.set_busy(a.busy);
    s.set_job_id(a.job_id);
    s.set_registered(a.registered);
    s.set_message(a.message);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<proto::DeviceInfo> DevicePool::Devices() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, proto::DeviceInfo> by_key;
  for (const auto& [address, a] : agents_) {
    if (!a.info.device_key().empty()) by_key.emplace(a.info.device_key(), a.info);
  }
  std::vector<proto::DeviceInfo> out;
  for (auto& [key, info] : by_key) out.push_back(std::move(info));
  return out;
}

bool DevicePool::Knows(const std::string& device_key) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [address, a] : agents_) {
    if (a.info.device_key() == device_key) return true;
  }
  return false;
}

std::string DevicePool::WaitingReason(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = waiting_for_.find(job_id);
  return it == waiting_for_.end() ? "" : it->second;
}

absl::StatusOr<proto::DeviceInfo> DevicePool::WaitForDevice(const std::string& device_key,
                                                            const std::atomic<bool>* cancel) {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (stopping_ || (cancel != nullptr && cancel->load())) {
      return absl::CancelledError("stopped while waiting for a device");
    }
    for (const auto& [address, a] : agents_) {
      if (a.info.device_key() == device_key && a.health == "healthy") return a.info;
    }
    changed_.WaitWithTimeout(&mu_, kWaitSlice);
  }
}

absl::StatusOr<DevicePool::Lease> DevicePool::Acquire(const std::string& job_id,
                                                      const std::string& device_key,
                                                      const std::atomic<bool>* cancel) {
  absl::MutexLock lock(&mu_);
  const uint64_t ticket = next_ticket_++;
  waiters_.emplace_back(ticket, device_key);
  auto leave = [&] {
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), std::make_pair(ticket, device_key)));
    waiting_for_.erase(job_id);
    changed_.SignalAll();
  };
  while (true) {
    if (stopping_ || (cancel != nullptr && cancel->load())) {
      leave();
      return absl::CancelledError("stopped while waiting for an agent");
    }
    // First in line among the waiters for this key?
    bool first = true;
    for (const auto& [t, key] : waiters_) {
      if (key == device_key) {
        first = t == ticket;
        break;
      }
    }
    int known = 0, healthy = 0;
    for (auto& [address, a] : agents_) {
      if (a.info.device_key() != device_key) continue;
      ++known;
      if (a.health != "healthy" || a.conn == nullptr) continue;
      ++healthy;
      if (!first || a.busy) continue;
      a.busy = true;
      a.job_id = job_id;
      leave();
      return Lease{address, a.conn};
    }
    waiting_for_[job_id] =
        known == 0     ? absl::StrCat("waiting for an agent with device key ", device_key)
        : healthy == 0 ? absl::StrCat("waiting: the ", known, " agent(s) of ", device_key,
                                      " are unreachable")
                       : absl::StrCat("waiting for a free agent of ", device_key);
    changed_.WaitWithTimeout(&mu_, kWaitSlice);
  }
}

std::vector<DevicePool::Lease> DevicePool::TryAcquireMore(const std::string& job_id,
                                                          const std::string& device_key, int max) {
  std::vector<Lease> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [t, key] : waiters_) {
    if (key == device_key) return out;  // another job waits: leave the agents to it
  }
  for (auto& [address, a] : agents_) {
    if (static_cast<int>(out.size()) >= max) break;
    if (a.info.device_key() != device_key || a.health != "healthy" || a.busy || !a.conn) continue;
    a.busy = true;
    a.job_id = job_id;
    out.push_back(Lease{address, a.conn});
  }
  return out;
}

void DevicePool::Release(const Lease& lease, const absl::Status& failure) {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(lease.address);
  if (it != agents_.end()) {
    Agent& a = it->second;
    a.busy = false;
    a.job_id.clear();
    if (failure.ok()) {
      a.last_seen = Now();
    } else {
      a.health = "unhealthy";
      a.message = std::string(failure.message());
    }
  }
  changed_.SignalAll();
}

absl::StatusOr<kernels::ConfigSpace> DevicePool::DescribeSpace(const std::string& job_id,
                                                               const std::string& device_key,
                                                               const kernels::OpSpec& op,
                                                               const std::atomic<bool>* cancel) {
  while (true) {
    absl::StatusOr<Lease> lease = Acquire(job_id, device_key, cancel);
    if (!lease.ok()) return lease.status();
    absl::StatusOr<kernels::ConfigSpace> space = lease->conn->DescribeSpace(op);
    const bool agent_failed = !space.ok() && IsAgentFailure(space.status());
    Release(*lease, agent_failed ? space.status() : absl::OkStatus());
    if (!agent_failed) return space;
  }
}

absl::Status DevicePool::RunTrials(const std::string& job_id, const std::string& device_key,
                                   const kernels::OpSpec& op,
                                   const std::vector<kernels::Config>& configs,
                                   const proto::MeasureOptions& options,
                                   const std::function<void(const proto::TrialResult&)>& on_result,
                                   const std::atomic<bool>* cancel) {
  const size_t n = configs.size();
  std::vector<bool> answered(n, false);
  std::vector<int> silent(n, 0);  // rounds in which an agent said OK but skipped the config
  size_t remaining = n;
  auto deliver = [&](size_t index, proto::TrialResult r) {
    if (index >= n || answered[index]) return;  // not ours, or a repeat: the first answer counts
    answered[index] = true;
    --remaining;
    r.set_index(static_cast<int>(index));
    on_result(r);
  };
  while (remaining > 0) {
    absl::StatusOr<Lease> first = Acquire(job_id, device_key, cancel);
    if (!first.ok()) return first.status();
    std::vector<size_t> pending;
    for (size_t i = 0; i < n; ++i) {
      if (!answered[i]) pending.push_back(i);
    }
    std::vector<Lease> leases = {*first};
    const int more =
        static_cast<int>(pending.size()) / std::max(1, options_.min_configs_per_agent) - 1;
    if (more > 0) {
      std::vector<Lease> extra = TryAcquireMore(job_id, device_key, more);
      leases.insert(leases.end(), extra.begin(), extra.end());
    }
    // Contiguous shares of the pending configs, one per lease.
    struct Share {
      std::vector<size_t> indexes;
      std::vector<kernels::Config> configs;
      absl::Status status;
    };
    std::vector<Share> shares(leases.size());
    for (size_t j = 0; j < pending.size(); ++j) {
      Share& s = shares[j * leases.size() / pending.size()];
      s.indexes.push_back(pending[j]);
      s.configs.push_back(configs[pending[j]]);
    }
    if (leases.size() == 1) {
      Share& s = shares[0];
      s.status = leases[0].conn->RunTrials(op, s.configs, options, [&](const proto::TrialResult& r) {
        if (r.index() >= 0 && static_cast<size_t>(r.index()) < s.indexes.size()) {
          deliver(s.indexes[r.index()], r);
        }
      });
    } else {
      // Several agents at once; their results reach `on_result` here, on
      // the calling thread, as they arrive.
      std::mutex queue_mu;
      std::condition_variable queue_cv;
      std::deque<std::pair<size_t, proto::TrialResult>> queue;
      size_t running = leases.size();
      std::vector<std::thread> threads;
      for (size_t l = 0; l < leases.size(); ++l) {
        threads.emplace_back([&, l] {
          Share& s = shares[l];
          absl::Status status = s.configs.empty()
              ? absl::OkStatus()
              : leases[l].conn->RunTrials(op, s.configs, options, [&](const proto::TrialResult& r) {
                  if (r.index() < 0 || static_cast<size_t>(r.index()) >= s.indexes.size()) return;
                  std::lock_guard<std::mutex> lock(queue_mu);
                  queue.emplace_back(s.indexes[r.index()], r);
                  queue_cv.notify_one();
                });
          std::lock_guard<std::mutex> lock(queue_mu);
          s.status = status;
          --running;
          queue_cv.notify_one();
        });
      }
      while (true) {
        std::unique_lock<std::mutex> lock(queue_mu);
        queue_cv.wait(lock, [&] { return !queue.empty() || running == 0; });
        if (queue.empty()) break;
        auto [index, r] = std::move(queue.front());
        queue.pop_front();
        lock.unlock();
        deliver(index, std::move(r));
      }
      for (std::thread& t : threads) t.join();
    }
    absl::Status refused;
    for (size_t l = 0; l < leases.size(); ++l) {
      const absl::Status& s = shares[l].status;
      const bool agent_failed = !s.ok() && IsAgentFailure(s);
      Release(leases[l], agent_failed ? s : absl::OkStatus());
      if (!s.ok() && !agent_failed && refused.ok()) refused = s;
      if (s.ok()) {
        for (size_t index : shares[l].indexes) {
          if (answered[index] || ++silent[index] < kMaxSilentAttempts) continue;
          proto::TrialResult r;
          r.set_status(proto::INTERNAL);
          r.set_message(absl::StrCat("no agent returned a result for this config in ",
                                     kMaxSilentAttempts, " attempts"));
          deliver(index, std::move(r));
        }
      }
    }
    if (!refused.ok()) return refused;
    if (remaining > 0 && cancel != nullptr && cancel->load()) {
      return absl::CancelledError("stopped with trials unanswered");
    }
  }
  return absl::OkStatus();
}

void DevicePool::CheckHealthNow() {
  // Agents never reached: dial them (Register does the bookkeeping).
  std::vector<std::pair<std::string, std::string>> undialed;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [address, a] : agents_) {
      if (a.conn == nullptr && !a.busy) undialed.emplace_back(address, a.token);
    }
  }
  for (const auto& [address, token] : undialed) Register(address, token, false).IgnoreError();
  // Idle agents with a connection, checked one by one, each leased for the
  // check so that no job uses it meanwhile.
  std::vector<Lease> idle;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = Now();
    for (auto it = agents_.begin(); it != agents_.end();) {
      Agent& a = it->second;
      if (a.registered && a.health != "healthy" && !a.busy &&
          now - a.last_heartbeat > options_.expire_after) {
        it = agents_.erase(it);  // a heartbeat agent that went away for good
        continue;
      }
      if (!a.busy && a.conn != nullptr) {
        a.busy = true;
        a.job_id.clear();
        idle.push_back(Lease{a.address, a.conn});
      }
      ++it;
    }
  }
  for (const Lease& lease : idle) {
    const absl::Status health = lease.conn->CheckHealth();
    absl::MutexLock lock(&mu_);
    auto it = agents_.find(lease.address);
    if (it == agents_.end()) continue;
    Agent& a = it->second;
    a.busy = false;
    if (health.ok()) {
      a.health = "healthy";
      a.message.clear();
      a.last_seen = Now();
    } else {
      a.health = "unhealthy";
      a.message = std::string(health.message());
    }
    changed_.SignalAll();
  }
}

void DevicePool::HealthLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + options_.health_interval;
      while (!stopping_ && absl::Now() < until) changed_.WaitWithDeadline(&mu_, until);
      if (stopping_) return;
    }
    CheckHealthNow();
  }
}

}  // namespace qtune::tuner
