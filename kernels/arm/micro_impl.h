// File: micro_impl.h (internal)
// The AArch64 microkernel templates (see micro.h). Included by one source
// file per ISA, each compiled with its own -march; every function here is
// `static inline` or a template, so each file gets its own copy built for
// its ISA and nothing crosses over to a CPU that lacks it.
//
// Loop structure, for every tap t and input-channel step:
//   sdot  (MR x NR c4):  acc[m][j] += B[j] . A[m].s[l]      (4 channels per lane)
//   smmla (MR x NR c8):  acc[p][q] += A[p] (2 rows x 8) * B[q] (2 cols x 8)^T
//   smlal (MR x NR):     acc[m][j] += B[j] (s16) * A[m].h[l]  (16-bit widening)
//   fmla  (MR x NR):     acc[m][j] += B[j] * A[m].s[l]
// A (activations) comes from MR row pointers: 16-byte loads covering 4 steps
// when the registers allow (accumulators + A + B <= 28 of 32), else 4-byte
// loads per step. B (packed weights) is read sequentially.
#ifndef QTUNE_KERNELS_ARM_MICRO_IMPL_H_
#define QTUNE_KERNELS_ARM_MICRO_IMPL_H_

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/arm/micro.h"

// Full unrolling of the tile loops: their bounds are template constants, and
// the accumulators must stay in registers.
#define QTUNE_UNROLL _Pragma("GCC unroll 64")

