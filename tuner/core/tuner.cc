#include "tuner/core/tuner.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/json.h"
#include "proto/convert.h"
#include "qtune/kernels/config_space.h"
#include "tuner/search/model_guided_strategy.h"
#include "tuner/core/scheduler.h"
#include "tuner/search/transfer.h"
#include "tuner/search/search_strategy.h"

namespace qtune::tuner {
namespace {


using kernels::Config;
using kernels::ConfigSpace;

// Runner errors that mean the device is gone or refuses us: the job stops.
// Anything else from DescribeSpace concerns the one op (e.g. UNIMPLEMENTED).
bool IsDeviceLost(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

// {"knob": value}, categorical knobs by label.
std::string ConfigJson(const ConfigSpace& space, const Config& config) {
  json::Json object = json::Json::object();
  for (const auto& [name, value] : config) {
    const kernels::Knob* knob = space.FindKnob(name);
    std::string label;
    if (knob != nullptr && knob->categorical()) {
      auto it = std::find(knob->values.begin(), knob->values.end(), value);
      if (it != knob->values.end()) label = knob->labels[it - knob->values.begin()];
    }
    if (!label.empty()) {
      object[name] = label;
    } else {
      object[name] = value;
    }
  }
  return json::Dump(object);
}

db::DeviceRecord DeviceRecordOf(const proto::DeviceInfo& info) {
  db::DeviceRecord device;
  device.device_key = info.device_key();
  device.arch = info.arch();
  device.cpu_name = info.cpu_name();
  device.cores = info.cores();
  device.info_json = ToJson(info);
  device.build_id = info.kernel_build_id();
  return device;
}

// Statuses that may not recur: a config whose only record is one of them is
// measured again (the machine may have been busy, or the deadline too tight).
const std::vector<std::string>& TransientStatuses() {
  static const auto* statuses = new std::vector<std::string>{"TIMEOUT", "CRASH"};
  return *statuses;
}

bool IsTransientFailure(const std::string& status) {
  const std::vector<std::string>& transient = TransientStatuses();
  return std::find(transient.begin(), transient.end(), status) != transient.end();
}

// Why a task whose trials all failed is given up: the most frequent status
// of its failure streak, with one of its messages.
absl::Status FailureStreakStatus(const std::map<std::string, std::pair<int64_t, std::string>>& seen,
                                 int64_t streak) {
  const std::string* dominant = nullptr;
  int64_t most = 0;
  std::vector<std::string> counts;
  for (const auto& [status, count_and_message] : seen) {
    counts.push_back(absl::StrCat(status, " ", count_and_message.first));
    if (count_and_message.first > most) {
      most = count_and_message.first;
      dominant = &status;
    }
  }
  std::string message = absl::StrCat("no OK trial in ", streak, " tries (",
                                     absl::StrJoin(counts, ", "), ")");
  if (dominant != nullptr) {
    const std::string& sample = seen.at(*dominant).second;
    if (!sample.empty()) absl::StrAppend(&message, "; e.g. ", *dominant, ": ", sample);
  }
  return *dominant == "UNSUPPORTED" ? absl::UnimplementedError(message)
                                    : absl::InternalError(message);
}

void OfferBest(TaskOutcome& outcome, const db::TrialRecord& trial, bool from_history) {
  if (trial.status != "OK") return;
  if (outcome.best && outcome.best->median_us <= trial.median_us) return;
  outcome.best = BestTrial{trial.config, trial.kernel, trial.median_us, trial.job_id,
                           from_history};
}

// The state of one job while it runs.
class Job {
 public:
  Job(Runner& runner, db::Store& store, const TuneOptions& options, TuneObserver* observer,
      TuneReport& report)
      : runner_(runner), store_(store), options_(options), observer_(observer), report_(report) {}

  absl::Status Run(const std::vector<Task>& tasks);

 private:
  // What a started task keeps between its batches.
  struct TaskRun {
    std::optional<ConfigSpace> space;
    std::unique_ptr<SearchStrategy> strategy;
    absl::Time warm_deadline = absl::InfiniteFuture();
    bool ended = false;
    // The current failure streak: status -> (count, a sample message).
    std::map<std::string, std::pair<int64_t, std::string>> streak;
  };

  absl::Status Prepare(const std::vector<Task>& tasks);
  // Takes over the earlier job `job` named options_.job_name.
  absl::Status ResumeJob(const db::JobRecord& job, const std::vector<Task>& tasks);
  // Counts one trial of the task toward its failure streak.
  void CountStreak(size_t index, const db::TrialRecord& trial);
  // Describes the task's space and sets up its strategy. A non-OK return
  // stops the job; the task's own failures land in its outcome (and end it).
  absl::Status StartTask(size_t index, const Task& task);
  // Measures one batch of a started task; a non-OK return stops the job.
  absl::Status StepTask(size_t index);
  void EndTask(size_t index, std::string reason);
  // The task's history for its strategy (own trials of a resumed job, then
  // those of its slice; see HistoryLimits), counting it in `outcome`.
  absl::StatusOr<std::vector<Measurement>> LoadHistory(const ConfigSpace& space,
                                                       TaskOutcome& outcome);
  // LoadHistory for a slice of `recorded` trials, more than read_all:
  // appends the measured configs and a sample of the OK trials to `history`.
  absl::StatusOr<std::vector<Measurement>> LoadSampledHistory(const ConfigSpace& space,
                                                              TaskOutcome& outcome,
                                                              int64_t recorded,
                                                              std::vector<Measurement> history);
  absl::Status MeasureBatch(size_t index, const ConfigSpace& space,
                            const std::vector<Config>& configs,
                            std::vector<Measurement>& measured);
  bool Cancelled() const {
    return (options_.cancel != nullptr && options_.cancel->load()) || Interrupted();
  }
  bool Interrupted() const { return options_.interrupt != nullptr && options_.interrupt->load(); }
  absl::Time Now() const {
    return (options_.clock != nullptr ? *options_.clock : Clock::Real()).Now();
  }

  Runner& runner_;
  db::Store& store_;
  const TuneOptions& options_;
  TuneObserver* observer_;
  TuneReport& report_;
  DeviceCaches caches_;  // of the device, for the strategies' features
  std::unique_ptr<TaskScheduler> scheduler_;
  std::vector<TaskRun> runs_;  // parallel to report_.tasks
  absl::Time deadline_ = absl::InfiniteFuture();
  int64_t next_seq_ = 1;
  double measure_ms_ = 0;
  std::string settings_;  // MeasureSettingsKey(options_.measure)
  // A resumed job's own trials, by workload key.
  std::map<std::string, std::vector<db::TrialRecord>> own_trials_;
};

absl::Status Job::Prepare(const std::vector<Task>& tasks) {
  QTUNE_ASSIGN_OR_RETURN(proto::DeviceInfo info, runner_.GetDeviceInfo());
  report_.device_key = info.device_key();
  report_.kernel_build =
      info.kernel_build_id().empty() ? db::kUnknownBuild : info.kernel_build_id();
  settings_ = MeasureSettingsKey(options_.measure);
  caches_ = CachesOf(info);
  QTUNE_RETURN_IF_ERROR(store_.UpsertDevice(DeviceRecordOf(info)));
  for (const Task& task : tasks) QTUNE_RETURN_IF_ERROR(store_.UpsertWorkload(WorkloadRecordOf(task.op)));
  if (!options_.job_id.empty()) {
    db::Filter by_id;
    by_id.job_id = options_.job_id;
    QTUNE_ASSIGN_OR_RETURN(std::vector<db::JobRecord> jobs, store_.Jobs(by_id));
    if (jobs.empty()) return absl::NotFoundError(absl::StrCat("job '", options_.job_id, "' not found"));
    return ResumeJob(jobs.front(), tasks);
  }
  if (!options_.job_name.empty()) {
    absl::StatusOr<db::JobRecord> existing = store_.FindJob(options_.job_name);
    if (existing.ok()) return ResumeJob(*existing, tasks);
    if (!absl::IsNotFound(existing.status())) return existing.status();
  }

  db::JobRecord job;
  job.model = options_.model;
  job.device_key = report_.device_key;
  job.state = "running";
  job.args_json = options_.args_json;
  job.name = options_.job_name;
  QTUNE_ASSIGN_OR_RETURN(report_.job_id, store_.CreateJob(job));
  report_.state = "running";

  std::vector<db::TaskRecord> records;
  for (const Task& task : tasks) {
    records.push_back(db::TaskRecord{report_.job_id, task.name, kernels::CanonicalKey(task.op),
                                     task.occurrences});
  }
  return store_.AddTasks(records);
}

absl::Status Job::ResumeJob(const db::JobRecord& job, const std::vector<Task>& tasks) {
  const auto refuse = [&](absl::string_view why) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot resume job '", job.name.empty() ? job.job_id : job.name,
        job.name.empty() ? "" : absl::StrCat("' (", job.job_id, ")"), job.name.empty() ? "'" : "",
        ": ", why));
  };
  if (job.device_key != report_.device_key) {
    return refuse(absl::StrCat("it ran on ", job.device_key, ", the agent is ",
                               report_.device_key));
  }
  db::Filter of_job;
  of_job.job_id = job.job_id;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TaskRecord> recorded, store_.Tasks(of_job));
  std::vector<std::pair<std::string, std::string>> want, have;
  for (const Task& task : tasks) want.emplace_back(task.name, kernels::CanonicalKey(task.op));
  for (const db::TaskRecord& task : recorded) have.emplace_back(task.name, task.workload_key);
  std::sort(want.begin(), want.end());
  std::sort(have.begin(), have.end());
  if (!have.empty() && want != have) {
    return refuse(absl::StrCat("it has ", have.size(), " other tasks; give the same --model, "
                               "--layers and --dtype as when it started"));
  }
  if (absl::Status resumed = store_.ResumeJob(job.job_id); !resumed.ok()) {
    return refuse(resumed.message());
  }
  if (have.empty()) {  // a job created ahead (queued by the daemon) gets its tasks now
    std::vector<db::TaskRecord> records;
    for (const Task& task : tasks) {
      records.push_back(db::TaskRecord{job.job_id, task.name, kernels::CanonicalKey(task.op),
                                       task.occurrences});
    }
    QTUNE_RETURN_IF_ERROR(store_.AddTasks(records));
  }
  report_.job_id = job.job_id;
  report_.resumed = !have.empty();  // a queued job starting for the first time is not resumed
  report_.state = "running";
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialRecord> trials, store_.History(of_job));
  for (db::TrialRecord& trial : trials) {
    next_seq_ = std::max(next_seq_, trial.seq + 1);
    std::string key = trial.workload_key;
    own_trials_[key].push_back(std::move(trial));
  }
  return absl::OkStatus();
}

