// File: micro_impl.h (internal)
// The depthwise microkernels, written once and compiled by each ISA
// translation unit (micro_*.cc) with its own target flags. A "vector" is 16
// lanes (kLanes channels) held as kParts native registers (1 zmm, 2 ymm or 4
// xmm/NEON): GCC keeps arrays of native vectors in registers, while a single
// 64-byte generic vector without AVX-512 would live on the stack. The few
// operations without a portable vector-extension spelling (widening, 16-bit
// multiply-add, narrowing, masked tails) use the ISA's intrinsics.
//
// Everything here has internal linkage (unnamed namespace), so every
// translation unit keeps its own copy; only the MicroSet each unit defines is
// visible outside. Include exactly once per translation unit, then define
// the unit's MicroSet with MakeMicroSet<kMaxAccumulators>().
#ifndef QTUNE_KERNELS_DEPTHWISE_MICRO_IMPL_H_
#define QTUNE_KERNELS_DEPTHWISE_MICRO_IMPL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define QTUNE_DW_AVX512 1
#elif defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "kernels/depthwise/micro.h"

namespace qtune::kernels::depthwise {
namespace {

#if defined(QTUNE_DW_AVX512)
constexpr int kNativeLanes = 16;
#elif defined(__AVX2__)
constexpr int kNativeLanes = 8;
#else
constexpr int kNativeLanes = 4;
#endif
constexpr int kParts = kLanes / kNativeLanes;

typedef uint8_t U8x16 __attribute__((vector_size(16)));

// 16 lanes of T as kParts native vectors.
template <typename T>
struct Vec {
  typedef T Native __attribute__((vector_size(kNativeLanes * sizeof(T))));
  Native p[kParts];

  static Vec Splat(T x) {
    Vec r;
    for (int k = 0; k < kParts; ++k) r.p[k] = Native{} + x;
    return r;
  }
  static Vec Load(const T* src) {
    Vec r;
    for (int k = 0; k < kParts; ++k) std::memcpy(&r.p[k], src + k * kNativeLanes, sizeof(Native));
    return r;
  }
  void Store(T* dst) const {
    for (int k = 0; k < kParts; ++k) std::memcpy(dst + k * kNativeLanes, &p[k], sizeof(Native));
  }
};
using U32v = Vec<uint32_t>;
using I32v = Vec<int32_t>;
using F32v = Vec<float>;

// The first `n` (any int) elements at `src`, the rest 0.
inline F32v LoadPartial(const float* src, int n) {
  if (n >= kLanes) return F32v::Load(src);
  F32v r = F32v::Splat(0.0f);
  if (n <= 0) return r;
#if defined(QTUNE_DW_AVX512)
  const __m512 x = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), src);
  std::memcpy(&r, &x, sizeof(r));
#else
  float buf[kLanes] = {};
  std::memcpy(buf, src, static_cast<size_t>(n) * sizeof(float));
  r = F32v::Load(buf);
#endif
  return r;
}

inline U8x16 LoadPartial(const uint8_t* src, int n) {
  U8x16 r{};
  if (n >= kLanes) {
    std::memcpy(&r, src, sizeof(r));
  } else if (n > 0) {
#if defined(QTUNE_DW_AVX512)
    const __m128i x = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << n) - 1), src);
    std::memcpy(&r, &x, sizeof(r));
#else
    std::memcpy(&r, src, static_cast<size_t>(n));
#endif
  }
  return r;
}

// Stores the first `n` elements (n >= kLanes: all) of 16 lanes at `dst`.
inline void StorePartial(float* dst, const F32v& v, int n) {
  if (n >= kLanes) return v.Store(dst);
  if (n <= 0) return;
#if defined(QTUNE_DW_AVX512)
  __m512 x;
  std::memcpy(&x, &v, sizeof(x));
  _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << n) - 1), x);
#else
  float buf[kLanes];
  v.Store(buf);
  std::memcpy(dst, buf, static_cast<size_t>(n) * sizeof(float));
#endif
}

inline void StorePartial(uint8_t* dst, U8x16 v, int n) {
  if (n >= kLanes) {
    std::memcpy(dst, &v, sizeof(v));
  } else if (n > 0) {
#if defined(QTUNE_DW_AVX512)
    __m128i x;
    std::memcpy(&x, &v, sizeof(x));
    _mm_mask_storeu_epi8(dst, static_cast<__mmask16>((1u << n) - 1), x);
#else
    std::memcpy(dst, &v, static_cast<size_t>(n));
#endif
  }
}

