// qtune: the host tuner CLI (see docs/cli.md). This file holds the command
// table and the dispatch; each command lives in its own file (commands.h).
//
//   qtune tune --model resnet18 --agent 127.0.0.1:7070 --db qtune.db
//   qtune tasks --model resnet18
//   qtune info --agent 127.0.0.1:7070
//   qtune db best --db qtune.db
//   qtune models
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <grpc/support/log.h>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/cli.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/subcommand.h"

namespace qtune::tuner {
namespace {

constexpr char kProgram[] = "qtune";

// gRPC's own log lines (e.g. a failed TLS handshake) would come on top of
// the command's one-line error; client commands drop them unless
// GRPC_VERBOSITY asks for them. `qtune serve` keeps them (its log).
void DropGrpcLogLine(gpr_log_func_args*) {}

int NoRun(const ParsedArgs&) { return 0; }  // `help` is handled by Main

const std::vector<Command>& Commands() {
  static const auto* commands = [] {
    auto* list = new std::vector<Command>{
        TuneCommand(),   TasksCommand(),       ModelsCommand(), InfoCommand(),
        DbCommand(),     BenchSearchCommand(), ReportCommand(),   RunCommand(),
    };
    for (Command& c : DaemonCommands()) list->push_back(std::move(c));
    list->push_back(
        {{"help", "[COMMAND]", "Show the usage of qtune or of one command.", "", {}, ""}, NoRun});
    return list;
  }();
  return *commands;
}

const Command* FindCommand(std::string_view name) {
  for (const Command& c : Commands()) {
    if (c.spec.name == name) return &c;
  }
  return nullptr;
}

std::string CommandNames() {
  std::vector<std::string> names;
  for (const Command& c : Commands()) names.push_back(c.spec.name);
  return absl::StrJoin(names, ", ");
}

std::string MainUsage() {
  std::string out = absl::StrCat(
      "qtune: auto-tuning of int8 and fp32 CNN operators on CPUs\n\n"
      "usage: qtune COMMAND [flags]\n\ncommands:\n");
  for (const Command& c : Commands()) {
    absl::StrAppendFormat(&out, "  %-12s %s\n", c.spec.name, c.spec.summary);
  }
  out += "\nRun `qtune help COMMAND` or `qtune COMMAND --help` for its flags.\n";
  return out;
}

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
  const Command* cmd = FindCommand(first);
  if (cmd == nullptr) {
    return cli::ReportError(kProgram, absl::InvalidArgumentError(absl::StrCat(
                                          "unknown command '", first, "'; commands: ",
                                          CommandNames())));
  }
  const std::vector<std::string> rest(normalized.begin() + 2, normalized.end());
  absl::StatusOr<ParsedArgs> args = ParseSubcommandArgs(cmd->spec, rest);
  if (!args.ok()) return cli::ReportError(absl::StrCat(kProgram, " ", cmd->spec.name), args.status());
  if (args->help) {
    std::cout << SubcommandUsage(kProgram, cmd->spec);
    return 0;
  }
  if (cmd->spec.name == "help") {
    if (args->positional.empty()) {
      std::cout << MainUsage();
      return 0;
    }
    const Command* target = FindCommand(args->positional[0]);
    if (target == nullptr || args->positional.size() > 1) {
      return cli::ReportError(kProgram, absl::InvalidArgumentError(absl::StrCat(
                                            "unknown command '", args->positional.back(),
                                            "'; commands: ", CommandNames())));
    }
    std::cout << SubcommandUsage(kProgram, target->spec);
    return 0;
  }

  // The flags are known to be valid for this command; let Abseil parse them
  // for real (same values) so that the standard flag machinery stays in charge.
  std::vector<char*> abseil_argv;
  abseil_argv.push_back(normalized[0].data());
  for (size_t i = 2; i < normalized.size(); ++i) abseil_argv.push_back(normalized[i].data());
  absl::ParseCommandLine(static_cast<int>(abseil_argv.size()), abseil_argv.data());

  if (cmd->spec.name != "serve" && std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function(DropGrpcLogLine);
  }
  return cmd->run(*args);
}

}  // namespace
}  // namespace qtune::tuner

int main(int argc, char** argv) { return qtune::tuner::Main(argc, argv); }