void Job::CountStreak(size_t index, const db::TrialRecord& trial) {
  TaskOutcome& outcome = report_.tasks[index];
  auto& streak = runs_[index].streak;
  if (trial.status == "OK") {
    outcome.failures_in_a_row = 0;
    streak.clear();
    return;
  }
  ++outcome.failures_in_a_row;
  auto& [count, message] = streak[trial.status];
  if (count++ == 0) message = trial.message;
}

absl::StatusOr<std::vector<Measurement>> Job::LoadHistory(const ConfigSpace& space,
                                                          TaskOutcome& outcome) {
  std::vector<Measurement> history;
  const size_t index = static_cast<size_t>(&outcome - report_.tasks.data());
  // A resumed job's own trials count as measured by this job.
  std::vector<double> own_latencies;
  for (const db::TrialRecord& trial : own_trials_[outcome.workload_key]) {
    absl::StatusOr<Config> config = space.Parse(trial.config);
    if (!config.ok()) continue;
    // Only results of the current build and settings are results.
    const bool comparable = trial.build_id == report_.kernel_build && trial.settings == settings_;
    const bool ok = trial.status == "OK" && comparable;
    ++outcome.trials;
    if (ok) ++outcome.ok_trials;
    CountStreak(index, trial);
    history.push_back(Measurement{*std::move(config), ok, trial.median_us});
    own_latencies.push_back(ok ? trial.median_us : 0.0);
    if (ok) OfferBest(outcome, trial, /*from_history=*/false);
  }
  if (!own_latencies.empty()) scheduler_->Record(index, own_latencies);
  if (!options_.use_history) return history;

  // The task's slice; see HistoryLimits.
  db::Filter filter;
  filter.device_key = report_.device_key;
  filter.workload_key = outcome.workload_key;
  filter.build_id = report_.kernel_build;
  filter.settings = settings_;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialCount> counts, store_.TrialCounts(filter));
  int64_t recorded = 0;
  for (const db::TrialCount& c : counts) recorded += c.trials;
  if (recorded > options_.history.read_all) {
    return LoadSampledHistory(space, outcome, recorded, std::move(history));
  }
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialRecord> trials, store_.History(filter));
  std::erase_if(trials, [&](const db::TrialRecord& t) { return t.job_id == report_.job_id; });
  // A config whose only record is transient is tried again.
  std::map<std::string, std::pair<int, int>> records;  // config -> (all, transient)
  for (const db::TrialRecord& trial : trials) {
    auto& [all, transient] = records[trial.config];
    ++all;
    if (IsTransientFailure(trial.status)) ++transient;
  }
  for (const db::TrialRecord& trial : trials) {
    const auto& [all, transient] = records[trial.config];
    if (all == 1 && transient == 1) continue;
    absl::StatusOr<Config> config = space.Parse(trial.config);
    if (!config.ok()) continue;  // recorded under another version of the space
    ++outcome.history_trials;
    history.push_back(Measurement{*std::move(config), trial.status == "OK", trial.median_us});
    OfferBest(outcome, trial, /*from_history=*/true);
  }
  return history;
}