// Widens 16 bytes to 16 lanes of 32 bits: zero-extends u8, sign-extends
// s8 (kS8).
template <bool kS8>
inline U32v Widen(U8x16 x) {
  U32v r;
#if defined(QTUNE_DW_AVX512)
  __m128i v;
  std::memcpy(&v, &x, sizeof(v));
  // The maskz forms: the unmasked intrinsics trip -Wmaybe-uninitialized in GCC 12.
  const __m512i w = kS8 ? _mm512_maskz_cvtepi8_epi32(static_cast<__mmask16>(0xFFFF), v)
                        : _mm512_maskz_cvtepu8_epi32(static_cast<__mmask16>(0xFFFF), v);
  std::memcpy(&r.p[0], &w, sizeof(w));
#elif defined(__AVX2__)
  __m128i v;
  std::memcpy(&v, &x, sizeof(v));
  const __m128i v1 = _mm_srli_si128(v, 8);
  const __m256i w0 = kS8 ? _mm256_cvtepi8_epi32(v) : _mm256_cvtepu8_epi32(v);
  const __m256i w1 = kS8 ? _mm256_cvtepi8_epi32(v1) : _mm256_cvtepu8_epi32(v1);
  std::memcpy(&r.p[0], &w0, sizeof(w0));
  std::memcpy(&r.p[1], &w1, sizeof(w1));
#elif defined(__SSE2__)
  __m128i v;
  std::memcpy(&v, &x, sizeof(v));
  __m128i w[4];
  if constexpr (kS8) {
    // Each byte into the high half of its 16/32-bit lane, then arithmetic
    // shifts back down.
    const __m128i lo = _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
    const __m128i hi = _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
    w[0] = _mm_srai_epi32(_mm_unpacklo_epi16(lo, lo), 16);
    w[1] = _mm_srai_epi32(_mm_unpackhi_epi16(lo, lo), 16);
    w[2] = _mm_srai_epi32(_mm_unpacklo_epi16(hi, hi), 16);
    w[3] = _mm_srai_epi32(_mm_unpackhi_epi16(hi, hi), 16);
  } else {
    const __m128i z = _mm_setzero_si128();
    const __m128i lo = _mm_unpacklo_epi8(v, z), hi = _mm_unpackhi_epi8(v, z);
    w[0] = _mm_unpacklo_epi16(lo, z);
    w[1] = _mm_unpackhi_epi16(lo, z);
    w[2] = _mm_unpacklo_epi16(hi, z);
    w[3] = _mm_unpackhi_epi16(hi, z);
  }
  for (int k = 0; k < 4; ++k) std::memcpy(&r.p[k], &w[k], sizeof(w[k]));
#elif defined(__ARM_NEON)
  uint8x16_t v;
  std::memcpy(&v, &x, sizeof(v));
  uint32x4_t w[4];
  if constexpr (kS8) {
    const int8x16_t s = vreinterpretq_s8_u8(v);
    const int16x8_t lo = vmovl_s8(vget_low_s8(s)), hi = vmovl_s8(vget_high_s8(s));
    w[0] = vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(lo)));
    w[1] = vreinterpretq_u32_s32(vmovl_s16(vget_high_s16(lo)));
    w[2] = vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(hi)));
    w[3] = vreinterpretq_u32_s32(vmovl_s16(vget_high_s16(hi)));
  } else {
    const uint16x8_t lo = vmovl_u8(vget_low_u8(v)), hi = vmovl_u8(vget_high_u8(v));
    w[0] = vmovl_u16(vget_low_u16(lo));
    w[1] = vmovl_u16(vget_high_u16(lo));
    w[2] = vmovl_u16(vget_low_u16(hi));
    w[3] = vmovl_u16(vget_high_u16(hi));
  }
  for (int k = 0; k < 4; ++k) std::memcpy(&r.p[k], &w[k], sizeof(w[k]));
#else
  using B = std::conditional_t<kS8, int8_t, uint8_t>;
  typedef B BPart __attribute__((vector_size(kNativeLanes)));
  typedef int32_t I32Part __attribute__((vector_size(kNativeLanes * 4)));
  for (int k = 0; k < kParts; ++k) {
    BPart b;
    std::memcpy(&b, reinterpret_cast<const uint8_t*>(&x) + k * kNativeLanes, sizeof(b));
    r.p[k] = reinterpret_cast<U32v::Native>(__builtin_convertvector(b, I32Part));
  }
