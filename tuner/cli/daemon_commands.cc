// `qtune serve` (the daemon) and its clients: submit, watch, jobs, cancel,
// devices (docs/daemon.md).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/cli.h"
#include "common/grpc_security.h"
#include "common/status_macros.h"
#include "proto/convert.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/flags.h"
#include "tuner/cli/tune_flags.h"
#include "tuner/report/report.h"
#include "tuner/rpc/daemon_client.h"
#include "tuner/rpc/daemon_server.h"

ABSL_FLAG(std::string, server, "127.0.0.1:7000", "address HOST:PORT of the qtune daemon");
ABSL_FLAG(std::string, listen, "127.0.0.1:7000",
          "serve: HOST:PORT to listen on (port 0 picks a free one); a non-loopback host needs "
          "--token, --tls-cert and --tls-key");
ABSL_FLAG(std::string, port_file, "", "serve: write the port actually bound to this file");
ABSL_FLAG(std::string, tls_cert, "", "serve: PEM file of the server's TLS certificate");
ABSL_FLAG(std::string, tls_key, "", "serve: PEM file of the server's TLS private key");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the daemon's certificate (clients of a TLS daemon)");
ABSL_FLAG(std::string, agent_token, "",
          "token of the agents the daemon dials (serve: the default for every agent; devices "
          "add: this agent's)");
ABSL_FLAG(std::string, agent_tls_ca, "",
          "serve: PEM file of the CA that signed the agents' certificates (agents with TLS)");

namespace qtune::tuner {
namespace {

absl::StatusOr<std::unique_ptr<DaemonClient>> ConnectDaemon() {
  DaemonClientOptions options;
  if (!absl::GetFlag(FLAGS_tls_ca).empty()) {
    QTUNE_ASSIGN_OR_RETURN(options.tls_ca_pem, ReadCaFile(absl::GetFlag(FLAGS_tls_ca), "--tls-ca"));
  }
  return DaemonClient::Connect(absl::GetFlag(FLAGS_server), Token(), options);
}

bool JsonOutput(const ParsedArgs& args) {
  return args.given.count("json") ? absl::GetFlag(FLAGS_json) : !cli::StdoutIsTerminal();
}

// ---------------------------------------------------------------------------
// serve

int RunServe(const ParsedArgs&) {
  const std::string program = "qtune serve";
  // SIGINT and SIGTERM are taken by a thread of their own (blocked in every
  // other thread, which inherit the mask), which shuts the daemon down.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  DaemonOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.token = Token();
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.agent_token = absl::GetFlag(FLAGS_agent_token);
  options.agent_tls_ca_file = absl::GetFlag(FLAGS_agent_tls_ca);
  absl::StatusOr<std::unique_ptr<DaemonServer>> daemon = DaemonServer::Start(options);
  if (!daemon.ok()) return cli::ReportError(program, daemon.status());
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    const std::string& address = (*daemon)->address();
    std::ofstream out(port_file);
    out << address.substr(address.rfind(':') + 1) << "\n";
  }
  std::printf("qtune daemon listening on %s (database %s)\n", (*daemon)->address().c_str(),
              options.db_path.c_str());
  std::fflush(stdout);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "qtune serve: %s, stopping (running jobs resume at the next start)\n",
                 sig == SIGINT ? "interrupted" : "terminated");
    (*daemon)->Shutdown(absl::Seconds(2));
  });
  (*daemon)->Wait();
  stopper.join();
  return 0;
}

// ---------------------------------------------------------------------------
// submit, watch, cancel, jobs

int RunSubmit(const ParsedArgs& args) {
  const std::string program = "qtune submit";
  absl::StatusOr<proto::JobSpec> spec = JobSpecFromFlags(args);
  if (!spec.ok()) return cli::ReportError(program, spec.status());
  const bool has_agent = args.given.count("agent") > 0;
  const bool has_device = args.given.count("device") > 0;
  if (has_agent == has_device) {
    return cli::ReportError(program, absl::InvalidArgumentError(
                                         "give exactly one of --agent ADDR and --device KEY"));
  }
  if (has_agent) spec->set_agent(absl::GetFlag(FLAGS_agent));
  if (has_device) spec->set_device_key(absl::GetFlag(FLAGS_device));
  absl::StatusOr<std::unique_ptr<DaemonClient>> daemon = ConnectDaemon();
  if (!daemon.ok()) return cli::ReportError(program, daemon.status());
  absl::StatusOr<proto::JobStatus> job = (*daemon)->Submit(*spec);
  if (!job.ok()) return cli::ReportError(program, job.status());
  // The bare id unless --json is asked for, so that JOB=$(qtune submit ...) works.
  if (args.given.count("json") && absl::GetFlag(FLAGS_json)) {
    std::cout << ToJson(*job) << "\n";
  } else {
    std::cout << job->job_id() << "\n";
  }
  return 0;
}