absl::StatusOr<std::vector<Measurement>> Job::LoadSampledHistory(
    const ConfigSpace& space, TaskOutcome& outcome, int64_t recorded,
    std::vector<Measurement> history) {
  const db::Slice slice{report_.device_key, outcome.workload_key, report_.kernel_build,
                        settings_};
  QTUNE_ASSIGN_OR_RETURN(std::vector<std::string> measured,
                         store_.MeasuredConfigs(slice, TransientStatuses()));
  for (const std::string& text : measured) {
    absl::StatusOr<Config> config = space.Parse(text);
    if (!config.ok()) continue;  // recorded under another version of the space
    // Known, so never proposed again; not ok, so not trained on unless sampled.
    history.push_back(Measurement{*std::move(config), false, 0});
  }
  QTUNE_ASSIGN_OR_RETURN(
      std::vector<db::TrialRecord> sample,
      store_.Sample(slice, options_.history.best, options_.history.spread));
  for (const db::TrialRecord& trial : sample) {
    if (trial.job_id == report_.job_id) continue;  // a resumed job's own: already in
    absl::StatusOr<Config> config = space.Parse(trial.config);
    if (!config.ok()) continue;
    history.push_back(Measurement{*std::move(config), true, trial.median_us});
    OfferBest(outcome, trial, /*from_history=*/true);
  }
  int64_t own = 0;
  for (const db::TrialRecord& trial : own_trials_[outcome.workload_key]) {
    if (trial.build_id == report_.kernel_build && trial.settings == settings_) ++own;
  }
  outcome.history_trials = std::max<int64_t>(recorded - own, 0);
  return history;
}

