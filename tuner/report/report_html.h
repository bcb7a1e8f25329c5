// File: report_html.h
// `qtune report`: one self-contained HTML page about a model tuned on a
// device, read from the tuning database. Inline CSS and inline SVG only (no
// script, no external reference), every database string HTML-escaped, and the
// same bytes for the same database and options.
//
//   ASSIGN_OR_RETURN(auto store, db::Store::Open(path, db::Store::Mode::kReadOnly));
//   ReportOptions options;
//   options.model = "resnet18";
//   RETURN_IF_ERROR(WriteHtmlReport(*store, options, out));
//
// The page shows, for the device's latest job of the model:
// - per task (layer x dtype) convergence: best-so-far latency against trial
//   number and against seconds since the job started (trials' created_at);
// - a per-layer table: shape, occurrences, trials, best latency, GOP/s,
//   % of the device's peak, best kernel and config (best known on the device,
//   over every job);
// - int8 against fp32 per layer and occurrence-weighted totals.
// Peak = ops/cycle/core (from the ISA features in devices.info_json, see
// PeakOpsPerCycle and docs/report.md) x clock x cores, where the clock is
// ReportOptions::clock_ghz when given, else the clock the agent measured
// (DeviceInfo.clock_ghz in devices.info_json) when > 0, else
// kAssumedClockGhz; the page says which.
//
// Thread-safety: stateless; the Store must only be used by the calling thread
// for the duration of the call.
#ifndef QTUNE_TUNER_REPORT_REPORT_HTML_H_
#define QTUNE_TUNER_REPORT_REPORT_HTML_H_

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "qtune/db/store.h"

namespace qtune::tuner {

struct ReportOptions {
  // Model name as recorded in jobs.model; compared case-insensitively.
  std::string model;
  // Device to report on; default: the device of the model's latest job.
  std::optional<std::string> device_key;
  // Job whose trials the convergence charts show; default: the latest job of
  // the model on the device.
  std::optional<std::string> job_id;
  // Core clock for the peak, in GHz; must be > 0 when given. Unset: the
  // device's measured clock, else kAssumedClockGhz (see the file comment).
  std::optional<double> clock_ghz;
};

// The clock the peak assumes when neither ReportOptions::clock_ghz nor a
// measured clock of the device is available (the clock DESIGN.md's reference
// measurements were stated at).
inline constexpr double kAssumedClockGhz = 3.65;

// Theoretical multiply-add throughput of one core: ops (2 per MAC) per cycle
// for `dtype` ("int8", "fp32") given the device's arch and ISA features, and
// the feature that decided it ("avx512_vnni", ..., "scalar"). The table is in
// docs/report.md; it assumes two full-width vector pipes per core (Zen 5
// class: two zmm FMA or vpdpbusd per cycle).
struct PeakEntry {
  double ops_per_cycle = 0;
  std::string basis;
};
PeakEntry PeakOpsPerCycle(std::string_view arch, const std::vector<std::string>& isa_features,
                          std::string_view dtype);

// Escapes & < > " ' for HTML text and attribute values.
std::string HtmlEscape(std::string_view text);

// Writes the page. NOT_FOUND (one line) when the database has no job of the
// model (on the device, when given) or the job_id is unknown; errors of the
// store are passed through. Nothing is written to `out` on error.
absl::Status WriteHtmlReport(const db::Store& store, const ReportOptions& options,
                             std::ostream& out);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_REPORT_REPORT_HTML_H_
