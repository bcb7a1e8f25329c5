// The depthwise driver: weight packing, the padding row, tap-pointer tables,
// the split of output columns into padded borders and an interior, loop
// order and threading. Compiled with the baseline flags; it calls the
// microkernels of one ISA through micro.h.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/depthwise/depthwise.h"
#include "kernels/src/strings.h"
#include "kernels/src/thread_pool.h"
#include "qtune/kernels/buffer.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::depthwise {
namespace {

constexpr int kMaxTileH = 4;

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// int8: activations u8 or s8 (bytes), packed weights/bias int32; fp32: all float.
template <typename T>
struct Types;
template <>
struct Types<uint8_t> {
  using W = int32_t;
  using Bias = int32_t;
};
template <>
struct Types<float> {
  using W = float;
  using Bias = float;
};

template <typename T>
class DepthwiseKernel final : public Kernel {
 public:
  using W = typename Types<T>::W;
  using Bias = typename Types<T>::Bias;

  DepthwiseKernel(std::string name, const OpSpec& op, const DepthwiseParams& p)
      : name_(std::move(name)), op_(op), p_(p), pool_(p.threads) {
    oh_ = op.out_h();
    ow_ = op.out_w();
    taps_ = op.r * op.s;
    ctiles_ = CeilDiv(op.c, p.tile_c);
    bands_ = CeilDiv(oh_, p.tile_h);
    // Output columns whose taps all lie inside the input row: [col_lo_, col_hi_).
    col_lo_ = std::min(ow_, CeilDiv(op.pad_left, op.stride_w));
    const int last = op.w - 1 + op.pad_left - (op.s - 1) * op.dilation_w;
    col_hi_ = last < 0 ? col_lo_ : std::clamp(last / op.stride_w + 1, col_lo_, ow_);
  }

  const std::string& name() const override { return name_; }

  // Packs weights [R][S][C] into [ctile][tap][tile width] (the last tile is
  // only as wide as its vectors), and bias/scale per channel padded to whole
  // tiles. int8 bias holds bias - zx * sum_taps(w), wrapped to 32 bits.
  template <typename Src>
  void Pack(const Src* weights, const std::vector<Bias>& bias, const std::vector<float>& scale,
            T pad_value) {
    const int c = op_.c;
    const size_t padded_c = static_cast<size_t>(ctiles_) * p_.tile_c;
    weights_.assign(padded_c * taps_, W{0});
    bias_.assign(padded_c, Bias{0});
    scale_.assign(padded_c, 1.0f);
    for (int ct = 0; ct < ctiles_; ++ct) {
      const int c0 = ct * p_.tile_c;
      const int width = TileVectors(ct) * kLanes;
      W* dst = weights_.data() + static_cast<size_t>(c0) * taps_;
      for (int t = 0; t < taps_; ++t) {
        for (int i = 0; i < width && c0 + i < c; ++i) {
          dst[static_cast<size_t>(t) * width + i] =
              static_cast<W>(weights[static_cast<size_t>(t) * c + c0 + i]);
        }
      }
    }
    for (int k = 0; k < c; ++k) {
      bias_[k] = bias[k];
      if (!scale.empty()) scale_[k] = scale[scale.size() == 1 ? 0 : k];
    }
    pad_.assign(static_cast<size_t>(op_.w) * c + kMaxVectors * kLanes, pad_value);
  }

  std::vector<Bias>& bias() { return bias_; }

  void SetEpilogue(int32_t zero_point, float lo, float hi) {
    zero_point_ = zero_point;
    lo_ = lo;
    hi_ = hi;
  }

  // Resolves every microkernel Execute() may call. False when one is missing.
  bool Resolve(const MicroSet& micros) {
    auto lookup = op_.signed_io ? micros.int8_s8 : micros.int8;
    auto lookup_row = op_.signed_io ? micros.int8_s8_row : micros.int8_row;
    if constexpr (std::is_same_v<T, float>) {
      lookup = micros.fp32;
      lookup_row = micros.fp32_row;
    }
    for (int ct = 0; ct < ctiles_; ++ct) {
      const int nv = TileVectors(ct);
      const bool last = ct == ctiles_ - 1;
      const bool tail = last && op_.c % kLanes != 0;
      for (int tw = 1; tw <= p_.tile_w; tw *= 2) {
        Micro m = lookup(p_.tile_h, tw, nv, tail);
        if (m == nullptr) return false;
        micro_[last][Log2(tw)] = m;
        interior_[last][Log2(tw)] = m;
        if (p_.row_reuse && !tail) {
          Micro row = lookup_row(p_.tile_h, tw, nv, op_.s, op_.stride_w);
          if (row == nullptr) return false;
          interior_[last][Log2(tw)] = row;
        }
      }
    }
    return true;
  }

