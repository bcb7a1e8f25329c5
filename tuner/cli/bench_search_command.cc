#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "common/cli.h"
#include "qtune/db/store.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/flags.h"
#include "tuner/search/replay.h"
#include "tuner/search/search_strategy.h"

ABSL_FLAG(int32_t, budget, 64, "bench-search: trials per replayed run (ratios at 8, 16, 32, 64, 128 "
          "up to it)");
ABSL_FLAG(bool, anneal, false,
          "bench-search: the model strategy anneals in the (very sparse) replay space as on a "
          "large space, instead of scoring every recorded config");
ABSL_FLAG(int32_t, repeats, 20, "bench-search: replayed runs per task, with seeds derived from --seed");

namespace qtune::tuner {
namespace {

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

}  // namespace

Command BenchSearchCommand() {
  return {Subcommand{"bench-search", "",
       "Replay a search strategy against the trials recorded in a database.",
       "For each (device, workload) with OK trials, runs the strategy --repeats times on a\n"
       "space made of exactly the recorded configs (it cannot propose anything else), answering\n"
       "each proposal with its recorded latency, and prints the mean ratio best-known /\n"
       "best-found after 8, 16, 32, 64 and 128 trials (up to --budget) per task and the\n"
       "median over tasks. Deterministic for a --seed. Collect the records first, e.g. with\n"
       "`qtune tune --strategy random --trials 1000`.\n"
       "Exit status: 0 done, 1 failed, 2 bad input.",
       {"db", "strategy", "budget", "repeats", "device", "seed", "batch_size", "anneal", "transfer",
        "json"}, ""}, RunBenchSearch};
}

}  // namespace qtune::tuner
