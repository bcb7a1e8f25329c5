#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/cli.h"
#include "db/db_cli.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/flags.h"

ABSL_FLAG(std::string, build, "",
          "db: kernel build of the rows: a build id, `current` (each device's latest build; "
          "the default of best) or `all` (the default of history)");
ABSL_FLAG(std::string, workload, "", "db: only records of this workload key");
ABSL_FLAG(int64_t, limit, 0, "db: at most this many rows; 0 = all");
ABSL_FLAG(std::string, file, "", "db export: output file, db import: input file (- = stdout/stdin)");
ABSL_FLAG(std::string, in, "", "db import: read this file instead of stdin");

namespace qtune::tuner {
namespace {

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

}  // namespace

Command DbCommand() {
  return {Subcommand{"db", "SUBCOMMAND", "Query, export or import the tuning database.", "",
       {"db", "device", "workload", "job", "dtype", "build", "limit", "json", "file", "out", "in"},
       absl::StrCat(db::DbCommandHelp(),
                    "  --out FILE       export: same as --file\n"
                    "  --in FILE        import: same as --file\n")}, RunDb};
}

}  // namespace qtune::tuner
