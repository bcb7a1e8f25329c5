// File: subcommand.h
// Per-subcommand flag checking for a `prog COMMAND [flags]` program whose
// flags are ordinary Abseil flags (ABSL_FLAG). Abseil knows one global flag
// set; this layer restricts each subcommand to its own flags, reports every
// mistake as one INVALID_ARGUMENT line, and prints a usage per subcommand.
//
//   Subcommand tune{"tune", "", "tune a model's layers on a device", "...",
//                   {"model", "agent", "db"}};
//   ASSIGN_OR_RETURN(ParsedArgs args, ParseSubcommandArgs(tune, normalized_args));
//   if (args.help) std::cout << SubcommandUsage("qtune", tune);
//
// Accepted forms: --name=value, --name value, -name..., --name / --noname for
// bool flags, and "--" ending the flags. Names use underscores (run
// qtune::cli::NormalizeFlagNames first); usage text shows them with hyphens.
//
// Thread-safety: parsing sets global flag values; call from main only.
#ifndef QTUNE_TUNER_CLI_SUBCOMMAND_H_
#define QTUNE_TUNER_CLI_SUBCOMMAND_H_

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace qtune::tuner {

struct Subcommand {
  std::string name;         // "tune"
  std::string positional;   // synopsis of positional arguments, e.g. "SUBCOMMAND"; empty = none
  std::string summary;      // one line, for the command list
  std::string description;  // paragraphs shown by `help COMMAND`
  std::vector<std::string> flags;  // Abseil flag names this subcommand takes
  // When set, SubcommandUsage() prints this instead of the generated text
  // (for a command whose implementation documents its own flags).
  std::string usage_override;
};

struct ParsedArgs {
  std::vector<std::string> positional;
  std::set<std::string> given;  // flags set on the command line
  bool help = false;            // --help / -h was given
};

// Checks `args` (the arguments after the subcommand name) and sets the
// named flags. INVALID_ARGUMENT, one line, for a flag the subcommand does
// not take (listing the ones it does), a flag without its value, a value
// that does not parse, or positional arguments when `cmd.positional` is
// empty.
absl::StatusOr<ParsedArgs> ParseSubcommandArgs(const Subcommand& cmd,
                                               const std::vector<std::string>& args);

// "usage: PROGRAM NAME [flags] POSITIONAL", the description, and each flag
// with its help text and default.
std::string SubcommandUsage(std::string_view program, const Subcommand& cmd);

// "--some-flag": the user-facing spelling of flag `name`.
std::string FlagDisplayName(std::string_view name);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CLI_SUBCOMMAND_H_
