#include "tuner/report/report.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json.h"

namespace qtune::tuner {
namespace {

using json::Json;

std::string DTypeOf(const TaskOutcome& t) { return std::string(kernels::DTypeName(t.task.dtype)); }

std::string StatusText(const TaskOutcome& t) {
  return t.status.ok() ? "ok" : std::string(t.status.message());
}

// Left-aligned text columns and right-aligned numeric ones; the last column
// is not padded.
void PrintColumns(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right_aligned, std::ostream& out) {
  std::vector<size_t> width(right_aligned.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const bool last = i + 1 == row.size();
      const std::string pad(width[i] - row[i].size(), ' ');
      if (right_aligned[i]) {
        line += pad + row[i];
      } else {
        line += row[i];
        if (!last) line += pad;
      }
      if (!last) line += "  ";
    }
    out << line << "\n";
  }
}

}  // namespace

Table BuildTable(const TuneReport& report) {
  Table table;
  // layer -> fp32 best latency, for the int8 speedup column.
  std::map<std::string, double> fp32_best;
  for (const TaskOutcome& t : report.tasks) {
    if (t.task.dtype == kernels::DType::kFp32 && t.best) fp32_best[t.task.layer] = t.best->median_us;
  }
  double speedup_int8_us = 0, speedup_fp32_us = 0;
  for (const TaskOutcome& t : report.tasks) {
    TableRow row;
    row.task = &t;
    if (t.best && t.best->median_us > 0) {
      row.gops = 2.0 * static_cast<double>(t.task.op.macs()) / (t.best->median_us * 1e3);
      if (t.task.dtype == kernels::DType::kInt8) {
        auto it = fp32_best.find(t.task.layer);
        if (it != fp32_best.end()) {
          row.int8_speedup = it->second / t.best->median_us;
          speedup_int8_us += t.task.occurrences * t.best->median_us;
          speedup_fp32_us += t.task.occurrences * it->second;
          ++table.speedup_layers;
        }
      }
      const std::string dtype = DTypeOf(t);
      auto total = std::find_if(table.totals.begin(), table.totals.end(),
                                [&](const DTypeTotal& d) { return d.dtype == dtype; });
      if (total == table.totals.end()) {
        table.totals.push_back(DTypeTotal{dtype, 0, 0});
        total = table.totals.end() - 1;
      }
      total->layers++;
      total->weighted_us += t.task.occurrences * t.best->median_us;
    }
    table.rows.push_back(row);
  }
  if (table.speedup_layers > 0 && speedup_int8_us > 0) {
    table.int8_speedup = speedup_fp32_us / speedup_int8_us;
  }
  return table;
}

void PrintTable(const Table& table, std::ostream& out) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"layer", "dtype", "shape", "n", "trials", "best us", "GOP/s", "speedup", "kernel",
                  "config"});
  bool any_history = false;
  for (const TableRow& row : table.rows) {
    const TaskOutcome& t = *row.task;
    std::vector<std::string> cells = {t.task.layer, DTypeOf(t), kernels::ShapeString(t.task.op),
                                      absl::StrCat(t.task.occurrences), absl::StrCat(t.trials)};
    if (t.best) {
      std::string best = absl::StrFormat("%.1f", t.best->median_us);
      if (t.best->from_history) {
        best += "*";
        any_history = true;
      }
      cells.push_back(best);
      cells.push_back(row.gops ? absl::StrFormat("%.1f", *row.gops) : "-");
      cells.push_back(row.int8_speedup ? absl::StrFormat("%.2fx", *row.int8_speedup) : "");
      cells.push_back(t.best->kernel);
      cells.push_back(t.best->config);
    } else {
      cells.insert(cells.end(), {"-", "-", "", "-", t.status.ok() ? "no valid result" :
                                                       std::string(t.status.message())});
    }
    rows.push_back(std::move(cells));
  }
  PrintColumns(rows, {false, false, false, true, true, true, true, true, false, false}, out);
  if (any_history) {
    out << "* best measured by an earlier job on this device with this kernel build\n";
  }
  for (const DTypeTotal& total : table.totals) {
    out << absl::StrFormat("weighted total %-5s %10.3f ms  (%d layers, each x occurrences)\n",
                           total.dtype, total.weighted_us / 1000.0, total.layers);
  }
  if (table.int8_speedup) {
    out << absl::StrFormat("int8 speedup over fp32: %.2fx  (weighted, %d layers tuned in both)\n",
                           *table.int8_speedup, table.speedup_layers);
  }
}

