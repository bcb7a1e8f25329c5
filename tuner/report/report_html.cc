#include "tuner/report/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "proto/qtune.pb.h"
#include "qtune/kernels/op_spec.h"
#include "tuner/core/model_zoo.h"

namespace qtune::tuner {
namespace {

bool HasFeature(const std::vector<std::string>& features, std::string_view name) {
  return std::find(features.begin(), features.end(), name) != features.end();
}

// "1234", "123.4", "12.34", "1.234": enough digits without noise.
std::string Num(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  if (a >= 1000) return absl::StrFormat("%.0f", v);
  if (a >= 100) return absl::StrFormat("%.1f", v);
  if (a >= 10) return absl::StrFormat("%.2f", v);
  return absl::StrFormat("%.3f", v);
}

// Axis end labels: whole numbers without decimals (trial numbers), else one.
std::string AxisNum(double v) {
  if (!std::isfinite(v)) return "-";
  if (std::fabs(v - std::round(v)) < 1e-9) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.1f", v);
}

std::string Coord(double v) { return absl::StrFormat("%.1f", v); }

std::optional<absl::Time> ParseTimestamp(const std::string& text) {
  absl::Time t;
  std::string err;
  if (text.empty() || !absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return std::nullopt;
  return t;
}

// A task's key within the report: (layer, dtype).
using TaskKey = std::pair<std::string, std::string>;

struct LayerRow {
  std::string layer;
  int occurrences = 1;
  std::string shape;
  std::map<std::string, std::string> workload_by_dtype;  // dtype -> workload_key
  int zoo_index = std::numeric_limits<int>::max();
  int first_seen = 0;
};

// One point of a chart's series.
struct Point {
  double x = 0;
  bool ok = false;
  double us = 0;
};

// A small line chart of best-so-far latency (a step line, log scale) over `points`
// (x ascending); failed trials are red ticks on the x axis; `best_known`, when
// set, is a dashed line.
std::string Chart(const std::vector<Point>& points, const std::string& x_title,
                  std::optional<double> best_known) {
  constexpr double kW = 300, kH = 150, kLeft = 52, kRight = 8, kTop = 8, kBottom = 30;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">",
      static_cast<int>(kW), static_cast<int>(kH), static_cast<int>(kW), static_cast<int>(kH));
  absl::StrAppend(&svg, "<rect x=\"", Coord(kLeft), "\" y=\"", Coord(kTop), "\" width=\"",
                  Coord(pw), "\" height=\"", Coord(ph), "\" class=\"frame\"/>");
  if (points.empty()) {
    absl::StrAppend(&svg, "<text x=\"", Coord(kLeft + pw / 2), "\" y=\"", Coord(kTop + ph / 2),
                    "\" text-anchor=\"middle\">no trials</text></svg>");
    return svg;
  }
  double xmin = points.front().x, xmax = points.back().x;
  double ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
  double best = std::numeric_limits<double>::infinity();
  for (const Point& p : points) {
    if (!p.ok) continue;
    best = std::min(best, p.us);
    ymin = std::min(ymin, best);
    ymax = std::max(ymax, best);
  }
  const bool any_ok = std::isfinite(best);
  if (best_known && any_ok) ymin = std::min(ymin, *best_known);
  if (!any_ok) ymin = 1, ymax = 2;
  if (ymax - ymin < 1e-9 * std::max(1.0, ymax)) {
    const double pad = std::max(0.05 * ymax, 1e-3);
    ymin -= pad, ymax += pad;
  }
  if (xmax <= xmin) xmax = xmin + 1;
  auto sx = [&](double x) { return kLeft + (x - xmin) / (xmax - xmin) * pw; };
  // Log scale: the first trials are often 10x off the best, and the last
  // percents are what matter.
  const double lmin = std::log(ymin), lmax = std::log(ymax);
  auto sy = [&](double y) { return kTop + (lmax - std::log(y)) / (lmax - lmin) * ph; };

  // Axis labels: latency range on the left, x range below.
  absl::StrAppend(&svg, "<text x=\"", Coord(kLeft - 3), "\" y=\"", Coord(kTop + 9),
                  "\" text-anchor=\"end\">", Num(ymax), "</text>");
  absl::StrAppend(&svg, "<text x=\"", Coord(kLeft - 3), "\" y=\"", Coord(kTop + ph),
                  "\" text-anchor=\"end\">", Num(ymin), "</text>");
  absl::StrAppend(&svg, "<text x=\"", Coord(kLeft - 3), "\" y=\"", Coord(kTop + ph / 2 + 4),
                  "\" text-anchor=\"end\">\xC2\xB5s (log)</text>");
  absl::StrAppend(&svg, "<text x=\"", Coord(kLeft), "\" y=\"", Coord(kTop + ph + 12),
                  "\" text-anchor=\"start\">", AxisNum(xmin), "</text>");
  absl::StrAppend(&svg, "<text x=\"", Coord(kLeft + pw), "\" y=\"", Coord(kTop + ph + 12),
                  "\" text-anchor=\"end\">", AxisNum(xmax), "</text>");
  absl::StrAppend(&svg, "<text x=\"", Coord(kLeft + pw / 2), "\" y=\"", Coord(kH - 4),
                  "\" text-anchor=\"middle\">", HtmlEscape(x_title), "</text>");

  if (best_known && any_ok) {
    const double y = sy(*best_known);
    absl::StrAppend(&svg, "<line class=\"known\" x1=\"", Coord(kLeft), "\" y1=\"", Coord(y),
                    "\" x2=\"", Coord(kLeft + pw), "\" y2=\"", Coord(y), "\"/>");
  }
  // Failed trials.
  for (const Point& p : points) {
    if (p.ok) continue;
    const double x = sx(p.x);
    absl::StrAppend(&svg, "<line class=\"fail\" x1=\"", Coord(x), "\" y1=\"", Coord(kTop + ph),
                    "\" x2=\"", Coord(x), "\" y2=\"", Coord(kTop + ph - 5), "\"/>");
  }
  // Best-so-far step line.
  if (any_ok) {
    std::string pts;
    double cur = std::numeric_limits<double>::infinity();
    for (const Point& p : points) {
      if (!p.ok || p.us >= cur) continue;
      if (std::isfinite(cur)) absl::StrAppend(&pts, Coord(sx(p.x)), ",", Coord(sy(cur)), " ");
      cur = p.us;
      absl::StrAppend(&pts, Coord(sx(p.x)), ",", Coord(sy(cur)), " ");
    }
    absl::StrAppend(&pts, Coord(sx(xmax)), ",", Coord(sy(cur)));
    absl::StrAppend(&svg, "<polyline class=\"best\" points=\"", pts, "\"/>");
  }
  absl::StrAppend(&svg, "</svg>");
  return svg;
}

constexpr char kStyle[] = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em}
th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top}
th{background:#f3f3f3;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:bold;background:#fafafa}
code{font-size:.95em;word-break:break-all}
.meta td:first-child{font-weight:bold}
.tasks{display:flex;flex-wrap:wrap;gap:12px}
.task{border:1px solid #ddd;padding:6px;border-radius:4px}
.task h3{font-size:.9em;margin:0 0 4px 0}
.task p{font-size:.8em;margin:2px 0}
svg.chart{font-size:9px;font-family:sans-serif}
svg.chart .frame{fill:#fcfcfc;stroke:#999;stroke-width:1}
svg.chart .best{fill:none;stroke:#1f5fbf;stroke-width:1.5}
svg.chart .known{stroke:#2a2;stroke-width:1;stroke-dasharray:4 3}
svg.chart .fail{stroke:#d22;stroke-width:1}
.note{font-size:.85em;color:#555;max-width:60em}
)css";

// The clock the peak uses, and how the page names and explains it.
struct ClockChoice {
  double ghz = kAssumedClockGhz;
  std::string label;        // column header: "given", "measured by the agent", "assumed"
  std::string explanation;  // a sentence for the note under the peak table
};

ClockChoice ChooseClock(std::optional<double> given_ghz, double measured_ghz) {
  if (given_ghz) {
    return {*given_ghz, "given",
            absl::StrCat("the clock, ", Num(*given_ghz),
                         " GHz, was given to the report, not measured by it.")};
  }
  if (std::isfinite(measured_ghz) && measured_ghz > 0) {
    return {measured_ghz, "measured by the agent",
            absl::StrCat("the clock, ", Num(measured_ghz),
                         " GHz, is the sustained single-core clock the agent measured when "
                         "the latest job started, with a chain of dependent integer adds "
                         "(DeviceInfo clock_ghz); the clock during the timed runs, with every "
                         "core busy and on a shared host, can differ by several percent, and "
                         "the % of peak with it.")};
  }
  return {kAssumedClockGhz, "assumed",
          absl::StrCat("the clock, ", Num(kAssumedClockGhz),
                       " GHz, is an assumption, not a measurement: the device record has no "
                       "measured clock (written by an older agent, or one that could not "
                       "measure it).")};
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

PeakEntry PeakOpsPerCycle(std::string_view arch, const std::vector<std::string>& f,
                          std::string_view dtype) {
  const bool int8 = dtype == "int8";
  if (arch == "x86_64") {
    if (int8) {
      if (HasFeature(f, "avx512_vnni")) return {256, "avx512_vnni"};
      if (HasFeature(f, "avx_vnni")) return {128, "avx_vnni"};
      if (HasFeature(f, "avx512bw")) return {128, "avx512bw"};
      if (HasFeature(f, "avx2")) return {64, "avx2"};
      if (HasFeature(f, "sse4_1")) return {16, "sse4_1"};
    } else {
      if (HasFeature(f, "avx512f")) return {64, "avx512f"};
      if (HasFeature(f, "fma")) return {32, "fma"};
      if (HasFeature(f, "avx")) return {16, "avx"};
      if (HasFeature(f, "sse4_1")) return {8, "sse4_1"};
    }
  } else if (arch == "aarch64") {
    if (int8) {
      if (HasFeature(f, "i8mm")) return {128, "i8mm"};
      if (HasFeature(f, "dotprod")) return {64, "dotprod"};
      if (HasFeature(f, "asimd")) return {32, "asimd"};
    } else {
      if (HasFeature(f, "asimd")) return {16, "asimd"};
    }
  }
  return {2, "scalar"};
}

absl::Status WriteHtmlReport(const db::Store& store, const ReportOptions& options,
                             std::ostream& out) {
  if (options.model.empty()) return absl::InvalidArgumentError("report: no model given");
  if (options.clock_ghz && !(*options.clock_ghz > 0)) {
    return absl::InvalidArgumentError("report: clock must be > 0 GHz");
  }
  const std::string model_lc = absl::AsciiStrToLower(options.model);

  // Jobs of the model (on the device, when given), oldest first.
  db::Filter job_filter;
  job_filter.device_key = options.device_key;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::JobRecord> all_jobs, store.Jobs(job_filter));
  std::vector<std::string> models;  // for the error message
  for (const db::JobRecord& j : all_jobs) {
    if (std::find(models.begin(), models.end(), j.model) == models.end()) models.push_back(j.model);
  }
  std::sort(models.begin(), models.end());
  std::vector<db::JobRecord> jobs;
  for (db::JobRecord& j : all_jobs) {
    if (absl::AsciiStrToLower(j.model) == model_lc) jobs.push_back(std::move(j));
  }
  std::stable_sort(jobs.begin(), jobs.end(), [](const db::JobRecord& a, const db::JobRecord& b) {
    return std::tie(a.created_at, a.job_id) < std::tie(b.created_at, b.job_id);
  });
  if (jobs.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "report: no job of model '", options.model, "'", options.device_key ? " on device '" : "",
        options.device_key.value_or(""), options.device_key ? "'" : "", " in ", store.path(),
        " (models: ", models.empty() ? "none" : absl::StrJoin(models, ", "), ")"));
  }
  const std::string device_key = options.device_key.value_or(jobs.back().device_key);
  std::erase_if(jobs, [&](const db::JobRecord& j) { return j.device_key != device_key; });

  const db::JobRecord* job = &jobs.back();
  if (options.job_id) {
    auto it = std::find_if(jobs.begin(), jobs.end(),
                           [&](const db::JobRecord& j) { return j.job_id == *options.job_id; });
    if (it == jobs.end()) {
      return absl::NotFoundError(absl::StrCat("report: no job '", *options.job_id, "' of model '",
                                              options.model, "' on device '", device_key, "'"));
    }
    job = &*it;
  }

  // Device and its peak.
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::DeviceRecord> devices, store.Devices());
  db::DeviceRecord device;
  device.device_key = device_key;
  for (const db::DeviceRecord& d : devices) {
    if (d.device_key == device_key) device = d;
  }
  proto::DeviceInfo info;
  {
    google::protobuf::util::JsonParseOptions parse;
    parse.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(device.info_json, &info, parse).ok()) {
      info.Clear();
    }
  }
  const std::vector<std::string> features(info.isa_features().begin(), info.isa_features().end());
  const std::string arch = device.arch.empty() ? info.arch() : device.arch;
  const int cores = std::max(1, device.cores > 0 ? device.cores : info.cores());
  const ClockChoice clock = ChooseClock(options.clock_ghz, info.clock_ghz());
  auto peak_gops = [&](const std::string& dtype) {
    return PeakOpsPerCycle(arch, features, dtype).ops_per_cycle * clock.ghz * cores;
  };

  // Workloads, best records, the tasks of every job of the model on the device.
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::WorkloadRecord> workload_list, store.Workloads());
  std::map<std::string, db::WorkloadRecord> workloads;
  for (db::WorkloadRecord& w : workload_list) workloads[w.workload_key] = std::move(w);
  db::Filter device_filter;
  device_filter.device_key = device_key;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::BestRecord> best_list, store.Best(device_filter));
  std::map<std::string, db::BestRecord> best;
  for (db::BestRecord& b : best_list) best[b.workload_key] = std::move(b);

  std::map<std::string, int> zoo_index;
  if (absl::StatusOr<const Model*> model = FindModel(options.model); model.ok()) {
    for (size_t i = 0; i < (*model)->layers.size(); ++i) {
      zoo_index[(*model)->layers[i].name] = static_cast<int>(i);
    }
  }

  // Layers: the chosen job's tasks first, then other jobs' (newest first).
  std::vector<const db::JobRecord*> job_order = {job};
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
    if (&*it != job) job_order.push_back(&*it);
  }
  std::map<std::string, LayerRow> layers;
  std::map<std::string, TaskKey> task_by_name;  // chosen job's task name -> key
  std::vector<TaskKey> job_tasks;               // chosen job's tasks, in task order
  int seen = 0;
  for (const db::JobRecord* j : job_order) {
    db::Filter f;
    f.job_id = j->job_id;
    QTUNE_ASSIGN_OR_RETURN(std::vector<db::TaskRecord> tasks, store.Tasks(f));
    for (const db::TaskRecord& t : tasks) {
      auto w = workloads.find(t.workload_key);
      std::string dtype = w != workloads.end() ? w->second.dtype : "";
      std::string layer = t.name;
      const size_t slash = t.name.rfind('/');
      if (slash != std::string::npos) {
        layer = t.name.substr(0, slash);
        if (dtype.empty()) dtype = t.name.substr(slash + 1);
      }
      LayerRow& row = layers[layer];
      if (row.layer.empty()) {
        row.layer = layer;
        row.occurrences = t.occurrences;
        row.first_seen = seen++;
        auto z = zoo_index.find(layer);
        if (z != zoo_index.end()) row.zoo_index = z->second;
      }
      if (row.shape.empty() && w != workloads.end()) row.shape = w->second.shape;
      row.workload_by_dtype.emplace(dtype, t.workload_key);
      if (j == job) {
        task_by_name[t.name] = TaskKey{layer, dtype};
        job_tasks.push_back(TaskKey{layer, dtype});
      }
    }
  }
  std::vector<const LayerRow*> rows;
  for (const auto& [name, row] : layers) rows.push_back(&row);
  std::sort(rows.begin(), rows.end(), [](const LayerRow* a, const LayerRow* b) {
    return std::tie(a->zoo_index, a->first_seen) < std::tie(b->zoo_index, b->first_seen);
  });
  std::vector<std::string> dtypes;  // "int8" first, then the others sorted
  for (const LayerRow* r : rows) {
    for (const auto& [dtype, key] : r->workload_by_dtype) {
      if (std::find(dtypes.begin(), dtypes.end(), dtype) == dtypes.end()) dtypes.push_back(dtype);
    }
  }
  std::sort(dtypes.begin(), dtypes.end(), [](const std::string& a, const std::string& b) {
    return std::make_pair(a != "int8", a) < std::make_pair(b != "int8", b);
  });

  // The chosen job's trials, per task.
  db::Filter trial_filter;
  trial_filter.job_id = job->job_id;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialRecord> trials, store.History(trial_filter));
  std::stable_sort(
      trials.begin(), trials.end(),
      [](const db::TrialRecord& a, const db::TrialRecord& b) { return a.seq < b.seq; });
  std::map<TaskKey, std::vector<const db::TrialRecord*>> trials_by_task;
  std::map<std::string, TaskKey> task_by_workload;
  for (const TaskKey& k : job_tasks) {
    task_by_workload.emplace(layers[k.first].workload_by_dtype[k.second], k);
  }
  int64_t failed_total = 0;
  for (const db::TrialRecord& t : trials) {
    auto by_name = task_by_name.find(t.task);
    auto by_workload = task_by_workload.find(t.workload_key);
    if (by_name != task_by_name.end()) {
      trials_by_task[by_name->second].push_back(&t);
    } else if (by_workload != task_by_workload.end()) {
      trials_by_task[by_workload->second].push_back(&t);
    } else {
      continue;
    }
    if (t.status != "OK") ++failed_total;
  }
  std::optional<absl::Time> job_start = ParseTimestamp(job->created_at);
  if (!job_start && !trials.empty()) job_start = ParseTimestamp(trials.front().created_at);

  // ---- The page ----
  std::string h;
  const std::string title = absl::StrCat("qtune report: ", options.model, " on ", device_key);
  absl::StrAppend(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
                  "<title>", HtmlEscape(title), "</title>\n<style>", kStyle,
                  "</style>\n</head>\n<body>\n<h1>", HtmlEscape(title), "</h1>\n");

  // Summary.
  absl::StrAppend(&h, "<table class=\"meta\">\n");
  auto meta = [&](std::string_view k, std::string_view v) {
    absl::StrAppend(&h, "<tr><td>", HtmlEscape(k), "</td><td>", HtmlEscape(v), "</td></tr>\n");
  };
  meta("model", job->model);
  meta("device", device_key);
  meta("cpu", absl::StrCat(device.cpu_name, " (", arch, ", ", cores, " cores)"));
  meta("ISA features", absl::StrJoin(features, " "));
  meta("job", absl::StrCat(job->job_id, " (", job->state, ")"));
  meta("job started / finished",
       absl::StrCat(job->created_at, " / ", job->finished_at.empty() ? "-" : job->finished_at));
  meta("jobs of this model on the device", absl::StrCat(jobs.size()));
  meta("trials in this job", absl::StrCat(trials.size(), " (", failed_total, " failed)"));
  absl::StrAppend(&h, "</table>\n");

  // Peak and what it assumes.
  absl::StrAppend(&h, "<h2>Peak</h2>\n<table>\n<tr><th>dtype</th><th>basis</th>",
                  "<th>ops/cycle/core</th><th>clock (", HtmlEscape(clock.label), ")</th><th>cores</th>",
                  "<th>peak GOP/s</th></tr>\n");
  for (const std::string& dtype : dtypes) {
    const PeakEntry p = PeakOpsPerCycle(arch, features, dtype);
    absl::StrAppend(&h, "<tr><td>", HtmlEscape(dtype), "</td><td>", HtmlEscape(p.basis),
                    "</td><td class=\"n\">", Num(p.ops_per_cycle), "</td><td class=\"n\">",
                    Num(clock.ghz), " GHz</td><td class=\"n\">", cores,
                    "</td><td class=\"n\">", Num(peak_gops(dtype)), "</td></tr>\n");
  }
  absl::StrAppend(
      &h, "</table>\n<p class=\"note\">One op is a multiply or an add (a MAC is 2 ops). The ",
      "ops/cycle/core come from the ISA features the agent reported, assuming two ",
      "full-width vector pipes per core (Zen 5 class: two zmm FMA or vpdpbusd per cycle; on a ",
      "core that splits 512-bit instructions, such as Zen 4, the real peak is half and the % ",
      "doubles); ", HtmlEscape(clock.explanation), " The peak counts every ",
      "core (see docs/report.md). GOP/s use the nominal MACs of the layer (padding taps included, "
      "as peers report them); % of peak uses the MACs of in-bounds taps only, the work the "
      "kernels do (they skip padding taps: 18% of a 7x7 3x3 layer's nominal MACs).</p>\n");

  // Per-layer table.
  absl::StrAppend(&h, "<h2>Layers (best known on this device)</h2>\n<table>\n<tr><th>layer</th>",
                  "<th>dtype</th><th>shape</th><th>occ.</th><th>trials (job / all)</th>",
                  "<th>best &micro;s</th><th>GOP/s</th><th>% of peak</th><th>kernel</th>",
                  "<th>config</th></tr>\n");
  for (const LayerRow* r : rows) {
    for (const std::string& dtype : dtypes) {
      auto wk = r->workload_by_dtype.find(dtype);
      if (wk == r->workload_by_dtype.end()) continue;
      auto tt = trials_by_task.find(TaskKey{r->layer, dtype});
      const size_t job_trials = tt == trials_by_task.end() ? 0 : tt->second.size();
      auto b = best.find(wk->second);
      absl::StrAppend(&h, "<tr><td>", HtmlEscape(r->layer), "</td><td>", HtmlEscape(dtype),
                      "</td><td>", HtmlEscape(r->shape), "</td><td class=\"n\">", r->occurrences,
                      "</td><td class=\"n\">", job_trials, " / ",
                      b == best.end() ? std::string("-") : absl::StrCat(b->second.trials), "</td>");
      if (b == best.end() || !(b->second.median_us > 0)) {
        absl::StrAppend(&h, "<td colspan=\"5\">no successful trial</td></tr>\n");
        continue;
      }
      const db::BestRecord& br = b->second;
      const double gops = 2.0 * static_cast<double>(br.macs) / (br.median_us * 1e3);
      // % of peak from the work done: the kernels skip padding taps.
      absl::StatusOr<kernels::OpSpec> op = kernels::ParseOpSpec(br.workload_key);
      const double work_gops =
          op.ok() ? 2.0 * static_cast<double>(op->in_bounds_macs()) / (br.median_us * 1e3) : gops;
      absl::StrAppend(&h, "<td class=\"n\">", Num(br.median_us), "</td><td class=\"n\">", Num(gops),
                      "</td><td class=\"n\">", Num(100.0 * work_gops / peak_gops(dtype)),
                      "%</td><td><code>", HtmlEscape(br.kernel), "</code></td><td><code>",
                      HtmlEscape(br.config), "</code></td></tr>\n");
    }
  }
  absl::StrAppend(&h, "</table>\n");

  // int8 against fp32.
  auto best_us = [&](const LayerRow* r, const std::string& dtype) -> std::optional<double> {
    auto wk = r->workload_by_dtype.find(dtype);
    if (wk == r->workload_by_dtype.end()) return std::nullopt;
    auto b = best.find(wk->second);
    if (b == best.end() || !(b->second.median_us > 0)) return std::nullopt;
    return b->second.median_us;
  };
  const bool both = std::find(dtypes.begin(), dtypes.end(), "int8") != dtypes.end() &&
                    std::find(dtypes.begin(), dtypes.end(), "fp32") != dtypes.end();
  if (both) {
    absl::StrAppend(
        &h, "<h2>int8 against fp32</h2>\n<table>\n<tr><th>layer</th><th>occ.</th>",
        "<th>fp32 &micro;s</th><th>int8 &micro;s</th><th>int8 speedup</th>",
        "<th>fp32 &micro;s &times; occ.</th><th>int8 &micro;s &times; occ.</th></tr>\n");
    double sum_fp32 = 0, sum_int8 = 0, all_fp32 = 0, all_int8 = 0;
    int paired = 0, n_fp32 = 0, n_int8 = 0;
    for (const LayerRow* r : rows) {
      const std::optional<double> f = best_us(r, "fp32"), i = best_us(r, "int8");
      if (f) all_fp32 += r->occurrences * *f, ++n_fp32;
      if (i) all_int8 += r->occurrences * *i, ++n_int8;
      if (!f && !i) continue;
      absl::StrAppend(&h, "<tr><td>", HtmlEscape(r->layer), "</td><td class=\"n\">", r->occurrences,
                      "</td><td class=\"n\">", f ? Num(*f) : "-", "</td><td class=\"n\">",
                      i ? Num(*i) : "-", "</td><td class=\"n\">",
                      f && i ? absl::StrFormat("%.2fx", *f / *i) : "-", "</td><td class=\"n\">",
                      f ? Num(r->occurrences * *f) : "-", "</td><td class=\"n\">",
                      i ? Num(r->occurrences * *i) : "-", "</td></tr>\n");
      if (f && i) sum_fp32 += r->occurrences * *f, sum_int8 += r->occurrences * *i, ++paired;
    }
    if (paired > 0) {
      absl::StrAppend(&h, "<tr class=\"total\"><td>weighted total (", paired,
                      " layers with both)</td><td></td><td></td><td></td><td class=\"n\">",
                      absl::StrFormat("%.2fx", sum_fp32 / sum_int8), "</td><td class=\"n\">",
                      Num(sum_fp32), "</td><td class=\"n\">", Num(sum_int8), "</td></tr>\n");
    }
    absl::StrAppend(&h, "</table>\n<p class=\"note\">Occurrence-weighted sum of best latencies ",
                    "over all layers with a result: fp32 ", Num(all_fp32), " &micro;s (", n_fp32,
                    " layers), int8 ", Num(all_int8), " &micro;s (", n_int8,
                    " layers). Speedup = fp32 latency / int8 latency.</p>\n");
  }

  // Convergence per task of the chosen job.
  absl::StrAppend(&h, "<h2>Convergence (job ", HtmlEscape(job->job_id), ")</h2>\n",
                  "<p class=\"note\">Best-so-far median latency against trial number and against ",
                  "seconds since the job started (trial timestamps; trials stored in one batch ",
                  "share a timestamp). Red ticks: failed trials. Dashed green: best known on ",
                  "this device over all jobs.</p>\n<div class=\"tasks\">\n");
  for (const TaskKey& k : job_tasks) {
    auto tt = trials_by_task.find(k);
    static const std::vector<const db::TrialRecord*> kNone;
    const std::vector<const db::TrialRecord*>& ts = tt == trials_by_task.end() ? kNone : tt->second;
    std::vector<Point> by_trial, by_time;
    int failed = 0;
    double job_best = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < ts.size(); ++i) {
      const bool ok = ts[i]->status == "OK" && ts[i]->median_us > 0;
      if (!ok) ++failed;
      if (ok) job_best = std::min(job_best, ts[i]->median_us);
      by_trial.push_back(Point{static_cast<double>(i + 1), ok, ts[i]->median_us});
      std::optional<absl::Time> at = ParseTimestamp(ts[i]->created_at);
      if (at && job_start) {
        by_time.push_back(Point{absl::ToDoubleSeconds(*at - *job_start), ok, ts[i]->median_us});
      }
    }
    std::stable_sort(by_time.begin(), by_time.end(),
                     [](const Point& a, const Point& b) { return a.x < b.x; });
    std::optional<double> known;
    const std::string& wk = layers[k.first].workload_by_dtype[k.second];
    if (auto b = best.find(wk); b != best.end() && b->second.median_us > 0) {
      known = b->second.median_us;
    }
    absl::StrAppend(&h, "<div class=\"task\"><h3>", HtmlEscape(k.first), " / ",
                    HtmlEscape(k.second), "</h3><p>", ts.size(), " trials, ", failed,
                    " failed; best ", std::isfinite(job_best) ? Num(job_best) : "-", " &micro;s",
                    known ? absl::StrCat(" (known ", Num(*known), " &micro;s)") : "", "</p>\n",
                    Chart(by_trial, "trial", known), "\n",
                    Chart(by_time, "seconds since job start", known), "</div>\n");
  }
  absl::StrAppend(&h, "</div>\n</body>\n</html>\n");
  out << h;
  return absl::OkStatus();
}

}  // namespace qtune::tuner