#endif
  return r;
}

// Whether MulAddPart multiplies 16-bit halves (pmaddwd); else it multiplies
// whole 32-bit lanes.
#if defined(QTUNE_DW_AVX512) || defined(__AVX2__) || defined(__SSE2__)
constexpr bool kMadd16 = true;
#else
constexpr bool kMadd16 = false;
#endif

// acc + x * w per 32-bit lane, where one of x and w has its high 16 bits
// zero and the other is a sign-extended int8 or a u8: the 16-bit
// multiply-add instructions compute x.lo * w.lo + x.hi * w.hi = x * w + 0
// exactly, in fewer micro-ops than a 32-bit multiply (and fused with the
// addition by AVX512-VNNI vpdpwssd). u8 inputs are zero-extended (high half
// zero) against sign-extended weights; s8 inputs are sign-extended against
// weights whose high half is cleared (Int8Ops::Weight).
template <typename N>
inline N MulAddPart(N acc, N x, N w) {
#if defined(QTUNE_DW_AVX512) || defined(__AVX2__) || defined(__SSE2__)
#if defined(QTUNE_DW_AVX512)
  using R = __m512i;
#elif defined(__AVX2__)
  using R = __m256i;
#else
  using R = __m128i;
#endif
  R va, vx, vw;
  std::memcpy(&va, &acc, sizeof(R));
  std::memcpy(&vx, &x, sizeof(R));
  std::memcpy(&vw, &w, sizeof(R));
#if defined(QTUNE_DW_AVX512) && defined(__AVX512VNNI__)
  va = _mm512_dpwssd_epi32(va, vx, vw);
#elif defined(QTUNE_DW_AVX512)
  va = _mm512_add_epi32(va, _mm512_madd_epi16(vx, vw));
#elif defined(__AVX2__)
  va = _mm256_add_epi32(va, _mm256_madd_epi16(vx, vw));
#else
  va = _mm_add_epi32(va, _mm_madd_epi16(vx, vw));
#endif
  std::memcpy(&acc, &va, sizeof(R));
  return acc;
#else
  return acc + x * w;
#endif
}

