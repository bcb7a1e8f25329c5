// qtune: the host tuner CLI (see docs/cli.md).
//
//   qtune tune --model resnet18 --agent 127.0.0.1:7070 --db qtune.db
//   qtune tasks --model resnet18
//   qtune info --agent 127.0.0.1:7070
//   qtune db best --db qtune.db
//   qtune models
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "db/db_cli.h"
#include "proto/convert.h"
#include "qtune/db/store.h"
#include "tuner/agent_client.h"
#include "tuner/model_zoo.h"
#include "tuner/replay.h"
#include "tuner/report.h"
#include "tuner/search_strategy.h"
#include "tuner/subcommand.h"
#include "tuner/tasks.h"
#include "tuner/report_html.h"
#include "tuner/tuner.h"

// Shared by several subcommands; each subcommand lists the ones it takes.
ABSL_FLAG(std::string, model, "resnet18", "built-in model (see `qtune models`)");
ABSL_FLAG(std::string, agent, "127.0.0.1:7070", "address HOST:PORT of the qtune-agent");
ABSL_FLAG(std::string, token, "",
          "agent access token (default: $QTUNE_TOKEN), as given to qtune-agent --token");
ABSL_FLAG(std::string, db, "qtune.db", "SQLite database file");
ABSL_FLAG(bool, json, false,
          "JSON lines on stdout (`tune` defaults to them when stdout is not a terminal; "
          "--nojson forces the table)");
ABSL_FLAG(std::string, dtype, "int8,fp32",
          "tune: comma-separated dtypes to tune; db: only records of this dtype");
ABSL_FLAG(int32_t, trials, qtune::tuner::kDefaultTrialsPerTask,
          "measured configs per task (layer x dtype), at most; with --time-budget and no "
          "--trials there is no cap (the scheduler spends the budget where it gains most)");
ABSL_FLAG(int32_t, patience, qtune::tuner::kDefaultPatience,
          "after the first 64 trials of a task, stop it once its best has not improved by 1% "
          "within this many trials; 0 = never stop early");
ABSL_FLAG(bool, transfer, true,
          "seed the model strategy from earlier records of the same op on other devices and of "
          "similar ops (--notransfer: start from scratch)");
ABSL_FLAG(std::string, layers, "",
          "comma-separated layer names to tune (see `qtune tasks`); empty = all");
ABSL_FLAG(std::string, strategy, "model",
          "search strategy: model (XGBoost-guided, with the op's shape and the device's caches "
          "as features) | random | grid");
ABSL_FLAG(uint64_t, seed, 1, "seed of the search strategies");
ABSL_FLAG(int32_t, batch_size, qtune::tuner::kDefaultBatchSize,
          "configs per RunTrials call and per database transaction");
ABSL_FLAG(absl::Duration, time_budget, absl::ZeroDuration(),
          "wall-clock budget of the whole job, e.g. 5m or 90s; 0 = none (every task gets at "
          "least one batch)");
ABSL_FLAG(bool, history, true,
          "skip configs already measured on this device and count their best (--nohistory: "
          "ignore earlier jobs)");
ABSL_FLAG(double, min_repeat_ms, 20, "time each config for at least this long (ms)");
ABSL_FLAG(int32_t, min_repeats, 3, "timed runs per config, at least");
ABSL_FLAG(int32_t, max_repeats, 1000, "timed runs per config, at most");
ABSL_FLAG(int32_t, warmup_runs, 1, "untimed runs before timing");
ABSL_FLAG(int32_t, threads, 0, "threads per kernel run; 0 = the config's threads knob decides");
ABSL_FLAG(double, trial_timeout_ms, 10000,
          "per-trial limit on the device, compilation included (ms)");
ABSL_FLAG(bool, flush_cache, false, "evict caches between timed runs");
ABSL_FLAG(std::string, job_name, "",
          "name of the job; a later `qtune tune` with the same name resumes it if it was "
          "interrupted, failed or cancelled (same --model, --layers and --dtype)");
ABSL_FLAG(int32_t, max_failures, qtune::tuner::kDefaultMaxFailuresInARow,
          "give a layer up after this many failed trials in a row without any OK trial; 0 = never");
ABSL_FLAG(std::string, build, "",
          "db: kernel build of the rows: a build id, `current` (each device's latest build; "
          "the default of best) or `all` (the default of history)");