absl::Status Job::MeasureBatch(size_t index, const ConfigSpace& space,
                               const std::vector<Config>& configs,
                               std::vector<Measurement>& measured) {
  TaskOutcome& outcome = report_.tasks[index];
  const Task& task = outcome.task;
  std::vector<std::optional<db::TrialRecord>> by_index(configs.size());
  std::vector<db::TrialRecord> batch;
  auto record = [&](size_t i, db::TrialRecord trial) {
    trial.job_id = report_.job_id;
    trial.seq = next_seq_++;
    trial.device_key = report_.device_key;
    trial.workload_key = outcome.workload_key;
    trial.task = task.name;
    trial.config = space.ToString(configs[i]);
    trial.config_json = ConfigJson(space, configs[i]);
    if (trial.build_id.empty()) trial.build_id = report_.kernel_build;
    trial.settings = settings_;
    ++outcome.trials;
    if (trial.status == "OK") ++outcome.ok_trials;
    CountStreak(index, trial);
    measure_ms_ += trial.measure_ms;
    OfferBest(outcome, trial, /*from_history=*/false);
    measured.push_back(Measurement{configs[i], trial.status == "OK", trial.median_us});
    if (observer_) observer_->OnTrial(index, outcome, trial);
    by_index[i] = trial;
    batch.push_back(std::move(trial));
  };

  absl::Status run = runner_.RunTrials(
      task.op, configs, options_.measure, [&](const proto::TrialResult& r) {
        if (r.index() < 0 || static_cast<size_t>(r.index()) >= configs.size() ||
            by_index[r.index()].has_value()) {
          return;  // not one of ours, or a repeat: the first answer counts
        }
        db::TrialRecord trial;
        trial.status = TrialStatusName(r.status());
        trial.message = r.message();
        trial.kernel = r.kernel_name();
        trial.median_us = r.median_us();
        trial.min_us = r.min_us();
        trial.stddev_us = r.stddev_us();
        trial.repeats = r.repeats();
        trial.compile_ms = r.compile_ms();
        trial.measure_ms = r.measure_ms();
        trial.cv = r.cv();
        trial.outside_load = r.outside_load();
        trial.remeasures = r.remeasures();
        trial.cpu_mhz = r.cpu_mhz();
        trial.temp_c = r.temp_c();
        trial.build_id = r.kernel_build_id();
        record(r.index(), std::move(trial));
      });
  if (run.ok()) {
    // A well-behaved agent answers every config; record the silence otherwise.
    for (size_t i = 0; i < configs.size(); ++i) {
      if (by_index[i]) continue;
      db::TrialRecord trial;
      trial.status = "INTERNAL";
      trial.message = "the agent returned no result for this config";
      record(i, std::move(trial));
    }
  }
  // Whatever was measured is kept, even when the run was cut short.
  if (!batch.empty()) QTUNE_RETURN_IF_ERROR(store_.AddTrials(batch));
  report_.trials += static_cast<int64_t>(batch.size());
  if (observer_ && !batch.empty()) observer_->OnBatch(index, outcome, batch.size());
  return run;
}