void PrintTableJson(const Table& table, std::ostream& out) {
  for (const TableRow& row : table.rows) {
    const TaskOutcome& t = *row.task;
    Json line = Json::object();
    line["event"] = "row";
    line["layer"] = t.task.layer;
    line["dtype"] = DTypeOf(t);
    line["shape"] = kernels::ShapeString(t.task.op);
    line["workload_key"] = t.workload_key;
    line["occurrences"] = t.task.occurrences;
    line["macs"] = t.task.op.macs();
    line["trials"] = t.trials;
    line["ok_trials"] = t.ok_trials;
    if (t.best) {
      line["best_us"] = json::Number(t.best->median_us);
      line["kernel"] = t.best->kernel;
      line["config"] = t.best->config;
      line["from_history"] = t.best->from_history;
      line["best_job_id"] = t.best->job_id;
    } else {
      line["best_us"] = nullptr;
    }
    if (row.gops) line["gops"] = json::Number(*row.gops);
    if (row.int8_speedup) line["int8_speedup"] = json::Number(*row.int8_speedup);
    line["status"] = StatusText(t);
    out << json::Dump(line) << "\n";
  }
  for (const DTypeTotal& total : table.totals) {
    out << json::Dump(Json{{"event", "total"},
{"dtype", total.dtype},
{"layers", total.layers},
{"weighted_us", json::Number(total.weighted_us)}})
        << "\n";
  }
  if (table.int8_speedup) {
    out << json::Dump(Json{{"event", "total"},
{"dtype", "int8/fp32"},
{"layers", table.speedup_layers},
{"speedup", json::Number(*table.int8_speedup)}})
        << "\n";
  }
}

void PrintSummaryJson(const TuneReport& report, const std::string& db_path, std::ostream& out) {
  out << json::Dump(Json{{"event", "summary"},
{"state", report.state},
{"job_id", report.job_id},
{"db", db_path},
{"device_key", report.device_key},
{"kernel_build", report.kernel_build},
{"resumed", report.resumed},
{"tasks", static_cast<int64_t>(report.tasks.size())},
{"trials", report.trials},
{"wall_s", json::Number(report.wall_s)},
{"measure_s", json::Number(report.measure_s)},
{"overhead_ms_per_trial", json::Number(report.overhead_ms_per_trial)}})
      << "\n";
}

void PrintSummary(const TuneReport& report, const std::string& db_path, std::ostream& out) {
  // Agents measuring in parallel (a daemon's pool) can add up to more
  // measuring time than wall time: there is no per-trial overhead to show.
  const std::string measuring =
      report.overhead_ms_per_trial >= 0
          ? absl::StrFormat("measuring %.1f s, overhead %.1f ms/trial", report.measure_s,
                            report.overhead_ms_per_trial)
          : absl::StrFormat("measuring %.1f s on agents in parallel", report.measure_s);
  out << absl::StrFormat("%d trials in %.1f s (%s); job %s%s on %s (kernel build %s) -> %s\n",
                         report.trials, report.wall_s, measuring, report.job_id,
                         report.resumed ? " (resumed)" : "", report.device_key,
                         report.kernel_build, db_path);
}

// ---------------------------------------------------------------------------

void ProgressBar::OnJobStart(const TuneReport& report, size_t num_tasks) {
  num_tasks_ = num_tasks;
  start_ = clock_.Now();
}

void ProgressBar::OnTaskStart(size_t index, const TaskOutcome& task) { Draw(index, task); }

void ProgressBar::OnTrial(size_t index, const TaskOutcome& task, const db::TrialRecord&) {
  Draw(index, task);
}

void ProgressBar::OnTaskEnd(size_t index, const TaskOutcome& task) { Draw(index, task); }

void ProgressBar::Draw(size_t index, const TaskOutcome& task) {
  constexpr int kBarWidth = 20;
  // Without a cap the bar is scaled to the warm-up trials.
  const int budget = trials_per_task_ > 0 ? trials_per_task_ : kDefaultTrialsPerTask;
  const int filled =
      static_cast<int>(std::min<int64_t>(kBarWidth, task.trials * kBarWidth / budget));
  std::string bar(filled, '#');
  bar.resize(kBarWidth, '.');
  std::string line = absl::StrFormat("[%zu/%zu] %-28s [%s] %3d", index + 1, num_tasks_,
                                     task.task.name, bar, task.trials);
  if (trials_per_task_ > 0) absl::StrAppendFormat(&line, "/%d", budget);
  if (task.best) absl::StrAppendFormat(&line, "  best %.1f us", task.best->median_us);
  absl::StrAppendFormat(&line, "  %.0fs", absl::ToDoubleSeconds(clock_.Now() - start_));
  // Blank out the rest of a longer previous line.
  const size_t width = line.size();
  if (width < last_width_) line.append(last_width_ - width, ' ');
  last_width_ = width;
  std::fprintf(tty_, "\r%s", line.c_str());
  std::fflush(tty_);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (!drawn_) return;
  std::fprintf(tty_, "\n");
  std::fflush(tty_);
  drawn_ = false;
}