ABSL_FLAG(std::string, device, "", "db: only records of this device key");
ABSL_FLAG(std::string, workload, "", "db: only records of this workload key");
ABSL_FLAG(std::string, job, "", "db: only records of this job id");
ABSL_FLAG(int64_t, limit, 0, "db: at most this many rows; 0 = all");
ABSL_FLAG(std::string, file, "", "db export: output file, db import: input file (- = stdout/stdin)");
ABSL_FLAG(std::string, out, "",
          "db export: write to this file instead of stdout; report: the HTML file to write");
ABSL_FLAG(std::string, in, "", "db import: read this file instead of stdin");
ABSL_FLAG(int32_t, budget, 64, "bench-search: trials per replayed run (ratios at 8, 16, 32, 64, 128 "
          "up to it)");
ABSL_FLAG(bool, anneal, false,
          "bench-search: the model strategy anneals in the (very sparse) replay space as on a "
          "large space, instead of scoring every recorded config");
ABSL_FLAG(int32_t, repeats, 20, "bench-search: replayed runs per task, with seeds derived from --seed");

namespace qtune::tuner {
namespace {

using json::JsonLine;

constexpr char kProgram[] = "qtune";

const std::vector<Subcommand>& Commands() {
  static const auto* commands = new std::vector<Subcommand>{
      {"tune", "", "Tune a model's layers on a device and record every trial in the database.",
       "For each layer and dtype, asks the agent for the op's configuration space, measures\n"
       "configs proposed by the search strategy in batches, and stores every trial. Prints\n"
       "a progress line on a terminal (JSON lines with --json or when stdout is not a\n"
       "terminal) and finally a per-layer table with the int8 speedup over fp32.\n"
       "Exit status: 0 done, 1 failed, 2 bad input, 3 agent unreachable, 130 interrupted.",
       {"model", "agent", "db", "dtype", "trials", "time_budget", "patience", "layers",
        "strategy", "transfer", "json", "token", "seed", "batch_size", "history", "job_name",
        "max_failures", "min_repeat_ms", "min_repeats", "max_repeats", "warmup_runs", "threads",
        "trial_timeout_ms", "flush_cache"}, ""},
      {"tasks", "", "List a model's layers: name, op, shape, MACs, occurrences.", "",
       {"model", "json"}, ""},
      {"models", "", "List the built-in models.", "", {"json"}, ""},
      {"info", "", "Show the device a qtune-agent runs on.", "", {"agent", "json", "token"}, ""},
      {"db", "SUBCOMMAND", "Query, export or import the tuning database.", "",
       {"db", "device", "workload", "job", "dtype", "build", "limit", "json", "file", "out", "in"},
       absl::StrCat(db::DbCommandHelp(),
                    "  --out FILE       export: same as --file\n"
                    "  --in FILE        import: same as --file\n")},
      {"bench-search", "",
       "Replay a search strategy against the trials recorded in a database.",
       "For each (device, workload) with OK trials, runs the strategy --repeats times on a\n"
       "space made of exactly the recorded configs (it cannot propose anything else), answering\n"
       "each proposal with its recorded latency, and prints the mean ratio best-known /\n"
       "best-found after 8, 16, 32, 64 and 128 trials (up to --budget) per task and the\n"
       "median over tasks. Deterministic for a --seed. Collect the records first, e.g. with\n"
       "`qtune tune --strategy random --trials 1000`.\n"
       "Exit status: 0 done, 1 failed, 2 bad input.",
       {"db", "strategy", "budget", "repeats", "device", "seed", "batch_size", "anneal", "transfer",
        "json"}, ""},
      {"report", "", "Write a self-contained HTML report of a model's tuning results.",
       "Reads the database (read-only) and writes one HTML page with inline CSS and SVG (no\n"
       "network): per-task convergence (best-so-far against trials and against seconds), a\n"
       "per-layer table with % of the device's peak, and int8 against fp32 with weighted\n"
       "totals. Without --device, the device of the model's latest job. See docs/report.md.\n"
       "Exit status: 0 done, 1 failed, 2 bad input.",
       {"db", "model", "device", "job", "out"}, ""},
      {"help", "[COMMAND]", "Show the usage of qtune or of one command.", "", {}, ""},
  };
  return *commands;
}

const Subcommand* FindCommand(std::string_view name) {
  for (const Subcommand& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string CommandNames() {
  std::vector<std::string> names;
  for (const Subcommand& c : Commands()) names.push_back(c.name);
  return absl::StrJoin(names, ", ");
}

std::string MainUsage() {
  std::string out = absl::StrCat(
      "qtune: auto-tuning of int8 and fp32 CNN operators on CPUs\n\n"
      "usage: qtune COMMAND [flags]\n\ncommands:\n");
  for (const Subcommand& c : Commands()) {
    absl::StrAppendFormat(&out, "  %-12s %s\n", c.name, c.summary);
  }
  out += "\nRun `qtune help COMMAND` or `qtune COMMAND --help` for its flags.\n";
  return out;
}

// `text` as a JSON string literal.
std::string JsonQuote(const std::string& text) {
  std::string out;
  json::AppendJsonString(out, text);
  return out;
}

std::vector<std::string> SplitList(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipWhitespace());
}

std::string Token() {
  std::string token = absl::GetFlag(FLAGS_token);
  if (token.empty()) {
    if (const char* env = std::getenv("QTUNE_TOKEN")) token = env;
  }
  return token;
}

// ---------------------------------------------------------------------------
// tune

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
      m.warmup_runs() < 0 || m.threads() < 0 || m.timeout_ms() <= 0) {
    return absl::InvalidArgumentError(
        "measure flags out of range: need --min-repeat-ms >= 0, 1 <= --min-repeats <= "
        "--max-repeats, --warmup-runs >= 0, --threads >= 0, --trial-timeout-ms > 0");
  }
  return m;
}

std::string ArgsJson(const TuneOptions& o, const std::vector<std::string>& layers,
                     const std::string& agent) {
  JsonLine measure;
  measure.Int("warmup_runs", o.measure.warmup_runs())
      .Double("min_repeat_ms", o.measure.min_repeat_ms())
      .Int("min_repeats", o.measure.min_repeats())
      .Int("max_repeats", o.measure.max_repeats())
      .Int("threads", o.measure.threads())
      .Bool("flush_cache", o.measure.flush_cache())
      .Double("timeout_ms", o.measure.timeout_ms());
  std::vector<std::string> quoted;
  for (const std::string& l : layers) quoted.push_back(JsonQuote(l));
  return std::move(JsonLine()
      .Str("model", o.model)
      .Str("dtype", absl::GetFlag(FLAGS_dtype))
      .Raw("layers", absl::StrCat("[", absl::StrJoin(quoted, ","), "]"))
      .Int("trials", o.trials_per_task)
      .Int("patience", o.patience)
      .Str("strategy", o.strategy)
      .Bool("transfer", o.transfer)
      .Int("seed", static_cast<int64_t>(o.seed))
      .Int("batch_size", o.batch_size)
      .Double("time_budget_s", absl::ToDoubleSeconds(o.time_budget))
      .Bool("history", o.use_history)
      .Str("agent", agent)
      .Raw("measure", std::move(measure).Finish()))
      .Finish();
}

int RunTune(const ParsedArgs& args) {
  const std::string program = "qtune tune";
  // Everything that can be checked without side effects comes first.
  TuneOptions options;
  std::vector<Task> tasks;
  std::vector<std::string> layers = SplitList(absl::GetFlag(FLAGS_layers));
  {
    absl::Status status = [&]() -> absl::Status {
      QTUNE_ASSIGN_OR_RETURN(const Model* model, FindModel(absl::GetFlag(FLAGS_model)));
      QTUNE_ASSIGN_OR_RETURN(std::vector<kernels::DType> dtypes,
                             ParseDTypeList(absl::GetFlag(FLAGS_dtype)));
      QTUNE_ASSIGN_OR_RETURN(tasks, ExtractTasks(*model, dtypes, layers));
      options.model = model->name;
      options.strategy = absl::GetFlag(FLAGS_strategy);
      QTUNE_RETURN_IF_ERROR(MakeSearchStrategy(options.strategy).status());
      options.trials_per_task = absl::GetFlag(FLAGS_trials);
      options.batch_size = absl::GetFlag(FLAGS_batch_size);
      if (options.trials_per_task < 1) {
        return absl::InvalidArgumentError("--trials must be at least 1");
      }
      options.patience = absl::GetFlag(FLAGS_patience);
      if (options.patience < 0) return absl::InvalidArgumentError("--patience must not be negative");
      options.transfer = absl::GetFlag(FLAGS_transfer);
      if (options.batch_size < 1) {
        return absl::InvalidArgumentError("--batch-size must be at least 1");
      }
      options.seed = absl::GetFlag(FLAGS_seed);
      options.time_budget = absl::GetFlag(FLAGS_time_budget);
      if (options.time_budget < absl::ZeroDuration()) {
        return absl::InvalidArgumentError("--time-budget must not be negative");
      }
      if (options.time_budget > absl::ZeroDuration() && !args.given.count("trials")) {
        options.trials_per_task = 0;  // the budget and convergence decide
      }
      options.use_history = absl::GetFlag(FLAGS_history);
      options.job_name = absl::GetFlag(FLAGS_job_name);
      options.max_failures_in_a_row = absl::GetFlag(FLAGS_max_failures);
      if (options.max_failures_in_a_row < 0) {
        return absl::InvalidArgumentError("--max-failures must not be negative");
      }
      QTUNE_ASSIGN_OR_RETURN(options.measure, MeasureOptionsFromFlags());
      return absl::OkStatus();
    }();
    if (!status.ok()) return cli::ReportError(program, status);
  }
  const std::string agent_address = absl::GetFlag(FLAGS_agent);
  options.args_json = ArgsJson(options, layers, agent_address);

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

// ---------------------------------------------------------------------------
// tasks, models, info

int RunTasks() {
  absl::StatusOr<const Model*> model = FindModel(absl::GetFlag(FLAGS_model));
  if (!model.ok()) return cli::ReportError("qtune tasks", model.status());
  const Model& m = **model;
  if (absl::GetFlag(FLAGS_json)) {
    for (const Layer& layer : m.layers) {
      std::vector<std::string> instances;
      for (const std::string& i : layer.instances) instances.push_back(JsonQuote(i));
      std::cout << std::move(JsonLine()
                       .Str("model", m.name)
                       .Str("name", layer.name)
                       .Str("op", std::string(kernels::OpKindName(layer.op.kind)))
                       .Str("shape", kernels::ShapeString(layer.op))
                       .Str("activation", std::string(kernels::ActivationName(layer.op.activation)))
                       .Int("macs", layer.op.macs())
                       .Int("occurrences", layer.occurrences)
                       .Raw("instances", absl::StrCat("[", absl::StrJoin(instances, ","), "]"))
                       ).Finish()
                << "\n";
    }
    return 0;
  }
  std::cout << absl::StrFormat("%s: %s\n", m.name, m.description);
  std::cout << absl::StrFormat("%-22s %-7s %-26s %-5s %13s %3s\n", "layer", "op", "shape", "act",
                               "MACs", "n");
  for (const Layer& layer : m.layers) {
    std::cout << absl::StrFormat("%-22s %-7s %-26s %-5s %13d %3d\n", layer.name,
                                 kernels::OpKindName(layer.op.kind),
                                 kernels::ShapeString(layer.op),
                                 kernels::ActivationName(layer.op.activation), layer.op.macs(),
                                 layer.occurrences);
  }
  std::cout << absl::StrFormat("%d layers, %d MACs per inference (each layer x occurrences)\n",
                               m.layers.size(), m.total_macs());
  return 0;
}

int RunModels() {
  for (const std::string& name : ModelNames()) {
    const Model& m = **FindModel(name);
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << std::move(JsonLine()
                       .Str("name", m.name)
                       .Str("description", m.description)
                       .Int("layers", static_cast<int64_t>(m.layers.size()))
                       .Int("macs", m.total_macs())
                       ).Finish()
                << "\n";
    } else {
      std::cout << absl::StrFormat("%-10s %3d layers %7.2f GMACs  %s\n", m.name, m.layers.size(),
                                   m.total_macs() / 1e9, m.description);
    }
  }
  return 0;
}

int RunInfo() {
  absl::StatusOr<std::unique_ptr<AgentClient>> agent =
      AgentClient::Connect(absl::GetFlag(FLAGS_agent), Token());
  if (!agent.ok()) return cli::ReportError("qtune info", agent.status());
  const proto::DeviceInfo& info = (*agent)->device_info();
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << ToJson(info) << "\n";
    return 0;
  }
  std::vector<std::string> caches;
  for (const proto::CacheLevel& c : info.caches()) {
    caches.push_back(absl::StrFormat("L%d %d KiB (shared by %d)", c.level(),
                                     c.size_bytes() / 1024, c.shared_by_cores()));
  }
  std::cout << absl::StrFormat("device key    %s\n", info.device_key())
            << absl::StrFormat("arch          %s\n", info.arch())
            << absl::StrFormat("cpu           %s\n", info.cpu_name())
            << absl::StrFormat("cores         %d\n", info.cores())
            << (info.clock_ghz() > 0
                    ? absl::StrFormat("clock         %.2f GHz (measured by the agent)\n",
                                      info.clock_ghz())
                    : std::string("clock         unknown (not measured)\n"))
            << absl::StrFormat("isa features  %s\n", absl::StrJoin(info.isa_features(), " "))
            << absl::StrFormat("caches        %s\n", absl::StrJoin(caches, ", "))
            << absl::StrFormat("kernel paths  %s\n", absl::StrJoin(info.kernel_paths(), " "))
            << absl::StrFormat("agent         %s (build %s) at %s\n", info.agent_version(),
                               info.build_id(), (*agent)->address())
            << absl::StrFormat("kernel build  %s\n", info.kernel_build_id().empty()
                                                         ? "unknown (agent predates build ids)"
                                                         : info.kernel_build_id());
  return 0;
}