absl::Status Job::StartTask(size_t index, const Task& task) {
  TaskOutcome outcome;
  outcome.task = task;
  outcome.workload_key = kernels::CanonicalKey(task.op);
  report_.tasks.push_back(std::move(outcome));
  runs_.emplace_back();
  TaskOutcome& out = report_.tasks[index];
  TaskRun& run = runs_[index];
  if (observer_) observer_->OnTaskStart(index, out);

  absl::StatusOr<ConfigSpace> space = runner_.DescribeSpace(task.op);
  if (!space.ok()) {
    if (IsDeviceLost(space.status())) return space.status();
    out.status = space.status();
    EndTask(index, "failed");
    return absl::OkStatus();
  }
  run.space.emplace(*std::move(space));
  out.space_size = run.space->CountValid();
  QTUNE_ASSIGN_OR_RETURN(std::vector<Measurement> history, LoadHistory(*run.space, out));
  if (out.best) scheduler_->SetBaseline(index, out.best->median_us, out.history_trials);
  QTUNE_ASSIGN_OR_RETURN(run.strategy, MakeTaskStrategy(options_.strategy, task.op, caches_));
  if (auto* model = dynamic_cast<ModelGuidedStrategy*>(run.strategy.get());
      model != nullptr && options_.transfer) {
    TransferOptions transfer_options;
    transfer_options.kernel_build = report_.kernel_build;
    QTUNE_ASSIGN_OR_RETURN(
        TransferData transfer,
        LoadTransfer(store_, task.op, report_.device_key, *run.space, transfer_options));
    out.transfer_sources = static_cast<int>(transfer.groups.size());
    out.transfer_seeds = static_cast<int>(transfer.seeds.size());
    model->SetTransfer(std::move(transfer));
  }
  const uint64_t seed = options_.seed * 1000003u + index;
  return run.strategy->Init(*run.space, seed, history);
}

