// fp32 ops of the portable direct convolution: float accumulators, bias and
// the fused activation in the epilogue.
#include <cstddef>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/generic/direct_conv.h"
#include "kernels/generic/direct_conv_impl.h"
#include "kernels/generic/simd.h"

namespace qtune::kernels::generic {
namespace {

template <int MR, int NR>
struct MicroFp32 {
  static void Run(const float* const* x, const ptrdiff_t* taps, int num_taps, int c_begin,
                  int c_end, int cp, const float* w, float* acc, bool accumulate) {
    constexpr int kVecs = NR / 4;
    F32x4 a[MR][kVecs];
    for (int m = 0; m < MR; ++m) {
      for (int j = 0; j < kVecs; ++j) {
        a[m][j] = accumulate ? Load<F32x4>(acc + m * NR + 4 * j) : F32x4{};
      }
    }
    for (int t = 0; t < num_taps; ++t) {
      const float* xt[MR];
      for (int m = 0; m < MR; ++m) xt[m] = x[m] + taps[t];
      const float* wt = w + (static_cast<ptrdiff_t>(t) * cp + c_begin) * NR;
      for (int c = c_begin; c < c_end; ++c) {
        F32x4 wv[kVecs];
        for (int j = 0; j < kVecs; ++j) wv[j] = Load<F32x4>(wt + 4 * j);
        for (int m = 0; m < MR; ++m) {
          const float xv = xt[m][c];
          for (int j = 0; j < kVecs; ++j) a[m][j] += xv * wv[j];
        }
        wt += NR;
      }
    }
    for (int m = 0; m < MR; ++m) {
      for (int j = 0; j < kVecs; ++j) Store(acc + m * NR + 4 * j, a[m][j]);
    }
  }
};

struct Fp32Ops {
  using In = float;
  using Packed = float;
  using Acc = float;
  using Out = float;
  using Micro = void (*)(const float* const*, const ptrdiff_t*, int, int, int, int,
                         const float*, float*, bool);
  static constexpr int kChannelPack = 1;

  float Convert(float v) const { return v; }

  void Epilogue(const float* acc, int k0, int count, float* out) const {
    const float* b = bias.data() + k0;
    for (int j = 0; j < count; ++j) {
      float y = b[j] + acc[j];
      y = y < lo ? lo : y;
      y = y > hi ? hi : y;
      out[j] = y;
    }
  }

  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  std::vector<float> bias;  // K rounded up to NR, zero-padded
};

}  // namespace

absl::StatusOr<std::unique_ptr<Kernel>> CreateDirectConvFp32(const OpSpec& op,
                                                             const DirectConvParams& params,
                                                             const OpData& data) {
  const ConvGeometry g = MakeGeometry(op, Fp32Ops::kChannelPack);
  Fp32Ops ops;
  if (op.activation != Activation::kNone) ops.lo = 0.0f;
  if (op.activation == Activation::kRelu6) ops.hi = 6.0f;
  ops.bias.assign(PaddedChannels(g, params.nr), 0.0f);
  for (int k = 0; k < g.k; ++k) ops.bias[k] = data.bias_f32[k];
  return BuildDirectConv<Fp32Ops, MicroFp32>(op, g, params, std::move(ops),
                                             data.weights_f32.data(), "f32", "");
}

}  // namespace qtune::kernels::generic
