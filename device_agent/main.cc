// qtune-agent: the on-device gRPC server of qtune (see docs/agent.md).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
#include "common/grpc_security.h"
#include "device_agent/agent_service.h"
#include "device_agent/device_info.h"
#include "device_agent/registrar.h"
#include "device_agent/worker.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "HOST:PORT to serve on; port 0 picks a free port. A non-loopback host requires "
          "--token and TLS (--tls-cert, --tls-key).");
ABSL_FLAG(std::string, token, "",
          "Shared secret clients must send as metadata x-qtune-token (default: the "
          "QTUNE_AGENT_TOKEN environment variable; empty = no check, loopback only).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate (chain) to serve TLS with; needs --tls-key. Required, with --token, "
          "for a non-loopback --listen.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert.");
ABSL_FLAG(std::string, port_file, "",
          "Write the port actually bound to this file once serving (for scripts and tests).");
ABSL_FLAG(std::string, register, "",
          "HOST:PORT of a tuner daemon (qtune serve) to join: the agent calls "
          "Tuner.RegisterAgent at start and then every --heartbeat seconds, retrying while "
          "the daemon is down. A non-loopback daemon requires --tls-ca.");
ABSL_FLAG(std::string, advertise, "",
          "HOST:PORT the daemon should dial to reach this agent (default: the --listen host "
          "with the port actually bound; required when --listen is a wildcard like 0.0.0.0).");
ABSL_FLAG(double, heartbeat, 5, "Seconds between registrations with --register (0.1 to 3600).");
ABSL_FLAG(std::string, register_token, "",
          "Token of the daemon, sent as x-qtune-token with each registration (default: the "
          "QTUNE_DAEMON_TOKEN environment variable).");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificate(s) to verify the daemon's TLS certificate with; makes the "
          "--register channel use TLS.");

ABSL_FLAG(std::string, model_cache, "",
          "Directory where models sent for whole-model runs are kept (created if missing), so "
          "that a restarted agent still has them; default: memory only.");

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

std::string FlagOrEnv(const std::string& flag, const char* env_name) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv(env_name);
  return env != nullptr ? env : "";
}

// The registration options from the flags; `server` is the started agent
// (whose address, with the port actually bound, is the default --advertise).
qtune::agent::RegistrarOptions RegistrationOptions(
    const qtune::agent::AgentServer& server, const std::string& token) {
  qtune::agent::RegistrarOptions options;
  options.daemon = absl::GetFlag(FLAGS_register);
  options.advertise = absl::GetFlag(FLAGS_advertise);
  if (options.advertise.empty()) options.advertise = server.address().ToString();
  options.agent_token = token;
  options.daemon_token = FlagOrEnv(absl::GetFlag(FLAGS_register_token), "QTUNE_DAEMON_TOKEN");
  options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.interval = absl::Seconds(absl::GetFlag(FLAGS_heartbeat));
  return options;
}

int Serve() {
  const double heartbeat = absl::GetFlag(FLAGS_heartbeat);
  if (!(heartbeat >= 0.1 && heartbeat <= 3600)) {
    return qtune::cli::ReportError(
        kProgram, absl::InvalidArgumentError(
                      absl::StrCat("--heartbeat must be in [0.1, 3600] seconds, got ", heartbeat)));
  }
  const bool registering = !absl::GetFlag(FLAGS_register).empty();
  if (registering) {
    // Checked before serving, so that a bad flag never leaves a port open.
    absl::Status client_policy = qtune::CheckClientSecurity(
        absl::GetFlag(FLAGS_register), absl::GetFlag(FLAGS_tls_ca), "--register");
    if (!client_policy.ok()) return qtune::cli::ReportError(kProgram, client_policy);
    absl::StatusOr<qtune::ListenAddress> listen =
        qtune::ParseListenAddress(absl::GetFlag(FLAGS_listen));
    if (listen.ok() && listen->wildcard() && absl::GetFlag(FLAGS_advertise).empty()) {
      return qtune::cli::ReportError(
          kProgram, absl::InvalidArgumentError(
                        absl::StrCat("--register with --listen ", listen->ToString(),
                                     " needs --advertise (an address the daemon can dial)")));
    }
  }
  qtune::agent::AgentServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.security.token = FlagOrEnv(absl::GetFlag(FLAGS_token), "QTUNE_AGENT_TOKEN");
  options.security.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.security.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.model_cache_dir = absl::GetFlag(FLAGS_model_cache);
  if (!options.model_cache_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(options.model_cache_dir, error);
    if (error || !std::filesystem::is_directory(options.model_cache_dir)) {
      return qtune::cli::ReportError(
          kProgram, absl::InvalidArgumentError(absl::StrCat(
                        "--model_cache ", options.model_cache_dir, " is not a usable directory")));
    }
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
  std::unique_ptr<qtune::agent::Registrar> registrar;
  if (registering) {
    absl::StatusOr<std::unique_ptr<qtune::agent::Registrar>> started =
        qtune::agent::Registrar::Start(RegistrationOptions(**server, options.security.token));
    if (!started.ok()) {
      (*server)->Shutdown(absl::ZeroDuration());
      return qtune::cli::ReportError(kProgram, started.status());
    }
    registrar = *std::move(started);
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
  if (registrar != nullptr) registrar->Stop();
  (*server)->Shutdown(absl::Seconds(2));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (qtune::agent::IsWorkerInvocation(argc, argv)) return qtune::agent::RunWorker(argc, argv);

  absl::SetProgramUsageMessage(
      "the qtune device agent: serves GetDeviceInfo, DescribeSpace and RunTrials, and whole-model\n"
      "runs (LoadModel, RunModel), over gRPC,\n"
      "and the standard health service (grpc.health.v1.Health).\n"
      "Usage: qtune-agent [--listen=127.0.0.1:7070] [--token=SECRET] [--port-file=FILE]\n"
      "                   [--tls-cert=CERT.pem --tls-key=KEY.pem]\n"
      "                   [--register=DAEMON_HOST:PORT [--advertise=HOST:PORT] [--heartbeat=5]\n"
      "                    [--register-token=SECRET] [--tls-ca=CA.pem]]\n"
      "                   [--model-cache=DIR]\n"
      "A non-loopback --listen needs --token and TLS. Flags may be spelled with '-' or '_'.\n"
      "See docs/agent.md and docs/security.md.");
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