  absl::Status Execute(const void* input, void* output) override {
    if (input == nullptr || output == nullptr) {
      return absl::InvalidArgumentError("Execute: input and output must not be null");
    }
    const T* in = static_cast<const T*>(input);
    T* out = static_cast<T*>(output);
    const size_t items = static_cast<size_t>(op_.n) * bands_;
    if (p_.pixels_outer) {
      pool_.Parallelize1d(items, [&](size_t item) { RunBand(in, out, item, 0, ctiles_); });
    } else {
      pool_.Parallelize2d(static_cast<size_t>(ctiles_), items, [&](size_t ct, size_t item) {
        RunBand(in, out, item, static_cast<int>(ct), static_cast<int>(ct) + 1);
      });
    }
    return absl::OkStatus();
  }

 private:
  static int Log2(int v) { return v >= 8 ? 3 : v >= 4 ? 2 : v >= 2 ? 1 : 0; }

  int TileVectors(int ct) const {
    const int c_valid = std::min(p_.tile_c, op_.c - ct * p_.tile_c);
    return CeilDiv(c_valid, kLanes);
  }

  // One band of tile_h output rows of image n, channel tiles [ct_begin, ct_end).
  void RunBand(const T* in, T* out, size_t item, int ct_begin, int ct_end) const {
    const int th = p_.tile_h;
    const size_t n = item / bands_;
    const int oh0 = static_cast<int>(item % bands_) * th;
    const size_t row_elems = static_cast<size_t>(op_.w) * op_.c;
    // Rows past the output repeat the last row: computed and stored twice
    // with the same values by this thread.
    const T* rows[kMaxTileH][kMaxTaps];
    void* out_rows[kMaxTileH];
    for (int i = 0; i < th; ++i) {
      const int oh = std::min(oh0 + i, oh_ - 1);
      out_rows[i] = out + (n * oh_ + oh) * static_cast<size_t>(ow_) * op_.c;
      for (int r = 0; r < op_.r; ++r) {
        const int ih = oh * op_.stride_h - op_.pad_top + r * op_.dilation_h;
        rows[i][r] = ih >= 0 && ih < op_.h ? in + (n * op_.h + ih) * row_elems : pad_.data();
      }
    }
    const T* taps[kMaxTileH * kMaxTaps];
    void* outs[kMaxTileH];
    // Fills the tap table and output pointers of the tile starting at `col`;
    // `border`: check every column against the input row.
    auto build = [&](int col, bool border) {
      for (int i = 0; i < th; ++i) {
        outs[i] = static_cast<T*>(out_rows[i]) + static_cast<size_t>(col) * op_.c;
        for (int r = 0; r < op_.r; ++r) {
          const T* row = rows[i][r];
          for (int s = 0; s < op_.s; ++s) {
            const int iw = col * op_.stride_w - op_.pad_left + s * op_.dilation_w;
            const bool inside = !border || (iw >= 0 && iw < op_.w);
            taps[i * taps_ + r * op_.s + s] =
                inside ? row + static_cast<ptrdiff_t>(iw) * op_.c : pad_.data();
          }
        }
      }
    };
    MicroArgs a;
    a.taps = reinterpret_cast<const void* const*>(taps);
    a.num_taps = taps_;
    a.pix_step = static_cast<ptrdiff_t>(op_.stride_w) * op_.c;
    a.out = outs;
    a.out_step = op_.c;
    a.scale = nullptr;
    a.zero_point = zero_point_;
    a.lo = lo_;
    a.hi = hi_;
    auto run = [&](int tw, const Micro (&micros)[2][4]) {
      for (int ct = ct_begin; ct < ct_end; ++ct) {
        a.c0 = ct * p_.tile_c;
        a.c_valid = std::min(p_.tile_c, op_.c - a.c0);
        a.weights = weights_.data() + static_cast<size_t>(a.c0) * taps_;
        a.bias = bias_.data() + a.c0;
        a.scale = scale_.data() + a.c0;
        micros[ct == ctiles_ - 1][Log2(tw)](a);
      }
    };
    for (int col = 0; col < col_lo_; ++col) {
      build(col, true);
      run(1, micro_);
    }
    for (int col = col_lo_; col < col_hi_;) {
      int tw = p_.tile_w;
      while (tw > col_hi_ - col) tw /= 2;
      build(col, false);
      run(tw, interior_);
      col += tw;
    }
    for (int col = col_hi_; col < ow_; ++col) {
      build(col, true);
      run(1, micro_);
    }
  }

