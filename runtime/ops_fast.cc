// fast:: of ops.h: branch-free loops over contiguous elements that the
// compiler vectorises (the library is built with -O3 -ffp-contract=off).
// rne(v) is (v + 1.5 * 2^23) - 1.5 * 2^23, exact for |v| <= 2^22; values
// beyond are clamped to +-2^22 first, which changes no result since every
// output range lies far inside.
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "runtime/ops.h"

// x86: each public function is compiled for AVX-512, AVX2 and the
// baseline, chosen at load time (GCC function multiversioning), with the
// loops it calls inlined (flatten) so that they get the clone's ISA.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // 64-byte vectors inside the clones only
#define QTUNE_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), flatten))
#else
#define QTUNE_VECTOR_CLONES
#endif

namespace qtune::runtime::fast {
namespace {

constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
constexpr float kLimit = 4194304.0f;   // 2^22

// rne(v) + zero_point, clamped to [lo, hi]; NaN gives lo. Branch-free.
inline float RoundOffsetClamp(float v, float zero_point, float lo, float hi) {
  v = v > -kLimit ? v : -kLimit;
  v = v < kLimit ? v : kLimit;
  v = (v + kMagic) - kMagic;
  v = v + zero_point;
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  return v;
}

template <typename T>
void QuantizeT(const float* x, size_t count, float scale, float zp, float lo, float hi, T* y) {
  for (size_t i = 0; i < count; ++i) {
    y[i] = static_cast<T>(static_cast<int32_t>(RoundOffsetClamp(x[i] / scale, zp, lo, hi)));
  }
}

template <typename T>
void DequantizeT(const T* q, size_t count, float scale, int32_t zp, float* y) {
  for (size_t i = 0; i < count; ++i) y[i] = scale * static_cast<float>(q[i] - zp);
}

template <typename T>
void AddT(const T* a, const T* b, size_t count, const AddArgs& args, T* y) {
  const int32_t za = args.a_zero_point, zb = args.b_zero_point;
  const float ra = args.a_ratio, rb = args.b_ratio, zy = static_cast<float>(args.y_zero_point);
  const float lo = static_cast<float>(args.lo), hi = static_cast<float>(args.hi);
  for (size_t i = 0; i < count; ++i) {
    const float va = static_cast<float>(a[i] - za) * ra;
    const float vb = static_cast<float>(b[i] - zb) * rb;
    y[i] = static_cast<T>(static_cast<int32_t>(RoundOffsetClamp(va + vb, zy, lo, hi)));
  }
}

// 64 bytes of T as one GCC vector (one zmm, two ymm or four xmm registers,
// as the target allows).
template <typename T>
struct VecOf;
template <>
struct VecOf<uint8_t> {
  typedef uint8_t type __attribute__((vector_size(64)));
};
template <>
struct VecOf<int8_t> {
  typedef int8_t type __attribute__((vector_size(64)));
};
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <typename T>
using Vec = typename VecOf<T>::type;
template <typename T>
inline Vec<T> LoadVec(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The maximum over a window of KH x KW taps that lie inside the image:
// `top_left` is its first tap, rows `row` elements apart, taps `c` apart.
// The taps are compile-time offsets, so per 64-byte chunk of channels the
// loads and maxima run without the generic loop's per-pixel tap list.
template <int KH, int KW, typename T>
inline void MaxPoolInterior(const T* top_left, size_t row, size_t c, T* out) {
  constexpr size_t kChunk = 64 / sizeof(T);
  size_t ch = 0;
  for (; ch + kChunk <= c; ch += kChunk) {
    Vec<T> acc = LoadVec<T>(top_left + ch);
    for (int r = 0; r < KH; ++r) {
      for (int s = 0; s < KW; ++s) {
        if (r == 0 && s == 0) continue;
        const Vec<T> in = LoadVec<T>(top_left + r * row + s * c + ch);
        acc = in > acc ? in : acc;
      }
    }
    std::memcpy(out + ch, &acc, sizeof(acc));
  }
  for (; ch < c; ++ch) {
    T acc = top_left[ch];
    for (int r = 0; r < KH; ++r) {
      for (int s = 0; s < KW; ++s) {
        const T in = top_left[r * row + s * c + ch];
        acc = in > acc ? in : acc;
      }
    }
    out[ch] = acc;
  }
}

// One output pixel at a time. Windows of 3x3 taps all inside the image (all
// but the border pixels of ResNet's max pool) take MaxPoolInterior; others
// list the in-bounds taps' addresses first, then per 64-byte chunk of
// channels take the maximum over the taps kept in registers and store it
// once. Both take the maximum in tap order, as the reference does.
template <typename T>
void MaxPoolT(const T* x, const PoolArgs& p, T* y) {
  constexpr size_t kChunk = 64 / sizeof(T);
  const size_t c = p.c;
  std::vector<const T*> taps(static_cast<size_t>(p.kernel_h) * p.kernel_w);
  for (int b = 0; b < p.n; ++b) {
    const T* image = x + static_cast<size_t>(b) * p.h * p.w * c;
    for (int oh = 0; oh < p.out_h; ++oh) {
      const int r0 = std::max(0, p.pad_top - oh * p.stride_h);
      const int r1 = std::min(p.kernel_h, p.h + p.pad_top - oh * p.stride_h);
      for (int ow = 0; ow < p.out_w; ++ow) {
        T* out = y + ((static_cast<size_t>(b) * p.out_h + oh) * p.out_w + ow) * c;
        const int s0 = std::max(0, p.pad_left - ow * p.stride_w);
        const int s1 = std::min(p.kernel_w, p.w + p.pad_left - ow * p.stride_w);
        if (p.kernel_h == 3 && p.kernel_w == 3 && r0 == 0 && r1 == 3 && s0 == 0 && s1 == 3) {
          const int ih = oh * p.stride_h - p.pad_top, iw = ow * p.stride_w - p.pad_left;
          MaxPoolInterior<3, 3>(image + (static_cast<size_t>(ih) * p.w + iw) * c,
                                static_cast<size_t>(p.w) * c, c, out);
          continue;
        }
        size_t count = 0;
        for (int r = r0; r < r1; ++r) {
          const int ih = oh * p.stride_h - p.pad_top + r;
          for (int s = s0; s < s1; ++s) {
            const int iw = ow * p.stride_w - p.pad_left + s;
            taps[count++] = image + (static_cast<size_t>(ih) * p.w + iw) * c;
          }
        }
        size_t ch = 0;
        for (; ch + kChunk <= c; ch += kChunk) {
          Vec<T> acc = LoadVec<T>(taps[0] + ch);
          for (size_t t = 1; t < count; ++t) {
            const Vec<T> in = LoadVec<T>(taps[t] + ch);
            acc = in > acc ? in : acc;
          }
          std::memcpy(out + ch, &acc, sizeof(acc));
        }
        for (; ch < c; ++ch) {
          T acc = taps[0][ch];
          for (size_t t = 1; t < count; ++t) acc = taps[t][ch] > acc ? taps[t][ch] : acc;
          out[ch] = acc;
        }
      }
    }
  }
}

template <typename T>
void GlobalAvgPoolT(const T* x, const AvgPoolArgs& args, T* y) {
  const size_t c = args.c;
  std::vector<int32_t> sum(c);
  const float zy = static_cast<float>(args.y_zero_point);
  const float lo = static_cast<float>(args.type.min()), hi = static_cast<float>(args.type.max());
  for (int b = 0; b < args.n; ++b) {
    std::fill(sum.begin(), sum.end(), 0);
    const T* image = x + static_cast<size_t>(b) * args.hw * c;
    for (int p = 0; p < args.hw; ++p) {
      const T* pixel = image + static_cast<size_t>(p) * c;
      for (size_t ch = 0; ch < c; ++ch) sum[ch] += pixel[ch];
    }
    const int32_t offset = args.hw * args.x_zero_point;
    for (size_t ch = 0; ch < c; ++ch) {
      const float v = static_cast<float>(sum[ch] - offset) * args.multiplier;
      y[static_cast<size_t>(b) * c + ch] =
          static_cast<T>(static_cast<int32_t>(RoundOffsetClamp(v, zy, lo, hi)));
    }
  }
}

template <typename T>
void ClampT(const T* x, size_t count, T lo, T hi, T* y) {
  for (size_t i = 0; i < count; ++i) {
    T v = x[i] > lo ? x[i] : lo;
    y[i] = v < hi ? v : hi;
  }
}

// The byte pointers of ops.h as the element type they hold.
const int8_t* S8(const uint8_t* p) { return reinterpret_cast<const int8_t*>(p); }
int8_t* S8(uint8_t* p) { return reinterpret_cast<int8_t*>(p); }

}  // namespace

QTUNE_VECTOR_CLONES void Quantize(const float* x, size_t count, const QuantizeArgs& args, uint8_t* y) {
  const float zp = static_cast<float>(args.zero_point);
  const float lo = static_cast<float>(args.type.min()), hi = static_cast<float>(args.type.max());
  if (args.type.s8) {
    QuantizeT(x, count, args.scale, zp, lo, hi, S8(y));
  } else {
    QuantizeT(x, count, args.scale, zp, lo, hi, y);
  }
}

QTUNE_VECTOR_CLONES void QuantizeNchwToNhwc(const float* x, int n, int c, int hw,
                                            const QuantizeArgs& args, uint8_t* y) {
  const float zp = static_cast<float>(args.zero_point);
  const float lo = static_cast<float>(args.type.min()), hi = static_cast<float>(args.type.max());
  for (int b = 0; b < n; ++b) {
    const float* image = x + static_cast<size_t>(b) * c * hw;
    uint8_t* out = y + static_cast<size_t>(b) * hw * c;
    if (c == 3) {  // images: three planes read at once, stored interleaved
      const float* p0 = image;
      const float* p1 = image + hw;
      const float* p2 = image + 2 * static_cast<size_t>(hw);
      for (int p = 0; p < hw; ++p) {
        const float v0 = RoundOffsetClamp(p0[p] / args.scale, zp, lo, hi);
        const float v1 = RoundOffsetClamp(p1[p] / args.scale, zp, lo, hi);
        const float v2 = RoundOffsetClamp(p2[p] / args.scale, zp, lo, hi);
        out[3 * static_cast<size_t>(p)] = static_cast<uint8_t>(static_cast<int32_t>(v0));
        out[3 * static_cast<size_t>(p) + 1] = static_cast<uint8_t>(static_cast<int32_t>(v1));
        out[3 * static_cast<size_t>(p) + 2] = static_cast<uint8_t>(static_cast<int32_t>(v2));
      }
      continue;
    }
    for (int p = 0; p < hw; ++p) {
      for (int ch = 0; ch < c; ++ch) {
        const float v = RoundOffsetClamp(image[static_cast<size_t>(ch) * hw + p] / args.scale, zp, lo, hi);
        out[static_cast<size_t>(p) * c + ch] = static_cast<uint8_t>(static_cast<int32_t>(v));
      }
    }
  }
}

QTUNE_VECTOR_CLONES void Dequantize(const uint8_t* q, size_t count, const QuantizeArgs& args, float* y) {
  if (args.type.s8) {
    DequantizeT(S8(q), count, args.scale, args.zero_point, y);
  } else {
    DequantizeT(q, count, args.scale, args.zero_point, y);
  }
}

QTUNE_VECTOR_CLONES void TransposeNchwToNhwc(const float* x, int n, int c, int hw, float* y) {
  for (int b = 0; b < n; ++b) {
    const float* image = x + static_cast<size_t>(b) * c * hw;
    float* out = y + static_cast<size_t>(b) * hw * c;
    for (int p = 0; p < hw; ++p) {
      for (int ch = 0; ch < c; ++ch) out[static_cast<size_t>(p) * c + ch] = image[static_cast<size_t>(ch) * hw + p];
    }
  }
}

QTUNE_VECTOR_CLONES void AddQ(const uint8_t* a, const uint8_t* b, size_t count, const AddArgs& args, uint8_t* y) {
  if (args.type.s8) {
    AddT(S8(a), S8(b), count, args, S8(y));
  } else {
    AddT(a, b, count, args, y);
  }
}

QTUNE_VECTOR_CLONES void AddF32(const float* a, const float* b, size_t count, float lo, float hi, float* y) {
  if (lo == -std::numeric_limits<float>::infinity() && hi == std::numeric_limits<float>::infinity()) {
    for (size_t i = 0; i < count; ++i) y[i] = a[i] + b[i];
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    float v = a[i] + b[i];
    v = v < lo ? lo : v;
    y[i] = v > hi ? hi : v;
  }
}

QTUNE_VECTOR_CLONES void MaxPoolQ(const uint8_t* x, const PoolArgs& args, QType type, uint8_t* y) {
  if (type.s8) {
    MaxPoolT(S8(x), args, S8(y));
  } else {
    MaxPoolT(x, args, y);
  }
}

QTUNE_VECTOR_CLONES void MaxPoolF32(const float* x, const PoolArgs& args, float* y) { MaxPoolT(x, args, y); }

QTUNE_VECTOR_CLONES void GlobalAvgPoolQ(const uint8_t* x, const AvgPoolArgs& args, uint8_t* y) {
  if (args.type.s8) {
    GlobalAvgPoolT(S8(x), args, S8(y));
  } else {
    GlobalAvgPoolT(x, args, y);
  }
}

QTUNE_VECTOR_CLONES void GlobalAvgPoolF32(const float* x, int n, int hw, int c, float* y) {
  std::vector<float> sum(c);
  for (int b = 0; b < n; ++b) {
    std::fill(sum.begin(), sum.end(), 0.0f);
    const float* image = x + static_cast<size_t>(b) * hw * c;
    for (int p = 0; p < hw; ++p) {
      for (int ch = 0; ch < c; ++ch) sum[ch] += image[static_cast<size_t>(p) * c + ch];
    }
    for (int ch = 0; ch < c; ++ch) y[static_cast<size_t>(b) * c + ch] = sum[ch] / static_cast<float>(hw);
  }
}

QTUNE_VECTOR_CLONES void ClampQ(const uint8_t* x, size_t count, int32_t lo, int32_t hi, QType type, uint8_t* y) {
  if (type.s8) {
    ClampT(S8(x), count, static_cast<int8_t>(lo), static_cast<int8_t>(hi), S8(y));
  } else {
    ClampT(x, count, static_cast<uint8_t>(lo), static_cast<uint8_t>(hi), y);
  }
}

QTUNE_VECTOR_CLONES void ClampF32(const float* x, size_t count, float lo, float hi, float* y) {
  for (size_t i = 0; i < count; ++i) {
    float v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
}

}  // namespace qtune::runtime::fast
