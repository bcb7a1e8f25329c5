#include "qtune/kernels/reference.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>

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

// Visits every output element of `op` with the (input index, weight index)
// pairs of its in-bounds taps. Padded taps are skipped: they contribute
// nothing. `Tap(in, w)` is called per product, `Done(out, k)` per output.
template <typename Tap, typename Done>
void ForEachOutput(const OpSpec& op, Tap&& tap, Done&& done) {
  const int oh_n = op.out_h(), ow_n = op.out_w();
  const bool depthwise = op.kind == OpKind::kDepthwiseConv2d;
  for (int n = 0; n < op.n; ++n) {
    for (int oh = 0; oh < oh_n; ++oh) {
      for (int ow = 0; ow < ow_n; ++ow) {
        const int64_t out_pixel = (int64_t{n} * oh_n + oh) * ow_n + ow;
        for (int k = 0; k < op.k; ++k) {
          for (int r = 0; r < op.r; ++r) {
            const int ih = oh * op.stride_h - op.pad_top + r * op.dilation_h;
            if (ih < 0 || ih >= op.h) continue;
            for (int s = 0; s < op.s; ++s) {
              const int iw = ow * op.stride_w - op.pad_left + s * op.dilation_w;
              if (iw < 0 || iw >= op.w) continue;
              const int64_t in_pixel = (int64_t{n} * op.h + ih) * op.w + iw;
              if (depthwise) {
                tap(in_pixel * op.c + k, (int64_t{r} * op.s + s) * op.c + k);
              } else {
                const int64_t w_base = ((int64_t{k} * op.r + r) * op.s + s) * op.c;
                for (int c = 0; c < op.c; ++c) tap(in_pixel * op.c + c, w_base + c);
              }
            }
          }
          done(out_pixel * op.k + k, k);
        }
      }
    }
  }
}

void RunInt8(const OpSpec& op, const OpData& data, const uint8_t* input, uint8_t* output) {
  const QuantParams& q = data.quant;
  const size_t scales = q.requant_scale.size();
  int32_t acc = 0;
  ForEachOutput(
      op,
      [&](int64_t i, int64_t w) {
        acc += (static_cast<int32_t>(input[i]) - q.input_zero_point) *
               static_cast<int32_t>(data.weights_s8[w]);
      },
      [&](int64_t o, int k) {
        output[o] = Requantize(WrapAdd(data.bias_s32[k], acc), q.requant_scale[k % scales],
                               q.output_zero_point, q.output_min, q.output_max);
        acc = 0;
      });
}

void RunFp32(const OpSpec& op, const OpData& data, const float* input, float* output,
             float* magnitude) {
  // Accumulates exactly-rounded products in double, so the reference itself
  // carries (almost) no summation error; kernels sum in float in any order.
  double acc = 0.0, mag = 0.0;
  ForEachOutput(
      op,
      [&](int64_t i, int64_t w) {
        const double p = static_cast<double>(input[i]) * static_cast<double>(data.weights_f32[w]);
        acc += p;
        mag += std::fabs(p);
      },
      [&](int64_t o, int k) {
        output[o] = ApplyActivation(op.activation, static_cast<float>(data.bias_f32[k] + acc));
        if (magnitude != nullptr) {
          magnitude[o] = static_cast<float>(std::fabs(data.bias_f32[k]) + mag);
        }
        acc = 0.0;
        mag = 0.0;
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
  return static_cast<uint8_t>(static_cast<int32_t>(clamped) + zero_point);
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

}  // namespace qtune::kernels