namespace qtune::kernels::arm {
namespace {

// ---------------------------------------------------------------------------
// Loads
// ---------------------------------------------------------------------------

// 16 bytes as one `ldr q`, or as `ldr d` + `ldr x` + `ins v.d[1], x`: the
// Cortex-A55 form (a 128-bit load blocks its load pipe for two cycles, 64-bit
// loads dual-issue with the arithmetic).
// Both are inline assembly so that the compiler keeps them as written: it
// would otherwise pair neighbouring q loads into `ldp`, which the Cortex-A76
// class (llvm-mca's neoverse-n1 model) splits into 3 micro-ops for 2 loads.
template <LoadVariant L>
inline uint8x16_t LoadBytes(const void* p) {
  using Bytes8 = const uint8_t(*)[8];
  using Bytes16 = const uint8_t(*)[16];
  uint8x16_t v;
  if constexpr (L == LoadVariant::kQ) {
    asm("ldr %q0, %1" : "=w"(v) : "m"(*static_cast<Bytes16>(p)));
  } else {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    uint64_t hi;
    asm("ldr %d0, %1" : "=w"(v) : "m"(*reinterpret_cast<Bytes8>(b)));
    asm("ldr %0, %1" : "=r"(hi) : "m"(*reinterpret_cast<Bytes8>(b + 8)));
    asm("ins %0.d[1], %1" : "+w"(v) : "r"(hi));
  }
  return v;
}

template <LoadVariant L>
inline int8x16_t LoadS8(const int8_t* p) { return vreinterpretq_s8_u8(LoadBytes<L>(p)); }
template <LoadVariant L>
inline int16x8_t LoadS16(const int16_t* p) { return vreinterpretq_s16_u8(LoadBytes<L>(p)); }
template <LoadVariant L>
inline float32x4_t LoadF32(const float* p) { return vreinterpretq_f32_u8(LoadBytes<L>(p)); }

// 4 bytes into lane 0 (`ldr s`: a load-pipe-only instruction; ld1r or an
// insert would also occupy a vector pipe).
inline uint8x16_t Load32(const void* p) {
  float32x4_t v;
  asm("ldr %s0, [%1]" : "=w"(v) : "r"(p), "m"(*static_cast<const uint8_t(*)[4]>(p)));
  return vreinterpretq_u8_f32(v);
}

// 8 bytes into the low half (`ldr d`).
inline int8x8_t Load64(const int8_t* p) { return vld1_s8(p); }

// ---------------------------------------------------------------------------
// Accumulator set-up and epilogue
// ---------------------------------------------------------------------------

// Row `m` of the partial sums, or the bias, as NR/4 vectors.
inline int32x4_t LoadAcc(const int32_t* p) { return vld1q_s32(p); }
inline float32x4_t LoadAcc(const float* p) { return vld1q_f32(p); }
inline void StoreAcc(int32_t* p, int32x4_t v) { vst1q_s32(p, v); }
inline void StoreAcc(float* p, float32x4_t v) { vst1q_f32(p, v); }

// Initial accumulators of row vectors: the partial sums of the previous
// channel block, or the bias.
template <int MR, int NV, typename V, typename T>
inline void InitRows(V (&acc)[MR][NV], const MicroArgs& a) {
  QTUNE_UNROLL for (int m = 0; m < MR; ++m) {
    QTUNE_UNROLL for (int j = 0; j < NV; ++j) {
      acc[m][j] = a.load_acc ? LoadAcc(static_cast<const T*>(a.acc) + m * NV * 4 + 4 * j)
                             : LoadAcc(static_cast<const T*>(a.bias) + 4 * j);
    }
  }
}

// Requantises one row of NV vectors into u8 and stores `cols` of them.
template <int NV>
inline void StoreRowU8(const int32x4_t (&acc)[NV], const float* scale, const Epilogue& ep,
                       uint8_t* out, int cols) {
  const float32x4_t lo = vdupq_n_f32(ep.lo), hi = vdupq_n_f32(ep.hi);
  const int32x4_t zp = vdupq_n_s32(ep.zero_point);
  int32x4_t q[(NV + 1) / 2 * 2];
  QTUNE_UNROLL for (int j = 0; j < NV; ++j) {
    // Same steps as reference Requantize(): float(acc) * scale, clamp to the
    // integer bounds (equivalent to clamping after rounding), round to
    // nearest even (fcvtns), add the zero point.
    float32x4_t f = vmulq_f32(vcvtq_f32_s32(acc[j]), vld1q_f32(scale + 4 * j));
    f = vminq_f32(vmaxq_f32(f, lo), hi);
    q[j] = vaddq_s32(vcvtnq_s32_f32(f), zp);
  }
  if constexpr (NV % 2 == 1) q[NV] = vdupq_n_s32(0);
  alignas(16) uint8_t bytes[(NV + 1) / 2 * 8];
  QTUNE_UNROLL for (int j = 0; j < NV; j += 2) {
    const int16x8_t h = vcombine_s16(vqmovn_s32(q[j]), vqmovn_s32(q[j + 1]));
    vst1_u8(bytes + 4 * j, vqmovun_s16(h));
  }
  if (cols == NV * 4) {
    std::memcpy(out, bytes, NV * 4);
  } else {
    std::memcpy(out, bytes, static_cast<size_t>(cols));
  }
}

template <int NV>
inline void StoreRowF32(float32x4_t (&acc)[NV], const Epilogue& ep, float* out, int cols) {
  QTUNE_UNROLL for (int j = 0; j < NV; ++j) {
    if (ep.clamp_lo) acc[j] = vmaxq_f32(acc[j], vdupq_n_f32(ep.lo));
    if (ep.clamp_hi) acc[j] = vminq_f32(acc[j], vdupq_n_f32(ep.hi));
  }
  if (cols == NV * 4) {
    QTUNE_UNROLL for (int j = 0; j < NV; ++j) vst1q_f32(out + 4 * j, acc[j]);
  } else {
    alignas(16) float tmp[NV * 4];
    QTUNE_UNROLL for (int j = 0; j < NV; ++j) vst1q_f32(tmp + 4 * j, acc[j]);
    std::memcpy(out, tmp, static_cast<size_t>(cols) * sizeof(float));
  }
}

// Stores rows of row vectors: partial sums, or the final outputs.
template <int MR, int NV, typename V, typename T>
inline void FinishRows(V (&acc)[MR][NV], const MicroArgs& a) {
  if (!a.store_out) {
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) {
      QTUNE_UNROLL for (int j = 0; j < NV; ++j) StoreAcc(static_cast<T*>(a.acc) + m * NV * 4 + 4 * j, acc[m][j]);
    }
    return;
  }
  QTUNE_UNROLL for (int m = 0; m < MR; ++m) {
    if (m >= a.rows) break;
    if constexpr (std::is_same_v<T, int32_t>) {
      StoreRowU8<NV>(acc[m], a.scale, *a.ep,
                     static_cast<uint8_t*>(a.out) + m * a.out_stride, a.cols);
    } else {
      StoreRowF32<NV>(acc[m], *a.ep, static_cast<float*>(a.out) + m * a.out_stride, a.cols);
    }
  }
}

// Registers: whether A fits as 16-byte loads (one per row) next to the
// accumulators and one step's B vectors.
constexpr bool WideA(int accumulators, int a_regs, int b_regs) {
  return accumulators + a_regs + b_regs <= 28;
}

// ---------------------------------------------------------------------------
// int8 by sdot: weights [t][c/4][NR][4] s8, inputs s8 (u8 ^ 0x80)
// ---------------------------------------------------------------------------
#if defined(__ARM_FEATURE_DOTPROD)
template <int MR, int NR, LoadVariant L>
void DotKernel(const MicroArgs& a) {
  constexpr int NV = NR / 4;
  constexpr bool kWideA = WideA(MR * NV, MR, NV);
  int32x4_t acc[MR][NV];
  InitRows<MR, NV, int32x4_t, int32_t>(acc, a);
  const int8_t* const w = static_cast<const int8_t*>(a.w);
  for (int t = 0; t < a.num_taps; ++t) {
    const int8_t* x[MR];
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) x[m] = static_cast<const int8_t*>(a.x[m]) + a.taps[t];
    const int8_t* wt = w + (static_cast<ptrdiff_t>(t) * a.cp + a.c_begin) * NR;
    int c = a.c_begin;
    if constexpr (kWideA) {
      for (; c + 16 <= a.c_end; c += 16) {
        int8x16_t av[MR];
        QTUNE_UNROLL for (int m = 0; m < MR; ++m) av[m] = LoadS8<L>(x[m] + c);
#define QTUNE_DOT_STEP(l)                                                            \
  {                                                                                  \
    int8x16_t b[NV];                                                                 \
    QTUNE_UNROLL for (int j = 0; j < NV; ++j) b[j] = LoadS8<L>(wt + ((l) * NV + j) * 16);         \
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) {                                                   \
      QTUNE_UNROLL for (int j = 0; j < NV; ++j) acc[m][j] = vdotq_laneq_s32(acc[m][j], b[j], av[m], l); \
    }                                                                                \
  }
        QTUNE_DOT_STEP(0) QTUNE_DOT_STEP(1) QTUNE_DOT_STEP(2) QTUNE_DOT_STEP(3)
#undef QTUNE_DOT_STEP
        wt += 16 * NR;
      }
    }
    for (; c < a.c_end; c += 4) {
      int8x16_t b[NV];
      QTUNE_UNROLL for (int j = 0; j < NV; ++j) b[j] = LoadS8<L>(wt + j * 16);
      QTUNE_UNROLL for (int m = 0; m < MR; ++m) {
        const int8x16_t av = vreinterpretq_s8_u8(Load32(x[m] + c));
        QTUNE_UNROLL for (int j = 0; j < NV; ++j) acc[m][j] = vdotq_laneq_s32(acc[m][j], b[j], av, 0);
      }
      wt += 4 * NR;
    }
  }
  FinishRows<MR, NV, int32x4_t, int32_t>(acc, a);
}
#endif