// ---------------------------------------------------------------------------
// db

int RunDb(const ParsedArgs& args) {
  const std::string program = "qtune db";
  if (args.positional.size() != 1) {
    return cli::ReportError(
        program, absl::InvalidArgumentError(
                     "expected one subcommand: best, history, builds, devices, workloads, jobs, "
                     "export, import or stats (see `qtune help db`)"));
  }
  const std::string& sub = args.positional[0];
  db::DbCommandOptions opt;
  opt.db_path = absl::GetFlag(FLAGS_db);
  if (args.given.count("device")) opt.device_key = absl::GetFlag(FLAGS_device);
  if (args.given.count("workload")) opt.workload_key = absl::GetFlag(FLAGS_workload);
  if (args.given.count("job")) opt.job_id = absl::GetFlag(FLAGS_job);
  if (args.given.count("dtype")) opt.dtype = absl::GetFlag(FLAGS_dtype);
  if (args.given.count("build")) opt.build = absl::GetFlag(FLAGS_build);
  opt.json = absl::GetFlag(FLAGS_json);
  opt.limit = absl::GetFlag(FLAGS_limit);
  opt.file = absl::GetFlag(FLAGS_file);
  if (args.given.count("out")) opt.file = absl::GetFlag(FLAGS_out);
  if (args.given.count("in")) opt.file = absl::GetFlag(FLAGS_in);
  if (args.given.count("file") + args.given.count("out") + args.given.count("in") > 1) {
    return cli::ReportError(program, absl::InvalidArgumentError(
                                         "give only one of --file, --out and --in"));
  }
  if (sub != "import" && args.given.count("in")) {
    return cli::ReportError(program,
                            absl::InvalidArgumentError("--in is only for `qtune db import`"));
  }
  if (sub == "import" && args.given.count("out")) {
    return cli::ReportError(program,
                            absl::InvalidArgumentError("--out is not for `qtune db import`"));
  }
  absl::Status status = db::RunDbCommand(sub, opt, std::cout);
  std::cout.flush();
  if (!status.ok()) return cli::ReportError(program, status);
  return 0;
}

