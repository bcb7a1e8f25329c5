#include "tuner/run/model_run.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "proto/convert.h"

namespace qtune::tuner {
namespace {

std::map<std::string, const proto::TensorSpec*> TensorsByName(const proto::ModelGraph& graph) {
  std::map<std::string, const proto::TensorSpec*> out;
  for (const proto::TensorSpec& t : graph.tensors()) out[t.name()] = &t;
  return out;
}

// The quantised tensor a final DEQUANTIZE reads, or null.
const proto::TensorSpec* DequantizedOutput(const proto::ModelGraph& graph) {
  if (graph.nodes_size() == 0) return nullptr;
  const proto::ModelNode& last = graph.nodes(graph.nodes_size() - 1);
  if (last.kind() != proto::ModelNode::DEQUANTIZE || last.output() != graph.output() ||
      last.inputs_size() != 1) {
    return nullptr;
  }
  for (const proto::TensorSpec& t : graph.tensors()) {
    if (t.name() == last.inputs(0)) return &t;
  }
  return nullptr;
}

std::vector<double> Values(proto::ElemType type, const std::string& bytes) {
  std::vector<double> v;
  if (type == proto::F32) {
    v.resize(bytes.size() / 4);
    for (size_t i = 0; i < v.size(); ++i) {
      float f;
      std::memcpy(&f, bytes.data() + 4 * i, 4);
      v[i] = f;
    }
  } else {
    v.resize(bytes.size());
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = type == proto::S8 ? static_cast<int8_t>(bytes[i]) : static_cast<uint8_t>(bytes[i]);
    }
  }
  return v;
}

}  // namespace

std::string_view VerdictName(OutputCheck::Verdict v) {
  switch (v) {
    case OutputCheck::Verdict::kPassed:
      return "passed";
    case OutputCheck::Verdict::kFailed:
      return "failed";
    case OutputCheck::Verdict::kSkipped:
      return "skipped";
  }
  return "skipped";
}

bool IsInt8Graph(const proto::ModelGraph& graph) {
  const auto tensors = TensorsByName(graph);
  const proto::TensorSpec* dequantized = DequantizedOutput(graph);
  for (int i = 0; i < graph.nodes_size(); ++i) {
    const proto::ModelNode& n = graph.nodes(i);
    if (dequantized != nullptr && i == graph.nodes_size() - 1) break;
    auto it = tensors.find(n.output());
    if (it == tensors.end()) return false;
    const proto::ElemType type = it->second->type();
    if (type != proto::U8 && type != proto::S8) return false;
  }
  return true;
}

OutputCheck CompareOutputs(const proto::ModelGraph& graph, proto::ElemType type,
                           const std::string& output, const std::string& reference) {
  OutputCheck check;
  check.exact = IsInt8Graph(graph);
  std::vector<double> out = Values(type, output);
  std::vector<double> ref = Values(type, reference);
  check.elements = static_cast<int64_t>(ref.size());
  if (out.size() != ref.size()) {
    check.verdict = OutputCheck::Verdict::kFailed;
    check.mismatches = check.elements;
    return check;
  }
  // An int8 graph's dequantised output compares as its quantisation levels,
  // so two ways of computing s * (q - z) cannot differ by a rounding.
  const proto::TensorSpec* dequantized = type == proto::F32 ? DequantizedOutput(graph) : nullptr;
  if (check.exact && dequantized != nullptr && dequantized->scale() > 0) {
    const double s = dequantized->scale();
    for (double* v : {out.data(), ref.data()}) {
      for (size_t i = 0; i < out.size(); ++i) v[i] = std::nearbyint(v[i] / s);
    }
  }
  double max_ref = 0;
  for (double r : ref) max_ref = std::max(max_ref, std::abs(r));
  check.tolerance = check.exact ? 0 : 1e-3 * std::max(1.0, max_ref);
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = std::abs(out[i] - ref[i]);
    if (!(d <= check.tolerance)) ++check.mismatches;  // NaN counts
    if (d > check.max_abs_diff || std::isnan(d)) check.max_abs_diff = d;
  }
  check.verdict = check.mismatches == 0 ? OutputCheck::Verdict::kPassed
                                        : OutputCheck::Verdict::kFailed;
  return check;
}

absl::StatusOr<ModelRun> RunModel(AgentClient& agent, const db::Store* store,
                                  const OnnxModel& model, const ModelRunOptions& options) {
  ModelRun run;
  const proto::DeviceInfo& info = agent.device_info();
  run.threads = options.threads > 0 ? options.threads : std::max(1, info.cores());
  QTUNE_ASSIGN_OR_RETURN(
      run.choices,
      ChooseConfigs(store, info, model.graph, run.threads,
                    [&agent](const kernels::OpSpec& op) { return agent.DescribeSpace(op); }));

  std::string serialized;
  if (!model.graph.SerializeToString(&serialized)) {
    return absl::InternalError("cannot serialise the model graph");
  }
  run.sha256 = Sha256Hex(serialized);
  QTUNE_ASSIGN_OR_RETURN(proto::LoadModelReply loaded, agent.LoadModel(serialized, run.sha256));
  run.was_cached = loaded.cached();

  proto::RunModelRequest request;
  request.set_sha256(run.sha256);
  for (const ConfigChoice& c : run.choices) {
    if (c.source != ConfigChoice::Source::kDefault) {
      (*request.mutable_configs())[c.node] = ToProto(c.config);
    }
    if (!c.alternative.empty()) (*request.mutable_alternatives())[c.node] = ToProto(c.alternative);
  }
  request.set_threads(run.threads);
  request.set_no_fusion(!options.fuse);
  request.set_runs(options.runs);
  request.set_warmup_runs(options.warmup_runs);
  request.set_input(options.input);
  request.set_return_output(options.return_output || options.check);

  // An agent that restarted without its model cache answers NOT_FOUND: send
  // the model again, once.
  auto run_once = [&](const proto::RunModelRequest& r) -> absl::StatusOr<proto::RunModelReply> {
    absl::StatusOr<proto::RunModelReply> reply = agent.RunModel(r, options.timeout);
    if (reply.ok() || reply.status().code() != absl::StatusCode::kNotFound) return reply;
    QTUNE_RETURN_IF_ERROR(agent.LoadModel(serialized, run.sha256).status());
    return agent.RunModel(r, options.timeout);
  };
  QTUNE_ASSIGN_OR_RETURN(run.reply, run_once(request));

  if (options.check) {
    proto::RunModelRequest reference;
    reference.set_sha256(run.sha256);
    reference.set_reference(true);
    reference.set_runs(1);
    reference.set_warmup_runs(0);
    reference.set_input(options.input);
    reference.set_return_output(true);
    QTUNE_ASSIGN_OR_RETURN(proto::RunModelReply ref, run_once(reference));
    if (ref.output_type() != run.reply.output_type()) {
      return absl::InternalError("the reference executor returned another output type");
    }
    run.check = CompareOutputs(model.graph, run.reply.output_type(), run.reply.output(),
                               ref.output());
  }
  return run;
}

}  // namespace qtune::tuner
