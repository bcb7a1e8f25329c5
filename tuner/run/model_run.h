// File: model_run.h
// Runs a converted ONNX model (tuner/onnx/onnx_to_model.h) on an agent:
// sends it once (cached there by content hash), picks each convolution's
// config from the tuning database (config_choice.h), times it, and with
// `check` compares its output with the agent's reference executor.
//
//   ModelRunOptions options;
//   options.threads = 2;
//   options.check = true;
//   ASSIGN_OR_RETURN(ModelRun run, RunModel(agent, store.get(), model, options));
//   run.reply.median_us() ... run.check ...
//
// Thread-safety: one call at a time per AgentClient.
#ifndef QTUNE_TUNER_RUN_MODEL_RUN_H_
#define QTUNE_TUNER_RUN_MODEL_RUN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/model.pb.h"
#include "qtune/db/store.h"
#include "tuner/onnx/onnx_to_model.h"
#include "tuner/rpc/agent_client.h"
#include "tuner/run/config_choice.h"

namespace qtune::tuner {

struct ModelRunOptions {
  int threads = 0;            // 0: the device's cores
  int runs = 20;              // timed runs
  int warmup_runs = 3;
  bool check = false;         // also run the reference executor and compare
  bool fuse = true;           // fuse int8 ADDs into the CONV before them (RunModelRequest.no_fusion)
  std::string input;          // F32 NCHW bytes of the graph input; empty: the agent's seed-1 input
  bool return_output = false;
  absl::Duration timeout = absl::Minutes(10);  // per RunModel call
};

// How the output compares with the reference executor's.
struct OutputCheck {
  enum class Verdict { kSkipped, kPassed, kFailed };
  Verdict verdict = Verdict::kSkipped;
  bool exact = false;         // int8 graph: every element must be equal
  double tolerance = 0;       // fp32: largest allowed |out - ref|
  double max_abs_diff = 0;
  int64_t mismatches = 0;     // elements that differ (exact) or exceed the tolerance
  int64_t elements = 0;
};

std::string_view VerdictName(OutputCheck::Verdict v);  // "skipped", "passed", "failed"

struct ModelRun {
  std::string sha256;
  bool was_cached = false;    // the agent had the model already
  int threads = 0;
  std::vector<ConfigChoice> choices;  // one per CONV node
  proto::RunModelReply reply;
  OutputCheck check;
};

// The graph is int8 end to end when every tensor a node writes is U8/S8,
// except a final DEQUANTIZE: its output is then compared exactly.
bool IsInt8Graph(const proto::ModelGraph& graph);

// `reference` against `output` (same type and size; F32, U8 or S8 bytes).
// fp32 tolerance: 1e-3 * max(1, max |reference|).
OutputCheck CompareOutputs(const proto::ModelGraph& graph, proto::ElemType type,
                           const std::string& output, const std::string& reference);

// `store` may be null (every layer runs its default config). An agent that
// lost the model (NOT_FOUND, e.g. restarted) is sent it again, once.
absl::StatusOr<ModelRun> RunModel(AgentClient& agent, const db::Store* store,
                                  const OnnxModel& model, const ModelRunOptions& options);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_RUN_MODEL_RUN_H_
