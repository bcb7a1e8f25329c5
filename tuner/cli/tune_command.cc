#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "qtune/db/store.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/flags.h"
#include "tuner/cli/tune_flags.h"
#include "tuner/core/job_spec.h"
#include "tuner/core/model_zoo.h"
#include "tuner/onnx/onnx_import.h"
#include "tuner/core/tasks.h"
#include "tuner/core/tuner.h"
#include "tuner/report/report.h"
#include "tuner/rpc/agent_client.h"
#include "tuner/search/search_strategy.h"

ABSL_FLAG(int32_t, trials, qtune::tuner::kDefaultTrialsPerTask,
          "measured configs per task (layer x dtype), at most; with --time-budget and no "
          "--trials there is no cap (the scheduler spends the budget where it gains most)");
ABSL_FLAG(int32_t, patience, qtune::tuner::kDefaultPatience,
          "after the first 64 trials of a task, stop it once its best has not improved by 1% "
          "within this many trials; 0 = never stop early");
ABSL_FLAG(std::string, layers, "",
          "comma-separated layer names to tune (see `qtune tasks`); empty = all");
ABSL_FLAG(absl::Duration, time_budget, absl::ZeroDuration(),
          "wall-clock budget of the whole job, e.g. 5m or 90s; 0 = none (every task gets at "
          "least one batch)");
ABSL_FLAG(bool, history, true,
          "skip configs already measured on this device and count their best (--nohistory: "
          "ignore earlier jobs)");
ABSL_FLAG(double, min_repeat_ms, 20, "time each config for at least this long (ms)");
ABSL_FLAG(int32_t, min_repeats, 3, "timed runs per config, at least");
ABSL_FLAG(int32_t, max_repeats, 1000, "timed runs per config, at most");
ABSL_FLAG(double, trial_timeout_ms, 0,
          "the kernel's deadline per trial on the device (ms), compilation included; 0 = "
          "automatic, from the op's size and the device's clock (docs/agent.md)");
ABSL_FLAG(bool, flush_cache, false, "evict caches between timed runs");
ABSL_FLAG(std::string, job_name, "",
          "name of the job; a later `qtune tune` with the same name resumes it if it was "
          "interrupted, failed or cancelled (same --model, --layers and --dtype)");
ABSL_FLAG(int32_t, max_failures, qtune::tuner::kDefaultMaxFailuresInARow,
          "give a layer up after this many failed trials in a row without any OK trial; 0 = never");

