#include "tuner/search/replay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "proto/qtune.pb.h"
#include "tuner/search/model_guided_strategy.h"
#include "tuner/search/search_strategy.h"
#include "tuner/search/transfer.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using kernels::ConfigSpace;
using kernels::Knob;

// "a=1,kernel=x86_avx2" as (knob, value text) pairs; none if malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> SplitConfig(
    const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  if (text.empty()) return out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    std::vector<absl::string_view> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty() || kv[1].empty()) return std::nullopt;
    out.emplace_back(std::string(kv[0]), std::string(kv[1]));
  }
  return out;
}

// One disjunction over the configs [begin, end) (value indices in knob
// order, sorted), sharing the prefix [0, depth).
std::string PrefixTreeExpr(const std::vector<Knob>& knobs,
                           const std::vector<std::vector<int>>& rows, size_t begin, size_t end,
                           size_t depth) {
  std::string expr;
  for (size_t i = begin; i < end;) {
    size_t j = i;
    while (j < end && rows[j][depth] == rows[i][depth]) ++j;
    std::string term =
        absl::StrCat(knobs[depth].name, "==", knobs[depth].values[rows[i][depth]]);
    if (depth + 1 < knobs.size()) {
      term = absl::StrCat(term, " && (", PrefixTreeExpr(knobs, rows, i, j, depth + 1), ")");
    }
    absl::StrAppend(&expr, expr.empty() ? "" : " || ", "(", term, ")");
    i = j;
  }
  return expr;
}

// The strategy of one replayed run: the model-guided one with the task's
// context, as `qtune tune` gives it (see ReplayOptions::model_scores_all).
absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeReplayStrategy(const RecordedTask& task,
                                                                   const ReplayOptions& options,
                                                                   const TransferData* transfer) {
  QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<SearchStrategy> strategy,
                         MakeSearchStrategy(options.strategy));
  if (strategy->name() != "model") return strategy;
  ModelGuidedOptions model;
  model.op = task.op;
  model.caches = task.caches;
  if (options.model_scores_all) {
    model.exhaustive_limit = std::max(model.exhaustive_limit, task.space.raw_size());
  }
  auto guided = std::make_unique<ModelGuidedStrategy>(model);
  if (transfer != nullptr) guided->SetTransfer(*transfer);
  return guided;
}

}  // namespace

