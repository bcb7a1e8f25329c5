// The x86 JIT kernel families: CPU detection, configuration spaces, and the
// translation of a config into JitConvParams.
#define XBYAK_NO_EXCEPTION
#include "kernels/x86/x86_families.h"

#include <xbyak/xbyak_util.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/src/kernel_family.h"
#include "kernels/x86/jit_conv.h"
#include "kernels/x86/jit_conv_gen.h"

namespace qtune::kernels::internal {
namespace {

using x86::JitConvParams;
using x86::Math;
using x86::VecIsa;

// Largest reduction steps x tile instructions per channel block; bounds the
// size of the generated code.
constexpr int64_t kMaxBlockInstructions = 4000;

constexpr int kTileM[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr int kTileNv[] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28};
constexpr int kChunkTiles[] = {1, 4, 16, 64};
constexpr int kRowBlocks[] = {1, 2, 4, 8, 16, 32, 64};

const Xbyak::util::Cpu& HostCpu() {
  static const Xbyak::util::Cpu* cpu = new Xbyak::util::Cpu;
  return *cpu;
}

bool HasAvx512Bw() {
  using C = Xbyak::util::Cpu;
  return HostCpu().has(C::tAVX512F) && HostCpu().has(C::tAVX512BW) && HostCpu().has(C::tAVX512VL);
}

class X86Family final : public KernelFamily {
 public:
  X86Family(std::string name, std::string path, VecIsa isa, bool vnni)
      : name_(std::move(name)), path_(std::move(path)), isa_(isa), vnni_(vnni) {}

  std::string_view name() const override { return name_; }
  std::string_view path() const override { return path_; }
  bool Available() const override {
    using C = Xbyak::util::Cpu;
    if (isa_ == VecIsa::kAvx2) return HostCpu().has(C::tAVX2) && HostCpu().has(C::tFMA);
    return HasAvx512Bw() && (!vnni_ || HostCpu().has(C::tAVX512_VNNI));
  }

  absl::Status Supports(const OpSpec& op, const Target& target) const override {
    if (op.kind == OpKind::kDepthwiseConv2d) {
      return absl::UnimplementedError("depthwise_conv2d has its own family");
    }
    if (op.kind == OpKind::kConv2d && op.groups != 1) {
      return absl::UnimplementedError("grouped convolution is not supported");
    }
    if (vnni_ && op.dtype == DType::kFp32 && HasAvx512Bw() &&
        std::find(target.paths.begin(), target.paths.end(), "avx512bw") != target.paths.end()) {
      return absl::UnimplementedError("fp32 AVX-512 kernels are on the avx512bw path");
    }
    return absl::OkStatus();
  }

  Math MathFor(const OpSpec& op) const {
    if (op.dtype == DType::kFp32) return Math::kFmaF32;
    return vnni_ ? Math::kDotU8S8 : Math::kMaddS16;
  }

  // Whether `op` has the `s8in` knob: vpdpbusd on s8 inputs that would be
  // read in place (C % 4 == 0; other inputs are staged, and flipped there).
  bool HasS8InKnob(const OpSpec& op) const {
    return MathFor(op) == Math::kDotU8S8 && op.signed_io && op.c % 4 == 0;
  }

