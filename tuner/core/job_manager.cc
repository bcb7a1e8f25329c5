#include "tuner/core/job_manager.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "tuner/core/job_spec.h"
#include "tuner/core/tuner.h"

namespace qtune::tuner {
namespace {

bool IsFinal(const std::string& state) {
  return state == "done" || state == "failed" || state == "cancelled";
}

proto::TaskProgress ProgressOf(const TaskOutcome& t, bool started) {
  proto::TaskProgress p;
  p.set_name(t.task.name);
  p.set_layer(t.task.layer);
  p.set_workload_key(t.workload_key.empty() ? kernels::CanonicalKey(t.task.op) : t.workload_key);
  p.set_occurrences(t.task.occurrences);
  p.set_trials(t.trials);
  p.set_ok_trials(t.ok_trials);
  p.set_history_trials(t.history_trials);
  if (t.best) {
    p.set_best_us(t.best->median_us);
    p.set_kernel(t.best->kernel);
    p.set_config(t.best->config);
    p.set_from_history(t.best->from_history);
    p.set_best_job_id(t.best->job_id);
  }
  p.set_end_reason(t.end_reason);
  p.set_status(t.status.ok() ? "ok" : std::string(t.status.message()));
  p.set_space_size(t.space_size);
  p.set_transfer_sources(t.transfer_sources);
  p.set_transfer_seeds(t.transfer_seeds);
  p.set_started(started);
  return p;
}

std::string SpecJson(const proto::JobSpec& spec) {
  std::string text;
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(spec, &text, print);
  json::Json args = {{"daemon", json::Json::parse(text)}};
  return json::Dump(args);
}

}  // namespace

// A job this daemon runs (or ran): its thread and its live status.
struct JobManager::Live {
  std::string job_id;
  std::string device_key;
  proto::JobSpec spec;
  proto::JobStatus status;  // guarded by the manager's mu_
  int64_t version = 1;      // guarded by mu_
  bool finished = false;    // guarded by mu_
  std::atomic<bool> cancel{false};
  std::atomic<bool> interrupt{false};
  std::atomic<bool> stop{false};  // cancel or interrupt: ends waits in the pool
  std::thread thread;
};

absl::StatusOr<proto::JobSpec> JobManager::SpecOf(const db::JobRecord& job) {
  absl::StatusOr<json::Json> args = json::ParseObject(job.args_json);
  if (!args.ok() || !args->contains("daemon")) {
    return absl::NotFoundError(absl::StrCat("job ", job.job_id, " was not submitted to a daemon"));
  }
  proto::JobSpec spec;
  const auto s =
      google::protobuf::util::JsonStringToMessage(json::Dump((*args)["daemon"]), &spec);
  if (!s.ok()) {
    return absl::DataLossError(absl::StrCat("job ", job.job_id, ": unreadable spec: ",
                                            s.message().as_string()));
  }
  return spec;
}

JobManager::JobManager(DevicePool& pool, JobManagerOptions options)
    : pool_(pool), options_(std::move(options)) {}

JobManager::~JobManager() { Stop(); }

absl::Status JobManager::Start() {
  std::vector<std::pair<db::JobRecord, proto::JobSpec>> resume;
  {
    absl::MutexLock lock(&db_mu_);
    QTUNE_ASSIGN_OR_RETURN(store_, db::Store::Open(options_.db_path));
    QTUNE_ASSIGN_OR_RETURN(std::vector<std::string> agents, store_->PoolAgents());
    for (const std::string& address : agents) pool_.Remember(address, options_.agent_token);
    QTUNE_ASSIGN_OR_RETURN(std::vector<db::JobRecord> jobs, store_->Jobs());
    for (const db::JobRecord& job : jobs) {
      if (job.state != "queued" && job.state != "interrupted") continue;
      absl::StatusOr<proto::JobSpec> spec = SpecOf(job);
      if (spec.ok()) resume.emplace_back(job, *std::move(spec));
    }
  }
  for (const auto& [job, spec] : resume) Launch(job.job_id, spec, job.device_key);
  return absl::OkStatus();
}

absl::StatusOr<proto::DeviceInfo> JobManager::RegisterAgent(const std::string& address,
                                                             const std::string& token,
                                                             bool heartbeat) {
  QTUNE_ASSIGN_OR_RETURN(proto::DeviceInfo info, pool_.Register(address, token, heartbeat));
  if (!heartbeat) {
    absl::MutexLock lock(&db_mu_);
    if (store_ != nullptr) QTUNE_RETURN_IF_ERROR(store_->AddPoolAgent(address));
  }
  return info;
}

absl::StatusOr<proto::JobStatus> JobManager::Submit(const proto::JobSpec& spec) {
  QTUNE_RETURN_IF_ERROR(TasksOfSpec(spec).status());
  QTUNE_RETURN_IF_ERROR(TuneOptionsOfSpec(spec).status());
  // The device: an agent to add to the pool, or a key the pool or the
  // database knows.
  std::string device_key = spec.device_key();
  std::optional<proto::DeviceInfo> info;
  if (!spec.agent().empty()) {
    QTUNE_ASSIGN_OR_RETURN(info, RegisterAgent(spec.agent(), options_.agent_token, false));
    if (!device_key.empty() && device_key != info->device_key()) {
      return absl::InvalidArgumentError(absl::StrCat("the agent at ", spec.agent(), " is device ",
                                                     info->device_key(), ", not ", device_key));
    }
    device_key = info->device_key();
  }
  if (device_key.empty()) {
    return absl::InvalidArgumentError("a job needs an agent address or a device key");
  }
  for (const proto::DeviceInfo& d : pool_.Devices()) {
    if (!info && d.device_key() == device_key) info = d;
  }
  std::string job_id;
  {
    absl::MutexLock lock(&db_mu_);
    if (store_ == nullptr) return absl::FailedPreconditionError("the job manager is not started");
    QTUNE_ASSIGN_OR_RETURN(std::vector<db::DeviceRecord> devices, store_->Devices());
    const bool in_db = std::any_of(devices.begin(), devices.end(), [&](const db::DeviceRecord& d) {
      return d.device_key == device_key;
    });
    if (!info && !in_db) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no agent with device key ", device_key, " has joined the pool; add one with "
          "`qtune devices add ADDR` or `qtune-agent --register`"));
    }
    if (!spec.name().empty()) {
      absl::StatusOr<db::JobRecord> existing = store_->FindJob(spec.name());
      if (existing.ok()) {
        if (existing->state == "done" || existing->state == "running" ||
            existing->state == "queued") {
          absl::MutexLock live_lock(&mu_);
          auto it = live_.find(existing->job_id);
          const bool live = it != live_.end() && !it->second->finished;
          if (existing->state == "done" || live || existing->state == "running") {
            return absl::FailedPreconditionError(absl::StrCat(
                "a job named '", spec.name(), "' is ", live ? "running" : existing->state,
                " (", existing->job_id, ")"));
          }
        }
        job_id = existing->job_id;
      } else if (!absl::IsNotFound(existing.status())) {
        return existing.status();
      }
    }
    if (job_id.empty()) {
      if (!in_db) {
        db::DeviceRecord device;
        device.device_key = device_key;
        device.arch = info->arch();
        device.cpu_name = info->cpu_name();
        device.cores = info->cores();
        device.build_id = info->kernel_build_id();
        std::string info_json;
        (void)google::protobuf::util::MessageToJsonString(*info, &info_json);
        device.info_json = info_json;
        QTUNE_RETURN_IF_ERROR(store_->UpsertDevice(device));
      }
      db::JobRecord job;
      job.model = spec.model();
      job.device_key = device_key;
      job.state = "queued";
      job.args_json = SpecJson(spec);
      job.name = spec.name();
      QTUNE_ASSIGN_OR_RETURN(job_id, store_->CreateJob(job));
    }
  }
  Launch(job_id, spec, device_key);
  return Status(job_id);
}

