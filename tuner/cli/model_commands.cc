#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/cli.h"
#include "common/json.h"
#include "tuner/cli/commands.h"
#include "tuner/cli/flags.h"
#include "tuner/core/model_zoo.h"
#include "tuner/onnx/onnx_import.h"

namespace qtune::tuner {
namespace {

int RunTasks(const ParsedArgs& args) {
  std::optional<OnnxImport> imported;
  const Model* model = nullptr;
  if (args.given.count("onnx")) {
    absl::StatusOr<OnnxImport> onnx = ImportOnnx(absl::GetFlag(FLAGS_onnx));
    if (!onnx.ok()) return cli::ReportError("qtune tasks", onnx.status());
    imported = *std::move(onnx);
    model = &imported->model;
  } else {
    absl::StatusOr<const Model*> zoo = FindModel(absl::GetFlag(FLAGS_model));
    if (!zoo.ok()) return cli::ReportError("qtune tasks", zoo.status());
    model = *zoo;
  }
  const Model& m = *model;
  if (absl::GetFlag(FLAGS_json)) {
    for (const Layer& layer : m.layers) {
      json::Json line = {{"model", m.name},
                         {"name", layer.name},
                         {"op", std::string(kernels::OpKindName(layer.op.kind))},
                         {"shape", kernels::ShapeString(layer.op)},
                         {"activation", std::string(kernels::ActivationName(layer.op.activation))},
                         {"macs", layer.op.macs()},
                         {"occurrences", layer.occurrences},
                         {"instances", layer.instances}};
      if (imported) {
        line["dtype"] = std::string(kernels::DTypeName(layer.op.dtype));
        line["workload_key"] = kernels::CanonicalKey(layer.op);
      }
      std::cout << json::Dump(line) << "\n";
    }
    if (imported) {
      std::cout << json::Dump({{"not_tuned", imported->not_tuned}, {"skipped", imported->skipped}})
                << "\n";
    }
    return 0;
  }
  std::cout << absl::StrFormat("%s: %s\n", m.name, m.description);
  std::cout << absl::StrFormat("%-22s %-7s %-26s %-5s %13s %3s\n", "layer",
                               imported ? "op/type" : "op", "shape", "act", "MACs", "n");
  for (const Layer& layer : m.layers) {
    std::string op(kernels::OpKindName(layer.op.kind));
    if (imported) {
      absl::StrAppend(&op, "/", std::string(kernels::DTypeName(layer.op.dtype)),
                      layer.op.signed_io ? "s8" : "");
    }
    std::cout << absl::StrFormat("%-22s %-7s %-26s %-5s %13d %3d\n", layer.name, op,
                                 kernels::ShapeString(layer.op),
                                 kernels::ActivationName(layer.op.activation), layer.op.macs(),
                                 layer.occurrences);
  }
  std::cout << absl::StrFormat("%d layers, %d MACs per inference (each layer x occurrences)\n",
                               m.layers.size(), m.total_macs());
  if (imported) {
    std::vector<std::string> others;
    for (const auto& [type, count] : imported->not_tuned) others.push_back(absl::StrCat(type, " x", count));
    std::cout << "not tuned (run as they are): " << absl::StrJoin(others, ", ") << "\n";
    for (const std::string& why : imported->skipped) std::cout << "skipped: " << why << "\n";
  }
  return 0;
}

int RunModels(const ParsedArgs&) {
  for (const std::string& name : ModelNames()) {
    const Model& m = **FindModel(name);
    if (absl::GetFlag(FLAGS_json)) {
      std::cout << json::Dump({{"name", m.name},
                               {"description", m.description},
                               {"layers", static_cast<int64_t>(m.layers.size())},
                               {"macs", m.total_macs()}})
                << "\n";
    } else {
      std::cout << absl::StrFormat("%-10s %3d layers %7.2f GMACs  %s\n", m.name, m.layers.size(),
                                   m.total_macs() / 1e9, m.description);
    }
  }
  return 0;
}

}  // namespace

Command TasksCommand() {
  return {Subcommand{"tasks", "", "List a model's layers: name, op, shape, MACs, occurrences.", "",
       {"model", "onnx", "json"}, ""}, RunTasks};
}

Command ModelsCommand() {
  return {Subcommand{"models", "", "List the built-in models.", "", {"json"}, ""}, RunModels};
}

}  // namespace qtune::tuner