absl::StatusOr<RecordedTask> RecordedTaskFromTrials(const std::vector<db::TrialRecord>& trials) {
  // Everything but the space, which has no default.
  struct {
    std::string device_key, workload_key, name;
    int64_t skipped = 0;
  } task;
  // Parsed OK trials, grouped by knob set.
  struct Parsed {
    std::vector<std::pair<std::string, std::string>> values;
    double latency_us;
  };
  std::map<std::vector<std::string>, std::vector<Parsed>> by_knobs;
  std::map<std::vector<std::string>, size_t> first_seen;
  int64_t usable = 0;
  for (const db::TrialRecord& t : trials) {
    if (task.name.empty()) task.name = t.task;
    if (task.device_key.empty()) task.device_key = t.device_key;
    if (task.workload_key.empty()) task.workload_key = t.workload_key;
    if (t.status != "OK") continue;
    auto values = SplitConfig(t.config);
    if (!values || values->empty() || !(t.median_us > 0)) {
      ++task.skipped;
      continue;
    }
    std::sort(values->begin(), values->end());
    std::vector<std::string> names;
    for (const auto& [name, value] : *values) names.push_back(name);
    if (std::adjacent_find(names.begin(), names.end()) != names.end()) {
      ++task.skipped;
      continue;
    }
    first_seen.emplace(names, first_seen.size());
    by_knobs[names].push_back(Parsed{*std::move(values), t.median_us});
    ++usable;
  }
  if (by_knobs.empty()) {
    return absl::NotFoundError(absl::StrCat("no usable OK trials for workload '",
                                            task.workload_key, "'"));
  }
  // The knob set of most trials (the earliest on a tie).
  auto chosen = by_knobs.begin();
  for (auto it = by_knobs.begin(); it != by_knobs.end(); ++it) {
    if (it->second.size() > chosen->second.size() ||
        (it->second.size() == chosen->second.size() &&
         first_seen[it->first] < first_seen[chosen->first])) {
      chosen = it;
    }
  }
  const std::vector<std::string>& names = chosen->first;
  const std::vector<Parsed>& parsed = chosen->second;
  task.skipped += usable - static_cast<int64_t>(parsed.size());

  // Knobs: observed values; a knob with any non-integer value is categorical
  // (labels sorted, values 0..n-1).
  std::vector<Knob> knobs(names.size());
  std::vector<std::map<std::string, int64_t>> value_of(names.size());
  for (size_t k = 0; k < names.size(); ++k) {
    knobs[k].name = names[k];
    std::set<std::string> texts;
    for (const Parsed& p : parsed) texts.insert(p.values[k].second);
    bool numeric = true;
    std::set<int64_t> numbers;
    for (const std::string& text : texts) {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) {
        numeric = false;
        break;
      }
      numbers.insert(v);
    }
    if (numeric && numbers.size() == texts.size()) {
      knobs[k].values.assign(numbers.begin(), numbers.end());
      for (const std::string& text : texts) {
        int64_t v = 0;
        (void)absl::SimpleAtoi(text, &v);
        value_of[k][text] = v;
      }
    } else {
      for (const std::string& text : texts) {
        value_of[k][text] = static_cast<int64_t>(knobs[k].values.size());
        knobs[k].values.push_back(static_cast<int64_t>(knobs[k].values.size()));
        knobs[k].labels.push_back(text);
      }
    }
  }

  std::map<Config, double> latency;
  for (const Parsed& p : parsed) {
    Config c;
    for (size_t k = 0; k < names.size(); ++k) c[names[k]] = value_of[k].at(p.values[k].second);
    auto [it, inserted] = latency.emplace(c, p.latency_us);
    if (!inserted) it->second = std::min(it->second, p.latency_us);
  }

  // Value indices of every recorded config, sorted, for the prefix tree.
  std::vector<std::vector<int>> rows;
  uint64_t raw = 1;
  for (const Knob& knob : knobs) raw = raw * knob.values.size();
  for (const auto& [config, us] : latency) {
    std::vector<int> row;
    for (const Knob& knob : knobs) {
      const int64_t v = config.at(knob.name);
      row.push_back(static_cast<int>(
          std::find(knob.values.begin(), knob.values.end(), v) - knob.values.begin()));
    }
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end());
  std::vector<std::string> constraints;
  if (rows.size() < raw) constraints.push_back(PrefixTreeExpr(knobs, rows, 0, rows.size(), 0));
  QTUNE_ASSIGN_OR_RETURN(ConfigSpace space, ConfigSpace::Create(knobs, std::move(constraints),
                                                               latency.begin()->first));
  double best = std::numeric_limits<double>::infinity();
  for (const auto& [config, us] : latency) best = std::min(best, us);
  std::optional<kernels::OpSpec> op;
  if (absl::StatusOr<kernels::OpSpec> parsed = kernels::ParseOpSpec(task.workload_key); parsed.ok()) {
    op = *parsed;
  }
  return RecordedTask{task.device_key, task.workload_key, task.name, std::move(op),
                      DeviceCaches{}, std::move(space), std::move(latency), best, task.skipped};
}

absl::StatusOr<std::vector<RecordedTask>> LoadRecordedTasks(
    const db::Store& store, const std::optional<std::string>& device_key) {
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::DeviceRecord> devices, store.Devices());
  std::map<std::string, DeviceCaches> caches;
  for (const db::DeviceRecord& d : devices) caches[d.device_key] = CachesOfJson(d.info_json);

  db::Filter filter;
  filter.device_key = device_key;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialRecord> trials, store.History(filter));
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, std::vector<db::TrialRecord>> groups;
  for (db::TrialRecord& t : trials) {
    auto key = std::make_pair(t.device_key, t.workload_key);
    auto [it, inserted] = groups.try_emplace(key);
    if (inserted) order.push_back(key);
    it->second.push_back(std::move(t));
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<RecordedTask> tasks;
  for (const auto& key : order) {
    absl::StatusOr<RecordedTask> task = RecordedTaskFromTrials(groups[key]);
    if (absl::IsNotFound(task.status())) continue;  // no OK trial
    QTUNE_RETURN_IF_ERROR(task.status());
    if (auto it = caches.find(key.first); it != caches.end()) task->caches = it->second;
    tasks.push_back(*std::move(task));
  }
  if (tasks.empty()) {
    return absl::NotFoundError(
        device_key ? absl::StrCat("no OK trials recorded for device '", *device_key, "'")
                   : std::string("no OK trials recorded in the database"));
  }
  return tasks;
}

