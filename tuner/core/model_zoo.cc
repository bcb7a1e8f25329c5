#include "tuner/core/model_zoo.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace qtune::tuner {
namespace {

using kernels::Activation;
using kernels::OpKind;
using kernels::OpSpec;

// One operator execution of a network, before deduplication.
struct Instance {
  std::string name;
  OpSpec op;
};

OpSpec Conv(int hw, int c, int k, int rs, int stride, int pad, bool relu) {
  OpSpec op;
  op.kind = OpKind::kConv2d;
  op.n = 1;
  op.h = op.w = hw;
  op.c = c;
  op.k = k;
  op.r = op.s = rs;
  op.stride_h = op.stride_w = stride;
  op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = pad;
  op.activation = relu ? Activation::kRelu : Activation::kNone;
  return op;
}

OpSpec Dense(int c, int k) {
  OpSpec op;
  op.kind = OpKind::kDense;
  op.n = 1;
  op.c = c;
  op.k = k;
  op.activation = Activation::kNone;
  return op;
}

// The name of a layer covering `names`: the single name, or the common name
// with the one differing numeric component written as a range ("0-1") when
// the indices are contiguous. Anything else keeps the first name and appends
// "+N" (the count of further instances).
std::string MergedName(const std::vector<std::string>& names) {
  if (names.size() == 1) return names[0];
  std::vector<std::vector<std::string>> parts;
  for (const std::string& n : names) parts.push_back(absl::StrSplit(n, '.'));
  const size_t width = parts[0].size();
  int differing = -1;
  bool mergeable = true;
  for (size_t i = 0; i < width && mergeable; ++i) {
    for (const auto& p : parts) {
      if (p.size() != width) {
        mergeable = false;
        break;
      }
      if (p[i] != parts[0][i]) {
        if (differing >= 0 && differing != static_cast<int>(i)) mergeable = false;
        differing = static_cast<int>(i);
      }
    }
  }
  if (mergeable && differing >= 0) {
    std::vector<int> indices;
    for (const auto& p : parts) {
      int v = 0;
      if (!absl::SimpleAtoi(p[differing], &v)) {
        mergeable = false;
        break;
      }
      indices.push_back(v);
    }
    if (mergeable) {
      std::sort(indices.begin(), indices.end());
      for (size_t i = 1; i < indices.size(); ++i) {
        if (indices[i] != indices[i - 1] + 1) mergeable = false;
      }
    }
    if (mergeable) {
      std::vector<std::string> out = parts[0];
      out[differing] = absl::StrCat(indices.front(), "-", indices.back());
      return absl::StrJoin(out, ".");
    }
  }
  return absl::StrCat(names[0], "+", names.size() - 1);
}

// Groups identical OpSpecs (first appearance order) into layers.
Model MakeModel(std::string name, std::string description, const std::vector<Instance>& instances) {
  Model model;
  model.name = std::move(name);
  model.description = std::move(description);
  for (const Instance& inst : instances) {
    auto it = std::find_if(model.layers.begin(), model.layers.end(),
                           [&](const Layer& l) { return l.op == inst.op; });
    if (it == model.layers.end()) {
      model.layers.push_back(Layer{"", inst.op, 0, {}});
      it = model.layers.end() - 1;
    }
    it->occurrences++;
    it->instances.push_back(inst.name);
  }
  for (Layer& layer : model.layers) layer.name = MergedName(layer.instances);
  return model;
}

// torchvision ResNet with basic blocks (ResNet18/34). The second conv of a
// block feeds the residual add before the ReLU, so it has no fused
// activation; nor has the downsample.
Model ResNetBasic(std::string name, std::string description, const std::vector<int>& blocks) {
  std::vector<Instance> v;
  v.push_back({"conv1", Conv(224, 3, 64, 7, 2, 3, true)});
  int hw = 56;  // after the 3x3/2 max pool
  int in_c = 64;
  for (size_t stage = 0; stage < blocks.size(); ++stage) {
    const int planes = 64 << stage;
    for (int b = 0; b < blocks[stage]; ++b) {
      const int stride = (b == 0 && stage > 0) ? 2 : 1;
      const std::string prefix = absl::StrCat("layer", stage + 1, ".", b, ".");
      const int out_hw = hw / stride;
      v.push_back({prefix + "conv1", Conv(hw, in_c, planes, 3, stride, 1, true)});
      v.push_back({prefix + "conv2", Conv(out_hw, planes, planes, 3, 1, 1, false)});
      if (stride != 1 || in_c != planes) {
        v.push_back({prefix + "downsample", Conv(hw, in_c, planes, 1, stride, 0, false)});
      }
      hw = out_hw;
      in_c = planes;
    }
  }
  v.push_back({"fc", Dense(in_c, 1000)});
  return MakeModel(std::move(name), std::move(description), v);
}

// torchvision ResNet with bottleneck blocks (ResNet50/101, "v1.5": the
// stride sits on the 3x3 conv). conv3 feeds the residual add: no fused ReLU.
Model ResNetBottleneck(std::string name, std::string description,
                       const std::vector<int>& blocks) {
  std::vector<Instance> v;
  v.push_back({"conv1", Conv(224, 3, 64, 7, 2, 3, true)});
  int hw = 56;
  int in_c = 64;
  for (size_t stage = 0; stage < blocks.size(); ++stage) {
    const int planes = 64 << stage;
    const int out_c = planes * 4;
    for (int b = 0; b < blocks[stage]; ++b) {
      const int stride = (b == 0 && stage > 0) ? 2 : 1;
      const std::string prefix = absl::StrCat("layer", stage + 1, ".", b, ".");
      const int out_hw = hw / stride;
      v.push_back({prefix + "conv1", Conv(hw, in_c, planes, 1, 1, 0, true)});
      v.push_back({prefix + "conv2", Conv(hw, planes, planes, 3, stride, 1, true)});
      v.push_back({prefix + "conv3", Conv(out_hw, planes, out_c, 1, 1, 0, false)});
      if (stride != 1 || in_c != out_c) {
        v.push_back({prefix + "downsample", Conv(hw, in_c, out_c, 1, stride, 0, false)});
      }
      hw = out_hw;
      in_c = out_c;
    }
  }
  v.push_back({"fc", Dense(in_c, 1000)});
  return MakeModel(std::move(name), std::move(description), v);
}

const std::map<std::string, Model>& Zoo() {
  static const auto* zoo = [] {
    auto* m = new std::map<std::string, Model>;
    for (Model model : {
             ResNetBasic("resnet18", "ResNet-18 (torchvision), 224x224, batch 1", {2, 2, 2, 2}),
             ResNetBasic("resnet34", "ResNet-34 (torchvision), 224x224, batch 1", {3, 4, 6, 3}),
             ResNetBottleneck("resnet50", "ResNet-50 v1.5 (torchvision), 224x224, batch 1",
                              {3, 4, 6, 3}),
         }) {
      std::string key = model.name;
      m->emplace(std::move(key), std::move(model));
    }
    return m;
  }();
  return *zoo;
}

}  // namespace

int64_t Model::total_macs() const {
  int64_t total = 0;
  for (const Layer& layer : layers) total += layer.occurrences * layer.op.macs();
  return total;
}

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (const auto& [name, model] : Zoo()) names.push_back(name);
  return names;
}

absl::StatusOr<const Model*> FindModel(std::string_view name) {
  const auto& zoo = Zoo();
  auto it = zoo.find(absl::AsciiStrToLower(std::string(name)));
  if (it == zoo.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown model '", std::string(name), "'; known models: ",
                                                   absl::StrJoin(ModelNames(), ", ")));
  }
  return &it->second;
}

}  // namespace qtune::tuner
