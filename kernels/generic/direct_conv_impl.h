// File: direct_conv_impl.h (internal)
// The dtype-independent driver of the portable direct convolution: geometry,
// weight packing order, tiling, channel blocking, loop order and threading.
// A dtype plugs in through an `Ops` class (see direct_conv_int8.cc and
// direct_conv_fp32.cc) providing:
//
//   using In, Packed, Acc, Out;             // element types
//   static constexpr int kChannelPack;      // input channels per reduction step
//   using Micro = void (*)(const Packed* const* x, const ptrdiff_t* taps,
//                          int num_taps, int c_begin, int c_end, int cp,
//                          const Packed* w, Acc* acc, bool accumulate);
//   Packed Convert(In x) const;             // input element -> packed element
//   void Epilogue(const Acc* acc, int k0, int count, Out* out) const;
//
// and, for int8, the fused residual add the driver applies to each
// requantised piece of output (kernel.h's ResidualAdd):
//
//   std::optional<internal::ResidualAddArgs> residual;
//
// and its microkernels as a class template MicroT<MR, NR> whose static Run()
// has the type Micro.
//
// A microkernel computes an MR x NR tile: for each tap t and input channel c
// in [c_begin, c_end), acc[m][n] += x[m][taps[t] + c] * w[(t * cp + c) * NR + n]
// (int8: pairs of channels, see direct_conv.h), starting from zero or, when
// `accumulate`, from the values in acc (row-major MR x NR).
#ifndef QTUNE_KERNELS_GENERIC_DIRECT_CONV_IMPL_H_
#define QTUNE_KERNELS_GENERIC_DIRECT_CONV_IMPL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/generic/direct_conv.h"
#include "kernels/src/kernel_family.h"
#include "kernels/src/residual_add.h"
#include "kernels/src/strings.h"
#include "kernels/src/thread_pool.h"
#include "qtune/kernels/buffer.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

// Every compiled (MR, NR) tile: X(MR, NR) for each pair of kMrValues x
// kNrValues with MR * NR <= kMaxTileElements.
#define QTUNE_GENERIC_DIRECT_TILES(X) \
  X(1, 8) X(1, 16) X(1, 32)           \
  X(2, 8) X(2, 16) X(2, 32)           \
  X(3, 8) X(3, 16) X(3, 32)           \
  X(4, 8) X(4, 16) X(4, 32)           \
  X(6, 8) X(6, 16)                    \
  X(8, 8) X(8, 16)

namespace qtune::kernels::generic {

// Most output pixels of one work item (one row segment); bounds the
// per-item accumulator buffer.
inline constexpr int kChunkPixels = 64;

// The convolution as the driver runs it: dense layers and stride-1 unpadded
// 1x1 convolutions are reshaped into one long row of pixels.
struct ConvGeometry {
  int n = 1, h = 1, w = 1, c = 1, k = 1, r = 1, s = 1;
  int stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0;
  int out_h = 1, out_w = 1;
  int hp = 1, wp = 1, cp = 1;  // dimensions of the (padded) input the microkernels read
  bool padded = false;         // whether hp/wp include padding

