// qtune run: a whole ONNX model on an agent with the tuned configs.
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/npy.h"
#include "common/status_macros.h"
#include "proto/convert.h"
#include "qtune/db/store.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/flags.h"
#include "tuner/onnx/onnx_to_model.h"
#include "tuner/rpc/agent_client.h"
#include "tuner/run/model_run.h"

ABSL_FLAG(int32_t, runs, 20, "run: timed runs of the whole model");
ABSL_FLAG(bool, check, false,
          "run: also run the reference executor on the agent and compare the outputs (int8 "
          "graphs: exactly; fp32: within 1e-3 of the largest output)");
ABSL_FLAG(std::string, input, "",
          "run: a .npy float32 array in the model input's NCHW shape; default: the agent's "
          "deterministic input (seed 1)");
ABSL_FLAG(std::string, output, "", "run: write the model's output to this .npy file");
ABSL_FLAG(bool, fuse, true,
          "run: compute each int8 Add in the epilogue of the convolution before it, where the "
          "kernel can (the same output bit for bit); --nofuse runs every Add on its own");

namespace qtune::tuner {
namespace {

std::string OpTypeOf(const proto::ModelNode& node) {
  if (node.kind() == proto::ModelNode::CONV) {
    absl::StatusOr<kernels::OpSpec> op = FromProto(node.op());
    if (op.ok()) {
      return absl::StrCat(std::string(kernels::OpKindName(op->kind)), "/",
                          std::string(kernels::DTypeName(op->dtype)));
    }
  }
  return absl::AsciiStrToLower(proto::ModelNode::Kind_Name(node.kind()));
}

std::string NpyDtype(proto::ElemType type) {
  return type == proto::F32 ? "<f4" : type == proto::S8 ? "|i1" : "|u1";
}

// The graph input's bytes from --input, checked against its shape.
absl::StatusOr<std::string> ReadInput(const proto::ModelGraph& graph, const std::string& path) {
  QTUNE_ASSIGN_OR_RETURN(NpyArray array, ReadNpy(path));
  const proto::TensorSpec* input = nullptr;
  for (const proto::TensorSpec& t : graph.tensors()) {
    if (t.name() == graph.input()) input = &t;
  }
  if (input == nullptr) return absl::InternalError("the model has no input tensor");
  std::vector<int64_t> want(input->shape().begin(), input->shape().end());
  if (array.dtype != "<f4" || array.shape != want) {
    std::vector<std::string> dims;
    for (int64_t d : want) dims.push_back(absl::StrCat(d));
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the model takes a float32 array of shape (", absl::StrJoin(dims, ", "), ")"));
  }
  return array.data;
}

int RunRun(const ParsedArgs& args) {
  const std::string program = "qtune run";
  if (!args.given.count("onnx")) {
    return cli::ReportError(program, absl::InvalidArgumentError("--onnx FILE is required"));
  }
  const bool json = absl::GetFlag(FLAGS_json);
  const int runs = absl::GetFlag(FLAGS_runs);
  const int threads = absl::GetFlag(FLAGS_threads);
  if (runs < 1 || runs > 100000) {
    return cli::ReportError(program, absl::InvalidArgumentError("--runs must be 1..100000"));
  }
  if (threads < 0 || threads > 1024) {
    return cli::ReportError(program, absl::InvalidArgumentError("--threads must be 0..1024"));
  }

  absl::StatusOr<OnnxModel> model = ConvertOnnx(absl::GetFlag(FLAGS_onnx));
  if (!model.ok()) return cli::ReportError(program, model.status());

  ModelRunOptions options;
  options.threads = threads;
  options.runs = runs;
  if (args.given.count("warmup_runs")) options.warmup_runs = absl::GetFlag(FLAGS_warmup_runs);
  else options.warmup_runs = 0;  // the agent's default
  options.check = absl::GetFlag(FLAGS_check);
  options.fuse = absl::GetFlag(FLAGS_fuse);
  options.return_output = !absl::GetFlag(FLAGS_output).empty();
  if (!absl::GetFlag(FLAGS_input).empty()) {
    absl::StatusOr<std::string> input = ReadInput(model->graph, absl::GetFlag(FLAGS_input));
    if (!input.ok()) return cli::ReportError(program, input.status());
    options.input = *std::move(input);
  }

  // The default database is optional (every layer then runs its default
  // config); one named with --db must exist.
  std::unique_ptr<db::Store> store;
  std::string db_path = absl::GetFlag(FLAGS_db);
  if (!args.given.count("db") && !std::filesystem::exists(db_path)) db_path.clear();
  if (!db_path.empty()) {
    absl::StatusOr<std::unique_ptr<db::Store>> opened =
        db::Store::Open(db_path, db::Store::Mode::kReadOnly);
    if (!opened.ok()) return cli::ReportError(program, opened.status());
    store = *std::move(opened);
  }
  absl::StatusOr<std::unique_ptr<AgentClient>> agent =
      AgentClient::Connect(absl::GetFlag(FLAGS_agent), Token());
  if (!agent.ok()) return cli::ReportError(program, agent.status());

  absl::StatusOr<ModelRun> run = RunModel(**agent, store.get(), *model, options);
  if (!run.ok()) return cli::ReportError(program, run.status());
  const proto::RunModelReply& reply = run->reply;

  if (!absl::GetFlag(FLAGS_output).empty()) {
    NpyArray out{NpyDtype(reply.output_type()),
                 {reply.output_shape().begin(), reply.output_shape().end()}, reply.output()};
    if (absl::Status s = WriteNpy(absl::GetFlag(FLAGS_output), out); !s.ok()) {
      return cli::ReportError(program, s);
    }
  }

  std::map<std::string, const ConfigChoice*> choice_of;
  int tuned = 0, capped = 0, defaults = 0;
  for (const ConfigChoice& c : run->choices) {
    choice_of[c.node] = &c;
    (c.source == ConfigChoice::Source::kTuned         ? tuned
     : c.source == ConfigChoice::Source::kTunedCapped ? capped
                                                      : defaults)++;
  }
  std::map<std::string, const proto::ModelNode*> node_of;
  for (const proto::ModelNode& n : model->graph.nodes()) node_of[n.name()] = &n;
  const proto::DeviceInfo& info = (*agent)->device_info();
  const std::string verdict(VerdictName(run->check.verdict));

  if (json) {
    for (const proto::NodeTiming& t : reply.nodes()) {
      json::Json line = {{"event", "op"}, {"name", t.name()}};
      auto n = node_of.find(t.name());
      line["op_type"] = n != node_of.end() ? OpTypeOf(*n->second)
                                           : absl::AsciiStrToLower(proto::ModelNode::Kind_Name(t.kind()));
      line["median_us"] = json::Number(t.median_us());
      if (!t.fused_add().empty()) line["fused_add"] = t.fused_add();
      if (!t.fused_into().empty()) line["fused_into"] = t.fused_into();
      if (auto c = choice_of.find(t.name()); c != choice_of.end()) {
        line["kernel"] = t.kernel();
        line["config"] = std::string(SourceName(c->second->source));
        if (!c->second->alternative.empty()) line["one_thread_kept"] = t.alternative();
        line["config_text"] = c->second->config_text;
        if (c->second->tuned_us > 0) line["tuned_us"] = json::Number(c->second->tuned_us);
        if (!c->second->note.empty()) line["note"] = c->second->note;
      }
      std::cout << json::Dump(line) << "\n";
    }
    json::Json done = {{"event", "run"},
                       {"model", model->graph.name()},
                       {"device_key", info.device_key()},
                       {"kernel_build", reply.kernel_build_id()},
                       {"threads", run->threads},
                       {"median_ms", json::Number(reply.median_us() / 1000)},
                       {"min_ms", json::Number(reply.min_us() / 1000)},
                       {"runs", reply.runs()},
                       {"tuned", tuned},
                       {"tuned_capped", capped},
                       {"default", defaults},
                       {"sha256", run->sha256},
                       {"cached", run->was_cached},
                       {"check", verdict}};
    if (run->check.verdict != OutputCheck::Verdict::kSkipped) {
      done["check_exact"] = run->check.exact;
      done["max_abs_diff"] = json::Number(run->check.max_abs_diff);
      done["mismatches"] = run->check.mismatches;
    }
    std::cout << json::Dump(done) << "\n";
  } else {
    std::cout << absl::StrFormat(
        "%s: %d ONNX nodes -> %d nodes (%d int8 and %d fp32 convolutions); model %s %s\n",
        model->graph.source(), model->onnx_nodes, model->graph.nodes_size(), model->int8_convs,
        model->fp32_convs, run->sha256.substr(0, 12),
        run->was_cached ? "was cached on the agent" : "sent to the agent");
    std::cout << absl::StrFormat("agent %s: %s, kernel build %s, %d threads\n",
                                 (*agent)->address(), info.device_key(), reply.kernel_build_id(),
                                 run->threads);
    std::cout << absl::StrFormat("configs: %d tuned, %d tuned with more threads, %d default%s\n",
                                 tuned, capped, defaults,
                                 store ? absl::StrCat(" (", db_path, ")") : " (no --db)");
    std::cout << absl::StrFormat("\n%-28s %-24s %10s %6s  %-12s %s\n", "node", "op", "median us",
                                 "share", "config", "kernel");
    double sum = 0;
    for (const proto::NodeTiming& t : reply.nodes()) sum += t.median_us();
    for (const proto::NodeTiming& t : reply.nodes()) {
      auto n = node_of.find(t.name());
      const std::string op = n != node_of.end() ? OpTypeOf(*n->second) : "";
      std::string config;
      if (auto c = choice_of.find(t.name()); c != choice_of.end()) {
        config = std::string(SourceName(c->second->source));
        if (t.alternative()) config += " 1t";  // its one-thread alternative was faster in place
      }
      // A fused pair: the CONV's time includes the ADD's.
      std::string kernel = t.kernel();
      if (!t.fused_add().empty()) kernel += " + " + t.fused_add();
      if (!t.fused_into().empty()) kernel = "(in " + t.fused_into() + ")";
      std::cout << absl::StrFormat("%-28s %-24s %10.1f %5.1f%%  %-12s %s\n", t.name(), op,
                                   t.median_us(), sum > 0 ? 100 * t.median_us() / sum : 0.0,
                                   config, kernel);
    }
    for (const ConfigChoice& c : run->choices) {
      if (!c.note.empty()) std::cout << "  " << c.node << ": " << c.note << "\n";
    }
    int kept_one_thread = 0;
    for (const proto::NodeTiming& t : reply.nodes()) kept_one_thread += t.alternative();
    if (kept_one_thread > 0) {
      std::cout << absl::StrFormat(
          "  %d layers run their fastest one-thread config (\"1t\"): faster in place than their "
          "multi-thread best\n",
          kept_one_thread);
    }
    std::cout << absl::StrFormat(
        "\n%s: median %.3f ms, min %.3f ms over %d runs (%d threads); nodes sum to %.3f ms\n",
        model->graph.name(), reply.median_us() / 1000, reply.min_us() / 1000, reply.runs(),
        run->threads, sum / 1000);
    if (run->check.verdict != OutputCheck::Verdict::kSkipped) {
      std::cout << absl::StrFormat(
          "check: %s against the reference executor (%s; %d of %d outputs differ, max |diff| "
          "%g)\n",
          verdict, run->check.exact ? "int8: exact" : absl::StrFormat("tolerance %g", run->check.tolerance),
          run->check.mismatches, run->check.elements, run->check.max_abs_diff);
    }
  }
  return run->check.verdict == OutputCheck::Verdict::kFailed ? 1 : 0;
}

}  // namespace

Command RunCommand() {
  return {Subcommand{
              "run", "",
              "Run a whole ONNX model on an agent with the tuned configs; time it per op.",
              "Converts the model (QOperator, QDQ or fp32 ONNX) to qtune's graph, sends it to "
              "the agent once (cached there by its SHA-256), and runs it with, for each "
              "convolution, the fastest config in --db measured by the agent's kernel build "
              "(docs/runtime.md says the rule), or the default config where none was tuned. "
              "Prints the end-to-end median latency and a per-op breakdown. Exit status 1 when "
              "--check finds a difference.",
              {"onnx", "agent", "token", "db", "threads", "runs", "warmup_runs", "check", "input",
               "output", "fuse", "json"},
              ""},
          RunRun};
}

}  // namespace qtune::tuner
