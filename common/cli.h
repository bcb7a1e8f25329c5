// File: cli.h
// Small helpers shared by the command-line programs (qtune, qtune-agent,
// qtune-bench).
#ifndef QTUNE_COMMON_CLI_H_
#define QTUNE_COMMON_CLI_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace qtune::cli {

// Rewrites "--some-flag[=v]" to "--some_flag[=v]" so that users may spell
// Abseil flags with hyphens. Arguments after a bare "--" are left alone.
// Returns the rewritten argument vector (storage for argv pointers).
std::vector<std::string> NormalizeFlagNames(int argc, char** argv);

// Prints "<program>: <message>" on stderr (one line; newlines in the message
// are replaced by "; ") and returns the exit code for `status`: 2 for
// INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION (bad input), 3 for
// UNAVAILABLE / DEADLINE_EXCEEDED (unreachable peer), 1 otherwise.
int ReportError(std::string_view program, const absl::Status& status);

// True when stdout is a terminal (progress bars, colours).
bool StdoutIsTerminal();

}  // namespace qtune::cli

#endif  // QTUNE_COMMON_CLI_H_