  int taps() const { return r * s; }
};

inline ConvGeometry MakeGeometry(const OpSpec& op, int channel_pack) {
  ConvGeometry g;
  g.c = op.c;
  g.k = op.k;
  const bool pointwise = op.r == 1 && op.s == 1 && op.stride_h == 1 && op.stride_w == 1 &&
                         op.pad_top == 0 && op.pad_left == 0 && op.pad_bottom == 0 &&
                         op.pad_right == 0;
  if (op.kind == OpKind::kDense || pointwise) {
    g.w = g.out_w = g.wp = op.n * op.h * op.w;
  } else {
    g.n = op.n;
    g.h = op.h;
    g.w = op.w;
    g.r = op.r;
    g.s = op.s;
    g.stride_h = op.stride_h;
    g.stride_w = op.stride_w;
    g.dilation_h = op.dilation_h;
    g.dilation_w = op.dilation_w;
    g.pad_top = op.pad_top;
    g.pad_left = op.pad_left;
    g.out_h = op.out_h();
    g.out_w = op.out_w();
    g.hp = op.h + op.pad_top + op.pad_bottom;
    g.wp = op.w + op.pad_left + op.pad_right;
    g.padded = g.hp != g.h || g.wp != g.w;
  }
  g.cp = (op.c + channel_pack - 1) / channel_pack * channel_pack;
  return g;
}

// Packs KRSC weights into [ceil(K/NR)][R*S][cp / P][NR][P] (P = channel
// pack), zero-filling channels >= C and outputs >= K. An empty buffer when
// the allocation fails.
template <typename Packed, typename Src>
AlignedBuffer PackWeights(const ConvGeometry& g, int nr, int pack, const Src* weights) {
  static_assert(std::is_trivially_copyable_v<Packed>);
  const int kb_count = (g.k + nr - 1) / nr;
  const int taps = g.taps();
  AlignedBuffer buffer(static_cast<size_t>(kb_count) * taps * g.cp * nr * sizeof(Packed));
  if (buffer.data() == nullptr) return buffer;
  Packed* packed = buffer.as<Packed>();  // zero-initialised
  for (int k = 0; k < g.k; ++k) {
    const int kb = k / nr, n = k % nr;
    for (int t = 0; t < taps; ++t) {
      for (int c = 0; c < g.c; ++c) {
        const size_t dst = ((static_cast<size_t>(kb) * taps + t) * g.cp + (c - c % pack)) * nr +
                           static_cast<size_t>(n) * pack + c % pack;
        packed[dst] = static_cast<Packed>(weights[(static_cast<size_t>(k) * taps + t) * g.c + c]);
      }
    }
  }
  return buffer;
}

template <typename Ops>
class DirectConvKernel final : public Kernel {
 public:
  using In = typename Ops::In;
  using Packed = typename Ops::Packed;
  using Acc = typename Ops::Acc;
  using Out = typename Ops::Out;
  using Micro = typename Ops::Micro;

  // `weights` are packed by PackWeights(geometry, params.nr, kChannelPack).
  DirectConvKernel(std::string name, const ConvGeometry& geometry,
                   const DirectConvParams& params, Micro micro, AlignedBuffer weights,
                   Ops ops)
      : name_(std::move(name)),
        g_(geometry),
        p_(params),
        micro_(micro),
        weights_(std::move(weights)),
        ops_(std::move(ops)),
        pool_(params.threads) {
    kb_count_ = (g_.k + p_.nr - 1) / p_.nr;
    chunk_ = std::min(RoundUp(g_.out_w, p_.mr), RoundUp(kChunkPixels, p_.mr));
    chunks_per_row_ = (g_.out_w + chunk_ - 1) / chunk_;
    spatial_items_ = static_cast<size_t>(g_.n) * g_.out_h * chunks_per_row_;
    kc_ = std::min(RoundUp(std::max(p_.kc, 1), Ops::kChannelPack), g_.cp);
    for (int r = 0; r < g_.r; ++r) {
      for (int s = 0; s < g_.s; ++s) {
        taps_.push_back((static_cast<ptrdiff_t>(r) * g_.dilation_h * g_.wp +
                         static_cast<ptrdiff_t>(s) * g_.dilation_w) *
                        g_.cp);
      }
    }
    if (NeedsCopy()) {
      // Borders and padding channels stay zero; Execute() fills the interior.
      staged_ = AlignedBuffer(static_cast<size_t>(g_.n) * g_.hp * g_.wp * g_.cp * sizeof(Packed));
    }
  }

  // False when the allocation of the weights or the staging buffer failed.
  bool ok() const {
    return weights_.data() != nullptr && (!NeedsCopy() || staged_.data() != nullptr);
  }

  const std::string& name() const override { return name_; }