void Job::EndTask(size_t index, std::string reason) {
  TaskRun& run = runs_[index];
  if (run.ended) return;
  run.ended = true;
  scheduler_->Finish(index);
  report_.tasks[index].end_reason = std::move(reason);
  if (observer_) observer_->OnTaskEnd(index, report_.tasks[index]);
}

absl::Status Job::StepTask(size_t index) {
  TaskOutcome& outcome = report_.tasks[index];
  TaskRun& run = runs_[index];
  int64_t n = options_.batch_size;
  if (options_.trials_per_task > 0) n = std::min<int64_t>(n, options_.trials_per_task - outcome.trials);
  std::vector<Config> configs = run.strategy->ProposeBatch(static_cast<size_t>(std::max<int64_t>(n, 1)));
  if (configs.empty()) {
    EndTask(index, "exhausted");
    return absl::OkStatus();
  }
  std::vector<Measurement> measured;
  absl::Status status = MeasureBatch(index, *run.space, configs, measured);
  run.strategy->Notify(measured);
  std::vector<double> latencies;
  for (const Measurement& m : measured) latencies.push_back(m.ok ? m.latency_us : 0.0);
  scheduler_->Record(index, latencies);
  QTUNE_RETURN_IF_ERROR(status);
  if (options_.max_failures_in_a_row > 0 && !outcome.best &&
      outcome.failures_in_a_row >= options_.max_failures_in_a_row) {
    outcome.status = FailureStreakStatus(run.streak, outcome.failures_in_a_row);
    EndTask(index, "failed");
    return absl::OkStatus();
  }
  switch (scheduler_->end(index)) {
    case TaskEnd::kCapped: EndTask(index, "capped"); break;
    case TaskEnd::kConverged: EndTask(index, "converged"); break;
    default: break;
  }
  return absl::OkStatus();
}

