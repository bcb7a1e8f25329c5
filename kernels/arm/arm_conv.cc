// The AArch64 convolution kernel: geometry, staging, packing, compensation,
// driver and threading (see arm_conv.h, docs/kernels-arm.md).
#include "kernels/arm/arm_conv.h"

#include <sched.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/arm/cpu_clusters.h"
#include "kernels/arm/micro.h"
#include "kernels/generic/direct_conv_impl.h"
#include "kernels/src/kernel_family.h"
#include "kernels/src/residual_add.h"
#include "kernels/src/strings.h"
#include "kernels/src/thread_pool.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/verify.h"

namespace qtune::kernels::arm {
namespace {

using generic::ConvGeometry;

// Most output pixels of one work item (a row segment).
constexpr int kChunkPixels = 64;

// Readable bytes after the staged input and the packed weights: software-
// pipelined loops (the Cortex-A55 4x16 schedule) load one step ahead.
constexpr size_t kSlackBytes = 256;

int RoundUp(int x, int m) { return (x + m - 1) / m * m; }

bool IsInt8(MicroKind kind) { return kind != MicroKind::kFmlaF32; }

// Bytes of one staged input element and one packed weight.
size_t InputBytes(MicroKind kind) { return IsInt8(kind) ? 1 : 4; }
size_t WeightBytes(MicroKind kind) {
  switch (kind) {
    case MicroKind::kNeonS8: return 2;
    case MicroKind::kFmlaF32: return 4;
    default: return 1;
  }
}
// Input channels interleaved per output channel in the packed weights:
// sdot 4, smmla 8, the others 1 (a row of NR per channel).
int Interleave(MicroKind kind) {
  switch (kind) {
    case MicroKind::kDotS8: return 4;
    case MicroKind::kMmlaS8: return 8;
    default: return 1;
  }
}

MicroFn FindMicro(MicroKind kind, Tile tile, LoadVariant load) {
  switch (kind) {
    case MicroKind::kDotS8: return DotMicro(tile, load);
    case MicroKind::kMmlaS8: return MmlaMicro(tile, load);
    default: return NeonMicro(kind, tile, load);
  }
}

const char* KindTag(MicroKind kind) {
  switch (kind) {
    case MicroKind::kDotS8: return "c4";
    case MicroKind::kMmlaS8: return "c8";
    default: return "";
  }
}

// Pins the calling thread to `cpus` (empty: every CPU) unless it already is.
// Pool threads are shared between kernels, so each work item checks; the
// check is a thread-local compare once the thread is where it should be.
void PinThread(int cluster, const std::vector<int>& cpus) {
  thread_local int pinned = -1;  // -1: never pinned (the inherited mask)
  if (pinned == cluster || (pinned == -1 && cluster == -1)) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpus.empty()) {
    for (const CpuCluster& c : HostClusters()) {
      for (int cpu : c.cpus) CPU_SET(cpu, &set);
    }
  } else {
    for (int cpu : cpus) CPU_SET(cpu, &set);
  }
  if (sched_setaffinity(0, sizeof(set), &set) == 0) pinned = cluster;
}

class ArmConvKernel final : public Kernel {
 public:
  ArmConvKernel(const OpSpec& op, const ArmConvParams& p, MicroFn micro)
      : op_(op), p_(p), micro_(micro), g_(generic::MakeGeometry(op, ChannelUnit(p.kind))),
        pool_(p.threads) {}

  const std::string& name() const override { return name_; }