namespace qtune::tuner {
namespace {

using json::Json;

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

absl::StatusOr<proto::MeasureOptions> MeasureOptionsFromFlags() {
  proto::MeasureOptions m = DefaultMeasureOptions();
  m.set_min_repeat_ms(absl::GetFlag(FLAGS_min_repeat_ms));
  m.set_min_repeats(absl::GetFlag(FLAGS_min_repeats));
  m.set_max_repeats(absl::GetFlag(FLAGS_max_repeats));
  m.set_warmup_runs(absl::GetFlag(FLAGS_warmup_runs));
  m.set_threads(absl::GetFlag(FLAGS_threads));
  m.set_timeout_ms(absl::GetFlag(FLAGS_trial_timeout_ms));
  m.set_flush_cache(absl::GetFlag(FLAGS_flush_cache));
  if (m.min_repeat_ms() < 0 || m.min_repeats() < 1 || m.max_repeats() < m.min_repeats() ||
      m.warmup_runs() < 0 || m.threads() < 0 || m.timeout_ms() < 0) {
    return absl::InvalidArgumentError(
        "measure flags out of range: need --min-repeat-ms >= 0, 1 <= --min-repeats <= "
        "--max-repeats, --warmup-runs >= 0, --threads >= 0, --trial-timeout-ms >= 0");
  }
  return m;
}

std::string ArgsJson(const TuneOptions& o, const std::vector<std::string>& layers,
                     const std::string& agent) {
  Json measure = {{"warmup_runs", o.measure.warmup_runs()},
                  {"min_repeat_ms", json::Number(o.measure.min_repeat_ms())},
                  {"min_repeats", o.measure.min_repeats()},
                  {"max_repeats", o.measure.max_repeats()},
                  {"threads", o.measure.threads()},
                  {"flush_cache", o.measure.flush_cache()},
                  {"timeout_ms", json::Number(o.measure.timeout_ms())}};
  return json::Dump({{"model", o.model},
                     {"dtype", absl::GetFlag(FLAGS_dtype)},
                     {"layers", layers},
                     {"trials", o.trials_per_task},
                     {"patience", o.patience},
                     {"strategy", o.strategy},
                     {"transfer", o.transfer},
                     {"seed", static_cast<int64_t>(o.seed)},
                     {"batch_size", o.batch_size},
                     {"time_budget_s", json::Number(absl::ToDoubleSeconds(o.time_budget))},
                     {"history", o.use_history},
                     {"agent", agent},
                     {"measure", measure}});
}

}  // namespace

absl::StatusOr<proto::JobSpec> JobSpecFromFlags(const ParsedArgs& args) {
  proto::JobSpec spec;
  std::optional<OnnxImport> imported;
  const Model* model = nullptr;
  std::vector<kernels::DType> dtypes;
  if (args.given.count("onnx")) {
    QTUNE_ASSIGN_OR_RETURN(imported, ImportOnnx(absl::GetFlag(FLAGS_onnx)));
    model = &imported->model;
    spec.set_onnx(absl::GetFlag(FLAGS_onnx));
    if (!args.given.count("dtype")) {  // the model's own dtypes
      for (kernels::DType d : {kernels::DType::kInt8, kernels::DType::kFp32}) {
        for (const Layer& layer : model->layers) {
          if (layer.op.dtype == d) {
            dtypes.push_back(d);
            break;
          }
        }
      }
    }
  } else {
    QTUNE_ASSIGN_OR_RETURN(model, FindModel(absl::GetFlag(FLAGS_model)));
  }
  spec.set_model(model->name);
  if (dtypes.empty()) {
    QTUNE_ASSIGN_OR_RETURN(dtypes, ParseDTypeList(absl::GetFlag(FLAGS_dtype)));
  }
  for (kernels::DType d : dtypes) {
    spec.add_dtypes(d == kernels::DType::kInt8 ? proto::INT8 : proto::FP32);
  }
  for (const std::string& layer : SplitList(absl::GetFlag(FLAGS_layers))) spec.add_layers(layer);
  QTUNE_RETURN_IF_ERROR(ExtractTasks(*model, dtypes, {spec.layers().begin(), spec.layers().end()})
                            .status());
  spec.set_strategy(absl::GetFlag(FLAGS_strategy));
  QTUNE_RETURN_IF_ERROR(MakeSearchStrategy(spec.strategy()).status());
  const int32_t trials = absl::GetFlag(FLAGS_trials);
  if (trials < 1) return absl::InvalidArgumentError("--trials must be at least 1");
  spec.set_trials_per_task(trials);
  const int32_t patience = absl::GetFlag(FLAGS_patience);
  if (patience < 0) return absl::InvalidArgumentError("--patience must not be negative");
  spec.set_patience(patience);
  spec.set_transfer(absl::GetFlag(FLAGS_transfer));
  const int32_t batch_size = absl::GetFlag(FLAGS_batch_size);
  if (batch_size < 1 || batch_size > kMaxBatchSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch-size must be in [1, ", kMaxBatchSize, "]"));
  }
  spec.set_batch_size(batch_size);
  spec.set_seed(absl::GetFlag(FLAGS_seed));
  const absl::Duration budget = absl::GetFlag(FLAGS_time_budget);
  if (budget < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--time-budget must not be negative");
  }
  spec.set_time_budget_s(absl::ToDoubleSeconds(budget));
  if (budget > absl::ZeroDuration() && !args.given.count("trials")) {
    spec.set_trials_per_task(0);  // the budget and convergence decide
  }
  spec.set_history(absl::GetFlag(FLAGS_history));
  spec.set_name(absl::GetFlag(FLAGS_job_name));
  const int32_t max_failures = absl::GetFlag(FLAGS_max_failures);
  if (max_failures < 0) return absl::InvalidArgumentError("--max-failures must not be negative");
  spec.set_max_failures(max_failures);
  QTUNE_ASSIGN_OR_RETURN(*spec.mutable_measure(), MeasureOptionsFromFlags());
  return spec;
}

const std::vector<std::string>& TuneJobFlags() {
  static const auto* flags = new std::vector<std::string>{
      "model", "onnx", "dtype", "trials", "time_budget", "patience", "layers", "strategy", "transfer",
      "seed", "batch_size", "history", "job_name", "max_failures", "min_repeat_ms",
      "min_repeats", "max_repeats", "warmup_runs", "threads", "trial_timeout_ms", "flush_cache"};
  return *flags;
}

namespace {

int RunTune(const ParsedArgs& args) {
  const std::string program = "qtune tune";
  // Everything that can be checked without side effects comes first.
  TuneOptions options;
  std::vector<Task> tasks;
  {
    absl::Status status = [&]() -> absl::Status {
      QTUNE_ASSIGN_OR_RETURN(proto::JobSpec spec, JobSpecFromFlags(args));
      QTUNE_ASSIGN_OR_RETURN(tasks, TasksOfSpec(spec));
      QTUNE_ASSIGN_OR_RETURN(options, TuneOptionsOfSpec(spec));
      options.job_name = spec.name();
      return absl::OkStatus();
    }();
    if (!status.ok()) return cli::ReportError(program, status);
  }
  const std::string agent_address = absl::GetFlag(FLAGS_agent);
  options.args_json = ArgsJson(options, SplitList(absl::GetFlag(FLAGS_layers)), agent_address);

  absl::StatusOr<std::unique_ptr<AgentClient>> agent = AgentClient::Connect(agent_address, Token());
  if (!agent.ok()) return cli::ReportError(program, agent.status());
  const std::string db_path = absl::GetFlag(FLAGS_db);
  absl::StatusOr<std::unique_ptr<db::Store>> store = db::Store::Open(db_path);
  if (!store.ok()) return cli::ReportError(program, store.status());

  // --json / --nojson decide when given; otherwise JSON lines unless stdout
  // is a terminal.
  const bool json =
      args.given.count("json") ? absl::GetFlag(FLAGS_json) : !cli::StdoutIsTerminal();
  std::unique_ptr<TuneObserver> observer;
  ProgressBar* bar = nullptr;
  if (json) {
    observer = std::make_unique<JsonLinesObserver>(std::cout, db_path);
  } else if (isatty(STDERR_FILENO)) {
    auto progress = std::make_unique<ProgressBar>(stderr, options.trials_per_task);
    bar = progress.get();
    observer = std::move(progress);
  }

  std::atomic<bool>& cancel = g_interrupted;
  options.cancel = &cancel;
  std::signal(SIGINT, OnInterrupt);
  TuneReport report;
  absl::Status status = Tune(**agent, **store, tasks, options, observer.get(), &report);
  std::signal(SIGINT, SIG_DFL);
  if (bar) bar->Finish();

  if (!report.job_id.empty()) {
    Table table = BuildTable(report);
    if (json) {
      PrintTableJson(table, std::cout);
      PrintSummaryJson(report, db_path, std::cout);
    } else {
      PrintTable(table, std::cout);
      PrintSummary(report, db_path, std::cout);
    }
    std::cout.flush();
  }
  if (!status.ok()) {
    const int code = cli::ReportError(program, status);
    return status.code() == absl::StatusCode::kCancelled ? 130 : code;
  }
  return 0;
}


}  // namespace

Command TuneCommand() {
  Command command{Subcommand{"tune", "", "Tune a model's layers on a device and record every trial in the database.",
       "For each layer and dtype, asks the agent for the op's configuration space, measures\n"
       "configs proposed by the search strategy in batches, and stores every trial. Prints\n"
       "a progress line on a terminal (JSON lines with --json or when stdout is not a\n"
       "terminal) and finally a per-layer table with the int8 speedup over fp32.\n"
       "Exit status: 0 done, 1 failed, 2 bad input, 3 agent unreachable, 130 interrupted.",
       {}, ""}, RunTune};
  command.spec.flags = TuneJobFlags();
  for (const char* flag : {"agent", "db", "json", "token"}) command.spec.flags.push_back(flag);
  return command;
}

}  // namespace qtune::tuner
