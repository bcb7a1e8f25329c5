#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "qtune/db/store.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/flags.h"
#include "tuner/report/report_html.h"

namespace qtune::tuner {
namespace {

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

}  // namespace

Command ReportCommand() {
  return {Subcommand{"report", "", "Write a self-contained HTML report of a model's tuning results.",
       "Reads the database (read-only) and writes one HTML page with inline CSS and SVG (no\n"
       "network): per-task convergence (best-so-far against trials and against seconds), a\n"
       "per-layer table with % of the device's peak, and int8 against fp32 with weighted\n"
       "totals. Without --device, the device of the model's latest job. See docs/report.md.\n"
       "Exit status: 0 done, 1 failed, 2 bad input.",
       {"db", "model", "device", "job", "out"}, ""}, RunReport};
}

}  // namespace qtune::tuner
