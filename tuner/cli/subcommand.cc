#include "tuner/cli/subcommand.h"

#include <algorithm>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace qtune::tuner {
namespace {

bool Takes(const Subcommand& cmd, std::string_view flag) {
  return std::find(cmd.flags.begin(), cmd.flags.end(), flag) != cmd.flags.end();
}

absl::Status UnknownFlag(const Subcommand& cmd, std::string_view flag) {
  std::vector<std::string> names;
  for (const std::string& f : cmd.flags) names.push_back(FlagDisplayName(f));
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown flag ", FlagDisplayName(flag), " for '", cmd.name, "'",
      names.empty() ? std::string("; it takes no flags")
                    : absl::StrCat("; it takes ", absl::StrJoin(names, " "))));
}

}  // namespace

std::string FlagDisplayName(std::string_view name) {
  return absl::StrCat("--", absl::StrReplaceAll(std::string(name), {{"_", "-"}}));
}

absl::StatusOr<ParsedArgs> ParseSubcommandArgs(const Subcommand& cmd,
                                               const std::vector<std::string>& args) {
  ParsedArgs parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    std::string_view body = arg;
    body.remove_prefix(body[1] == '-' ? 2 : 1);
    std::string name(body.substr(0, body.find('=')));
    const bool has_value = body.find('=') != std::string_view::npos;
    std::string value = has_value ? std::string(body.substr(body.find('=') + 1)) : "";
    if ((name == "help" || name == "h") && !has_value) {
      parsed.help = true;
      continue;
    }

    absl::CommandLineFlag* flag = Takes(cmd, name) ? absl::FindCommandLineFlag(name) : nullptr;
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no")) {
      // --noNAME for a bool flag.
      const std::string positive = name.substr(2);
      absl::CommandLineFlag* f =
          Takes(cmd, positive) ? absl::FindCommandLineFlag(positive) : nullptr;
      if (f != nullptr && f->IsOfType<bool>()) {
        flag = f;
        name = positive;
        value = "false";
        parsed.given.insert(name);
        std::string error;
        if (!flag->ParseFrom(value, &error)) return absl::InternalError(error);
        continue;
      }
    }
    if (flag == nullptr) return UnknownFlag(cmd, name);
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("flag ", FlagDisplayName(name), " needs a value"));
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value '", value, "' for ",
                                                     FlagDisplayName(name), ": ", error));
    }
    parsed.given.insert(name);
  }
  if (cmd.positional.empty() && !parsed.positional.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("'", cmd.name,
                                                   "' takes no arguments, got '",
                                                   parsed.positional.front(), "'"));
  }
  return parsed;
}

std::string SubcommandUsage(std::string_view program, const Subcommand& cmd) {
  if (!cmd.usage_override.empty()) return cmd.usage_override;
  std::string out = absl::StrCat("usage: ", std::string(program), " ", cmd.name);
  if (!cmd.flags.empty()) out += " [flags]";
  if (!cmd.positional.empty()) absl::StrAppend(&out, " ", cmd.positional);
  absl::StrAppend(&out, "\n\n", cmd.summary, "\n");
  if (!cmd.description.empty()) absl::StrAppend(&out, "\n", cmd.description, "\n");
  if (!cmd.flags.empty()) out += "\nflags:\n";
  for (const std::string& name : cmd.flags) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    absl::StrAppend(&out, "  ", FlagDisplayName(name));
    const std::string def = flag->DefaultValue();
    absl::StrAppend(&out, "  [default: ", def.empty() ? "none" : def, "]\n");
    absl::StrAppend(&out, "      ", flag->Help(), "\n");
  }
  return out;
}

}  // namespace qtune::tuner