// A one-line progress display on stderr, redrawn in place.
void DrawProgress(const proto::JobStatus& s) {
  std::string line = absl::StrFormat("\r%s  %s  %d", s.job_id().substr(0, 8), s.state(),
                                     s.trials_done());
  if (s.trials_total() > 0) absl::StrAppendFormat(&line, "/%d", s.trials_total());
  line += " trials";
  for (const proto::TaskProgress& t : s.tasks()) {
    if (t.started() && t.end_reason().empty()) {
      absl::StrAppendFormat(&line, "  %s", t.name());
      if (t.best_us() > 0) absl::StrAppendFormat(&line, " best %.1f us", t.best_us());
      break;
    }
  }
  if (!s.message().empty()) absl::StrAppend(&line, "  (", s.message(), ")");
  if (line.size() > 160) line.resize(160);
  std::fprintf(stderr, "%-160s", line.c_str());
  std::fflush(stderr);
}

int RunWatch(const ParsedArgs& args) {
  const std::string program = "qtune watch";
  if (args.positional.size() != 1) {
    return cli::ReportError(program, absl::InvalidArgumentError("expected one job id"));
  }
  absl::StatusOr<std::unique_ptr<DaemonClient>> daemon = ConnectDaemon();
  if (!daemon.ok()) return cli::ReportError(program, daemon.status());
  const bool json = JsonOutput(args);
  const bool tty = !json && isatty(STDERR_FILENO);
  proto::JobStatus last;
  absl::Status watched = (*daemon)->Watch(args.positional[0], [&](const proto::JobStatus& s) {
    last = s;
    if (json) {
      proto::JobStatus line = s;
      line.clear_tasks();
      std::cout << ToJson(line) << std::endl;
    } else if (tty) {
      DrawProgress(s);
    }
  });
  if (tty) std::fprintf(stderr, "\n");
  if (!watched.ok()) return cli::ReportError(program, watched);
  const TuneReport report = ReportOf(last);
  const Table table = BuildTable(report);
  const std::string where = absl::GetFlag(FLAGS_server);
  if (json) {
    PrintTableJson(table, std::cout);
    PrintSummaryJson(report, where, std::cout);
  } else {
    PrintTable(table, std::cout);
    PrintSummary(report, where, std::cout);
    if (last.state() != "done" && !last.message().empty()) {
      std::cout << "job " << last.state() << ": " << last.message() << "\n";
    }
  }
  std::cout.flush();
  return last.state() == "done" ? 0 : 1;
}

int RunCancel(const ParsedArgs& args) {
  const std::string program = "qtune cancel";
  if (args.positional.size() != 1) {
    return cli::ReportError(program, absl::InvalidArgumentError("expected one job id"));
  }
  absl::StatusOr<std::unique_ptr<DaemonClient>> daemon = ConnectDaemon();
  if (!daemon.ok()) return cli::ReportError(program, daemon.status());
  absl::StatusOr<proto::JobStatus> job = (*daemon)->Cancel(args.positional[0]);
  if (!job.ok()) return cli::ReportError(program, job.status());
  if (JsonOutput(args)) {
    job->clear_tasks();
    std::cout << ToJson(*job) << "\n";
  } else {
    std::cout << "job " << job->job_id() << ": "
              << (job->state() == "running" || job->state() == "queued"
                      ? "cancelling after its current batch"
                      : job->state())
              << "\n";
  }
  return 0;
}

// Columns separated by two spaces, padded to the widest cell.
void PrintRows(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

int RunJobs(const ParsedArgs& args) {
  const std::string program = "qtune jobs";
  absl::StatusOr<std::unique_ptr<DaemonClient>> daemon = ConnectDaemon();
  if (!daemon.ok()) return cli::ReportError(program, daemon.status());
  absl::StatusOr<std::vector<proto::JobStatus>> jobs = (*daemon)->Jobs();
  if (!jobs.ok()) return cli::ReportError(program, jobs.status());
  if (JsonOutput(args)) {
    for (const proto::JobStatus& j : *jobs) std::cout << ToJson(j) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"JOB", "NAME", "STATE", "MODEL", "DEVICE", "TRIALS", "CREATED", "MESSAGE"}};
  for (const proto::JobStatus& j : *jobs) {
    std::string trials = absl::StrCat(j.trials_done());
    if (j.trials_total() > 0) absl::StrAppend(&trials, "/", j.trials_total());
    rows.push_back({j.job_id(), j.name(), j.state(), j.model(), j.device_key(), trials,
                    j.created_at(), j.message()});
  }
  PrintRows(rows);
  if (jobs->empty()) std::cout << "(no jobs)\n";
  return 0;
}