void JobManager::Launch(const std::string& job_id, const proto::JobSpec& spec,
                        const std::string& device_key) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  auto& slot = live_[job_id];
  if (slot != nullptr && !slot->finished) return;  // already running
  if (slot != nullptr && slot->thread.joinable()) slot->thread.join();
  slot = std::make_unique<Live>();
  Live& live = *slot;
  live.job_id = job_id;
  live.device_key = device_key;
  live.spec = spec;
  live.status.set_job_id(job_id);
  live.status.set_state("queued");
  live.status.set_name(spec.name());
  live.status.set_model(spec.model());
  live.status.set_device_key(device_key);
  live.status.set_trials_per_task(spec.trials_per_task());
  live.thread = std::thread([this, &live] { Run(live); });
}

namespace {

// Mirrors a running job's progress into its live status.
class LiveObserver final : public TuneObserver {
 public:
  LiveObserver(absl::Mutex& mu, absl::CondVar& changed, proto::JobStatus& status,
               int64_t& version)
      : mu_(mu), changed_(changed), status_(status), version_(version) {}

  void OnJobStart(const TuneReport& report, size_t num_tasks) override {
    absl::MutexLock lock(&mu_);
    status_.set_state("running");
    status_.set_kernel_build(report.kernel_build);
    status_.set_resumed(report.resumed);
    Bump();
  }
  void OnTaskStart(size_t index, const TaskOutcome& task) override { Update(index, task); }
  void OnBatch(size_t index, const TaskOutcome& task, int64_t) override { Update(index, task); }
  void OnTaskEnd(size_t index, const TaskOutcome& task) override { Update(index, task); }