  absl::Status Init(const OpData& data) {
    const bool int8 = IsInt8(p_.kind);
    const bool dense = op_.kind == OpKind::kDense;
    name_ = absl::StrCat(internal::Sv(OpKindName(op_.kind)), "_",
                         internal::Sv(internal::DTypesName(op_)), "_",
                         dense ? "gemm_" : "direct_", p_.tile.mr, "x", p_.tile.nr,
                         KindTag(p_.kind), "__", p_.path,
                         p_.load == LoadVariant::kLd64 ? "_ld64" : "");
    ib_ = InputBytes(p_.kind);
    nr_ = p_.tile.nr;
    nkb_ = (g_.k + nr_ - 1) / nr_;
    kc_ = std::min(RoundUp(std::max(p_.kc, 1), ChannelUnit(p_.kind)), g_.cp);
    if (p_.cluster >= 0) {
      const auto& clusters = HostClusters();
      if (p_.cluster >= static_cast<int>(clusters.size())) {
        return absl::InvalidArgumentError(absl::StrCat("no CPU cluster ", p_.cluster));
      }
      cpus_ = clusters[p_.cluster].cpus;
    }
    for (int r = 0; r < g_.r; ++r) {
      for (int s = 0; s < g_.s; ++s) {
        taps_.push_back((static_cast<ptrdiff_t>(r) * g_.dilation_h * g_.wp +
                         static_cast<ptrdiff_t>(s) * g_.dilation_w) *
                        g_.cp);
      }
    }
    chunk_ = std::min(RoundUp(g_.out_w, p_.tile.mr), RoundUp(kChunkPixels, p_.tile.mr));
    chunks_per_row_ = (g_.out_w + chunk_ - 1) / chunk_;
    spatial_items_ = static_cast<size_t>(g_.n) * g_.out_h * chunks_per_row_;

    // Staging: int8 always, as s8 (u8: x ^ 0x80 = x - 128; s8: x itself);
    // fp32 with padding or channels that are not a multiple of the unit.
    // Padding holds the input zero point (its staged form), so that with
    // the compensation below a padding tap contributes exactly 0.
    flip_ = int8 && !op_.signed_io ? 0x80 : 0;
    staged_input_ = int8 || g_.padded || g_.cp != g_.c;
    if (staged_input_) {
      const size_t elements = static_cast<size_t>(g_.n) * g_.hp * g_.wp * g_.cp;
      staged_ = AlignedBuffer(elements * ib_ + kSlackBytes);
      if (staged_.data() == nullptr) return absl::ResourceExhaustedError("staging buffer");
      if (int8) {
        std::memset(staged_.data(), static_cast<uint8_t>(data.quant.input_zero_point) ^ flip_,
                    staged_.size());
      }
    }
    PackWeights(data);
    if (weights_.data() == nullptr) return absl::ResourceExhaustedError("packed weights");
    MakeEpilogue(data);
    return absl::OkStatus();
  }

  absl::Status Execute(const void* input, void* output) override {
    if (absl::Status s = internal::CheckExecuteArgs(*this, residual_.has_value(), input, nullptr,
                                                    /*with_residual=*/false, output);
        !s.ok()) {
      return s;
    }
    Run(input, nullptr, output);
    return absl::OkStatus();
  }

  absl::Status ExecuteWithResidual(const void* input, const void* residual,
                                   void* output) override {
    if (absl::Status s = internal::CheckExecuteArgs(*this, residual_.has_value(), input, residual,
                                                    /*with_residual=*/true, output);
        !s.ok()) {
      return s;
    }
    Run(input, static_cast<const uint8_t*>(residual), output);
    return absl::OkStatus();
  }

 private:
  // `residual`: the fused residual add's tensor, or null.
  void Run(const void* input, const uint8_t* residual, void* output) {
    const uint8_t* src = static_cast<const uint8_t*>(input);
    if (staged_input_) {
      Stage(src);
      src = staged_.as<uint8_t>();
    }
    uint8_t* out = static_cast<uint8_t*>(output);
    if (p_.pixels_outer) {
      pool_.Parallelize2d(spatial_items_, nkb_, [&](size_t item, size_t kb) {
        RunItem(src, kb, item, residual, out);
      });
    } else {
      pool_.Parallelize2d(nkb_, spatial_items_, [&](size_t kb, size_t item) {
        RunItem(src, kb, item, residual, out);
      });
    }
  }