absl::StatusOr<ReplayTaskResult> ReplayOne(const RecordedTask& task, const ReplayOptions& options,
                                           const TransferData* transfer) {
  if (options.budget < 1 || options.repeats < 1 || options.batch_size < 1) {
    return absl::InvalidArgumentError("budget, repeats and batch size must be at least 1");
  }
  if (!std::is_sorted(options.checkpoints.begin(), options.checkpoints.end())) {
    return absl::InvalidArgumentError("checkpoints must be ascending");
  }
  ReplayTaskResult result;
  result.device_key = task.device_key;
  result.workload_key = task.workload_key;
  result.name = task.name;
  result.recorded_configs = task.latency_us.size();
  result.raw_configs = task.space.raw_size();
  result.best_known_us = task.best_known_us;
  std::vector<double> sums(options.checkpoints.size(), 0);
  int64_t total_trials = 0;
  for (int r = 0; r < options.repeats; ++r) {
    QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<SearchStrategy> strategy, MakeReplayStrategy(task, options, transfer));
    QTUNE_RETURN_IF_ERROR(strategy->Init(task.space, options.seed * 1000003u + r, {}));
    // best_after[k-1]: best latency after k trials.
    std::vector<double> best_after;
    double best = std::numeric_limits<double>::infinity();
    while (static_cast<int>(best_after.size()) < options.budget) {
      const size_t n = static_cast<size_t>(
          std::min<int>(options.batch_size, options.budget - static_cast<int>(best_after.size())));
      std::vector<Config> batch = strategy->ProposeBatch(n);
      if (batch.empty()) break;
      std::vector<Measurement> measured;
      for (Config& c : batch) {
        auto it = task.latency_us.find(c);
        Measurement m{std::move(c), it != task.latency_us.end(), 0};
        if (m.ok) {
          m.latency_us = it->second;
          best = std::min(best, m.latency_us);
        } else {
          ++result.unrecorded;
        }
        best_after.push_back(best);
        measured.push_back(std::move(m));
      }
      strategy->Notify(measured);
    }
    total_trials += static_cast<int64_t>(best_after.size());
    for (size_t i = 0; i < options.checkpoints.size(); ++i) {
      const int k = options.checkpoints[i];
      if (k > options.budget || best_after.empty()) continue;
      const double found = best_after[std::min<size_t>(k, best_after.size()) - 1];
      if (std::isfinite(found)) sums[i] += task.best_known_us / found;
    }
  }
  for (size_t i = 0; i < options.checkpoints.size(); ++i) {
    if (options.checkpoints[i] > options.budget) {
      result.mean_ratio.push_back(std::nullopt);
    } else {
      result.mean_ratio.push_back(sums[i] / options.repeats);
    }
  }
  result.mean_trials = static_cast<double>(total_trials) / options.repeats;
  return result;
}

TransferData ReplayTransfer(const std::vector<RecordedTask>& tasks, size_t target,
                            const ReplayOptions& options) {
  TransferData data;
  const RecordedTask& task = tasks[target];
  if (!task.op) return data;
  const TransferOptions limits;
  std::vector<std::pair<double, size_t>> nearest;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (i == target || !tasks[i].op) continue;
    double distance = ShapeDistance(*task.op, *tasks[i].op);
    if (!(distance <= limits.max_distance)) continue;
    if (tasks[i].device_key != task.device_key) distance += 0.5;
    nearest.emplace_back(distance, i);
  }
  std::stable_sort(nearest.begin(), nearest.end());
  std::mt19937_64 rng(options.seed * 7919u + target);
  for (const auto& [distance, i] : nearest) {
    if (static_cast<int>(data.groups.size()) >= limits.max_groups) break;
    const RecordedTask& source = tasks[i];
    TransferGroup group;
    group.device_key = source.device_key;
    group.workload_key = source.workload_key;
    group.op = *source.op;
    group.caches = source.caches;
    group.distance = distance;
    for (const auto& [config, latency] : source.latency_us) {
      kernels::Config c = ParseForSpace(task.space, source.space.ToString(config));
      if (!c.empty()) group.trials.push_back(Measurement{std::move(c), true, latency});
    }
    std::shuffle(group.trials.begin(), group.trials.end(), rng);
    if (static_cast<int>(group.trials.size()) > options.transfer_trials) {
      group.trials.resize(std::max(options.transfer_trials, 0));
    }
    if (!group.trials.empty()) data.groups.push_back(std::move(group));
  }
  data.seeds = PickSeeds(data.groups, task.space, limits.max_seeds);
  return data;
}

