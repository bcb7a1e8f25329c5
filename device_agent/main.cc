// qtune-agent: the on-device gRPC server of qtune (see docs/agent.md).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cli.h"
#include "device_agent/agent_service.h"
#include "device_agent/device_info.h"
#include "device_agent/worker.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "HOST:PORT to serve on; port 0 picks a free port. A non-loopback host requires --token.");
ABSL_FLAG(std::string, token, "",
          "Shared secret clients must send as metadata x-qtune-token (default: the "
          "QTUNE_AGENT_TOKEN environment variable; empty = no check, loopback only).");
ABSL_FLAG(std::string, port_file, "",
          "Write the port actually bound to this file once serving (for scripts and tests).");

namespace {

constexpr char kProgram[] = "qtune-agent";

absl::Status WritePortFile(const std::string& path, int port) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.close();
    if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write --port_file ", path));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InvalidArgumentError(absl::StrCat("cannot write --port_file ", path));
  }
  return absl::OkStatus();
}

int Serve() {
  qtune::agent::AgentServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.token = absl::GetFlag(FLAGS_token);
  if (options.token.empty()) {
    const char* env = std::getenv("QTUNE_AGENT_TOKEN");
    if (env != nullptr) options.token = env;
  }

  // SIGINT/SIGTERM are taken synchronously by sigwait() below; block them
  // before any thread starts so that every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a dead worker's pipe is an error value, not a signal

  absl::StatusOr<std::unique_ptr<qtune::agent::AgentServer>> server =
      qtune::agent::AgentServer::Start(options);
  if (!server.ok()) {
    absl::Status status = server.status();
    // A taken port is reported as "unreachable" (exit 3), bad flags as 2.
    return qtune::cli::ReportError(kProgram, status);
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    absl::Status written = WritePortFile(port_file, (*server)->port());
    if (!written.ok()) {
      (*server)->Shutdown(absl::ZeroDuration());
      return qtune::cli::ReportError(kProgram, written);
    }
  }
  std::printf("%s %s listening on %s (device %s)\n", kProgram,
              std::string(qtune::agent::AgentVersion()).c_str(),
              (*server)->address().ToString().c_str(),
              (*server)->device_info().device_key().c_str());
  std::fflush(stdout);
  const std::string note = qtune::agent::PlatformNote((*server)->device_info());
  if (!note.empty()) std::fprintf(stderr, "%s: %s\n", kProgram, note.c_str());

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  std::fprintf(stderr, "%s: %s, shutting down\n", kProgram, strsignal(sig));
  (*server)->Shutdown(absl::Seconds(2));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (qtune::agent::IsWorkerInvocation(argc, argv)) return qtune::agent::RunWorker(argc, argv);

  absl::SetProgramUsageMessage(
      "the qtune device agent: serves GetDeviceInfo, DescribeSpace and RunTrials over gRPC.\n"
      "Usage: qtune-agent [--listen=127.0.0.1:7070] [--token=SECRET] [--port-file=FILE]\n"
      "Flags may be spelled with '-' or '_'. See docs/agent.md.");
  absl::FlagsUsageConfig usage;
  // --help lists the flags defined in this file (absl matches the program
  // name against file names by default, which fails for "qtune-agent").
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "device_agent/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  std::vector<std::string> args = qtune::cli::NormalizeFlagNames(argc, argv);
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  if (positional.size() > 1) {
    return qtune::cli::ReportError(
        kProgram, absl::InvalidArgumentError(absl::StrCat(
                      "unexpected argument \"", positional[1], "\" (see --help)")));
  }
  return Serve();
}
