#include "tuner/report.h"

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

using json::JsonLine;

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
    JsonLine json;
    json.Str("event", "row")
        .Str("layer", t.task.layer)
        .Str("dtype", DTypeOf(t))
        .Str("shape", kernels::ShapeString(t.task.op))
        .Str("workload_key", t.workload_key)
        .Int("occurrences", t.task.occurrences)
        .Int("macs", t.task.op.macs())
        .Int("trials", t.trials)
        .Int("ok_trials", t.ok_trials);
    if (t.best) {
      json.Double("best_us", t.best->median_us)
          .Str("kernel", t.best->kernel)
          .Str("config", t.best->config)
          .Bool("from_history", t.best->from_history)
          .Str("best_job_id", t.best->job_id);
    } else {
      json.Null("best_us");
    }
    if (row.gops) json.Double("gops", *row.gops);
    if (row.int8_speedup) json.Double("int8_speedup", *row.int8_speedup);
    json.Str("status", StatusText(t));
    out << std::move(json).Finish() << "\n";
  }
  for (const DTypeTotal& total : table.totals) {
    out << std::move(JsonLine()
               .Str("event", "total")
               .Str("dtype", total.dtype)
               .Int("layers", total.layers)
               .Double("weighted_us", total.weighted_us)
               ).Finish()
        << "\n";
  }
  if (table.int8_speedup) {
    out << std::move(JsonLine()
               .Str("event", "total")
               .Str("dtype", "int8/fp32")
               .Int("layers", table.speedup_layers)
               .Double("speedup", *table.int8_speedup)
               ).Finish()
        << "\n";
  }
}

void PrintSummaryJson(const TuneReport& report, const std::string& db_path, std::ostream& out) {
  out << std::move(JsonLine()
             .Str("event", "summary")
             .Str("state", report.state)
             .Str("job_id", report.job_id)
             .Str("db", db_path)
             .Str("device_key", report.device_key)
             .Str("kernel_build", report.kernel_build)
             .Bool("resumed", report.resumed)
             .Int("tasks", static_cast<int64_t>(report.tasks.size()))
             .Int("trials", report.trials)
             .Double("wall_s", report.wall_s)
             .Double("measure_s", report.measure_s)
             .Double("overhead_ms_per_trial", report.overhead_ms_per_trial)
             ).Finish()
      << "\n";
}

void PrintSummary(const TuneReport& report, const std::string& db_path, std::ostream& out) {
  out << absl::StrFormat(
      "%d trials in %.1f s (measuring %.1f s, overhead %.1f ms/trial); job %s%s on %s "
      "(kernel build %s) -> %s\n",
      report.trials, report.wall_s, report.measure_s, report.overhead_ms_per_trial, report.job_id,
      report.resumed ? " (resumed)" : "", report.device_key, report.kernel_build, db_path);
}

// ---------------------------------------------------------------------------

void ProgressBar::OnJobStart(const TuneReport& report, size_t num_tasks) {
  num_tasks_ = num_tasks;
  start_ = absl::Now();
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
  absl::StrAppendFormat(&line, "  %.0fs", absl::ToDoubleSeconds(absl::Now() - start_));
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
  out_ << std::move(JsonLine()
              .Str("event", "job_start")
              .Str("job_id", report.job_id)
              .Str("device_key", report.device_key)
              .Int("tasks", static_cast<int64_t>(num_tasks))
              .Str("db", db_path_)
              ).Finish()
       << std::endl;
}

void JsonLinesObserver::OnTaskStart(size_t index, const TaskOutcome& task) {
  out_ << std::move(JsonLine()
              .Str("event", "task_start")
              .Int("index", static_cast<int64_t>(index))
              .Int("of", static_cast<int64_t>(num_tasks_))
              .Str("task", task.task.name)
              .Str("layer", task.task.layer)
              .Str("dtype", DTypeOf(task))
              .Str("shape", kernels::ShapeString(task.task.op))
              .Str("workload_key", task.workload_key)
              ).Finish()
       << std::endl;
}

void JsonLinesObserver::OnBatch(size_t index, const TaskOutcome& task, int64_t batch_trials) {
  JsonLine json;
  json.Str("event", "batch")
      .Int("index", static_cast<int64_t>(index))
      .Str("task", task.task.name)
      .Int("batch_trials", batch_trials)
      .Int("trials", task.trials)
      .Int("ok_trials", task.ok_trials);
  if (task.best) {
    json.Double("best_us", task.best->median_us)
        .Str("best_kernel", task.best->kernel)
        .Str("best_config", task.best->config);
  } else {
    json.Null("best_us");
  }
  out_ << std::move(json).Finish() << std::endl;
}

void JsonLinesObserver::OnTaskEnd(size_t index, const TaskOutcome& task) {
  JsonLine json;
  json.Str("event", "task_done")
      .Int("index", static_cast<int64_t>(index))
      .Str("task", task.task.name)
      .Int("trials", task.trials)
      .Int("ok_trials", task.ok_trials)
      .Int("history_trials", task.history_trials)
      .Int("space_size", static_cast<int64_t>(task.space_size));
  if (task.best) {
    json.Double("best_us", task.best->median_us);
  } else {
    json.Null("best_us");
  }
  json.Str("status", StatusText(task))
      .Str("end", task.end_reason)
      .Int("transfer_sources", task.transfer_sources)
      .Int("transfer_seeds", task.transfer_seeds);
  out_ << std::move(json).Finish() << std::endl;
}

}  // namespace qtune::tuner
