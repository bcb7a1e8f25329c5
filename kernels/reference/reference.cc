#include "qtune/kernels/reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels {
namespace {

// int32 addition with two's-complement wrap-around (defined behaviour for any
// bias; the products alone cannot overflow, see ValidateOpSpec).
int32_t WrapAdd(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

float ApplyActivation(Activation act, float y) {
  switch (act) {
    case Activation::kNone: return y;
    case Activation::kRelu: return y < 0.0f ? 0.0f : y;
    case Activation::kRelu6: return y < 0.0f ? 0.0f : (y > 6.0f ? 6.0f : y);
  }
  return y;
}

// The loops below visit, per output pixel, the in-bounds taps (r, s) in
// order and, per tap, the input channels c in order, accumulating into one
// vector of K accumulators; the innermost loop runs over the output channels
// k with contiguous weights (KRSC transposed once to RSCK; depthwise RSC
// weights and NHWC inputs are already k-contiguous). Every output element
// thus sums exactly the products of the naive per-element loop, in the same
// (r, s, c) order. Padded taps are skipped: they contribute nothing.

// acc[k] += x * w[k]. Products fit int16 x int16 -> int32, and partial sums
// stay within the bound ValidateOpSpec puts on the whole sum.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define QTUNE_REFERENCE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define QTUNE_REFERENCE_CLONES
#endif

QTUNE_REFERENCE_CLONES
void AxpyInt8(int32_t* acc, const int16_t* w, int16_t x, int k_n) {
  for (int k = 0; k < k_n; ++k) acc[k] += static_cast<int32_t>(x) * static_cast<int32_t>(w[k]);
}

// acc[k] += x[k] * w[k] (depthwise).
QTUNE_REFERENCE_CLONES
void MulAddInt8(int32_t* acc, const int16_t* x, const int16_t* w, int k_n) {
  for (int k = 0; k < k_n; ++k) acc[k] += static_cast<int32_t>(x[k]) * static_cast<int32_t>(w[k]);
}

// p = x * w[k] in double (exact: 24-bit by 24-bit mantissas); acc[k] += p,
// mag[k] += |p|.
QTUNE_REFERENCE_CLONES
void AxpyFp32(double* acc, double* mag, const float* w, float x, int k_n) {
  const double xd = x;
  for (int k = 0; k < k_n; ++k) {
    const double p = xd * static_cast<double>(w[k]);
    acc[k] += p;
    mag[k] += std::fabs(p);
  }
}

// Depthwise: p = x[k] * w[k].
QTUNE_REFERENCE_CLONES
void MulAddFp32(double* acc, double* mag, const float* x, const float* w, int k_n) {
  for (int k = 0; k < k_n; ++k) {
    const double p = static_cast<double>(x[k]) * static_cast<double>(w[k]);
    acc[k] += p;
    mag[k] += std::fabs(p);
  }
}

// Weights in the layout the loops read: RSCK for conv2d and dense (from
// KRSC), RSC unchanged for depthwise.
template <typename W, typename T>
std::vector<W> TapMajorWeights(const OpSpec& op, const std::vector<T>& weights) {
  std::vector<W> out(weights.size());
  if (op.kind == OpKind::kDepthwiseConv2d) {
    for (size_t i = 0; i < weights.size(); ++i) out[i] = static_cast<W>(weights[i]);
    return out;
  }
  const int64_t rsc = int64_t{op.r} * op.s * op.c;
  for (int64_t k = 0; k < op.k; ++k) {
    for (int64_t j = 0; j < rsc; ++j) out[j * op.k + k] = static_cast<W>(weights[k * rsc + j]);
  }
  return out;
}

// Calls pixel(out_pixel, taps) per output pixel, where taps lists the
// (input pixel, r * S + s) pairs of its in-bounds taps in (r, s) order.
template <typename Pixel>
void ForEachPixel(const OpSpec& op, Pixel&& pixel) {
  const int oh_n = op.out_h(), ow_n = op.out_w();
  std::vector<std::pair<int64_t, int64_t>> taps;
  taps.reserve(static_cast<size_t>(op.r) * op.s);
  for (int n = 0; n < op.n; ++n) {
    for (int oh = 0; oh < oh_n; ++oh) {
      for (int ow = 0; ow < ow_n; ++ow) {
        taps.clear();
        for (int r = 0; r < op.r; ++r) {
          const int ih = oh * op.stride_h - op.pad_top + r * op.dilation_h;
          if (ih < 0 || ih >= op.h) continue;
          for (int s = 0; s < op.s; ++s) {
            const int iw = ow * op.stride_w - op.pad_left + s * op.dilation_w;
            if (iw < 0 || iw >= op.w) continue;
            taps.emplace_back((int64_t{n} * op.h + ih) * op.w + iw, int64_t{r} * op.s + s);
          }
        }
        pixel((int64_t{n} * oh_n + oh) * ow_n + ow, taps);
      }
    }
  }
}

// `input` and `output` hold the op's activation bytes: u8, or s8 (two's
// complement) for signed_io.
void RunInt8(const OpSpec& op, const OpData& data, const uint8_t* input, uint8_t* output) {
  const QuantParams& q = data.quant;
  const size_t scales = q.requant_scale.size();
  const bool depthwise = op.kind == OpKind::kDepthwiseConv2d;
  const std::vector<int16_t> w = TapMajorWeights<int16_t>(op, data.weights_s8);
  std::vector<int32_t> acc(op.k);
  std::vector<int16_t> x(op.c);  // one input pixel minus the zero point
  ForEachPixel(op, [&](int64_t out_pixel, const std::vector<std::pair<int64_t, int64_t>>& taps) {
    std::fill(acc.begin(), acc.end(), 0);
    for (const auto& [in_pixel, tap] : taps) {
      const uint8_t* in = input + in_pixel * op.c;
      if (op.signed_io) {
        const int8_t* in_s8 = reinterpret_cast<const int8_t*>(in);
        for (int c = 0; c < op.c; ++c) x[c] = static_cast<int16_t>(in_s8[c] - q.input_zero_point);
      } else {
        for (int c = 0; c < op.c; ++c) x[c] = static_cast<int16_t>(in[c] - q.input_zero_point);
      }
      if (depthwise) {
        MulAddInt8(acc.data(), x.data(), w.data() + tap * op.c, op.k);
      } else {
        const int16_t* wt = w.data() + tap * op.c * op.k;
        for (int c = 0; c < op.c; ++c) AxpyInt8(acc.data(), wt + int64_t{c} * op.k, x[c], op.k);
      }
    }
    uint8_t* out = output + out_pixel * op.k;
    for (int k = 0; k < op.k; ++k) {
      out[k] = Requantize(WrapAdd(data.bias_s32[k], acc[k]), q.requant_scale[k % scales],
                          q.output_zero_point, q.output_min, q.output_max);
    }
  });
}

void RunFp32(const OpSpec& op, const OpData& data, const float* input, float* output,
             float* magnitude) {
  // Accumulates exactly-rounded products in double, so the reference itself
  // carries (almost) no summation error; kernels sum in float in any order.
  const bool depthwise = op.kind == OpKind::kDepthwiseConv2d;
  const std::vector<float> w = TapMajorWeights<float>(op, data.weights_f32);
  std::vector<double> acc(op.k), mag(op.k);
  ForEachPixel(op, [&](int64_t out_pixel, const std::vector<std::pair<int64_t, int64_t>>& taps) {
    std::fill(acc.begin(), acc.end(), 0.0);
    std::fill(mag.begin(), mag.end(), 0.0);
    for (const auto& [in_pixel, tap] : taps) {
      const float* in = input + in_pixel * op.c;
      if (depthwise) {
        MulAddFp32(acc.data(), mag.data(), in, w.data() + tap * op.c, op.k);
      } else {
        const float* wt = w.data() + tap * op.c * op.k;
        for (int c = 0; c < op.c; ++c) {
          AxpyFp32(acc.data(), mag.data(), wt + int64_t{c} * op.k, in[c], op.k);
        }
      }
    }
    float* out = output + out_pixel * op.k;
    for (int k = 0; k < op.k; ++k) {
      out[k] = ApplyActivation(op.activation, static_cast<float>(data.bias_f32[k] + acc[k]));
      if (magnitude != nullptr) {
        magnitude[out_pixel * op.k + k] = static_cast<float>(std::fabs(data.bias_f32[k]) + mag[k]);
      }
    }
  });
}

}  // namespace

uint8_t Requantize(int32_t acc, float scale, int32_t zero_point, int32_t lo, int32_t hi) {
  const float scaled = static_cast<float>(acc) * scale;
  const float rounded = std::nearbyint(scaled);
  // Clamp in float before converting: `rounded` may exceed the int32 range.
  const float lo_f = static_cast<float>(lo - zero_point);
  const float hi_f = static_cast<float>(hi - zero_point);
  const float clamped = rounded < lo_f ? lo_f : (rounded > hi_f ? hi_f : rounded);
  // A value in [-128, 255]: its low byte is the u8 or s8 output element.
  return static_cast<uint8_t>(static_cast<int32_t>(clamped) + zero_point);
}

uint8_t AddResidual(uint8_t conv, uint8_t residual, int32_t conv_zero_point,
                    const ResidualAdd& add, bool s8) {
  auto level = [s8](uint8_t byte) {
    return s8 ? static_cast<int32_t>(static_cast<int8_t>(byte)) : static_cast<int32_t>(byte);
  };
  const float a = static_cast<float>(level(conv) - conv_zero_point) * add.conv_ratio;
  const float b = static_cast<float>(level(residual) - add.residual_zero_point) * add.residual_ratio;
  float y = std::nearbyint(a + b) + static_cast<float>(add.zero_point);
  // Clamp in float (NaN goes to lo): y may exceed the int32 range.
  const float lo = static_cast<float>(add.lo), hi = static_cast<float>(add.hi);
  if (!(y > lo)) y = lo;
  if (!(y < hi)) y = hi;
  // A value in [-128, 255]: its low byte is the u8 or s8 output element.
  return static_cast<uint8_t>(static_cast<int32_t>(y));
}

absl::Status RunReference(const OpSpec& op, const OpData& data, const void* input, void* output,
                          float* magnitude) {
  QTUNE_RETURN_IF_ERROR(ValidateOpSpec(op));
  QTUNE_RETURN_IF_ERROR(ValidateOpData(op, data));
  if (input == nullptr || output == nullptr) {
    return absl::InvalidArgumentError("reference: input and output must not be null");
  }
  if (op.dtype == DType::kInt8) {
    RunInt8(op, data, static_cast<const uint8_t*>(input), static_cast<uint8_t*>(output));
  } else {
    RunFp32(op, data, static_cast<const float*>(input), static_cast<float*>(output), magnitude);
  }
  return absl::OkStatus();
}

absl::Status RunReferenceWithResidual(const OpSpec& op, const OpData& data, const void* input,
                                      const void* residual, void* output) {
  if (!data.residual_add.has_value() || op.dtype != DType::kInt8) {
    return absl::InvalidArgumentError("reference: an int8 op with a residual add expected");
  }
  if (residual == nullptr) return absl::InvalidArgumentError("reference: residual must not be null");
  QTUNE_RETURN_IF_ERROR(RunReference(op, data, input, output));
  const auto* b = static_cast<const uint8_t*>(residual);
  auto* y = static_cast<uint8_t*>(output);
  for (int64_t i = 0; i < op.output_elements(); ++i) {
    y[i] = AddResidual(y[i], b[i], data.quant.output_zero_point, *data.residual_add, op.signed_io);
  }
  return absl::OkStatus();
}

}  // namespace qtune::kernels
