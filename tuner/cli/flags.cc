#include "tuner/cli/flags.h"

#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "tuner/core/tuner.h"

ABSL_FLAG(std::string, model, "resnet18", "built-in model (see `qtune models`)");
ABSL_FLAG(std::string, onnx, "",
          "an ONNX model file to take the layers from instead of --model (fp32, QLinearConv, "
          "QDQ, ConvInteger/MatMulInteger forms; see docs/cli.md)");
ABSL_FLAG(std::string, agent, "127.0.0.1:7070", "address HOST:PORT of the qtune-agent");
ABSL_FLAG(std::string, token, "",
          "agent access token (default: $QTUNE_TOKEN), as given to qtune-agent --token");
ABSL_FLAG(std::string, db, "qtune.db", "SQLite database file");
ABSL_FLAG(bool, json, false,
          "JSON lines on stdout (`tune` defaults to them when stdout is not a terminal; "
          "--nojson forces the table)");
ABSL_FLAG(std::string, dtype, "int8,fp32",
          "tune: comma-separated dtypes to tune; db: only records of this dtype");
ABSL_FLAG(bool, transfer, true,
          "seed the model strategy from earlier records of the same op on other devices and of "
          "similar ops (--notransfer: start from scratch)");
ABSL_FLAG(std::string, strategy, "model",
          "search strategy: model (XGBoost-guided, with the op's shape and the device's caches "
          "as features) | random | grid");
ABSL_FLAG(uint64_t, seed, 1, "seed of the search strategies");
ABSL_FLAG(int32_t, batch_size, qtune::tuner::kDefaultBatchSize,
          "configs per RunTrials call and per database transaction");
ABSL_FLAG(std::string, device, "",
          "db, report, bench-search: only records of this device key; submit: run on the "
          "daemon's agents of this device key");
ABSL_FLAG(std::string, job, "", "db: only records of this job id");
ABSL_FLAG(int32_t, warmup_runs, 1,
          "untimed runs before timing (tune: per config; run: of the whole model, default 3)");
ABSL_FLAG(int32_t, threads, 0,
          "tune: threads per kernel run, 0 = the config's threads knob decides; run: threads of "
          "the model, 0 = the device's cores");
ABSL_FLAG(std::string, out, "",
          "db export: write to this file instead of stdout; report: the HTML file to write");

namespace qtune::tuner {

std::string Token() {
  std::string token = absl::GetFlag(FLAGS_token);
  if (token.empty()) {
    if (const char* env = std::getenv("QTUNE_TOKEN")) token = env;
  }
  return token;
}

std::vector<std::string> SplitList(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipWhitespace());
}

}  // namespace qtune::tuner
