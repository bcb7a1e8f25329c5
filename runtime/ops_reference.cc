// reference:: of ops.h: plain scalar loops, one element at a time, in the
// order of the formulas.
#include <cmath>
#include <limits>

#include "runtime/ops.h"

namespace qtune::runtime::reference {
namespace {

// clamp(v, lo, hi) as a byte of `type`; NaN goes to lo. v is integral.
uint8_t Store(float v, int32_t lo, int32_t hi, QType type) {
  const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
  if (!(v > flo)) v = flo;
  if (!(v < fhi)) v = fhi;
  const int32_t i = static_cast<int32_t>(v);
  return type.s8 ? static_cast<uint8_t>(static_cast<int8_t>(i)) : static_cast<uint8_t>(i);
}

int32_t Load(uint8_t byte, QType type) {
  return type.s8 ? static_cast<int32_t>(static_cast<int8_t>(byte)) : static_cast<int32_t>(byte);
}

uint8_t QuantizeOne(float x, const QuantizeArgs& args) {
  return Store(std::nearbyint(x / args.scale) + static_cast<float>(args.zero_point),
               args.type.min(), args.type.max(), args.type);
}

}  // namespace

void Quantize(const float* x, size_t count, const QuantizeArgs& args, uint8_t* y) {
  for (size_t i = 0; i < count; ++i) y[i] = QuantizeOne(x[i], args);
}

void QuantizeNchwToNhwc(const float* x, int n, int c, int hw, const QuantizeArgs& args,
                        uint8_t* y) {
  for (int b = 0; b < n; ++b) {
    for (int p = 0; p < hw; ++p) {
      for (int ch = 0; ch < c; ++ch) {
        y[(static_cast<size_t>(b) * hw + p) * c + ch] =
            QuantizeOne(x[(static_cast<size_t>(b) * c + ch) * hw + p], args);
      }
    }
  }
}

void Dequantize(const uint8_t* q, size_t count, const QuantizeArgs& args, float* y) {
  for (size_t i = 0; i < count; ++i) {
    y[i] = args.scale * static_cast<float>(Load(q[i], args.type) - args.zero_point);
  }
}

void TransposeNchwToNhwc(const float* x, int n, int c, int hw, float* y) {
  for (int b = 0; b < n; ++b) {
    for (int p = 0; p < hw; ++p) {
      for (int ch = 0; ch < c; ++ch) {
        y[(static_cast<size_t>(b) * hw + p) * c + ch] = x[(static_cast<size_t>(b) * c + ch) * hw + p];
      }
    }
  }
}

void AddQ(const uint8_t* a, const uint8_t* b, size_t count, const AddArgs& args, uint8_t* y) {
  for (size_t i = 0; i < count; ++i) {
    const float va = static_cast<float>(Load(a[i], args.type) - args.a_zero_point) * args.a_ratio;
    const float vb = static_cast<float>(Load(b[i], args.type) - args.b_zero_point) * args.b_ratio;
    y[i] = Store(std::nearbyint(va + vb) + static_cast<float>(args.y_zero_point), args.lo,
                 args.hi, args.type);
  }
}

void AddF32(const float* a, const float* b, size_t count, float lo, float hi, float* y) {
  for (size_t i = 0; i < count; ++i) {
    float v = a[i] + b[i];
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    y[i] = v;
  }
}

template <typename T, typename Less>
void MaxPool(const T* x, const PoolArgs& p, T* y, Less less) {
  for (int b = 0; b < p.n; ++b) {
    for (int oh = 0; oh < p.out_h; ++oh) {
      for (int ow = 0; ow < p.out_w; ++ow) {
        for (int ch = 0; ch < p.c; ++ch) {
          bool any = false;
          T best{};
          for (int r = 0; r < p.kernel_h; ++r) {
            const int ih = oh * p.stride_h - p.pad_top + r;
            if (ih < 0 || ih >= p.h) continue;
            for (int s = 0; s < p.kernel_w; ++s) {
              const int iw = ow * p.stride_w - p.pad_left + s;
              if (iw < 0 || iw >= p.w) continue;
              const T v = x[((static_cast<size_t>(b) * p.h + ih) * p.w + iw) * p.c + ch];
              if (!any || less(best, v)) best = v;
              any = true;
            }
          }
          y[((static_cast<size_t>(b) * p.out_h + oh) * p.out_w + ow) * p.c + ch] = best;
        }
      }
    }
  }
}

void MaxPoolQ(const uint8_t* x, const PoolArgs& args, QType type, uint8_t* y) {
  MaxPool(x, args, y, [type](uint8_t a, uint8_t b) { return Load(a, type) < Load(b, type); });
}

void MaxPoolF32(const float* x, const PoolArgs& args, float* y) {
  MaxPool(x, args, y, [](float a, float b) { return a < b; });
}

void GlobalAvgPoolQ(const uint8_t* x, const AvgPoolArgs& args, uint8_t* y) {
  for (int b = 0; b < args.n; ++b) {
    for (int ch = 0; ch < args.c; ++ch) {
      int32_t sum = 0;
      for (int p = 0; p < args.hw; ++p) {
        sum += Load(x[(static_cast<size_t>(b) * args.hw + p) * args.c + ch], args.type);
      }
      const float v = static_cast<float>(sum - args.hw * args.x_zero_point) * args.multiplier;
      y[static_cast<size_t>(b) * args.c + ch] =
          Store(std::nearbyint(v) + static_cast<float>(args.y_zero_point), args.type.min(),
                args.type.max(), args.type);
    }
  }
}

void GlobalAvgPoolF32(const float* x, int n, int hw, int c, float* y) {
  for (int b = 0; b < n; ++b) {
    for (int ch = 0; ch < c; ++ch) {
      float sum = 0;
      for (int p = 0; p < hw; ++p) sum += x[(static_cast<size_t>(b) * hw + p) * c + ch];
      y[static_cast<size_t>(b) * c + ch] = sum / static_cast<float>(hw);
    }
  }
}

void ClampQ(const uint8_t* x, size_t count, int32_t lo, int32_t hi, QType type, uint8_t* y) {
  for (size_t i = 0; i < count; ++i) {
    int32_t v = Load(x[i], type);
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    y[i] = type.s8 ? static_cast<uint8_t>(static_cast<int8_t>(v)) : static_cast<uint8_t>(v);
  }
}

void ClampF32(const float* x, size_t count, float lo, float hi, float* y) {
  for (size_t i = 0; i < count; ++i) {
    float v = x[i];
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    y[i] = v;
  }
}

}  // namespace qtune::runtime::reference