// ---------------------------------------------------------------------------

void JsonLinesObserver::OnJobStart(const TuneReport& report, size_t num_tasks) {
  num_tasks_ = num_tasks;
  out_ << json::Dump(Json{{"event", "job_start"},
{"job_id", report.job_id},
{"device_key", report.device_key},
{"tasks", static_cast<int64_t>(num_tasks)},
{"db", db_path_}})
       << std::endl;
}

void JsonLinesObserver::OnTaskStart(size_t index, const TaskOutcome& task) {
  out_ << json::Dump(Json{{"event", "task_start"},
{"index", static_cast<int64_t>(index)},
{"of", static_cast<int64_t>(num_tasks_)},
{"task", task.task.name},
{"layer", task.task.layer},
{"dtype", DTypeOf(task)},
{"shape", kernels::ShapeString(task.task.op)},
{"workload_key", task.workload_key}})
       << std::endl;
}

void JsonLinesObserver::OnBatch(size_t index, const TaskOutcome& task, int64_t batch_trials) {
  Json line = Json::object();
  line["event"] = "batch";
  line["index"] = static_cast<int64_t>(index);
  line["task"] = task.task.name;
  line["batch_trials"] = batch_trials;
  line["trials"] = task.trials;
  line["ok_trials"] = task.ok_trials;
  if (task.best) {
    line["best_us"] = json::Number(task.best->median_us);
    line["best_kernel"] = task.best->kernel;
    line["best_config"] = task.best->config;
  } else {
    line["best_us"] = nullptr;
  }
  out_ << json::Dump(line) << std::endl;
}

void JsonLinesObserver::OnTaskEnd(size_t index, const TaskOutcome& task) {
  Json line = Json::object();
  line["event"] = "task_done";
  line["index"] = static_cast<int64_t>(index);
  line["task"] = task.task.name;
  line["trials"] = task.trials;
  line["ok_trials"] = task.ok_trials;
  line["history_trials"] = task.history_trials;
  line["space_size"] = static_cast<int64_t>(task.space_size);
  if (task.best) {
    line["best_us"] = json::Number(task.best->median_us);
  } else {
    line["best_us"] = nullptr;
  }
  line["status"] = StatusText(task);
  line["end"] = task.end_reason;
  line["transfer_sources"] = task.transfer_sources;
  line["transfer_seeds"] = task.transfer_seeds;
  out_ << json::Dump(line) << std::endl;
}

TuneReport ReportOf(const proto::JobStatus& status) {
  TuneReport report;
  report.job_id = status.job_id();
  report.device_key = status.device_key();
  report.kernel_build = status.kernel_build();
  report.resumed = status.resumed();
  report.state = status.state();
  report.trials = status.trials_done();
  report.wall_s = status.wall_s();
  report.measure_s = status.measure_s();
  report.overhead_ms_per_trial = status.overhead_ms_per_trial();
  for (const proto::TaskProgress& p : status.tasks()) {
    absl::StatusOr<kernels::OpSpec> op = kernels::ParseOpSpec(p.workload_key());
    if (!op.ok()) continue;
    TaskOutcome t;
    t.task.name = p.name();
    t.task.layer = p.layer();
    t.task.op = *op;
    t.task.dtype = op->dtype;
    t.task.occurrences = p.occurrences();
    t.workload_key = p.workload_key();
    t.space_size = p.space_size();
    t.trials = p.trials();
    t.ok_trials = p.ok_trials();
    t.history_trials = p.history_trials();
    if (p.best_us() > 0) {
      t.best = BestTrial{p.config(), p.kernel(), p.best_us(), p.best_job_id(), p.from_history()};
    }
    if (!p.status().empty() && p.status() != "ok") t.status = absl::UnknownError(p.status());
    t.end_reason = p.end_reason();
    t.transfer_sources = p.transfer_sources();
    t.transfer_seeds = p.transfer_seeds();
    report.tasks.push_back(std::move(t));
  }
  return report;
}

}  // namespace qtune::tuner