  std::string name_;
  OpSpec op_;
  DepthwiseParams p_;
  internal::ThreadPool pool_;
  int oh_ = 1, ow_ = 1, taps_ = 1, ctiles_ = 1, bands_ = 1;
  int col_lo_ = 0, col_hi_ = 0;
  std::vector<W> weights_;
  std::vector<Bias> bias_;
  std::vector<float> scale_;
  std::vector<T> pad_;  // one input row of the padding value (+ a vector of slack)
  // [last channel tile][log2 tile width]: border columns, interior columns.
  Micro micro_[2][4] = {};
  Micro interior_[2][4] = {};
  int32_t zero_point_ = 0;
  float lo_ = 0, hi_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Kernel>> CreateDepthwiseKernel(const OpSpec& op,
                                                              const DepthwiseParams& params,
                                                              const OpData& data,
                                                              const MicroSet& micros,
                                                              std::string_view path) {
  if (op.kind != OpKind::kDepthwiseConv2d || op.k != op.c || op.groups != op.c) {
    return absl::InvalidArgumentError(
        absl::StrCat("depthwise kernel: not a depthwise_conv2d: ", CanonicalKey(op)));
  }
  if (data.residual_add.has_value()) {
    return absl::UnimplementedError("depthwise kernels do not fuse a residual add");
  }
  if (params.tile_h < 1 || params.tile_h > kMaxTileH || op.r * op.s > kMaxTaps) {
    return absl::InvalidArgumentError("depthwise kernel: tile_h or kernel size out of range");
  }
  const bool int8 = op.dtype == DType::kInt8;
  const std::string name =
      absl::StrCat("depthwise_conv2d_", internal::Sv(internal::DTypesName(op)), "_direct_",
                   params.tile_h, "x", params.tile_w, "x", params.tile_c, "__", internal::Sv(path));
  auto missing = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("depthwise kernel: tile ", params.tile_h, "x", params.tile_w, "x",
                     params.tile_c, " is not compiled for path ", internal::Sv(path)));
  };
  if (int8) {
    const QuantParams& q = data.quant;
    // u8 and s8 activations alike: the padding row holds the zero point's
    // byte, and the bias folds -zx * sum(w) (s8 inputs are sign-extended).
    auto kernel = std::make_unique<DepthwiseKernel<uint8_t>>(name, op, params);
    kernel->Pack(data.weights_s8.data(), data.bias_s32, q.requant_scale,
                 static_cast<uint8_t>(q.input_zero_point));
    const int taps = op.r * op.s;
    for (int k = 0; k < op.c; ++k) {
      int64_t sum = 0;
      for (int t = 0; t < taps; ++t) sum += data.weights_s8[static_cast<size_t>(t) * op.c + k];
      const uint32_t folded = static_cast<uint32_t>(data.bias_s32[k]) -
                              static_cast<uint32_t>(q.input_zero_point * sum);
      kernel->bias()[k] = static_cast<int32_t>(folded);
    }
    kernel->SetEpilogue(q.output_zero_point, static_cast<float>(q.output_min - q.output_zero_point),
                        static_cast<float>(q.output_max - q.output_zero_point));
    if (!kernel->Resolve(micros)) return missing();
    return kernel;
  }
  auto kernel = std::make_unique<DepthwiseKernel<float>>(name, op, params);
  kernel->Pack(data.weights_f32.data(), data.bias_f32, {}, 0.0f);
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  if (op.activation != Activation::kNone) lo = 0.0f;
  if (op.activation == Activation::kRelu6) hi = 6.0f;
  kernel->SetEpilogue(0, lo, hi);
  if (!kernel->Resolve(micros)) return missing();
  return kernel;
}

}  // namespace qtune::kernels::depthwise