  absl::StatusOr<SpaceSpec> Space(const OpSpec& op, const Target& target) const override {
    const Math math = MathFor(op);
    const int lanes = x86::Lanes(isa_);
    const int regs = x86::VecRegs(isa_);
    const int unit = x86::StepElements(math);
    const bool dense = op.kind == OpKind::kDense;
    const bool flat = x86::IsFlattenable(op);
    const bool algo_knob = flat && !dense;
    const int64_t m_extent = std::max<int64_t>(op.out_w(), flat ? int64_t{op.n} * op.h * op.w : 0);
    const int64_t k_vectors = (op.k + lanes - 1) / lanes;

    SpaceSpec spec;
    Knob tile_m{"tile_m", UpToCovering(kTileM, m_extent), {},
                "output pixels per register tile"};
    Knob tile_nv{"tile_nv", UpToCovering(kTileNv, (op.k + 7) / 8),
                 {}, "vectors of output channels per register tile"};
    Knob wload{"wload", {0, 1}, {"mem", "reg"},
               "weights as memory operands or loaded into registers once per step"};
    Knob kc{"kc", ChannelBlocks(op.c), {}, "input channels per block (C: no blocking)"};
    Knob loop{"loop", {0, 1}, {"kn", "nk"},
              "kn: output-channel blocks outer; nk: pixels outer"};
    Knob threads = ThreadsKnob(target);

    // Registers besides accumulators and weight vectors (broadcasts,
    // products, and with s8in=loop the register of 0x80 bytes; the default
    // tile is chosen for s8in=loop).
    const bool s8in_knob = HasS8InKnob(op);
    const int extra = x86::ExtraRegs(math, /*weights_in_regs=*/false, 0, s8in_knob);
    spec.constraints = {
        s8in_knob ? absl::StrCat("tile_m * tile_nv + wload * tile_nv + ", extra, " - s8in <= ",
                                 regs)
                  : absl::StrCat("tile_m * tile_nv + wload * tile_nv + ", extra, " <= ", regs),
        absl::StrCat("tile_nv <= ", k_vectors),
        absl::StrCat(op.s, " * ((kc + ", unit - 1, ") / ", unit,
                     ") * (tile_m * tile_nv + tile_m + tile_nv) <= ", kMaxBlockInstructions)};

    // Default: the largest tile (ties: more vectors) that fits with weights
    // in registers (measured faster than memory operands at equal size), and
    // the largest channel block within the code bound.
    // Score: accumulators x the fractions of the row and of K that full
    // tiles cover (a 7-pixel row runs better as one 7x3 tile than as 6x4 +
    // 1x4; K = 64 better as one 64-channel block than as 48 + 16).
    const int64_t row = dense || algo_knob ? m_extent : op.out_w();
    int64_t best_m = 1, best_nv = 1;
    double best_score = 0.0;
    for (int64_t nv : tile_nv.values) {
      if (nv > std::min<int64_t>(k_vectors, 4)) continue;
      for (int64_t m : tile_m.values) {
        // Beyond ~24 accumulators the broadcasts per step start to limit.
        if (m * nv + nv + extra > regs || m * nv > 24) continue;
        const double cover =
            static_cast<double>(row) / static_cast<double>((row + m - 1) / m * m);
        const int64_t nr = nv * lanes;
        const double cover_k =
            static_cast<double>(op.k) / static_cast<double>((op.k + nr - 1) / nr * nr);
        const double score = static_cast<double>(m * nv) * cover * cover_k;
        // Ties: a tile that divides the row, then more vectors.
        const bool exact = row % m == 0, best_exact = row % best_m == 0;
        const bool tie_win = exact != best_exact ? exact : nv > best_nv;
        if (score > best_score + 1e-9 || (score > best_score - 1e-9 && tie_win)) {
          best_m = m;
          best_nv = nv;
          best_score = score;
        }
      }
    }
    const int64_t best_w = best_m * best_nv + best_nv + extra <= regs ? 1 : 0;
    // Default block: the largest whose unrolled code stays within ~600
    // instructions (the best configs of every ResNet18 layer measured here
    // do; longer blocks fall out of the op cache).
    int64_t best_kc = kc.values.front();
    for (int64_t v : kc.values) {
      if (op.s * ((v + unit - 1) / unit) * (best_m * best_nv + best_m + best_nv) <= 600) {
        best_kc = v;
      }
    }
    spec.default_config = {{"tile_m", best_m}, {"tile_nv", best_nv}, {"wload", best_w},
                           {"kc", best_kc},    {"loop", 0},          {"threads", 1}};
    spec.knobs = {std::move(tile_m), std::move(tile_nv), std::move(wload),
                  std::move(kc),     std::move(loop),    std::move(threads)};
    if (flat) {
      spec.knobs.push_back({"mb", {std::begin(kChunkTiles), std::end(kChunkTiles)}, {},
                            "gemm: register tiles per work item"});
      spec.default_config["mb"] = 4;
    }
    if (!dense) {
      spec.knobs.push_back({"oh_block",
                            UpToCovering(kRowBlocks, op.out_h()),
                            {}, "direct: output rows per work item"});
      spec.default_config["oh_block"] = spec.knobs.back().values.back();
    }
    // Folding the filter columns into the reduction pays when C is not a
    // multiple of the step (C = 3: 7 x 4-byte steps per filter row become 6).
    const bool fold_knob = op.kind == OpKind::kConv2d && op.dtype == DType::kInt8 &&
                           op.dilation_w == 1 && op.s > 1 && op.c % 4 != 0 && !flat;
    if (fold_knob) {
      const int64_t folded = (int64_t{op.s} * op.c + unit - 1) / unit;
      const int64_t plain = int64_t{op.s} * ((op.c + unit - 1) / unit);
      const bool pays = folded < plain;
      spec.knobs.push_back({"fold", {0, 1}, {"off", "on"},
                            "reduce over the S*C contiguous bytes of a filter row (padded copy)"});
      spec.default_config["fold"] = pays ? 1 : 0;
      if (!pays) spec.constraints.push_back("fold == 0");
      // The folded reduction is one channel block.
      spec.constraints.push_back(absl::StrCat("fold == 0 || kc == ", op.c));
      if (pays) spec.default_config["kc"] = op.c;
    }
    // s8 inputs on vpdpbusd enter as x ^ 0x80: per broadcast (one vpxord with
    // a memory broadcast instead of vpbroadcastd: an extra vector ALU
    // micro-op per broadcast, free where vpdpbusd leaves ALU pipes idle, e.g.
    // Zen 5) or once per call into a staged copy (a pass over the input,
    // cheap next to a 3x3 layer, up to 30% of a 1x1 stride-2 one).
    if (s8in_knob) {
      spec.knobs.push_back({"s8in", {0, 1}, {"loop", "stage"},
                            "s8 inputs made u8 (x ^ 0x80) per broadcast, or once in a staged copy"});
      spec.default_config["s8in"] = 0;
    }
    if (algo_knob) {
      spec.knobs.push_back({"algo", {0, 1}, {"direct", "gemm"},
                            "direct rows, or one GEMM over all pixels (1x1 stride 1)"});
      spec.default_config["algo"] = 1;
      spec.default_config["oh_block"] = 1;
      spec.constraints.push_back("algo == \"gemm\" || mb == 4");
      spec.constraints.push_back("algo == \"direct\" || oh_block == 1");
    }
    return spec;
  }

