#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/cli.h"
#include "proto/convert.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/flags.h"
#include "tuner/rpc/agent_client.h"

namespace qtune::tuner {
namespace {

int RunInfo(const ParsedArgs&) {
  absl::StatusOr<std::unique_ptr<AgentClient>> agent =
      AgentClient::Connect(absl::GetFlag(FLAGS_agent), Token());
  if (!agent.ok()) return cli::ReportError("qtune info", agent.status());
  const proto::DeviceInfo& info = (*agent)->device_info();
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << ToJson(info) << "\n";
    return 0;
  }
  std::vector<std::string> caches;
  for (const proto::CacheLevel& c : info.caches()) {
    caches.push_back(absl::StrFormat("L%d %d KiB (shared by %d)", c.level(),
                                     c.size_bytes() / 1024, c.shared_by_cores()));
  }
  std::cout << absl::StrFormat("device key    %s\n", info.device_key())
            << absl::StrFormat("arch          %s\n", info.arch())
            << absl::StrFormat("cpu           %s\n", info.cpu_name())
            << absl::StrFormat("cores         %d\n", info.cores())
            << (info.clock_ghz() > 0
                    ? absl::StrFormat("clock         %.2f GHz (measured by the agent)\n",
                                      info.clock_ghz())
                    : std::string("clock         unknown (not measured)\n"))
            << absl::StrFormat("isa features  %s\n", absl::StrJoin(info.isa_features(), " "))
            << absl::StrFormat("caches        %s\n", absl::StrJoin(caches, ", "))
            << absl::StrFormat("kernel paths  %s\n", absl::StrJoin(info.kernel_paths(), " "))
            << absl::StrFormat("amx           %s\n",
                               info.amx().empty() ? "unknown (agent predates the AMX probe)" : info.amx())
            << absl::StrFormat("agent         %s (build %s) at %s\n", info.agent_version(),
                               info.build_id(), (*agent)->address())
            << absl::StrFormat("kernel build  %s\n", info.kernel_build_id().empty()
                                                         ? "unknown (agent predates build ids)"
                                                         : info.kernel_build_id());
  return 0;
}

}  // namespace

Command InfoCommand() {
  return {Subcommand{"info", "", "Show the device a qtune-agent runs on.", "", {"agent", "json", "token"}, ""}, RunInfo};
}

}  // namespace qtune::tuner