// ---------------------------------------------------------------------------
// devices

int RunDevices(const ParsedArgs& args) {
  const std::string program = "qtune devices";
  const bool add = !args.positional.empty() && args.positional[0] == "add";
  if ((!args.positional.empty() && !add) || (add && args.positional.size() != 2)) {
    return cli::ReportError(program, absl::InvalidArgumentError(
                                         "expected no argument, or `add HOST:PORT`"));
  }
  absl::StatusOr<std::unique_ptr<DaemonClient>> daemon = ConnectDaemon();
  if (!daemon.ok()) return cli::ReportError(program, daemon.status());
  const bool json = JsonOutput(args);
  if (add) {
    absl::StatusOr<proto::DeviceInfo> info =
        (*daemon)->AddAgent(args.positional[1], absl::GetFlag(FLAGS_agent_token));
    if (!info.ok()) return cli::ReportError(program, info.status());
    if (json) {
      std::cout << ToJson(*info) << "\n";
    } else {
      std::cout << "added " << args.positional[1] << " (" << info->device_key() << ")\n";
    }
    return 0;
  }
  absl::StatusOr<proto::ListDevicesResponse> devices = (*daemon)->Devices();
  if (!devices.ok()) return cli::ReportError(program, devices.status());
  if (json) {
    for (const proto::AgentStatus& a : devices->agents()) std::cout << ToJson(a) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"AGENT", "DEVICE", "HEALTH", "JOINED", "BUSY", "LAST_SEEN", "KERNEL_BUILD", "MESSAGE"}};
  for (const proto::AgentStatus& a : devices->agents()) {
    rows.push_back({a.address(), a.info().device_key(), a.health(),
                    a.registered() ? "register" : "devices add",
                    a.busy() ? (a.job_id().empty() ? "health check" : a.job_id().substr(0, 8)) : "",
                    a.last_seen(), a.info().kernel_build_id(), a.message()});
  }
  PrintRows(rows);
  if (devices->agents().empty()) std::cout << "(no agents)\n";
  return 0;
}

}  // namespace

std::vector<Command> DaemonCommands() {
  std::vector<std::string> submit_flags = TuneJobFlags();
  for (const char* flag : {"server", "agent", "device", "token", "tls_ca", "json"}) {
    submit_flags.push_back(flag);
  }
  const std::vector<std::string> client = {"server", "token", "tls_ca", "json"};
  std::vector<std::string> devices_flags = client;
  devices_flags.push_back("agent_token");
  return {
      {{"serve", "", "Run the tuner daemon: jobs, a device pool, the Tuner gRPC service.",
        "Serves the Tuner service (qtune submit/watch/jobs/cancel/devices talk to it) and the\n"
        "gRPC health service. Jobs live in the database: a restarted daemon resumes the\n"
        "unfinished ones. Agents join with `qtune-agent --register HOST:PORT` or\n"
        "`qtune devices add ADDR`. SIGINT/SIGTERM stop it; running jobs resume at the next\n"
        "start. See docs/daemon.md.",
        {"listen", "db", "token", "tls_cert", "tls_key", "agent_token", "agent_tls_ca",
         "port_file"},
        ""},
       RunServe},
      {{"submit", "", "Submit a tuning job to the daemon; prints its id.",
        "Takes the job flags of `qtune tune`, and --agent ADDR (the daemon dials it and adds\n"
        "it to its pool) or --device KEY (any agent of the pool with that device key).",
        submit_flags, ""},
       RunSubmit},
      {{"watch", "JOB", "Follow a daemon job: progress, then the table of `qtune tune`.",
        "JSON lines with --json or when stdout is not a terminal. Ctrl-C detaches (the job\n"
        "goes on); watch it again at any time. Exit status: 0 done, 1 otherwise.",
        client, ""},
       RunWatch},
      {{"jobs", "", "List the daemon's jobs.", "", client, ""}, RunJobs},
      {{"cancel", "JOB", "Cancel a daemon job after its current batch.", "", client, ""},
       RunCancel},
      {{"devices", "[add HOST:PORT]", "List the daemon's agents, or add one.",
        "`add` makes the daemon dial the agent and keep it in its pool (with\n"
        "--agent-token for an agent started with --token).",
        devices_flags, ""},
       RunDevices},
  };
}

}  // namespace qtune::tuner
