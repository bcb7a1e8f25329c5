// File: features.h
// The feature vector a cost model sees for one (task, config): the knob
// values plus, when the operator is known, shape-derived features (MACs,
// channel counts, register-tile sizes, padding waste of edge tiles, bytes
// touched per tile against the cache sizes, thread balance).
//
//   FeatureExtractor fx(space, op, caches);      // op optional
//   std::vector<float> row = fx.Extract(config); // fx.size() values
//
// Layout: fx.names()[i] names feature i ("knob:tile_m",
// "knob:kernel=x86_avx2", "op:log2_macs", "tile:pixel_waste", ...), so that
// rows of different spaces can be aligned by name. A feature that does not
// apply to a config (e.g. tile sizes of a family whose tiling is unknown) is
// NaN, which XGBoost treats as missing.
//
// Thread-safety: immutable after construction; Extract may be called
// concurrently.
#ifndef QTUNE_TUNER_SEARCH_FEATURES_H_
#define QTUNE_TUNER_SEARCH_FEATURES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/qtune.pb.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::tuner {

// Cache sizes of the measuring device, in bytes; `cores` = online CPUs.
struct DeviceCaches {
  int64_t l1d_bytes = 32 * 1024;
  int64_t l2_bytes = 1024 * 1024;
  int64_t l3_bytes = 8 * 1024 * 1024;
  int cores = 1;
};

// The data-cache sizes (levels 1, 2, 3) and cores of `info`; what the device
// does not report keeps DeviceCaches' defaults.
DeviceCaches CachesOf(const proto::DeviceInfo& info);

class FeatureExtractor {
 public:
  // Without `op`, only the knob features are produced.
  FeatureExtractor(const kernels::ConfigSpace& space, std::optional<kernels::OpSpec> op,
                   DeviceCaches caches = {});

  size_t size() const { return names_.size(); }
  const std::vector<std::string>& names() const { return names_; }

  // Writes size() values to `out`. `config` should belong to the space;
  // missing knobs give NaN features.
  void Extract(const kernels::Config& config, float* out) const;
  std::vector<float> Extract(const kernels::Config& config) const;

 private:
  void ExtractDerived(const kernels::Config& config, float* out) const;

  std::vector<kernels::Knob> knobs_;
  std::optional<kernels::OpSpec> op_;
  DeviceCaches caches_;
  std::vector<std::string> names_;
  size_t knob_features_ = 0;
};

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_SEARCH_FEATURES_H_