// ---------------------------------------------------------------------------
// int8 by smmla: weights [t][c/8][NR][8] s8 (column pairs = 16 bytes)
// ---------------------------------------------------------------------------
#if defined(__ARM_FEATURE_MATMUL_INT8)
inline int32x4_t Lo64(int32x4_t a, int32x4_t b) {
  return vreinterpretq_s32_s64(vzip1q_s64(vreinterpretq_s64_s32(a), vreinterpretq_s64_s32(b)));
}
inline int32x4_t Hi64(int32x4_t a, int32x4_t b) {
  return vreinterpretq_s32_s64(vzip2q_s64(vreinterpretq_s64_s32(a), vreinterpretq_s64_s32(b)));
}
inline int8x16_t Lo64(int8x16_t a, int8x16_t b) {
  return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
inline int8x16_t Hi64(int8x16_t a, int8x16_t b) {
  return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}

// acc[p][q] holds the 2x2 block rows (2p, 2p+1) x columns (2q, 2q+1) as
// {(0,0), (0,1), (1,0), (1,1)}; row vectors convert with 64-bit zips.
template <int MR, int NR, LoadVariant L>
void MmlaKernel(const MicroArgs& a) {
  constexpr int MP = MR / 2, NP = NR / 2, NV = NR / 4;
  constexpr bool kWideA = WideA(MP * NP, 2 * MP, 2);
  int32x4_t acc[MP][NP];
  QTUNE_UNROLL for (int p = 0; p < MP; ++p) {
    QTUNE_UNROLL for (int j = 0; j < NV; ++j) {
      int32x4_t r0, r1;
      if (a.load_acc) {
        r0 = vld1q_s32(static_cast<const int32_t*>(a.acc) + (2 * p) * NR + 4 * j);
        r1 = vld1q_s32(static_cast<const int32_t*>(a.acc) + (2 * p + 1) * NR + 4 * j);
      } else {
        r0 = r1 = vld1q_s32(static_cast<const int32_t*>(a.bias) + 4 * j);
      }
      acc[p][2 * j] = Lo64(r0, r1);
      acc[p][2 * j + 1] = Hi64(r0, r1);
    }
  }
  const int8_t* const w = static_cast<const int8_t*>(a.w);
  for (int t = 0; t < a.num_taps; ++t) {
    const int8_t* x[MR];
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) x[m] = static_cast<const int8_t*>(a.x[m]) + a.taps[t];
    const int8_t* wt = w + (static_cast<ptrdiff_t>(t) * a.cp + a.c_begin) * NR;
    int c = a.c_begin;
    if constexpr (kWideA) {
      for (; c + 16 <= a.c_end; c += 16) {
        int8x16_t a0[MP], a1[MP];
        QTUNE_UNROLL for (int p = 0; p < MP; ++p) {
          const int8x16_t r0 = LoadS8<L>(x[2 * p] + c), r1 = LoadS8<L>(x[2 * p + 1] + c);
          a0[p] = Lo64(r0, r1);
          a1[p] = Hi64(r0, r1);
        }
        QTUNE_UNROLL for (int q = 0; q < NP; ++q) {
          const int8x16_t b = LoadS8<L>(wt + q * 16);
          QTUNE_UNROLL for (int p = 0; p < MP; ++p) acc[p][q] = vmmlaq_s32(acc[p][q], a0[p], b);
        }
        QTUNE_UNROLL for (int q = 0; q < NP; ++q) {
          const int8x16_t b = LoadS8<L>(wt + 8 * NR + q * 16);
          QTUNE_UNROLL for (int p = 0; p < MP; ++p) acc[p][q] = vmmlaq_s32(acc[p][q], a1[p], b);
        }
        wt += 16 * NR;
      }
    }
    for (; c < a.c_end; c += 8) {
      int8x16_t av[MP];
      QTUNE_UNROLL for (int p = 0; p < MP; ++p) {
        av[p] = vcombine_s8(Load64(x[2 * p] + c), Load64(x[2 * p + 1] + c));
      }
      QTUNE_UNROLL for (int q = 0; q < NP; ++q) {
        const int8x16_t b = LoadS8<L>(wt + q * 16);
        QTUNE_UNROLL for (int p = 0; p < MP; ++p) acc[p][q] = vmmlaq_s32(acc[p][q], av[p], b);
      }
      wt += 8 * NR;
    }
  }
  int32x4_t rows[MR][NV];
  QTUNE_UNROLL for (int p = 0; p < MP; ++p) {
    QTUNE_UNROLL for (int j = 0; j < NV; ++j) {
      rows[2 * p][j] = Lo64(acc[p][2 * j], acc[p][2 * j + 1]);
      rows[2 * p + 1][j] = Hi64(acc[p][2 * j], acc[p][2 * j + 1]);
    }
  }
  FinishRows<MR, NV, int32x4_t, int32_t>(rows, a);
}
#endif

