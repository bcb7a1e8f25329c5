// File: tasks.h
// A task is one layer of a model in one dtype: the unit the tuner searches a
// configuration for.
//
//   ASSIGN_OR_RETURN(std::vector<DType> dtypes, ParseDTypeList("int8,fp32"));
//   ASSIGN_OR_RETURN(std::vector<Task> tasks, ExtractTasks(*model, dtypes, {}));
#ifndef QTUNE_TUNER_CORE_TASKS_H_
#define QTUNE_TUNER_CORE_TASKS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "qtune/kernels/op_spec.h"
#include "tuner/core/model_zoo.h"

namespace qtune::tuner {

struct Task {
  std::string name;   // "<layer>/<dtype>", e.g. "layer1.0-1.conv1/int8"; unique in a job
  std::string layer;  // the model layer, e.g. "layer1.0-1.conv1"
  kernels::DType dtype = kernels::DType::kInt8;
  kernels::OpSpec op;  // op.dtype == dtype
  int occurrences = 1;
};

// Parses a comma-separated dtype list ("int8,fp32"). INVALID_ARGUMENT on an
// empty list, an unknown name (listing the known ones) or a repeated one.
absl::StatusOr<std::vector<kernels::DType>> ParseDTypeList(std::string_view text);

// The tasks of `model`: for each layer in model order, one task per dtype in
// `dtypes` order (for a model with fixed_dtypes, only the layer's own dtype;
// INVALID_ARGUMENT when no layer has one of `dtypes`). A non-empty `layers` keeps only the named layers (model
// order is kept); an unknown name is INVALID_ARGUMENT listing the valid ones.
// An empty `dtypes` is INVALID_ARGUMENT.
absl::StatusOr<std::vector<Task>> ExtractTasks(const Model& model,
                                               const std::vector<kernels::DType>& dtypes,
                                               const std::vector<std::string>& layers);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CORE_TASKS_H_