  absl::StatusOr<std::unique_ptr<Kernel>> Create(const OpSpec& op, const Config& config,
                                                 const OpData& data,
                                                 const Target& target) const override {
    JitConvParams p;
    p.isa = isa_;
    p.math = MathFor(op);
    p.path = path_;
    p.mr = static_cast<int>(config.at("tile_m"));
    p.nv = static_cast<int>(config.at("tile_nv"));
    p.weights_in_regs = config.at("wload") == 1;
    p.kc = static_cast<int>(config.at("kc"));
    p.pixels_outer = config.at("loop") == 1;
    p.threads = static_cast<int>(config.at("threads"));
    auto it = config.find("mb");
    if (it != config.end()) p.chunk_tiles = static_cast<int>(it->second);
    it = config.find("algo");
    p.gemm = op.kind == OpKind::kDense || (it != config.end() && it->second == 1);
    it = config.find("fold");
    p.fold_columns = it != config.end() && it->second == 1;
    it = config.find("oh_block");
    if (it != config.end()) p.oh_block = static_cast<int>(it->second);
    it = config.find("s8in");
    p.stage_s8 = it != config.end() && it->second == 1;
    return x86::CreateJitConv(op, p, data);
  }

 private:
  std::string name_, path_;
  VecIsa isa_;
  bool vnni_;
};

}  // namespace

std::unique_ptr<KernelFamily> MakeX86Avx512VnniFamily() {
  return std::make_unique<X86Family>("x86_avx512vnni", "avx512vnni", VecIsa::kAvx512, true);
}
std::unique_ptr<KernelFamily> MakeX86Avx512BwFamily() {
  return std::make_unique<X86Family>("x86_avx512bw", "avx512bw", VecIsa::kAvx512, false);
}
std::unique_ptr<KernelFamily> MakeX86Avx2Family() {
  return std::make_unique<X86Family>("x86_avx2", "avx2", VecIsa::kAvx2, false);
}

}  // namespace qtune::kernels::internal