// ---------------------------------------------------------------------------
// int8 without dot products: weights [t][c][NR] s16, inputs s8 widened to
// s16 in the kernel; smlal by element, exact (|x * w| <= 2^14).
// ---------------------------------------------------------------------------
template <int MR, int NR, LoadVariant L>
void NeonS8Kernel(const MicroArgs& a) {
  static_assert(NR % 8 == 0, "16-bit weight rows are whole vectors of 8");
  constexpr int NV = NR / 4, NB = NR / 8;
  int32x4_t acc[MR][NV];
  InitRows<MR, NV, int32x4_t, int32_t>(acc, a);
  const int16_t* const w = static_cast<const int16_t*>(a.w);
  for (int t = 0; t < a.num_taps; ++t) {
    const int8_t* x[MR];
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) x[m] = static_cast<const int8_t*>(a.x[m]) + a.taps[t];
    const int16_t* wt = w + (static_cast<ptrdiff_t>(t) * a.cp + a.c_begin) * NR;
    int c = a.c_begin;
#define QTUNE_MLAL_STEP(l)                                                               \
  {                                                                                      \
    int16x8_t b[NB];                                                                     \
    QTUNE_UNROLL for (int j = 0; j < NB; ++j) b[j] = LoadS16<L>(wt + (l) * NR + 8 * j);               \
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) {                                                       \
      QTUNE_UNROLL for (int j = 0; j < NB; ++j) {                                                     \
        acc[m][2 * j] = vmlal_laneq_s16(acc[m][2 * j], vget_low_s16(b[j]), av[m], l);    \
        acc[m][2 * j + 1] = vmlal_high_laneq_s16(acc[m][2 * j + 1], b[j], av[m], l);     \
      }                                                                                  \
    }                                                                                    \
  }
    for (; c + 8 <= a.c_end; c += 8) {
      int16x8_t av[MR];
      QTUNE_UNROLL for (int m = 0; m < MR; ++m) av[m] = vmovl_s8(Load64(x[m] + c));
      QTUNE_MLAL_STEP(0) QTUNE_MLAL_STEP(1) QTUNE_MLAL_STEP(2) QTUNE_MLAL_STEP(3)
      QTUNE_MLAL_STEP(4) QTUNE_MLAL_STEP(5) QTUNE_MLAL_STEP(6) QTUNE_MLAL_STEP(7)
      wt += 8 * NR;
    }
    if (c < a.c_end) {  // 4 channels left (c_end is a multiple of 4)
      int16x8_t av[MR];
      QTUNE_UNROLL for (int m = 0; m < MR; ++m) {
        av[m] = vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(Load32(x[m] + c))));
      }
      QTUNE_MLAL_STEP(0) QTUNE_MLAL_STEP(1) QTUNE_MLAL_STEP(2) QTUNE_MLAL_STEP(3)
    }