absl::Status Job::Run(const std::vector<Task>& tasks) {
  const absl::Time start = Now();
  deadline_ = options_.time_budget > absl::ZeroDuration() ? start + options_.time_budget
                                                          : absl::InfiniteFuture();
  if (options_.trials_per_task < 0 || options_.batch_size < 1 || options_.warm_trials < 1 ||
      options_.patience < 0 || options_.max_failures_in_a_row < 0) {
    return absl::InvalidArgumentError(
        "trials per task must be >= 0, batch size and warm-up trials >= 1, patience and "
        "failures in a row >= 0");
  }
  if (options_.history.read_all < 0 || options_.history.best < 1 ||
      options_.history.spread < 0) {
    return absl::InvalidArgumentError(
        "history limits: read_all and spread must be >= 0, best >= 1");
  }
  if (options_.trials_per_task == 0 && deadline_ == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("an unlimited trial count needs a time budget");
  }
  QTUNE_RETURN_IF_ERROR(MakeSearchStrategy(options_.strategy).status());
  SchedulerOptions sched;
  sched.max_trials = options_.trials_per_task;
  sched.warm_trials = options_.trials_per_task > 0
                          ? std::min(options_.warm_trials, options_.trials_per_task)
                          : options_.warm_trials;
  sched.patience = options_.patience;
  std::vector<double> weights;
  for (const Task& t : tasks) weights.push_back(std::max(1, t.occurrences));
  scheduler_ = std::make_unique<TaskScheduler>(std::move(weights), sched);

  absl::Status status = Prepare(tasks);
  if (status.ok() && observer_) observer_->OnJobStart(report_, tasks.size());
  while (status.ok()) {
    if (Cancelled()) {
      status = absl::CancelledError("tuning interrupted");
      break;
    }
    // Phase 1 walks the tasks in order: the started task still warming up,
    // else the next task to start; then the scheduler picks.
    const size_t started = report_.tasks.size();
    std::optional<size_t> next;
    for (size_t i = 0; i < started && !next; ++i) {
      if (scheduler_->in_warmup(i)) next = i;
    }
    if (!next && started < tasks.size()) next = started;
    if (!next) next = scheduler_->Next();
    if (!next) break;
    const size_t i = *next;
    const absl::Time now = Now();
    if (i == started) {
      status = StartTask(i, tasks[i]);
      if (!status.ok() || runs_[i].ended) continue;
      // The warm-up's share: an equal part of what is left.
      if (deadline_ != absl::InfiniteFuture()) {
        runs_[i].warm_deadline =
            now + std::max(absl::ZeroDuration(),
                           (deadline_ - now) / static_cast<int64_t>(tasks.size() - i));
      }
    } else if (scheduler_->in_warmup(i) && now >= runs_[i].warm_deadline) {
      scheduler_->EndWarmup(i);
      continue;
    } else if (now >= deadline_) {
      break;  // every task has had its first batch
    }
    status = StepTask(i);
  }
  for (size_t i = 0; i < runs_.size(); ++i) {
    EndTask(i, Now() >= deadline_ ? "deadline" : status.ok() ? "done" : "stopped");
  }

  report_.wall_s = absl::ToDoubleSeconds(Now() - start);
  report_.measure_s = measure_ms_ / 1000.0;
  report_.overhead_ms_per_trial =
      report_.trials > 0 ? (report_.wall_s - report_.measure_s) * 1000.0 / report_.trials : 0;

  if (report_.job_id.empty()) return status;  // no job was created
  if (status.ok()) {
    const TaskOutcome* failed = nullptr;
    int num_failed = 0;
    for (const TaskOutcome& t : report_.tasks) {
      if (t.status.ok()) continue;
      if (!failed) failed = &t;
      ++num_failed;
    }
    if (failed) {
      status = absl::Status(failed->status.code(), absl::StrCat(
          num_failed, " of ", tasks.size(), " tasks could not be tuned; ", failed->task.name,
          ": ", failed->status.message()));
    }
  }
  report_.state = status.ok()                                      ? "done"
                  : status.code() != absl::StatusCode::kCancelled ? "failed"
                  : Interrupted()                                 ? "interrupted"
                                                                  : "cancelled";
  absl::Status finish = store_.FinishJob(report_.job_id, report_.state);
  return status.ok() ? finish : status;
}

}  // namespace

std::string MeasureSettingsKey(const proto::MeasureOptions& m) {
  return absl::StrFormat("warmup=%d,min_ms=%g,repeats=%d..%d,threads=%d,flush=%d",
                         m.warmup_runs(), m.min_repeat_ms(), m.min_repeats(), m.max_repeats(),
                         m.threads(), m.flush_cache() ? 1 : 0);
}

proto::MeasureOptions DefaultMeasureOptions() {
  proto::MeasureOptions m;
  m.set_warmup_runs(1);
  m.set_min_repeat_ms(20);
  m.set_min_repeats(3);
  m.set_max_repeats(1000);
  m.set_threads(0);
  m.set_flush_cache(false);
  m.set_timeout_ms(0);  // the agent's automatic deadline (docs/agent.md)
  m.set_seed(1);
  return m;
}

db::WorkloadRecord WorkloadRecordOf(const kernels::OpSpec& op) {
  db::WorkloadRecord w;
  w.workload_key = kernels::CanonicalKey(op);
  w.op_kind = std::string(kernels::OpKindName(op.kind));
  w.dtype = std::string(kernels::DTypeName(op.dtype));
  w.shape = kernels::ShapeString(op);
  w.macs = op.macs();
  return w;
}

absl::Status Tune(Runner& runner, db::Store& store, const std::vector<Task>& tasks,
                  const TuneOptions& options, TuneObserver* observer, TuneReport* report) {
  *report = TuneReport();
  Job job(runner, store, options, observer, *report);
  return job.Run(tasks);
}

}  // namespace qtune::tuner