 private:
  void Update(size_t index, const TaskOutcome& task) {
    absl::MutexLock lock(&mu_);
    while (static_cast<size_t>(status_.tasks_size()) <= index) status_.add_tasks();
    *status_.mutable_tasks(static_cast<int>(index)) = ProgressOf(task, true);
    int64_t done = 0;
    for (const proto::TaskProgress& t : status_.tasks()) done += t.trials();
    status_.set_trials_done(done);
    Bump();
  }
  void Bump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++version_;
    changed_.SignalAll();
  }
  absl::Mutex& mu_;
  absl::CondVar& changed_;
  proto::JobStatus& status_;
  int64_t& version_;
};

}  // namespace

void JobManager::Run(Live& live) {
  TuneReport report;
  absl::Status status = [&]() -> absl::Status {
    QTUNE_ASSIGN_OR_RETURN(std::vector<Task> tasks, TasksOfSpec(live.spec));
    QTUNE_ASSIGN_OR_RETURN(TuneOptions options, TuneOptionsOfSpec(live.spec));
    {
      absl::MutexLock lock(&mu_);
      for (const Task& task : tasks) {
        TaskOutcome outcome;
        outcome.task = task;
        *live.status.add_tasks() = ProgressOf(outcome, false);
      }
      if (live.spec.trials_per_task() > 0) {
        live.status.set_trials_total(int64_t{live.spec.trials_per_task()} *
                                     static_cast<int64_t>(tasks.size()));
      }
    }
    QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, db::Store::Open(options_.db_path));
    options.job_id = live.job_id;
    options.cancel = &live.cancel;
    options.interrupt = &live.interrupt;
    options.clock = options_.clock;
    options.args_json = SpecJson(live.spec);
    PoolRunner runner(pool_, live.job_id, live.device_key, &live.stop);
    LiveObserver observer(mu_, changed_, live.status, live.version);
    absl::Status tuned = Tune(runner, *store, tasks, options, &observer, &report);
    if (report.state.empty()) {
      // Stopped before the job was taken over (e.g. while waiting for the
      // device): it stays resumable, or ends as asked.
      const std::string state = live.cancel ? "cancelled" : live.interrupt ? "" : "failed";
      if (!state.empty()) store->FinishJob(live.job_id, state).IgnoreError();
      report.state = state.empty() ? "queued" : state;
    }
    return tuned;
  }();
  absl::MutexLock lock(&mu_);
  live.status.set_state(report.state.empty() ? "failed" : report.state);
  if (!status.ok()) live.status.set_message(std::string(status.message()));
  for (size_t i = 0; i < report.tasks.size(); ++i) {
    while (static_cast<size_t>(live.status.tasks_size()) <= i) live.status.add_tasks();
    *live.status.mutable_tasks(static_cast<int>(i)) = ProgressOf(report.tasks[i], true);
  }
  live.status.set_trials_done(0);
  for (const proto::TaskProgress& t : live.status.tasks()) {
    live.status.set_trials_done(live.status.trials_done() + t.trials());
  }
  live.status.set_wall_s(report.wall_s);
  live.status.set_measure_s(report.measure_s);
  live.status.set_overhead_ms_per_trial(report.overhead_ms_per_trial);
  live.finished = true;
  ++live.version;
  changed_.SignalAll();
}

absl::StatusOr<proto::JobStatus> JobManager::Cancel(const std::string& job_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(job_id);
    if (it != live_.end() && !it->second->finished) {
      it->second->cancel = true;
      it->second->stop = true;
      changed_.SignalAll();
    }
  }
  return Status(job_id);
}

absl::StatusOr<proto::JobStatus> JobManager::Status(const std::string& job_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(job_id);
    if (it != live_.end()) {
      proto::JobStatus status = it->second->status;
      if (!it->second->finished) {
        const std::string waiting = pool_.WaitingReason(job_id);
        if (!waiting.empty()) {
          status.set_message(waiting);
        } else if (status.state() == "queued") {
          status.set_message(
              absl::StrCat("waiting for a healthy agent of ", it->second->device_key));
        }
      }
      return status;
    }
  }
  return Recorded(job_id);
}

