#include "tuner/search/features.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using kernels::Knob;
using kernels::OpKind;
using kernels::OpSpec;

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();

// Derived features, in output order.
enum Derived : int {
  kLog2Macs,
  kOpC,
  kOpK,
  kOpPixels,
  kOpRS,
  kOpStride,
  kOpInt8,
  kOpDepthwise,
  kOpDense,
  kTilePixels,
  kTileChannels,
  kTileAccumulators,
  kPixelWaste,
  kChannelWaste,
  kReductionWaste,
  kTileBytes,
  kTileBytesPerL1,
  kWeightPanelPerL2,
  kWeightPanelPerL3,
  kWorkItems,
  kThreadImbalance,
  kThreadsPerCore,
  kDerivedCount,
};

constexpr std::string_view kDerivedNames[kDerivedCount] = {
    "op:log2_macs",      "op:c",
    "op:k",              "op:out_pixels",
    "op:rs",             "op:stride",
    "op:int8",           "op:depthwise",
    "op:dense",          "tile:pixels",
    "tile:channels",     "tile:accumulators",
    "tile:pixel_waste",  "tile:channel_waste",
    "tile:reduction_waste", "tile:bytes",
    "tile:bytes_per_l1", "tile:weight_panel_per_l2",
    "tile:weight_panel_per_l3", "par:work_items",
    "par:imbalance",     "par:threads_per_core",
};

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Padding fraction of covering `extent` with tiles of `tile`.
double Waste(int64_t extent, int64_t tile) {
  if (extent <= 0 || tile <= 0) return kMissing;
  return static_cast<double>(CeilDiv(extent, tile) * tile) / static_cast<double>(extent) - 1.0;
}

// The value of knob `name` in `config`, if set.
std::optional<int64_t> Get(const Config& config, std::string_view name) {
  auto it = config.find(std::string(name));
  if (it == config.end()) return std::nullopt;
  return it->second;
}

// The label of categorical knob `name`'s value, or "" when absent.
std::string_view LabelOf(const std::vector<Knob>& knobs, const Config& config,
                         std::string_view name) {
  std::optional<int64_t> v = Get(config, name);
  if (!v) return {};
  for (const Knob& k : knobs) {
    if (k.name != name || !k.categorical()) continue;
    for (size_t i = 0; i < k.values.size(); ++i) {
      if (k.values[i] == *v) return k.labels[i];
    }
  }
  return {};
}

}  // namespace

FeatureExtractor::FeatureExtractor(const kernels::ConfigSpace& space,
                                   std::optional<OpSpec> op, DeviceCaches caches)
    : knobs_(space.knobs()), op_(std::move(op)), caches_(caches) {
  for (const Knob& k : knobs_) {
    if (k.categorical()) {
      for (const std::string& label : k.labels) names_.push_back(absl::StrCat("knob:", k.name, "=", label));
    } else {
      names_.push_back(absl::StrCat("knob:", k.name));
    }
  }
  knob_features_ = names_.size();
  if (op_) {
    for (std::string_view n : kDerivedNames) names_.emplace_back(n);
  }
}

std::vector<float> FeatureExtractor::Extract(const Config& config) const {
  std::vector<float> out(size());
  Extract(config, out.data());
  return out;
}

void FeatureExtractor::Extract(const Config& config, float* out) const {
  size_t i = 0;
  for (const Knob& k : knobs_) {
    std::optional<int64_t> v = Get(config, k.name);
    if (k.categorical()) {
      for (int64_t value : k.values) out[i++] = v ? (*v == value ? 1.0f : 0.0f) : kMissing;
    } else {
      out[i++] = v ? static_cast<float>(*v) : kMissing;
    }
  }
  if (op_) ExtractDerived(config, out + knob_features_);
}

