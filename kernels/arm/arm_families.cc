// The AArch64 kernel families: feature detection, configuration spaces, and
// the translation of a config into ArmConvParams.
#include "kernels/arm/arm_families.h"

#include <sys/auxv.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/arm/arm_conv.h"
#include "kernels/arm/cpu_clusters.h"
#include "kernels/arm/micro.h"
#include "kernels/src/kernel_family.h"

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif

namespace qtune::kernels::internal {
namespace {

using arm::ArmConvParams;
using arm::LoadVariant;
using arm::MicroKind;
using arm::Tile;

enum class Feature { kAsimd, kDotProd, kI8mm };

bool CpuHas(Feature f) {
  switch (f) {
    case Feature::kAsimd: return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
    case Feature::kDotProd: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    case Feature::kI8mm: return (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
  }
  return false;
}

std::string TileLabel(Tile t) { return absl::StrCat(t.mr, "x", t.nr); }

class ArmFamily final : public KernelFamily {
 public:
  ArmFamily(std::string name, std::string path, Feature feature, MicroKind int8_kind, bool fp32)
      : name_(std::move(name)), path_(std::move(path)), feature_(feature), int8_kind_(int8_kind),
        fp32_(fp32) {}

  std::string_view name() const override { return name_; }
  std::string_view path() const override { return path_; }
  bool Available() const override { return CpuHas(feature_); }

  absl::Status Supports(const OpSpec& op, const Target& target) const override {
    if (op.kind == OpKind::kDepthwiseConv2d) {
      return absl::UnimplementedError("depthwise_conv2d has its own family");
    }
    if (op.kind == OpKind::kConv2d && op.groups != 1) {
      return absl::UnimplementedError("grouped convolution is not supported");
    }
    if (op.dtype == DType::kFp32 && !fp32_) {
      return absl::UnimplementedError("fp32 kernels are on the neon path");
    }
    return absl::OkStatus();
  }

  MicroKind KindFor(const OpSpec& op) const {
    return op.dtype == DType::kFp32 ? MicroKind::kFmlaF32 : int8_kind_;
  }

  absl::StatusOr<SpaceSpec> Space(const OpSpec& op, const Target& target) const override {
    const MicroKind kind = KindFor(op);
    SpaceSpec spec;
    // One tile list for every ARM family (merged spaces need equal knob
    // values); the tiles a kind lacks are excluded by constraints.
    Knob tile{"tile", {}, {}, "register tile: output pixels x output channels"};
    for (size_t i = 0; i < std::size(arm::kTiles); ++i) {
      const Tile t = arm::kTiles[i];
      tile.values.push_back(static_cast<int64_t>(i));
      tile.labels.push_back(TileLabel(t));
      const bool compiled = (kind == MicroKind::kMmlaS8 ? arm::MmlaMicro(t, LoadVariant::kQ)
                             : kind == MicroKind::kDotS8 ? arm::DotMicro(t, LoadVariant::kQ)
                                                         : arm::NeonMicro(kind, t, LoadVariant::kQ)) !=
                            nullptr;
      if (!compiled) spec.constraints.push_back(absl::StrCat("tile != \"", TileLabel(t), "\""));
    }
    Knob kc{"kc", ChannelBlocks(op.c), {}, "input channels per block (C: no blocking)"};
    Knob loop{"loop", {0, 1}, {"kn", "nk"}, "kn: output-channel blocks outer; nk: pixels outer"};
    Knob load{"load", {0, 1}, {"ldq", "ld64"},
              "128-bit loads, or 64-bit loads + ins (in-order cores: Cortex-A55/A510)"};
    Knob threads = ThreadsKnob(target);

    // Default: 4x16 (2x16 / 1x16 when a row has fewer pixels), no blocking.
    const bool flat = op.kind == OpKind::kDense ||
                      (op.r == 1 && op.s == 1 && op.stride_h == 1 && op.stride_w == 1 &&
                       op.pad_top == 0 && op.pad_left == 0 && op.pad_bottom == 0 &&
                       op.pad_right == 0);
    const int64_t pixels = flat ? int64_t{op.n} * op.h * op.w : op.out_w();
    Tile want = pixels >= 4 ? Tile{4, 16} : pixels >= 2 ? Tile{2, 16} : Tile{1, 16};
    if (kind == MicroKind::kMmlaS8 && want.mr == 1) want = Tile{2, 16};
    int64_t default_tile = 0;
    for (size_t i = 0; i < std::size(arm::kTiles); ++i) {
      if (arm::kTiles[i].mr == want.mr && arm::kTiles[i].nr == want.nr) default_tile = i;
    }
    spec.default_config = {{"tile", default_tile}, {"kc", kc.values.back()}, {"loop", 0},
                           {"load", 0},            {"threads", 1}};
    spec.knobs = {std::move(tile), std::move(kc), std::move(loop), std::move(load),
                  std::move(threads)};
    const auto& clusters = arm::HostClusters();
    if (clusters.size() > 1) {
      Knob cluster{"cluster", {0}, {"any"}, "CPU cluster the threads run on (big.LITTLE)"};
      for (size_t i = 0; i < clusters.size(); ++i) {
        cluster.values.push_back(static_cast<int64_t>(i) + 1);
        cluster.labels.push_back(clusters[i].name);
        spec.constraints.push_back(absl::StrCat("cluster != \"", clusters[i].name,
                                                "\" || threads <= ", clusters[i].cpus.size()));
      }
      spec.knobs.push_back(std::move(cluster));
      spec.default_config["cluster"] = 0;
    }
    return spec;
  }

  absl::StatusOr<std::unique_ptr<Kernel>> Create(const OpSpec& op, const Config& config,
                                                 const OpData& data,
                                                 const Target& target) const override {
    ArmConvParams p;
    p.kind = KindFor(op);
    p.path = path_;
    p.tile = arm::kTiles[config.at("tile")];
    p.load = config.at("load") == 1 ? LoadVariant::kLd64 : LoadVariant::kQ;
    p.kc = static_cast<int>(config.at("kc"));
    p.pixels_outer = config.at("loop") == 1;
    p.threads = static_cast<int>(config.at("threads"));
    auto it = config.find("cluster");
    if (it != config.end()) p.cluster = static_cast<int>(it->second) - 1;
    return arm::CreateArmConv(op, p, data);
  }

 private:
  std::string name_, path_;
  Feature feature_;
  MicroKind int8_kind_;
  bool fp32_;
};

}  // namespace

std::unique_ptr<KernelFamily> MakeArmNeonI8mmFamily() {
  return std::make_unique<ArmFamily>("arm_neoni8mm", "neoni8mm", Feature::kI8mm, MicroKind::kMmlaS8,
                                     false);
}
std::unique_ptr<KernelFamily> MakeArmNeonDotFamily() {
  return std::make_unique<ArmFamily>("arm_neondot", "neondot", Feature::kDotProd, MicroKind::kDotS8,
                                     false);
}
std::unique_ptr<KernelFamily> MakeArmNeonFamily() {
  return std::make_unique<ArmFamily>("arm_neon", "neon", Feature::kAsimd, MicroKind::kNeonS8, true);
}

}  // namespace qtune::kernels::internal

namespace qtune::kernels::arm {

std::string MissingPaths() {
  using internal::CpuHas;
  using internal::Feature;
  std::vector<std::string> missing;
  if (!CpuHas(Feature::kI8mm)) missing.push_back("neoni8mm (no i8mm)");
  if (!CpuHas(Feature::kDotProd)) missing.push_back("neondot (no asimddp)");
  if (!CpuHas(Feature::kAsimd)) missing.push_back("neon (no asimd)");
  return absl::StrJoin(missing, ", ");
}

}  // namespace qtune::kernels::arm