// Narrows 16 lanes holding values in [0, 255] (u8) or [-128, 127] (s8,
// kS8) to bytes.
template <bool kS8>
inline U8x16 Narrow(const I32v& q) {
  U8x16 r;
#if defined(QTUNE_DW_AVX512)
  r = __builtin_convertvector(q.p[0], U8x16);  // truncation keeps either range
#elif defined(__SSE2__)
  __m128i part[4];
  std::memcpy(part, q.p, sizeof(part));
  const __m128i lo = _mm_packs_epi32(part[0], part[1]), hi = _mm_packs_epi32(part[2], part[3]);
  const __m128i packed = kS8 ? _mm_packs_epi16(lo, hi) : _mm_packus_epi16(lo, hi);
  std::memcpy(&r, &packed, sizeof(r));
#elif defined(__ARM_NEON)
  int32x4_t part[4];
  std::memcpy(part, q.p, sizeof(part));
  uint8x16_t packed;
  if constexpr (kS8) {
    const int16x8_t lo = vcombine_s16(vqmovn_s32(part[0]), vqmovn_s32(part[1]));
    const int16x8_t hi = vcombine_s16(vqmovn_s32(part[2]), vqmovn_s32(part[3]));
    packed = vreinterpretq_u8_s8(vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
  } else {
    const uint16x8_t lo = vcombine_u16(vqmovun_s32(part[0]), vqmovun_s32(part[1]));
    const uint16x8_t hi = vcombine_u16(vqmovun_s32(part[2]), vqmovun_s32(part[3]));
    packed = vcombine_u8(vqmovn_u16(lo), vqmovn_u16(hi));
  }
  std::memcpy(&r, &packed, sizeof(r));
#else
  typedef uint8_t U8Part __attribute__((vector_size(kNativeLanes)));
  for (int k = 0; k < kParts; ++k) {
    const U8Part b = __builtin_convertvector(q.p[k], U8Part);
    std::memcpy(reinterpret_cast<uint8_t*>(&r) + k * kNativeLanes, &b, sizeof(b));
  }
#endif
  return r;
}

// The int8 arithmetic, u8 or s8 (kS8) activations: acc = bias' + sum x * w
// in wrapping 32-bit lanes (bias' holds -zx * sum(w); padded taps read zx),
// then the requantisation of reference.h: clamp in float against integer
// bounds (equivalent to clamping after rounding), round to nearest even with
// the 1.5 * 2^23 addend (exact for |v| <= 2^22; the clamped v is within
// [-255, 255]), add the zero point.
template <bool kS8>
struct Int8Ops {
  using In = uint8_t;  // the element bytes, u8 or s8
  using W = int32_t;
  using Acc = U32v;

  explicit Int8Ops(const MicroArgs& a)
      : lo(F32v::Native{} + a.lo), hi(F32v::Native{} + a.hi),
        zp(I32v::Native{} + a.zero_point), scale(a.scale) {}

  static Acc Bias(const void* bias, int v) {
    return U32v::Load(reinterpret_cast<const uint32_t*>(static_cast<const int32_t*>(bias)) +
                      kLanes * v);
  }
  // The packed weights are sign-extended int8; against sign-extended s8
  // inputs the 16-bit multiply-add needs their high half cleared.
  static Acc Weight(const W* w) {
    Acc v = U32v::Load(reinterpret_cast<const uint32_t*>(w));
    if constexpr (kS8 && kMadd16) {
      for (int k = 0; k < kParts; ++k) v.p[k] &= 0xFFFFu;
    }
    return v;
  }
  template <bool kTail>
  static Acc Input(const In* p, int n) {
    if constexpr (kTail) {
      return Widen<kS8>(LoadPartial(p, n));
    } else {
      U8x16 x;
      std::memcpy(&x, p, sizeof(x));
      return Widen<kS8>(x);
    }
  }
  static void MulAdd(Acc& acc, const Acc& x, const Acc& w) {
    for (int k = 0; k < kParts; ++k) acc.p[k] = MulAddPart(acc.p[k], x.p[k], w.p[k]);
  }
  template <bool kTail>
  void Finish(const Acc& acc, int v, In* out, int n) const {
    constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
    const F32v s = F32v::Load(scale + kLanes * v);
    I32v q;
    for (int k = 0; k < kParts; ++k) {
      F32v::Native y =
          __builtin_convertvector(reinterpret_cast<I32v::Native>(acc.p[k]), F32v::Native) * s.p[k];
      y = y < lo ? lo : y;
      y = y > hi ? hi : y;
      y = (y + kRound) - kRound;
      q.p[k] = __builtin_convertvector(y, I32v::Native) + zp;
    }
    StorePartial(out, Narrow<kS8>(q), kTail ? n : kLanes);
  }

  F32v::Native lo, hi;
  I32v::Native zp;
  const float* scale;
};

// The fp32 arithmetic: acc = bias + sum x * w (padded taps read 0), then the
// activation clamp [lo, hi].
struct Fp32Ops {
  using In = float;
  using W = float;
  using Acc = F32v;

  explicit Fp32Ops(const MicroArgs& a) : lo(F32v::Native{} + a.lo), hi(F32v::Native{} + a.hi) {}

  static Acc Bias(const void* bias, int v) {
    return F32v::Load(static_cast<const float*>(bias) + kLanes * v);
  }
  static Acc Weight(const W* w) { return F32v::Load(w); }
  template <bool kTail>
  static Acc Input(const In* p, int n) {
    if constexpr (kTail) {
      return LoadPartial(p, n);
    } else {
      return F32v::Load(p);
    }
  }
  static void MulAdd(Acc& acc, const Acc& x, const Acc& w) {
    for (int k = 0; k < kParts; ++k) acc.p[k] += x.p[k] * w.p[k];
  }
  template <bool kTail>
  void Finish(const Acc& acc, int v, In* out, int n) const {
    F32v y;
    for (int k = 0; k < kParts; ++k) {
      y.p[k] = acc.p[k] < lo ? lo : acc.p[k];
      y.p[k] = y.p[k] > hi ? hi : y.p[k];
    }
    StorePartial(out, y, kTail ? n : kLanes);
  }

  F32v::Native lo, hi;
};

// The per-tap microkernel (MicroSet::int8 / fp32): for each tap, the tile's
// weight vectors once, then every pixel of the tile.
template <typename Ops, int TH, int TW, int NV, bool kTail>
void TapTile(const MicroArgs& a) {
  using In = typename Ops::In;
  using Acc = typename Ops::Acc;
  const int nt = a.num_taps;
  const In* const* taps = reinterpret_cast<const In* const*>(a.taps);
  const auto* w = static_cast<const typename Ops::W*>(a.weights);
  const ptrdiff_t ps = a.pix_step;
  Acc acc[TH][TW][NV];
  for (int v = 0; v < NV; ++v) {
    const Acc b = Ops::Bias(a.bias, v);
    for (int i = 0; i < TH; ++i) {
      for (int j = 0; j < TW; ++j) acc[i][j][v] = b;
    }
  }
  for (int t = 0; t < nt; ++t, w += NV * kLanes) {
    Acc wv[NV];
    for (int v = 0; v < NV; ++v) wv[v] = Ops::Weight(w + kLanes * v);
    for (int i = 0; i < TH; ++i) {
      const In* p = taps[i * nt + t] + a.c0;
      for (int j = 0; j < TW; ++j) {
        for (int v = 0; v < NV; ++v) {
          Ops::MulAdd(acc[i][j][v],
                      Ops::template Input<kTail>(p + j * ps + kLanes * v, a.c_valid - kLanes * v),
                      wv[v]);
        }
      }
    }
  }
  const Ops ops(a);
  for (int i = 0; i < TH; ++i) {
    In* o = static_cast<In*>(a.out[i]) + a.c0;
    for (int j = 0; j < TW; ++j) {
      for (int v = 0; v < NV; ++v) {
        ops.template Finish<kTail>(acc[i][j][v], v, o + j * a.out_step + kLanes * v,
                                   a.c_valid - kLanes * v);
      }
    }
  }
}

// The row microkernel (MicroSet::int8_row / fp32_row): for each kernel row,
// input column q of a tile row feeds output column j = (q - s) / SW for every
// tap s with (q - s) % SW == 0 and 0 <= j < TW.
template <typename Ops, int TH, int TW, int NV, int S, int SW>
void RowTile(const MicroArgs& a) {
  using In = typename Ops::In;
  using Acc = typename Ops::Acc;
  const int nt = a.num_taps;
  const int rows = nt / S;
  const In* const* taps = reinterpret_cast<const In* const*>(a.taps);
  const ptrdiff_t cs = a.out_step;
  const auto* w = static_cast<const typename Ops::W*>(a.weights);
  Acc acc[TH][TW][NV];
#pragma GCC unroll 64
  for (int v = 0; v < NV; ++v) {
    const Acc b = Ops::Bias(a.bias, v);
#pragma GCC unroll 64
    for (int i = 0; i < TH; ++i) {
#pragma GCC unroll 64
      for (int j = 0; j < TW; ++j) acc[i][j][v] = b;
    }
  }
  constexpr int kCols = (TW - 1) * SW + S;
  for (int r = 0; r < rows; ++r, w += S * NV * kLanes) {
    Acc wv[S][NV];
#pragma GCC unroll 64
    for (int s = 0; s < S; ++s) {
#pragma GCC unroll 64
      for (int v = 0; v < NV; ++v) wv[s][v] = Ops::Weight(w + (s * NV + v) * kLanes);
    }
#pragma GCC unroll 64
    for (int i = 0; i < TH; ++i) {
      const In* p = taps[i * nt + r * S] + a.c0;
#pragma GCC unroll 64
      for (int q = 0; q < kCols; ++q) {
        Acc x[NV];
#pragma GCC unroll 64
        for (int v = 0; v < NV; ++v) x[v] = Ops::template Input<false>(p + q * cs + kLanes * v, 0);
#pragma GCC unroll 64
        for (int s = 0; s < S; ++s) {
          const int d = q - s;
          if (d < 0 || d % SW != 0 || d / SW >= TW) continue;
#pragma GCC unroll 64
          for (int v = 0; v < NV; ++v) Ops::MulAdd(acc[i][d / SW][v], x[v], wv[s][v]);
        }
      }
    }
  }
  const Ops ops(a);
#pragma GCC unroll 64
  for (int i = 0; i < TH; ++i) {
    In* o = static_cast<In*>(a.out[i]) + a.c0;
#pragma GCC unroll 64
    for (int j = 0; j < TW; ++j) {
#pragma GCC unroll 64
      for (int v = 0; v < NV; ++v) {
        ops.template Finish<false>(acc[i][j][v], v, o + j * a.out_step + kLanes * v, kLanes);
      }
    }
  }
}

// Calls fn.template operator()<TH, TW, NV>() for every combination of the
// knob values (micro.h) with TH * TW * NV <= kMaxAcc.
template <int kMaxAcc, typename Fn>
void ForEachTile(const Fn& fn) {
  auto one = [&]<int TH, int TW, int NV>() {
    if constexpr (TH * TW * NV <= kMaxAcc) fn.template operator()<TH, TW, NV>();
  };
  auto per_nv = [&]<int TH, int TW>() {
    one.template operator()<TH, TW, 1>();
    one.template operator()<TH, TW, 2>();
    one.template operator()<TH, TW, 3>();
    one.template operator()<TH, TW, 4>();
  };
  auto per_tw = [&]<int TH>() {
    per_nv.template operator()<TH, 1>();
    per_nv.template operator()<TH, 2>();
    per_nv.template operator()<TH, 4>();
    per_nv.template operator()<TH, 8>();
  };
  per_tw.template operator()<1>();
  per_tw.template operator()<2>();
  per_tw.template operator()<4>();
}

template <int kMaxAcc, template <int, int, int, bool> class Fn>
Micro Lookup(int th, int tw, int nv, bool tail) {
  Micro found = nullptr;
  ForEachTile<kMaxAcc>([&]<int TH, int TW, int NV>() {
    if (th == TH && tw == TW && nv == NV) {
      found = tail ? Fn<TH, TW, NV, true>::kFn : Fn<TH, TW, NV, false>::kFn;
    }
  });
  return found;
}

// The row microkernels: every tile of ForEachTile for each of kRowShapes.
template <int kMaxAcc, template <int, int, int, int, int> class Fn>
Micro LookupRow(int th, int tw, int nv, int s, int sw) {
  Micro found = nullptr;
  ForEachTile<kMaxAcc>([&]<int TH, int TW, int NV>() {
    if (th != TH || tw != TW || nv != NV) return;
    auto shape = [&]<int S, int SW>() {
      if (s == S && sw == SW) found = Fn<TH, TW, NV, S, SW>::kFn;
    };
    shape.template operator()<3, 1>();
    shape.template operator()<3, 2>();
    shape.template operator()<5, 1>();
    shape.template operator()<5, 2>();
  });
  return found;
}

template <int TH, int TW, int NV, bool kTail>
struct Int8Fn {
  static constexpr Micro kFn = &TapTile<Int8Ops<false>, TH, TW, NV, kTail>;
};
template <int TH, int TW, int NV, bool kTail>
struct Int8S8Fn {
  static constexpr Micro kFn = &TapTile<Int8Ops<true>, TH, TW, NV, kTail>;
};
template <int TH, int TW, int NV, bool kTail>
struct Fp32Fn {
  static constexpr Micro kFn = &TapTile<Fp32Ops, TH, TW, NV, kTail>;
};

template <int TH, int TW, int NV, int S, int SW>
struct RowInt8Fn {
  static constexpr Micro kFn = &RowTile<Int8Ops<false>, TH, TW, NV, S, SW>;
};
template <int TH, int TW, int NV, int S, int SW>
struct RowInt8S8Fn {
  static constexpr Micro kFn = &RowTile<Int8Ops<true>, TH, TW, NV, S, SW>;
};
template <int TH, int TW, int NV, int S, int SW>
struct RowFp32Fn {
  static constexpr Micro kFn = &RowTile<Fp32Ops, TH, TW, NV, S, SW>;
};

template <int kMaxAcc>
MicroSet MakeMicroSet() {
  static_assert(sizeof(kTileHValues) / sizeof(int) == 3 && kMaxVectors == 4,
                "Lookup() enumerates the knob values; keep them in sync");
  static_assert(sizeof(kRowShapes) / sizeof(kRowShapes[0]) == 4,
                "LookupRow() enumerates kRowShapes; keep them in sync");
  return MicroSet{kMaxAcc,
                  &Lookup<kMaxAcc, Int8Fn>,
                  &Lookup<kMaxAcc, Int8S8Fn>,
                  &Lookup<kMaxAcc, Fp32Fn>,
                  &LookupRow<kMaxAcc, RowInt8Fn>,
                  &LookupRow<kMaxAcc, RowInt8S8Fn>,
                  &LookupRow<kMaxAcc, RowFp32Fn>};
}

}  // namespace
}  // namespace qtune::kernels::depthwise

#endif  // QTUNE_KERNELS_DEPTHWISE_MICRO_IMPL_H_