  absl::Status Execute(const void* input, void* output) override {
    if (absl::Status s = internal::CheckExecuteArgs(*this, Fused(), input, nullptr,
                                                    /*with_residual=*/false, output);
        !s.ok()) {
      return s;
    }
    Run(input, nullptr, output);
    return absl::OkStatus();
  }

  absl::Status ExecuteWithResidual(const void* input, const void* residual,
                                   void* output) override {
    if (absl::Status s = internal::CheckExecuteArgs(*this, Fused(), input, residual,
                                                    /*with_residual=*/true, output);
        !s.ok()) {
      return s;
    }
    Run(input, static_cast<const Out*>(residual), output);
    return absl::OkStatus();
  }

 private:
  static constexpr bool kHasResidual = requires(const Ops& o) { o.residual; };

  static int RoundUp(int x, int m) { return (x + m - 1) / m * m; }

  bool Fused() const {
    if constexpr (kHasResidual) return ops_.residual.has_value();
    return false;
  }

  // `residual`: the fused residual add's tensor, or null.
  void Run(const void* input, const Out* residual, void* output) {
    const Packed* src = static_cast<const Packed*>(input);
    if (NeedsCopy()) {
      Stage(static_cast<const In*>(input));
      src = staged_.as<Packed>();
    }
    Out* out = static_cast<Out*>(output);
    if (p_.spatial_outer) {
      pool_.Parallelize2d(spatial_items_, kb_count_, [&](size_t item, size_t kb) {
        RunItem(src, kb, item, residual, out);
      });
    } else {
      pool_.Parallelize2d(kb_count_, spatial_items_, [&](size_t kb, size_t item) {
        RunItem(src, kb, item, residual, out);
      });
    }
  }

  bool NeedsCopy() const {
    return g_.padded || g_.cp != g_.c || !std::is_same_v<In, Packed>;
  }

  // Converts the input into the staging buffer, one input row per task.
  void Stage(const In* input) {
    Packed* staged = staged_.as<Packed>();
    pool_.Parallelize1d(static_cast<size_t>(g_.n) * g_.h, [&](size_t row) {
      const size_t n = row / g_.h, y = row % g_.h;
      const In* src = input + row * g_.w * g_.c;
      Packed* dst = staged + ((n * g_.hp + y + g_.pad_top) * g_.wp + g_.pad_left) * g_.cp;
      for (int x = 0; x < g_.w; ++x) {
        for (int c = 0; c < g_.c; ++c) dst[c] = ops_.Convert(src[c]);
        src += g_.c;
        dst += g_.cp;
      }
    });
  }

  // One work item: output channels [kb * NR, +NR) of one row segment.
  void RunItem(const Packed* src, size_t kb, size_t item, const Out* residual, Out* out) const {
    const int nr = p_.nr, mr = p_.mr;
    const size_t row = item / chunks_per_row_;
    const int ow_begin = static_cast<int>(item % chunks_per_row_) * chunk_;
    const int ow_end = std::min(g_.out_w, ow_begin + chunk_);
    const size_t n = row / g_.out_h, oh = row % g_.out_h;
    const Packed* row_base =
        src + (n * g_.hp + oh * g_.stride_h) * static_cast<size_t>(g_.wp) * g_.cp;
    const Packed* w = weights_.as<Packed>() + kb * static_cast<size_t>(g_.taps()) * g_.cp * nr;

    alignas(64) Acc acc[(kChunkPixels + 8) * 32];
    const Packed* x[8];
    for (int c_begin = 0; c_begin < g_.cp; c_begin += kc_) {
      const int c_end = std::min(g_.cp, c_begin + kc_);
      for (int ow = ow_begin; ow < ow_end; ow += mr) {
        for (int m = 0; m < mr; ++m) {
          // Rows past the segment repeat its last pixel; their results are
          // computed but never stored.
          const int col = std::min(ow + m, ow_end - 1);
          x[m] = row_base + static_cast<size_t>(col) * g_.stride_w * g_.cp;
        }
        micro_(x, taps_.data(), g_.taps(), c_begin, c_end, g_.cp, w,
               acc + static_cast<size_t>(ow - ow_begin) * nr, c_begin > 0);
      }
    }
    const int k0 = static_cast<int>(kb) * nr;
    const int count = std::min(nr, g_.k - k0);
    Out* dst = out + (row * g_.out_w + ow_begin) * static_cast<size_t>(g_.k) + k0;
    for (int ow = ow_begin; ow < ow_end; ++ow) {
      ops_.Epilogue(acc + static_cast<size_t>(ow - ow_begin) * nr, k0, count, dst);
      if constexpr (kHasResidual) {
        if (residual != nullptr) {
          internal::AddResidualInPlace(dst, residual + (dst - out), static_cast<size_t>(count),
                                       *ops_.residual);
        }
      }
      dst += g_.k;
    }
  }