  // Packed weights, per block of NR output channels: [tap][cp / P][NR][P]
  // with P = Interleave(kind), as s8 (sdot, smmla), s16 (widening) or float;
  // zero for channels >= C and outputs >= K.
  void PackWeights(const OpData& data) {
    const int taps = g_.taps(), P = Interleave(p_.kind);
    const size_t block = static_cast<size_t>(taps) * g_.cp * nr_;
    const size_t wb = WeightBytes(p_.kind);
    weights_ = AlignedBuffer(static_cast<size_t>(nkb_) * block * wb + kSlackBytes);
    if (weights_.data() == nullptr) return;
    uint8_t* base = weights_.as<uint8_t>();
    for (int k = 0; k < g_.k; ++k) {
      const int kb = k / nr_, n = k % nr_;
      for (int t = 0; t < taps; ++t) {
        const size_t src = (static_cast<size_t>(k) * taps + t) * g_.c;
        for (int c = 0; c < g_.c; ++c) {
          const size_t dst = kb * block + (static_cast<size_t>(t) * g_.cp + (c - c % P)) * nr_ +
                             static_cast<size_t>(n) * P + c % P;
          if (p_.kind == MicroKind::kFmlaF32) {
            std::memcpy(base + dst * 4, &data.weights_f32[src + c], 4);
          } else if (p_.kind == MicroKind::kNeonS8) {
            const int16_t v = data.weights_s8[src + c];
            std::memcpy(base + dst * 2, &v, 2);
          } else {
            base[dst] = static_cast<uint8_t>(data.weights_s8[src + c]);
          }
        }
      }
    }
  }

  // Bias rows (NR-padded) and requantisation constants. int8: the kernels
  // compute sum (x - off) * w over every tap, off = 128 for u8 inputs (the
  // staged x ^ 0x80) and 0 for s8 ones, with padding holding zx - off; so
  // bias' = bias + (off - zx) * sum w gives bias + sum (x - zx) * w exactly
  // (int32 wrap-around, as in the reference).
  void MakeEpilogue(const OpData& data) {
    const size_t padded = static_cast<size_t>(nkb_) * nr_;
    if (!IsInt8(p_.kind)) {
      bias_ = AlignedBuffer(padded * 4);
      std::memcpy(bias_.data(), data.bias_f32.data(), static_cast<size_t>(g_.k) * 4);
      ep_.clamp_lo = op_.activation != Activation::kNone;
      ep_.clamp_hi = op_.activation == Activation::kRelu6;
      ep_.lo = 0.0f;
      ep_.hi = 6.0f;
      return;
    }
    const QuantParams& q = data.quant;
    bias_ = AlignedBuffer(padded * 4);
    scale_ = AlignedBuffer(padded * 4);
    int32_t* b = bias_.as<int32_t>();
    float* sc = scale_.as<float>();
    const size_t per_k = static_cast<size_t>(g_.taps()) * g_.c;
    const int64_t shift = (flip_ != 0 ? 128 : 0) - q.input_zero_point;
    for (size_t k = 0; k < padded; ++k) {
      sc[k] = 1.0f;
      if (k >= static_cast<size_t>(g_.k)) continue;
      int64_t sum = 0;
      for (size_t i = 0; i < per_k; ++i) sum += data.weights_s8[k * per_k + i];
      b[k] = static_cast<int32_t>(static_cast<uint32_t>(data.bias_s32[k]) +
                                  static_cast<uint32_t>(sum * shift));
      sc[k] = q.requant_scale[k % q.requant_scale.size()];
    }
    ep_.lo = static_cast<float>(q.output_min - q.output_zero_point);
    ep_.hi = static_cast<float>(q.output_max - q.output_zero_point);
    ep_.zero_point = q.output_zero_point;
    if (data.residual_add.has_value()) {
      residual_ = internal::ResidualAddArgs{q.output_zero_point, *data.residual_add, op_.signed_io};
    }
  }

  // Copies the input into the staged interior, one input row per task.
  void Stage(const uint8_t* input) {
    const bool int8 = IsInt8(p_.kind);
    pool_.Parallelize1d(static_cast<size_t>(g_.n) * g_.h, [&](size_t row) {
      PinThread(p_.cluster, cpus_);
      const size_t n = row / g_.h, y = row % g_.h;
      const uint8_t* src = input + row * g_.w * g_.c * ib_;
      uint8_t* dst = staged_.as<uint8_t>() +
                     ((n * g_.hp + y + g_.pad_top) * g_.wp + g_.pad_left) * g_.cp * ib_;
      for (int x = 0; x < g_.w; ++x) {
        if (int8) {
          for (int c = 0; c < g_.c; ++c) dst[c] = src[c] ^ flip_;
        } else {
          std::memcpy(dst, src, g_.c * ib_);
        }
        src += g_.c * ib_;
        dst += g_.cp * ib_;
      }
    });
  }