// ---------------------------------------------------------------------------
// bench-search

int RunBenchSearch(const ParsedArgs& args) {
  const std::string program = "qtune bench-search";
  ReplayOptions options;
  options.strategy = absl::GetFlag(FLAGS_strategy);
  options.budget = absl::GetFlag(FLAGS_budget);
  options.repeats = absl::GetFlag(FLAGS_repeats);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.model_scores_all = !absl::GetFlag(FLAGS_anneal);
  // Off unless asked for: the plain replay measures the strategy alone.
  options.transfer = args.given.count("transfer") > 0 && absl::GetFlag(FLAGS_transfer);
  if (options.budget < 1 || options.repeats < 1 || options.batch_size < 1) {
    return cli::ReportError(program, absl::InvalidArgumentError(
                                         "--budget, --repeats and --batch-size must be at least 1"));
  }
  if (absl::Status s = MakeSearchStrategy(options.strategy).status(); !s.ok()) {
    return cli::ReportError(program, s);
  }
  std::optional<std::string> device;
  if (args.given.count("device")) device = absl::GetFlag(FLAGS_device);
  absl::StatusOr<std::unique_ptr<db::Store>> store =
      db::Store::Open(absl::GetFlag(FLAGS_db), db::Store::Mode::kReadOnly);
  if (!store.ok()) return cli::ReportError(program, store.status());
  absl::StatusOr<std::vector<RecordedTask>> tasks = LoadRecordedTasks(**store, device);
  if (!tasks.ok()) return cli::ReportError(program, tasks.status());
  absl::StatusOr<ReplayReport> report = Replay(*tasks, options);
  if (!report.ok()) return cli::ReportError(program, report.status());
  if (absl::GetFlag(FLAGS_json)) {
    PrintReplayJson(*report, std::cout);
  } else {
    PrintReplayTable(*report, std::cout);
  }
  std::cout.flush();
  return 0;
}

