// int8 ops of the portable direct convolution: u8 or s8 activations minus
// their zero point as int16, s8 weights as int16 in channel pairs, int32
// accumulators, and the requantisation of reference.h.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/generic/direct_conv.h"
#include "kernels/generic/direct_conv_impl.h"
#include "kernels/generic/simd.h"
#include "kernels/src/residual_add.h"

namespace qtune::kernels::generic {
namespace {

template <int MR, int NR>
struct MicroInt8 {
  static void Run(const int16_t* const* x, const ptrdiff_t* taps, int num_taps, int c_begin,
                  int c_end, int cp, const int16_t* w, int32_t* acc, bool accumulate) {
    constexpr int kVecs = NR / 4;  // int32 lanes of one row of the tile
    I32x4 a[MR][kVecs];
    for (int m = 0; m < MR; ++m) {
      for (int j = 0; j < kVecs; ++j) {
        a[m][j] = accumulate ? Load<I32x4>(acc + m * NR + 4 * j) : I32x4{};
      }
    }
    for (int t = 0; t < num_taps; ++t) {
      const int16_t* xt[MR];
      for (int m = 0; m < MR; ++m) xt[m] = x[m] + taps[t];
      const int16_t* wt = w + (static_cast<ptrdiff_t>(t) * cp + c_begin) * NR;
      for (int c = c_begin; c < c_end; c += 2) {
        I16x8 wv[kVecs];  // NR/4 vectors of 4 outputs x 2 channels
        for (int j = 0; j < kVecs; ++j) wv[j] = Load<I16x8>(wt + 8 * j);
        for (int m = 0; m < MR; ++m) {
          const int32_t pair = Load<int32_t>(xt[m] + c);  // channels c, c + 1
          const I16x8 xb = reinterpret_cast<I16x8>(I32x4{pair, pair, pair, pair});
          for (int j = 0; j < kVecs; ++j) a[m][j] += MaddPairs(xb, wv[j]);
        }
        wt += 2 * NR;
      }
    }
    for (int m = 0; m < MR; ++m) {
      for (int j = 0; j < kVecs; ++j) Store(acc + m * NR + 4 * j, a[m][j]);
    }
  }
};

struct Int8Ops {
  using In = uint8_t;
  using Packed = int16_t;
  using Acc = int32_t;
  using Out = uint8_t;
  using Micro = void (*)(const int16_t* const*, const ptrdiff_t*, int, int, int, int,
                         const int16_t*, int32_t*, bool);
  static constexpr int kChannelPack = 2;

  // x - zx for the byte v of an element: v ^ flip is x + 128 for s8
  // (flip 0x80, shifted zero point zx + 128) and x itself for u8.
  int16_t Convert(uint8_t v) const {
    return static_cast<int16_t>((v ^ flip) - shifted_zero_point);
  }

  // Reproduces Requantize() exactly: clamping before rounding gives the same
  // result because the bounds are integers, and adding 1.5 * 2^23 rounds any
  // |v| <= 2^22 to the nearest integer, ties to even, in binary32.
  void Epilogue(const int32_t* acc, int k0, int count, uint8_t* out) const {
    constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
    const int32_t* b = bias.data() + k0;
    const float* sc = scale.data() + k0;
    for (int j = 0; j < count; ++j) {
      const int32_t sum =
          static_cast<int32_t>(static_cast<uint32_t>(acc[j]) + static_cast<uint32_t>(b[j]));
      float v = static_cast<float>(sum) * sc[j];
      v = v < lo ? lo : v;
      v = v > hi ? hi : v;
      v = (v + kRound) - kRound;
      // In [output_min, output_max]: the low byte is the u8 or s8 output.
      out[j] = static_cast<uint8_t>(static_cast<int32_t>(v) + output_zero_point);
    }
  }

  uint8_t flip = 0;               // 0x80 for s8 inputs, else 0
  int32_t shifted_zero_point = 0; // input zero point, + 128 for s8 inputs
  int32_t output_zero_point = 0;
  float lo = 0.0f, hi = 255.0f;  // clamp bounds minus the output zero point
  std::vector<int32_t> bias;     // K rounded up to NR, zero-padded
  std::vector<float> scale;      // K rounded up to NR
  std::optional<internal::ResidualAddArgs> residual;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Kernel>> CreateDirectConvInt8(const OpSpec& op,
                                                              const DirectConvParams& params,
                                                              const OpData& data) {
  const ConvGeometry g = MakeGeometry(op, Int8Ops::kChannelPack);
  const QuantParams& q = data.quant;
  Int8Ops ops;
  ops.flip = op.signed_io ? 0x80 : 0;
  ops.shifted_zero_point = q.input_zero_point + (op.signed_io ? 128 : 0);
  ops.output_zero_point = q.output_zero_point;
  ops.lo = static_cast<float>(q.output_min - q.output_zero_point);
  ops.hi = static_cast<float>(q.output_max - q.output_zero_point);
  ops.bias.assign(PaddedChannels(g, params.nr), 0);
  ops.scale.assign(PaddedChannels(g, params.nr), 1.0f);
  for (int k = 0; k < g.k; ++k) {
    ops.bias[k] = data.bias_s32[k];
    ops.scale[k] = q.requant_scale[k % q.requant_scale.size()];
  }
  if (data.residual_add.has_value()) {
    ops.residual = internal::ResidualAddArgs{q.output_zero_point, *data.residual_add, op.signed_io};
  }
  return BuildDirectConv<Int8Ops, MicroInt8>(op, g, params, std::move(ops),
                                             data.weights_s8.data(), internal::DTypesName(op),
                                             "c2");
}

}  // namespace qtune::kernels::generic