// Register-tile geometry per family, from the knob names the families use:
//   x86 JIT:   tile_m pixels x tile_nv vectors of lanes output channels,
//              over one output row (or all pixels with algo=gemm / dense);
//   generic:   mr pixels x nr output channels;
//   depthwise: tile_h x tile_w pixels x tile_c channels.
// When a space merges several families, the `kernel` label selects which.
void FeatureExtractor::ExtractDerived(const Config& config, float* out) const {
  const OpSpec& op = *op_;
  std::fill(out, out + kDerivedCount, kMissing);
  const bool depthwise = op.kind == OpKind::kDepthwiseConv2d;
  const bool dense = op.kind == OpKind::kDense;
  const int64_t elem = op.dtype == kernels::DType::kInt8 ? 1 : 4;
  const int64_t oh = op.out_h(), ow = op.out_w();
  const int64_t pixels = int64_t{op.n} * oh * ow;
  const int64_t rs = int64_t{op.r} * op.s;

  out[kLog2Macs] = static_cast<float>(std::log2(static_cast<double>(std::max<int64_t>(op.macs(), 1))));
  out[kOpC] = static_cast<float>(op.c);
  out[kOpK] = static_cast<float>(op.k);
  out[kOpPixels] = static_cast<float>(pixels);
  out[kOpRS] = static_cast<float>(rs);
  out[kOpStride] = static_cast<float>(op.stride_w);
  out[kOpInt8] = op.dtype == kernels::DType::kInt8 ? 1.0f : 0.0f;
  out[kOpDepthwise] = depthwise ? 1.0f : 0.0f;
  out[kOpDense] = dense ? 1.0f : 0.0f;

  const std::string_view family = LabelOf(knobs_, config, "kernel");
  const auto tile_m = Get(config, "tile_m"), tile_nv = Get(config, "tile_nv");
  const auto mr = Get(config, "mr"), nr = Get(config, "nr");
  const auto tile_h = Get(config, "tile_h"), tile_w = Get(config, "tile_w"),
             tile_c = Get(config, "tile_c");

  int64_t tm = 0, tn = 0;  // pixels and output channels of one register tile
  double pixel_waste = kMissing;
  int64_t pixel_items = 0;  // parallel work items over pixels
  int64_t reduction = depthwise ? 1 : op.c;
  int64_t kc = reduction;

  const bool is_dw = family.starts_with("depthwise") ||
                     (family.empty() && tile_h && tile_w && tile_c);
  const bool is_generic = family.find("generic") != std::string_view::npos ||
                          (family.empty() && mr && nr && !tile_m);
  if (is_dw && tile_h && tile_w && tile_c) {
    tm = *tile_h * *tile_w;
    tn = *tile_c;
    pixel_waste = static_cast<double>(CeilDiv(oh, *tile_h) * *tile_h * CeilDiv(ow, *tile_w) * *tile_w) /
                      static_cast<double>(oh * ow) - 1.0;
    pixel_items = op.n * CeilDiv(oh, *tile_h);
  } else if (!is_dw && (is_generic ? (mr && nr) : (tile_m && tile_nv))) {
    const int64_t lanes = family.find("avx2") != std::string_view::npos ? 8 : 16;
    tm = is_generic ? *mr : *tile_m;
    tn = is_generic ? *nr : *tile_nv * lanes;
    const bool flat = dense || LabelOf(knobs_, config, "algo") == "gemm";
    const int64_t m_extent = dense ? op.n : (flat ? pixels : ow);
    pixel_waste = Waste(m_extent, tm);
    const int64_t rows = dense ? 1 : int64_t{op.n} * oh;
    if (auto ob = Get(config, "oh_block"); ob && !flat) {
      pixel_items = CeilDiv(rows, *ob);
    } else if (auto mb = Get(config, "mb"); mb && flat) {
      pixel_items = CeilDiv(CeilDiv(m_extent, tm), *mb);
    } else {
      pixel_items = flat ? CeilDiv(m_extent, tm) : rows;
    }
    if (auto k = Get(config, "kc")) kc = std::min<int64_t>(*k, op.c);
  }
  if (tm <= 0 || tn <= 0) return;

  const int64_t channels = depthwise ? op.c : op.k;
  out[kTilePixels] = static_cast<float>(tm);
  out[kTileChannels] = static_cast<float>(tn);
  out[kTileAccumulators] = static_cast<float>(tm * tn);
  out[kPixelWaste] = static_cast<float>(pixel_waste);
  out[kChannelWaste] = static_cast<float>(Waste(channels, tn));
  out[kReductionWaste] = static_cast<float>(Waste(reduction, kc));

  // Bytes one register tile touches per reduction block: its input patch,
  // its weights, its int32/fp32 accumulators.
  int64_t in_bytes, w_bytes;
  if (depthwise) {
    const int64_t th = tile_h.value_or(1), tw = tile_w.value_or(tm);
    in_bytes = ((th - 1) * op.stride_h + op.r) * ((tw - 1) * op.stride_w + op.s) * tn * elem;
    w_bytes = rs * tn * elem;
  } else {
    in_bytes = tm * kc * rs * elem;
    w_bytes = tn * kc * rs * elem;
  }
  const int64_t tile_bytes = in_bytes + w_bytes + tm * tn * 4;
  out[kTileBytes] = static_cast<float>(tile_bytes);
  out[kTileBytesPerL1] = static_cast<float>(static_cast<double>(tile_bytes) /
                                            static_cast<double>(std::max<int64_t>(caches_.l1d_bytes, 1)));
  const int64_t panel = depthwise ? rs * op.c * elem : channels * kc * rs * elem;
  out[kWeightPanelPerL2] = static_cast<float>(static_cast<double>(panel) /
                                              static_cast<double>(std::max<int64_t>(caches_.l2_bytes, 1)));
  out[kWeightPanelPerL3] = static_cast<float>(static_cast<double>(panel) /
                                              static_cast<double>(std::max<int64_t>(caches_.l3_bytes, 1)));

  // Parallel work: pixel work items, times channel blocks when those are the
  // outer loop.
  int64_t items = std::max<int64_t>(pixel_items, 1);
  if (LabelOf(knobs_, config, "loop") == "kn") items *= CeilDiv(channels, tn);
  out[kWorkItems] = static_cast<float>(items);
  const int64_t threads = Get(config, "threads").value_or(1);
  if (threads > 0) {
    out[kThreadImbalance] = static_cast<float>(Waste(items, threads));
    out[kThreadsPerCore] = static_cast<float>(static_cast<double>(threads) /
                                              static_cast<double>(std::max(caches_.cores, 1)));
  }
}

DeviceCaches CachesOf(const proto::DeviceInfo& info) {
  DeviceCaches caches;
  for (const proto::CacheLevel& level : info.caches()) {
    if (level.size_bytes() <= 0) continue;
    switch (level.level()) {
      case 1: caches.l1d_bytes = level.size_bytes(); break;
      case 2: caches.l2_bytes = level.size_bytes(); break;
      case 3: caches.l3_bytes = level.size_bytes(); break;
      default: break;
    }
  }
  if (info.cores() > 0) caches.cores = info.cores();
  return caches;
}

}  // namespace qtune::tuner