// ---------------------------------------------------------------------------
// report

int RunReport(const ParsedArgs& args) {
  const std::string program = "qtune report";
  if (!args.given.count("out") || absl::GetFlag(FLAGS_out).empty()) {
    return cli::ReportError(program, absl::InvalidArgumentError("--out FILE is required"));
  }
  ReportOptions options;
  options.model = absl::GetFlag(FLAGS_model);
  if (args.given.count("device")) options.device_key = absl::GetFlag(FLAGS_device);
  if (args.given.count("job")) options.job_id = absl::GetFlag(FLAGS_job);
  absl::StatusOr<std::unique_ptr<db::Store>> store =
      db::Store::Open(absl::GetFlag(FLAGS_db), db::Store::Mode::kReadOnly);
  if (!store.ok()) return cli::ReportError(program, store.status());
  // Render fully before touching --out, so a failure leaves no partial file.
  std::ostringstream page;
  if (absl::Status s = WriteHtmlReport(**store, options, page); !s.ok()) {
    return cli::ReportError(program, s);
  }
  const std::string path = absl::GetFlag(FLAGS_out);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << page.str();
  out.close();
  if (!out) {
    return cli::ReportError(program, absl::UnavailableError(absl::StrCat("cannot write ", path)));
  }
  std::cout << "wrote " << path << " (" << page.str().size() << " bytes)\n";
  return 0;
}

