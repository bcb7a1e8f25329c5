#include "tuner/core/job_spec.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "device_agent/measure_options.h"
#include "tuner/core/model_zoo.h"
#include "tuner/onnx/onnx_import.h"
#include "tuner/search/search_strategy.h"

namespace qtune::tuner {

// The tasks of a spec (model, dtypes, layers), checked.
absl::StatusOr<std::vector<Task>> TasksOfSpec(const proto::JobSpec& spec) {
  std::optional<OnnxImport> imported;
  const Model* model = nullptr;
  if (!spec.onnx().empty()) {
    QTUNE_ASSIGN_OR_RETURN(imported, ImportOnnx(spec.onnx()));
    model = &imported->model;
  } else {
    QTUNE_ASSIGN_OR_RETURN(model, FindModel(spec.model()));
  }
  std::vector<kernels::DType> dtypes;
  for (int d : spec.dtypes()) {
    if (d == proto::INT8) {
      dtypes.push_back(kernels::DType::kInt8);
    } else if (d == proto::FP32) {
      dtypes.push_back(kernels::DType::kFp32);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown dtype ", d, " in the job spec"));
    }
  }
  if (dtypes.empty()) return absl::InvalidArgumentError("the job spec names no dtype");
  std::vector<std::string> layers(spec.layers().begin(), spec.layers().end());
  return ExtractTasks(*model, dtypes, layers);
}

// The tuning options of a spec, checked.
absl::StatusOr<TuneOptions> TuneOptionsOfSpec(const proto::JobSpec& spec) {
  TuneOptions o;
  o.model = spec.model();
  o.strategy = spec.strategy().empty() ? "model" : spec.strategy();
  QTUNE_RETURN_IF_ERROR(MakeSearchStrategy(o.strategy).status());
  if (spec.trials_per_task() < 0 || !(spec.time_budget_s() >= 0) || spec.patience() < 0 ||
      spec.max_failures() < 0 || spec.warm_trials() < 0 || spec.batch_size() < 0 ||
      spec.batch_size() > kMaxBatchSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job spec out of range: trials_per_task, time_budget_s, patience, max_failures and "
        "warm_trials must not be negative, batch_size in [0, ", kMaxBatchSize, "]"));
  }
  if (spec.trials_per_task() == 0 && spec.time_budget_s() == 0) {
    return absl::InvalidArgumentError("a job needs trials_per_task or time_budget_s (or both)");
  }
  o.trials_per_task = spec.trials_per_task();
  o.time_budget = absl::Seconds(spec.time_budget_s());
  o.patience = spec.patience();
  o.max_failures_in_a_row = spec.max_failures();
  if (spec.warm_trials() > 0) o.warm_trials = spec.warm_trials();
  if (spec.batch_size() > 0) o.batch_size = spec.batch_size();
  o.seed = spec.seed();
  o.transfer = spec.transfer();
  o.use_history = spec.history();
  if (spec.has_measure()) {
    QTUNE_RETURN_IF_ERROR(agent::ResolveMeasureOptions(spec.measure()).status());
    o.measure = spec.measure();
  } else {
    o.measure = DefaultMeasureOptions();
  }
  return o;
}

}  // namespace qtune::tuner