absl::StatusOr<ReplayReport> Replay(const std::vector<RecordedTask>& tasks,
                                    const ReplayOptions& options) {
  ReplayReport report;
  report.options = options;
  for (size_t i = 0; i < tasks.size(); ++i) {
    std::optional<TransferData> transfer;
    if (options.transfer) transfer = ReplayTransfer(tasks, i, options);
    QTUNE_ASSIGN_OR_RETURN(ReplayTaskResult r,
                           ReplayOne(tasks[i], options, transfer ? &*transfer : nullptr));
    report.tasks.push_back(std::move(r));
  }
  for (size_t i = 0; i < options.checkpoints.size(); ++i) {
    std::vector<double> values;
    for (const ReplayTaskResult& t : report.tasks) {
      if (t.mean_ratio[i]) values.push_back(*t.mean_ratio[i]);
    }
    if (values.empty()) {
      report.median_ratio.push_back(std::nullopt);
      continue;
    }
    std::sort(values.begin(), values.end());
    const size_t m = values.size() / 2;
    report.median_ratio.push_back(values.size() % 2 ? values[m]
                                                    : (values[m - 1] + values[m]) / 2);
  }
  return report;
}

namespace {

std::string RatioCell(const std::optional<double>& r) {
  return r ? absl::StrFormat("%.3f", *r) : std::string("-");
}

}  // namespace

void PrintReplayTable(const ReplayReport& report, std::ostream& out) {
  out << absl::StrFormat("strategy %s, budget %d, %d repeats, seed %d: mean best-known/best-found\n",
                         report.options.strategy, report.options.budget, report.options.repeats,
                         report.options.seed);
  std::string header = absl::StrFormat("%-28s %-6s %8s %11s", "task", "dtype", "configs", "best_us");
  for (int k : report.options.checkpoints) absl::StrAppend(&header, absl::StrFormat(" %7s", absl::StrCat("@", k)));
  out << header << "\n";
  for (const ReplayTaskResult& t : report.tasks) {
    std::string dtype = t.workload_key;
    if (auto parts = std::vector<std::string>(absl::StrSplit(t.workload_key, '/')); parts.size() > 1) {
      dtype = parts[1];
    }
    std::string row = absl::StrFormat("%-28s %-6s %8d %11.2f",
                                      t.name.empty() ? t.workload_key : t.name, dtype,
                                      t.recorded_configs, t.best_known_us);
    for (const auto& r : t.mean_ratio) absl::StrAppend(&row, absl::StrFormat(" %7s", RatioCell(r)));
    out << row << "\n";
  }
  std::string row = absl::StrFormat("%-28s %-6s %8s %11s", absl::StrCat("median (", report.tasks.size(), " tasks)"), "", "", "");
  for (const auto& r : report.median_ratio) absl::StrAppend(&row, absl::StrFormat(" %7s", RatioCell(r)));
  out << row << "\n";
}

void PrintReplayJson(const ReplayReport& report, std::ostream& out) {
  auto ratios = [&](json::Json& line, const std::vector<std::optional<double>>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
      const std::string key = absl::StrCat("ratio_at_", report.options.checkpoints[i]);
      if (values[i]) {
        line[key] = json::Number(*values[i]);
      } else {
        line[key] = nullptr;
      }
    }
  };
  for (const ReplayTaskResult& t : report.tasks) {
    json::Json line = json::Json::object();
    line["device"] = t.device_key;
    line["workload"] = t.workload_key;
    line["task"] = t.name;
    line["strategy"] = report.options.strategy;
    line["configs"] = static_cast<int64_t>(t.recorded_configs);
    line["raw_configs"] = static_cast<int64_t>(std::min<uint64_t>(t.raw_configs, INT64_MAX));
    line["best_known_us"] = json::Number(t.best_known_us);
    line["mean_trials"] = json::Number(t.mean_trials);
    line["unrecorded"] = t.unrecorded;
    ratios(line, t.mean_ratio);
    out << json::Dump(line) << "\n";
  }
  json::Json line = json::Json::object();
  line["summary"] = true;
  line["strategy"] = report.options.strategy;
  line["transfer"] = report.options.transfer;
  line["budget"] = report.options.budget;
  line["repeats"] = report.options.repeats;
  line["seed"] = static_cast<int64_t>(report.options.seed);
  line["tasks"] = static_cast<int64_t>(report.tasks.size());
  ratios(line, report.median_ratio);
  out << json::Dump(line) << "\n";
}

}  // namespace qtune::tuner
