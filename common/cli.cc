#include "common/cli.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_replace.h"

namespace qtune::cli {

std::vector<std::string> NormalizeFlagNames(int argc, char** argv) {
  std::vector<std::string> out;
  out.reserve(argc);
  bool rest_are_positional = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && !rest_are_positional) {
      if (arg == "--") {
        rest_are_positional = true;
      } else if (arg.size() > 2 && arg[0] == '-') {
        size_t name_begin = arg[1] == '-' ? 2 : 1;
        size_t name_end = arg.find('=');
        if (name_end == std::string::npos) name_end = arg.size();
        for (size_t j = name_begin; j < name_end; ++j) {
          if (arg[j] == '-') arg[j] = '_';
        }
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

int ReportError(std::string_view program, const absl::Status& status) {
  std::string message = absl::StrReplaceAll(status.message(), {{"\n", "; "}});
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(),
               message.c_str());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
      return 2;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 3;
    default:
      return 1;
  }
}

bool StdoutIsTerminal() { return isatty(STDOUT_FILENO) == 1; }

}  // namespace qtune::cli
