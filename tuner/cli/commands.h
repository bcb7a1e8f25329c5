// File: commands.h
// The commands of `qtune`. Each command group has one file here that
// defines its command(s): usage (the flags it takes, its help text), the
// flags only it takes, and the function that runs it once main.cc has
// checked and parsed its arguments.
//
//   qtune tune ...           tune_command.cc
//   qtune tasks | models     model_commands.cc
//   qtune info               info_command.cc
//   qtune db ...             db_command.cc
//   qtune bench-search       bench_search_command.cc
//   qtune report             report_command.cc
//   qtune run                run_command.cc
//   qtune serve | submit | watch | jobs | cancel | devices
//                            daemon_commands.cc
//
// Run functions return the process exit status (docs/cli.md) and report
// errors as one line on stderr.
#ifndef QTUNE_TUNER_CLI_COMMANDS_H_
#define QTUNE_TUNER_CLI_COMMANDS_H_

#include <functional>
#include <vector>

#include "tuner/cli/subcommand.h"

namespace qtune::tuner {

struct Command {
  Subcommand spec;
  std::function<int(const ParsedArgs&)> run;
};

Command TuneCommand();
Command TasksCommand();
Command ModelsCommand();
Command InfoCommand();
Command DbCommand();
Command BenchSearchCommand();
Command ReportCommand();
Command RunCommand();
// serve, submit, watch, jobs, cancel, devices (daemon_commands.cc).
std::vector<Command> DaemonCommands();

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CLI_COMMANDS_H_
