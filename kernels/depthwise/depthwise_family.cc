// The depthwise kernel families: CPU detection, configuration space, and the
// translation of a config into DepthwiseParams.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/depthwise/depthwise.h"
#include "kernels/src/kernel_family.h"

namespace qtune::kernels::internal {
namespace {

using depthwise::DepthwiseParams;
using depthwise::MicroSet;

// Values of the `loop` knob (labels as in the convolution families).
constexpr int64_t kChannelTilesOuter = 0;  // "kn"
constexpr int64_t kPixelsOuter = 1;        // "nk"


// Values of the `algo` knob.
constexpr int64_t kAlgoTaps = 0;
constexpr int64_t kAlgoRows = 1;

// Whether the op's kernel width and horizontal stride have row microkernels.
bool HasRowMicros(const OpSpec& op) {
  if (op.dilation_w != 1) return false;
  for (const auto& shape : depthwise::kRowShapes) {
    if (op.s == shape[0] && op.stride_w == shape[1]) return true;
  }
  return false;
}

bool CpuSupports(std::string_view path) {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  const bool avx512bw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl");
  if (path == "avx512vnni") return avx512bw && __builtin_cpu_supports("avx512vnni");
  if (path == "avx512bw") return avx512bw;
  if (path == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return path == "generic";
}

// The microkernels of an x86 path, or null on other builds.
const MicroSet* X86Micros(std::string_view path) {
#if defined(__x86_64__) || defined(_M_X64)
  if (path == "avx512vnni") return &depthwise::Avx512VnniMicros();
  if (path == "avx512bw") return &depthwise::Avx512Micros();
  if (path == "avx2") return &depthwise::Avx2Micros();
#endif
  return nullptr;
}

class DepthwiseFamily final : public KernelFamily {
 public:
  // `micros` is null when this build has no microkernels for the path.
  DepthwiseFamily(std::string path, const MicroSet* micros)
      : name_(absl::StrCat("depthwise_", path)),
        path_(std::move(path)),
        micros_(micros),
        available_(micros != nullptr && CpuSupports(path_)) {}

  std::string_view name() const override { return name_; }
  std::string_view path() const override { return path_; }
  bool Available() const override { return available_; }

  absl::Status Supports(const OpSpec& op, const Target& target) const override {
    if (op.kind != OpKind::kDepthwiseConv2d) {
      return absl::UnimplementedError("only depthwise_conv2d");
    }
    // The VNNI kernels differ from the AVX-512BW ones in int8 only.
    if (path_ == "avx512vnni" && op.dtype == DType::kFp32 && CpuSupports("avx512bw") &&
        std::find(target.paths.begin(), target.paths.end(), "avx512bw") != target.paths.end()) {
      return absl::UnimplementedError("fp32 AVX-512 kernels are on the avx512bw path");
    }
    if (op.r * op.s > depthwise::kMaxTaps) {
      return absl::UnimplementedError(
          absl::StrCat("kernels with more than ", depthwise::kMaxTaps, " taps"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SpaceSpec> Space(const OpSpec& op, const Target& target) const override {
    const int budget = micros_->max_accumulators;
    SpaceSpec spec;
    Knob tile_h{"tile_h", UpToCovering(depthwise::kTileHValues, op.out_h()), {},
                "output rows per register tile"};
    Knob tile_w{"tile_w", UpToCovering(depthwise::kTileWValues, op.out_w()), {},
                "output columns per register tile"};
    Knob tile_c{"tile_c", UpToCovering(depthwise::kTileCValues, op.c), {},
                "channels per tile (multiples of 16 lanes)"};
    Knob loop{"loop", {kChannelTilesOuter, kPixelsOuter}, {"kn", "nk"},
              "kn: channel tiles outer; nk: pixel tiles outer, all channels per tile"};
    Knob threads = ThreadsKnob(target, "worker threads (over output row bands, and channel "
                                    "tiles with loop=kn)");

    spec.constraints = {
        // Accumulators (16-lane vectors) the ISA's registers hold.
        absl::StrCat("tile_h * tile_w * (tile_c / ", depthwise::kLanes, ") <= ", budget),
        // With one channel tile both loop orders are the same kernel.
        absl::StrCat("loop == \"nk\" || tile_c < ", op.c)};

    // Default: 16 channels x up to 4 columns x as many rows as the budget
    // allows (up to 16 accumulators), the fastest shape measured on
    // MobileNetV2's depthwise layers (docs/kernels-depthwise.md).
    const int64_t c_default = tile_c.values.front();
    int64_t w_default = 1, h_default = 1;
    for (int64_t w : tile_w.values) {
      if (w <= 4 && w <= budget) w_default = w;
    }
    for (int64_t h : tile_h.values) {
      if (h * w_default <= std::min(budget, 16)) h_default = h;
    }
    spec.default_config = {{"tile_h", h_default},   {"tile_w", w_default},
                           {"tile_c", c_default},   {"loop", kPixelsOuter},
                           {"threads", 1}};
    spec.knobs = {std::move(tile_h), std::move(tile_w), std::move(tile_c), std::move(loop),
                  std::move(threads)};
    if (HasRowMicros(op)) {
      spec.knobs.push_back({"algo", {kAlgoTaps, kAlgoRows}, {"taps", "rows"},
                            "taps: one input load per tap; rows: one per input column of a "
                            "tile row, reused across taps"});
      spec.default_config["algo"] = kAlgoRows;
    }
    return spec;
  }

  absl::StatusOr<std::unique_ptr<Kernel>> Create(const OpSpec& op, const Config& config,
                                                 const OpData& data,
                                                 const Target& target) const override {
    DepthwiseParams p;
    p.tile_h = static_cast<int>(config.at("tile_h"));
    p.tile_w = static_cast<int>(config.at("tile_w"));
    p.tile_c = static_cast<int>(config.at("tile_c"));
    p.pixels_outer = config.at("loop") == kPixelsOuter;
    p.threads = static_cast<int>(config.at("threads"));
    const auto algo = config.find("algo");
    p.row_reuse = algo != config.end() && algo->second == kAlgoRows;
    return depthwise::CreateDepthwiseKernel(op, p, data, *micros_, path_);
  }

 private:
  std::string name_, path_;
  const MicroSet* micros_;
  bool available_;
};

}  // namespace

std::unique_ptr<KernelFamily> MakeDepthwiseAvx512VnniFamily() {
  return std::make_unique<DepthwiseFamily>("avx512vnni", X86Micros("avx512vnni"));
}

std::unique_ptr<KernelFamily> MakeDepthwiseAvx512Family() {
  return std::make_unique<DepthwiseFamily>("avx512bw", X86Micros("avx512bw"));
}

std::unique_ptr<KernelFamily> MakeDepthwiseAvx2Family() {
  return std::make_unique<DepthwiseFamily>("avx2", X86Micros("avx2"));
}

std::unique_ptr<KernelFamily> MakeDepthwiseGenericFamily() {
  return std::make_unique<DepthwiseFamily>("generic", &depthwise::GenericMicros());
}

}  // namespace qtune::kernels::internal