  // One work item: output channels [kb * NR, +NR) of one row segment, then
  // (int8 with a residual) the residual add on them while they are in cache.
  void RunItem(const uint8_t* src, size_t kb, size_t item, const uint8_t* residual,
               uint8_t* out) const {
    PinThread(p_.cluster, cpus_);
    const int mr = p_.tile.mr;
    const size_t row = item / chunks_per_row_;
    const int ow_begin = static_cast<int>(item % chunks_per_row_) * chunk_;
    const int ow_end = std::min(g_.out_w, ow_begin + chunk_);
    const size_t n = row / g_.out_h, oh = row % g_.out_h;
    const uint8_t* row_base =
        src + (n * g_.hp + oh * g_.stride_h) * static_cast<size_t>(g_.wp) * g_.cp * ib_;
    const int k0 = static_cast<int>(kb) * nr_;
    const size_t ob = IsInt8(p_.kind) ? 1 : 4;

    alignas(64) int32_t acc[(kChunkPixels + 8) * 16];  // partial sums between channel blocks
    const void* x[8];
    MicroArgs a{};
    a.x = x;
    a.taps = taps_.data();
    a.num_taps = g_.taps();
    a.cp = g_.cp;
    a.w = weights_.as<uint8_t>() + kb * static_cast<size_t>(g_.taps()) * g_.cp * nr_ *
                                       WeightBytes(p_.kind);
    a.bias = bias_.as<uint8_t>() + static_cast<size_t>(k0) * 4;
    a.scale = scale_.data() != nullptr ? scale_.as<float>() + k0 : nullptr;
    a.ep = &ep_;
    a.out_stride = g_.k;
    a.cols = std::min(nr_, g_.k - k0);
    for (int c_begin = 0; c_begin < g_.cp; c_begin += kc_) {
      a.c_begin = c_begin;
      a.c_end = std::min(g_.cp, c_begin + kc_);
      a.load_acc = c_begin > 0;
      a.store_out = a.c_end == g_.cp;
      for (int ow = ow_begin; ow < ow_end; ow += mr) {
        for (int m = 0; m < mr; ++m) {
          // Rows past the segment repeat its last pixel; never stored.
          const int col = std::min(ow + m, ow_end - 1);
          x[m] = row_base + static_cast<size_t>(col) * g_.stride_w * g_.cp * ib_;
        }
        a.acc = acc + static_cast<size_t>(ow - ow_begin) * nr_;
        a.rows = std::min(mr, ow_end - ow);
        a.out = out + ((row * g_.out_w + ow) * static_cast<size_t>(g_.k) + k0) * ob;
        micro_(a);
      }
    }
    if (residual != nullptr) {
      for (int ow = ow_begin; ow < ow_end; ++ow) {
        const size_t at = (row * g_.out_w + ow) * static_cast<size_t>(g_.k) + k0;
        internal::AddResidualInPlace(out + at, residual + at, static_cast<size_t>(a.cols),
                                     *residual_);
      }
    }
  }

  const OpSpec op_;
  const ArmConvParams p_;
  const MicroFn micro_;
  const ConvGeometry g_;
  std::string name_;
  size_t ib_ = 1;
  int nr_ = 16, nkb_ = 1, kc_ = 1, chunk_ = 1;
  size_t chunks_per_row_ = 1, spatial_items_ = 1;
  std::vector<ptrdiff_t> taps_;
  std::vector<int> cpus_;
  bool staged_input_ = false;
  uint8_t flip_ = 0;  // int8 staging: x ^ flip_ is the s8 the kernels multiply
  AlignedBuffer staged_, weights_, bias_, scale_;
  Epilogue ep_;
  std::optional<internal::ResidualAddArgs> residual_;  // int8: the fused residual add
  internal::ThreadPool pool_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Kernel>> CreateArmConv(const OpSpec& op, const ArmConvParams& params,
                                                      const OpData& data) {
  if ((op.dtype == DType::kFp32) != (params.kind == MicroKind::kFmlaF32)) {
    return absl::InvalidArgumentError("arm: microkernel kind does not match the op's dtype");
  }
  const MicroFn micro = FindMicro(params.kind, params.tile, params.load);
  if (micro == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("arm: no ", params.path, " microkernel for tile ",
                                                   params.tile.mr, "x", params.tile.nr));
  }
  auto kernel = std::make_unique<ArmConvKernel>(op, params, micro);
  absl::Status status = kernel->Init(data);
  if (!status.ok()) return status;
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace qtune::kernels::arm