  std::string name_;
  ConvGeometry g_;
  DirectConvParams p_;
  Micro micro_;
  AlignedBuffer weights_;
  Ops ops_;
  internal::ThreadPool pool_;
  AlignedBuffer staged_;
  std::vector<ptrdiff_t> taps_;
  size_t kb_count_ = 0;
  int chunk_ = 1;
  size_t chunks_per_row_ = 1;
  size_t spatial_items_ = 1;
  int kc_ = 1;
};

// "<op>_<dtypes>_<algo>_<MR>x<NR><suffix>__generic", see docs/kernel-naming.md.
inline std::string DirectConvName(const OpSpec& op, std::string_view dtypes,
                                  const DirectConvParams& p, std::string_view suffix) {
  const bool dense = op.kind == OpKind::kDense;
  return absl::StrCat(internal::Sv(OpKindName(op.kind)), "_", internal::Sv(dtypes),
                      dense ? "_gemm_" : "_direct_", p.mr, "x", p.nr, internal::Sv(suffix),
                      "__generic");
}

// Output channels rounded up to whole NR blocks (the length of the per-channel
// epilogue arrays).
inline size_t PaddedChannels(const ConvGeometry& g, int nr) {
  return static_cast<size_t>((g.k + nr - 1) / nr) * nr;
}

// The compiled microkernel MicroT<mr, nr>::Run, or null.
template <template <int, int> class MicroT, typename Fn>
Fn LookupMicro(int mr, int nr) {
#define QTUNE_TILE_CASE(M, N) \
  if (mr == M && nr == N) return &MicroT<M, N>::Run;
  QTUNE_GENERIC_DIRECT_TILES(QTUNE_TILE_CASE)
#undef QTUNE_TILE_CASE
  return nullptr;
}

// Packs `weights` (KRSC) and builds the kernel around the dtype's `ops`.
template <typename Ops, template <int, int> class MicroT, typename Src>
absl::StatusOr<std::unique_ptr<Kernel>> BuildDirectConv(const OpSpec& op, const ConvGeometry& g,
                                                        const DirectConvParams& params, Ops ops,
                                                        const Src* weights,
                                                        std::string_view dtypes,
                                                        std::string_view suffix) {
  auto micro = LookupMicro<MicroT, typename Ops::Micro>(params.mr, params.nr);
  if (micro == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no compiled ", internal::Sv(dtypes), " tile ", params.mr, "x", params.nr));
  }
  auto kernel = std::make_unique<DirectConvKernel<Ops>>(
      DirectConvName(op, dtypes, params, suffix), g, params, micro,
      PackWeights<typename Ops::Packed>(g, params.nr, Ops::kChannelPack, weights),
      std::move(ops));
  if (!kernel->ok()) {
    return absl::ResourceExhaustedError("cannot allocate the packed weights or the staging buffer");
  }
  return kernel;
}

}  // namespace qtune::kernels::generic

#endif  // QTUNE_KERNELS_GENERIC_DIRECT_CONV_IMPL_H_
