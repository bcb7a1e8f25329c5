#include <iostream>
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

namespace qtune::tuner {
namespace {

int RunTasks(const ParsedArgs&) {
  absl::StatusOr<const Model*> model = FindModel(absl::GetFlag(FLAGS_model));
  if (!model.ok()) return cli::ReportError("qtune tasks", model.status());
  const Model& m = **model;
  if (absl::GetFlag(FLAGS_json)) {
    for (const Layer& layer : m.layers) {
      std::cout << json::Dump(
                       {{"model", m.name},
                        {"name", layer.name},
                        {"op", std::string(kernels::OpKindName(layer.op.kind))},
                        {"shape", kernels::ShapeString(layer.op)},
                        {"activation", std::string(kernels::ActivationName(layer.op.activation))},
                        {"macs", layer.op.macs()},
                        {"occurrences", layer.occurrences},
                        {"instances", layer.instances}})
                << "\n";
    }
    return 0;
  }
  std::cout << absl::StrFormat("%s: %s\n", m.name, m.description);
  std::cout << absl::StrFormat("%-22s %-7s %-26s %-5s %13s %3s\n", "layer", "op", "shape", "act",
                               "MACs", "n");
  for (const Layer& layer : m.layers) {
    std::cout << absl::StrFormat("%-22s %-7s %-26s %-5s %13d %3d\n", layer.name,
                                 kernels::OpKindName(layer.op.kind),
                                 kernels::ShapeString(layer.op),
                                 kernels::ActivationName(layer.op.activation), layer.op.macs(),
                                 layer.occurrences);
  }
  std::cout << absl::StrFormat("%d layers, %d MACs per inference (each layer x occurrences)\n",
                               m.layers.size(), m.total_macs());
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
       {"model", "json"}, ""}, RunTasks};
}

Command ModelsCommand() {
  return {Subcommand{"models", "", "List the built-in models.", "", {"json"}, ""}, RunModels};
}

}  // namespace qtune::tuner
