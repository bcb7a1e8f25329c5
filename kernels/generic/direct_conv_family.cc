// The "generic_direct" kernel family: its configuration space and the
// translation of a config into DirectConvParams.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/generic/direct_conv.h"
#include "kernels/generic/direct_conv_impl.h"
#include "kernels/src/kernel_family.h"

namespace qtune::kernels::internal {
namespace {

using generic::DirectConvParams;

// Values of the `loop` knob.
constexpr int64_t kChannelBlocksOuter = 0;  // "kn": weights of a block stay hot
constexpr int64_t kPixelsOuter = 1;         // "nk": input rows stay hot

class GenericDirectFamily final : public KernelFamily {
 public:
  std::string_view name() const override { return "generic_direct"; }
  std::string_view path() const override { return "generic"; }
  bool Available() const override { return true; }

  absl::Status Supports(const OpSpec& op, const Target& target) const override {
    if (op.kind == OpKind::kDepthwiseConv2d) {
      return absl::UnimplementedError("depthwise_conv2d has its own family (kernels/depthwise)");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SpaceSpec> Space(const OpSpec& op, const Target& target) const override {
    const generic::ConvGeometry g = generic::MakeGeometry(op, 1);
    SpaceSpec spec;
    Knob mr{"mr", UpToCovering(generic::kMrValues, g.out_w), {},
            "output pixels per register tile"};
    Knob nr{"nr", UpToCovering(generic::kNrValues, g.k), {},
            "output channels per register tile"};
    Knob kc{"kc", ChannelBlocks(g.c), {}, "input channels per block (C: no blocking)"};
    Knob loop{"loop", {kChannelBlocksOuter, kPixelsOuter}, {"kn", "nk"},
              "kn: output-channel blocks outer; nk: pixels outer"};
    Knob threads = ThreadsKnob(target);

    int64_t default_mr = mr.values.front();
    for (int64_t v : mr.values) {
      if (v <= 4) default_mr = v;
    }
    const int64_t default_nr =
        std::find(nr.values.begin(), nr.values.end(), 16) != nr.values.end() ? 16
                                                                              : nr.values.back();
    spec.default_config = {{"mr", default_mr},     {"nr", default_nr},
                           {"kc", kc.values.back()}, {"loop", kChannelBlocksOuter},
                           {"threads", 1}};
    spec.knobs = {std::move(mr), std::move(nr), std::move(kc), std::move(loop),
                  std::move(threads)};
    // Only tiles of at most kMaxTileElements accumulators are compiled.
    spec.constraints = {absl::StrCat("mr * nr <= ", generic::kMaxTileElements)};
    return spec;
  }

  absl::StatusOr<std::unique_ptr<Kernel>> Create(const OpSpec& op, const Config& config,
                                                 const OpData& data,
                                                 const Target& target) const override {
    DirectConvParams params;
    params.mr = static_cast<int>(config.at("mr"));
    params.nr = static_cast<int>(config.at("nr"));
    params.kc = static_cast<int>(config.at("kc"));
    params.spatial_outer = config.at("loop") == kPixelsOuter;
    params.threads = static_cast<int>(config.at("threads"));
    if (op.dtype == DType::kInt8) return generic::CreateDirectConvInt8(op, params, data);
    return generic::CreateDirectConvFp32(op, params, data);
  }
};

}  // namespace

std::unique_ptr<KernelFamily> MakeGenericDirectFamily() {
  return std::make_unique<GenericDirectFamily>();
}

}  // namespace qtune::kernels::internal
