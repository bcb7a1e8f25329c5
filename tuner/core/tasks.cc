#include "tuner/core/tasks.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"

namespace qtune::tuner {

using kernels::DType;

absl::StatusOr<std::vector<DType>> ParseDTypeList(std::string_view text) {
  std::vector<DType> out;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    absl::StatusOr<DType> dtype = kernels::ParseDType(std::string_view(part.data(), part.size()));
    if (!dtype.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown dtype '", part, "'; known dtypes: int8, fp32"));
    }
    if (std::find(out.begin(), out.end(), *dtype) != out.end()) {
      return absl::InvalidArgumentError(absl::StrCat("dtype '", part, "' is listed twice"));
    }
    out.push_back(*dtype);
  }
  if (out.empty()) return absl::InvalidArgumentError("no dtype given; known dtypes: int8, fp32");
  return out;
}

absl::StatusOr<std::vector<Task>> ExtractTasks(const Model& model, const std::vector<DType>& dtypes,
                                               const std::vector<std::string>& layers) {
  if (dtypes.empty()) return absl::InvalidArgumentError("no dtype given; known dtypes: int8, fp32");
  std::set<std::string> wanted;
  for (const std::string& name : layers) {
    const bool known = std::any_of(model.layers.begin(), model.layers.end(),
                                   [&](const Layer& l) { return l.name == name; });
    if (!known) {
      std::vector<std::string> valid;
      for (const Layer& l : model.layers) valid.push_back(l.name);
      return absl::InvalidArgumentError(absl::StrCat("unknown layer '", name, "' in model ",
                                                     model.name, "; valid layers: ",
                                                     absl::StrJoin(valid, ", ")));
    }
    wanted.insert(name);
  }
  std::vector<Task> tasks;
  for (const Layer& layer : model.layers) {
    if (!wanted.empty() && !wanted.count(layer.name)) continue;
    for (DType dtype : dtypes) {
      if (model.fixed_dtypes && dtype != layer.op.dtype) continue;
      Task task;
      task.layer = layer.name;
      task.dtype = dtype;
      task.name = absl::StrCat(layer.name, "/", std::string(kernels::DTypeName(dtype)));
      task.op = layer.op;
      task.op.dtype = dtype;
      task.occurrences = layer.occurrences;
      tasks.push_back(std::move(task));
    }
  }
  if (tasks.empty()) {
    std::vector<std::string> names;
    for (DType d : dtypes) names.push_back(std::string(kernels::DTypeName(d)));
    return absl::InvalidArgumentError(absl::StrCat("model ", model.name, " has no layer of dtype ",
                                                   absl::StrJoin(names, " or ")));
  }
  return tasks;
}

}  // namespace qtune::tuner
