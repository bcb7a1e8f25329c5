// File: model_zoo.h
// Built-in models, described as the list of their unique operators. A layer
// is one distinct OpSpec (shape, stride, padding, fused activation) with the
// number of times the network executes it and the names of those instances
// (torchvision module names). All ops are NHWC, batch 1, int8 by default;
// tasks.h picks the dtypes to tune.
//
//   ASSIGN_OR_RETURN(const Model* model, FindModel("resnet18"));
//   for (const Layer& layer : model->layers) ...
//
// Thread-safety: the zoo is built once on first use and immutable; every
// function may be called from any thread. Returned pointers live for the
// whole program.
#ifndef QTUNE_TUNER_CORE_MODEL_ZOO_H_
#define QTUNE_TUNER_CORE_MODEL_ZOO_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::tuner {

struct Layer {
  // Unique within the model. The torchvision name of a layer that occurs
  // once ("layer2.0.downsample"); for a repeated one, the common name with
  // the differing block index replaced by its range ("layer1.0-1.conv1").
  std::string name;
  kernels::OpSpec op;
  int occurrences = 1;
  std::vector<std::string> instances;  // torchvision names, in network order
};

struct Model {
  std::string name;         // lookup key, lower case: "resnet18"
  std::string description;
  std::vector<Layer> layers;  // in network order of their first instance
  // Each layer's op has its own dtype (an imported model: an int8 file's
  // layers are int8): tasks exist only for a layer's own dtype. Otherwise a
  // layer is tuned in every dtype asked for (the zoo).
  bool fixed_dtypes = false;

  // Sum over layers of occurrences * MACs.
  int64_t total_macs() const;
};

// Names of the built-in models, sorted.
std::vector<std::string> ModelNames();

// The model named `name` (case-insensitive). INVALID_ARGUMENT listing the
// known models when there is none.
absl::StatusOr<const Model*> FindModel(std::string_view name);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CORE_MODEL_ZOO_H_