#undef QTUNE_MLAL_STEP
  }
  FinishRows<MR, NV, int32x4_t, int32_t>(acc, a);
}

// ---------------------------------------------------------------------------
// fp32 by fmla: weights [t][c][NR] float
// ---------------------------------------------------------------------------
template <int MR, int NR, LoadVariant L>
void FmlaKernel(const MicroArgs& a) {
  constexpr int NV = NR / 4;
  constexpr bool kWideA = WideA(MR * NV, MR, NV);
  float32x4_t acc[MR][NV];
  InitRows<MR, NV, float32x4_t, float>(acc, a);
  const float* const w = static_cast<const float*>(a.w);
  for (int t = 0; t < a.num_taps; ++t) {
    const float* x[MR];
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) x[m] = static_cast<const float*>(a.x[m]) + a.taps[t];
    const float* wt = w + (static_cast<ptrdiff_t>(t) * a.cp + a.c_begin) * NR;
    int c = a.c_begin;
    if constexpr (kWideA) {
      for (; c + 4 <= a.c_end; c += 4) {
        float32x4_t av[MR];
        QTUNE_UNROLL for (int m = 0; m < MR; ++m) av[m] = LoadF32<L>(x[m] + c);
#define QTUNE_FMLA_STEP(l)                                                             \
  {                                                                                    \
    float32x4_t b[NV];                                                                 \
    QTUNE_UNROLL for (int j = 0; j < NV; ++j) b[j] = LoadF32<L>(wt + (l) * NR + 4 * j);             \
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) {                                                     \
      QTUNE_UNROLL for (int j = 0; j < NV; ++j) acc[m][j] = vfmaq_laneq_f32(acc[m][j], b[j], av[m], l); \
    }                                                                                  \
  }
        QTUNE_FMLA_STEP(0) QTUNE_FMLA_STEP(1) QTUNE_FMLA_STEP(2) QTUNE_FMLA_STEP(3)
#undef QTUNE_FMLA_STEP
        wt += 4 * NR;
      }
    }
    for (; c < a.c_end; ++c) {
      float32x4_t b[NV];
      QTUNE_UNROLL for (int j = 0; j < NV; ++j) b[j] = LoadF32<L>(wt + 4 * j);
      QTUNE_UNROLL for (int m = 0; m < MR; ++m) {
        const float32x4_t av = vreinterpretq_f32_u8(Load32(x[m] + c));
        QTUNE_UNROLL for (int j = 0; j < NV; ++j) acc[m][j] = vfmaq_laneq_f32(acc[m][j], b[j], av, 0);
      }
      wt += NR;
    }
  }
  FinishRows<MR, NV, float32x4_t, float>(acc, a);
}

// The microkernel of `tile` from a template K<MR, NR, L> with a static
// Run(const MicroArgs&) and kValid (whether the tile exists for it), or null.
template <template <int, int, LoadVariant> class K>
MicroFn Lookup(Tile tile, LoadVariant load) {
#define QTUNE_ARM_TILE(M, N)                                                              \
  if (tile.mr == M && tile.nr == N) {                                                     \
    if constexpr (K<M, N, LoadVariant::kQ>::kValid) {                                      \
      return load == LoadVariant::kQ ? &K<M, N, LoadVariant::kQ>::Run                      \
                                     : &K<M, N, LoadVariant::kLd64>::Run;                  \
    }                                                                                     \
    return nullptr;                                                                       \
  }
  QTUNE_ARM_TILE(1, 16) QTUNE_ARM_TILE(2, 16) QTUNE_ARM_TILE(4, 8)
  QTUNE_ARM_TILE(4, 16) QTUNE_ARM_TILE(8, 8) QTUNE_ARM_TILE(8, 12)
#undef QTUNE_ARM_TILE
  return nullptr;
}

}  // namespace
}  // namespace qtune::kernels::arm

#endif  // QTUNE_KERNELS_ARM_MICRO_IMPL_H_