// ---------------------------------------------------------------------------

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(MainUsage());
  std::vector<std::string> normalized = cli::NormalizeFlagNames(argc, argv);
  if (normalized.size() < 2) {
    std::cerr << MainUsage();
    return 2;
  }
  const std::string& first = normalized[1];
  if (first == "--help" || first == "-h" || first == "-help") {
    std::cout << MainUsage();
    return 0;
  }
  const Subcommand* cmd = FindCommand(first);
  if (cmd == nullptr) {
    return cli::ReportError(kProgram, absl::InvalidArgumentError(absl::StrCat(
                                          "unknown command '", first, "'; commands: ",
                                          CommandNames())));
  }
  const std::vector<std::string> rest(normalized.begin() + 2, normalized.end());
  absl::StatusOr<ParsedArgs> args = ParseSubcommandArgs(*cmd, rest);
  if (!args.ok()) return cli::ReportError(absl::StrCat(kProgram, " ", cmd->name), args.status());
  if (args->help) {
    std::cout << SubcommandUsage(kProgram, *cmd);
    return 0;
  }
  if (cmd->name == "help") {
    if (args->positional.empty()) {
      std::cout << MainUsage();
      return 0;
    }
    const Subcommand* target = FindCommand(args->positional[0]);
    if (target == nullptr || args->positional.size() > 1) {
      return cli::ReportError(kProgram, absl::InvalidArgumentError(absl::StrCat(
                                            "unknown command '", args->positional.back(),
                                            "'; commands: ", CommandNames())));
    }
    std::cout << SubcommandUsage(kProgram, *target);
    return 0;
  }

  // The flags are known to be valid for this command; let Abseil parse them
  // for real (same values) so that the standard flag machinery stays in charge.
  std::vector<char*> abseil_argv;
  abseil_argv.push_back(normalized[0].data());
  for (size_t i = 2; i < normalized.size(); ++i) abseil_argv.push_back(normalized[i].data());
  absl::ParseCommandLine(static_cast<int>(abseil_argv.size()), abseil_argv.data());

  if (cmd->name == "tune") return RunTune(*args);
  if (cmd->name == "tasks") return RunTasks();
  if (cmd->name == "models") return RunModels();
  if (cmd->name == "info") return RunInfo();
  if (cmd->name == "db") return RunDb(*args);
  if (cmd->name == "bench-search") return RunBenchSearch(*args);
  if (cmd->name == "report") return RunReport(*args);
  return cli::ReportError(kProgram, absl::InternalError("command without implementation"));
}

}  // namespace
}  // namespace qtune::tuner

int main(int argc, char** argv) { return qtune::tuner::Main(argc, argv); }