absl::StatusOr<proto::JobStatus> JobManager::Recorded(const std::string& job_id) {
  absl::MutexLock lock(&db_mu_);
  if (store_ == nullptr) return absl::FailedPreconditionError("the job manager is not started");
  db::Filter by_id;
  by_id.job_id = job_id;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::JobRecord> jobs, store_->Jobs(by_id));
  if (jobs.empty()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
  return RecordedLocked(jobs.front());
}

absl::StatusOr<proto::JobStatus> JobManager::RecordedLocked(const db::JobRecord& job) {
  proto::JobStatus status;
  status.set_job_id(job.job_id);
  status.set_state(job.state);
  status.set_name(job.name);
  status.set_model(job.model);
  status.set_device_key(job.device_key);
  status.set_created_at(job.created_at);
  status.set_finished_at(job.finished_at);
  if (absl::StatusOr<proto::JobSpec> spec = SpecOf(job); spec.ok()) {
    status.set_trials_per_task(spec->trials_per_task());
  }
  db::Filter of_job;
  of_job.job_id = job.job_id;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TaskRecord> tasks, store_->Tasks(of_job));
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialRecord> trials, store_->History(of_job));
  std::map<std::string, proto::TaskProgress*> by_workload;
  for (const db::TaskRecord& t : tasks) {
    proto::TaskProgress* p = status.add_tasks();
    p->set_name(t.name);
    const size_t slash = t.name.rfind('/');
    p->set_layer(slash == std::string::npos ? t.name : t.name.substr(0, slash));
    p->set_workload_key(t.workload_key);
    p->set_occurrences(t.occurrences);
    p->set_status("ok");
    p->set_started(true);
    by_workload[t.workload_key] = p;
  }
  for (const db::TrialRecord& t : trials) {
    auto it = by_workload.find(t.workload_key);
    if (it == by_workload.end()) continue;
    proto::TaskProgress* p = it->second;
    p->set_trials(p->trials() + 1);
    if (t.status != "OK") continue;
    p->set_ok_trials(p->ok_trials() + 1);
    if (p->best_us() == 0 || t.median_us < p->best_us()) {
      p->set_best_us(t.median_us);
      p->set_kernel(t.kernel);
      p->set_config(t.config);
      p->set_best_job_id(job.job_id);
    }
    status.set_kernel_build(t.build_id);
  }
  status.set_trials_done(static_cast<int64_t>(trials.size()));
  if (status.trials_per_task() > 0) {
    status.set_trials_total(int64_t{status.trials_per_task()} * status.tasks_size());
  }
  return status;
}

absl::StatusOr<std::vector<proto::JobStatus>> JobManager::List() {
  std::vector<db::JobRecord> jobs;
  {
    absl::MutexLock lock(&db_mu_);
    if (store_ == nullptr) return absl::FailedPreconditionError("the job manager is not started");
    QTUNE_ASSIGN_OR_RETURN(jobs, store_->Jobs());
  }
  std::vector<proto::JobStatus> out;
  for (const db::JobRecord& job : jobs) {
    bool live = false;
    {
      absl::MutexLock lock(&mu_);
      live = live_.count(job.job_id) > 0;
    }
    absl::StatusOr<proto::JobStatus> status = live ? Status(job.job_id) : Recorded(job.job_id);
    if (!status.ok()) return status.status();
    status->set_created_at(job.created_at);
    if (IsFinal(status->state())) status->set_finished_at(job.finished_at);
    status->clear_tasks();  // a listing; Status() has the tasks
    out.push_back(*std::move(status));
  }
  return out;
}

bool JobManager::WaitForUpdate(const std::string& job_id, int64_t* version,
                               absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    auto it = live_.find(job_id);
    if (it == live_.end()) {  // not ours: nothing will signal a change
      while (!stopping_ && !changed_.WaitWithDeadline(&mu_, deadline)) {
      }
      return false;
    }
    if (it->second->version != *version) {
      *version = it->second->version;
      return true;
    }
    if (stopping_ || changed_.WaitWithDeadline(&mu_, deadline)) {
      it = live_.find(job_id);
      if (it != live_.end() && it->second->version != *version) {
        *version = it->second->version;
        return true;
      }
      return false;
    }
  }
}

void JobManager::Stop() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [id, live] : live_) {
      if (!live->finished) {
        live->interrupt = true;
        live->stop = true;
      }
      if (live->thread.joinable()) threads.push_back(std::move(live->thread));
    }
    changed_.SignalAll();
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace qtune::tuner
