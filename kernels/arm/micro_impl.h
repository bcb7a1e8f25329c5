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

// Requantises one row of NV vectors into u8 or s8 (the clamp bounds decide)
// and stores `cols` of them.
template <int NV>
inline void StoreRowInt8(const int32x4_t (&acc)[NV], const float* scale, const Epilogue& ep,
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
  // Every q lies in [output_min, output_max], inside the u8 or s8 range, so
  // truncating narrows (xtn) give the output bytes of either type.
  alignas(16) uint8_t bytes[(NV + 1) / 2 * 8];
  QTUNE_UNROLL for (int j = 0; j < NV; j += 2) {
    const int16x8_t h = vcombine_s16(vmovn_s32(q[j]), vmovn_s32(q[j + 1]));
    vst1_u8(bytes + 4 * j, vreinterpret_u8_s8(vmovn_s16(h)));
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
      StoreRowInt8<NV>(acc[m], a.scale, *a.ep,
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
// int8 by sdot: weights [t][c/4][NR][4] s8, inputs s8 (u8 inputs as u8 ^ 0x80)
// ---------------------------------------------------------------------------
#if defined(__ARM_FEATURE_DOTPROD)
// The 4x16 sdot kernel scheduled by hand for in-order cores (Cortex-A55),
// for channel ranges that are whole multiples of 16: accumulators stay in
// v16-v31 across every tap; per inner iteration (16 channels) each 128-bit
// load is `ldr d` + `ldr x` + `ins`, interleaved one to one with the sdots
// so that the core dual-issues them; the next step's weights load while the
// current step multiplies (v4-v7 / v8-v11 alternate) and each activation
// row reloads after its last use. The last iteration of a tap reads up to
// 64 bytes of weights and 16 bytes of each row ahead (the buffers have that
// slack, see arm_conv.cc). `tile` holds the 4x16 accumulators (row-major);
// x* point at channel c_begin of tap 0's offset 0; n >= 1 iterations per
// tap; wskip = weight bytes between one tap's channel range and the next's.
inline void Dot4x16A55(int32_t* tile, const int8_t* x0, const int8_t* x1, const int8_t* x2,
                       const int8_t* x3, const ptrdiff_t* taps, int64_t ntaps, const int8_t* w,
                       int64_t n, int64_t wskip) {
  uint64_t t0, t1, t2, toff, cnt;
  const int8_t *xt0, *xt1, *xt2, *xt3;
  asm volatile(
      "ldp q16, q17, [%[acc], #0]\n"
      "ldp q18, q19, [%[acc], #32]\n"
      "ldp q20, q21, [%[acc], #64]\n"
      "ldp q22, q23, [%[acc], #96]\n"
      "ldp q24, q25, [%[acc], #128]\n"
      "ldp q26, q27, [%[acc], #160]\n"
      "ldp q28, q29, [%[acc], #192]\n"
      "ldp q30, q31, [%[acc], #224]\n"
      "2:\n"
      "ldr %[toff], [%[taps]], #8\n"
      "add %[xt0], %[x0], %[toff]\n"
      "add %[xt1], %[x1], %[toff]\n"
      "add %[xt2], %[x2], %[toff]\n"
      "add %[xt3], %[x3], %[toff]\n"
      "mov %[cnt], %[n]\n"
      "ldr d0, [%[xt0], #0]\n"
      "ldr %[t0], [%[xt0], #8]\n"
      "ldr d1, [%[xt1], #0]\n"
      "ldr %[t1], [%[xt1], #8]\n"
      "ins v0.d[1], %[t0]\n"
      "ldr d2, [%[xt2], #0]\n"
      "ldr %[t2], [%[xt2], #8]\n"
      "ins v1.d[1], %[t1]\n"
      "ldr d3, [%[xt3], #0]\n"
      "ldr %[t0], [%[xt3], #8]\n"
      "ins v2.d[1], %[t2]\n"
      "ldr d4, [%[w], #0]\n"
      "ldr %[t1], [%[w], #8]\n"
      "ins v3.d[1], %[t0]\n"
      "ldr d5, [%[w], #16]\n"
      "ldr %[t2], [%[w], #24]\n"
      "ins v4.d[1], %[t1]\n"
      "ldr d6, [%[w], #32]\n"
      "ldr %[t0], [%[w], #40]\n"
      "ins v5.d[1], %[t2]\n"
      "ldr d7, [%[w], #48]\n"
      "ldr %[t1], [%[w], #56]\n"
      "ins v6.d[1], %[t0]\n"
      "ins v7.d[1], %[t1]\n"
      "1:\n"
      "sdot v16.4s, v4.16b, v0.4b[0]\n"
      "ldr d8, [%[w], #64]\n"
      "sdot v17.4s, v5.16b, v0.4b[0]\n"
      "ldr %[t0], [%[w], #72]\n"
      "sdot v18.4s, v6.16b, v0.4b[0]\n"
      "ldr d9, [%[w], #80]\n"
      "sdot v19.4s, v7.16b, v0.4b[0]\n"
      "ldr %[t1], [%[w], #88]\n"
      "sdot v20.4s, v4.16b, v1.4b[0]\n"
      "ins v8.d[1], %[t0]\n"
      "sdot v21.4s, v5.16b, v1.4b[0]\n"
      "ldr d10, [%[w], #96]\n"
      "sdot v22.4s, v6.16b, v1.4b[0]\n"
      "ldr %[t2], [%[w], #104]\n"
      "sdot v23.4s, v7.16b, v1.4b[0]\n"
      "ins v9.d[1], %[t1]\n"
      "sdot v24.4s, v4.16b, v2.4b[0]\n"
      "ldr d11, [%[w], #112]\n"
      "sdot v25.4s, v5.16b, v2.4b[0]\n"
      "ldr %[t0], [%[w], #120]\n"
      "sdot v26.4s, v6.16b, v2.4b[0]\n"
      "ins v10.d[1], %[t2]\n"
      "sdot v27.4s, v7.16b, v2.4b[0]\n"
      "ins v11.d[1], %[t0]\n"
      "sdot v28.4s, v4.16b, v3.4b[0]\n"
      "sdot v29.4s, v5.16b, v3.4b[0]\n"
      "sdot v30.4s, v6.16b, v3.4b[0]\n"
      "sdot v31.4s, v7.16b, v3.4b[0]\n"
      "sdot v16.4s, v8.16b, v0.4b[1]\n"
      "ldr d4, [%[w], #128]\n"
      "sdot v17.4s, v9.16b, v0.4b[1]\n"
      "ldr %[t0], [%[w], #136]\n"
      "sdot v18.4s, v10.16b, v0.4b[1]\n"
      "ldr d5, [%[w], #144]\n"
      "sdot v19.4s, v11.16b, v0.4b[1]\n"
      "ldr %[t1], [%[w], #152]\n"
      "sdot v20.4s, v8.16b, v1.4b[1]\n"
      "ins v4.d[1], %[t0]\n"
      "sdot v21.4s, v9.16b, v1.4b[1]\n"
      "ldr d6, [%[w], #160]\n"
      "sdot v22.4s, v10.16b, v1.4b[1]\n"
      "ldr %[t2], [%[w], #168]\n"
      "sdot v23.4s, v11.16b, v1.4b[1]\n"
      "ins v5.d[1], %[t1]\n"
      "sdot v24.4s, v8.16b, v2.4b[1]\n"
      "ldr d7, [%[w], #176]\n"
      "sdot v25.4s, v9.16b, v2.4b[1]\n"
      "ldr %[t0], [%[w], #184]\n"
      "sdot v26.4s, v10.16b, v2.4b[1]\n"
      "ins v6.d[1], %[t2]\n"
      "sdot v27.4s, v11.16b, v2.4b[1]\n"
      "ins v7.d[1], %[t0]\n"
      "sdot v28.4s, v8.16b, v3.4b[1]\n"
      "sdot v29.4s, v9.16b, v3.4b[1]\n"
      "sdot v30.4s, v10.16b, v3.4b[1]\n"
      "sdot v31.4s, v11.16b, v3.4b[1]\n"
      "sdot v16.4s, v4.16b, v0.4b[2]\n"
      "ldr d8, [%[w], #192]\n"
      "sdot v17.4s, v5.16b, v0.4b[2]\n"
      "ldr %[t0], [%[w], #200]\n"
      "sdot v18.4s, v6.16b, v0.4b[2]\n"
      "ldr d9, [%[w], #208]\n"
      "sdot v19.4s, v7.16b, v0.4b[2]\n"
      "ldr %[t1], [%[w], #216]\n"
      "sdot v20.4s, v4.16b, v1.4b[2]\n"
      "ins v8.d[1], %[t0]\n"
      "sdot v21.4s, v5.16b, v1.4b[2]\n"
      "ldr d10, [%[w], #224]\n"
      "sdot v22.4s, v6.16b, v1.4b[2]\n"
      "ldr %[t2], [%[w], #232]\n"
      "sdot v23.4s, v7.16b, v1.4b[2]\n"
      "ins v9.d[1], %[t1]\n"
      "sdot v24.4s, v4.16b, v2.4b[2]\n"
      "ldr d11, [%[w], #240]\n"
      "sdot v25.4s, v5.16b, v2.4b[2]\n"
      "ldr %[t0], [%[w], #248]\n"
      "sdot v26.4s, v6.16b, v2.4b[2]\n"
      "ins v10.d[1], %[t2]\n"
      "sdot v27.4s, v7.16b, v2.4b[2]\n"
      "ins v11.d[1], %[t0]\n"
      "sdot v28.4s, v4.16b, v3.4b[2]\n"
      "sdot v29.4s, v5.16b, v3.4b[2]\n"
      "sdot v30.4s, v6.16b, v3.4b[2]\n"
      "sdot v31.4s, v7.16b, v3.4b[2]\n"
      "sdot v16.4s, v8.16b, v0.4b[3]\n"
      "ldr d4, [%[w], #256]\n"
      "sdot v17.4s, v9.16b, v0.4b[3]\n"
      "ldr %[t0], [%[w], #264]\n"
      "sdot v18.4s, v10.16b, v0.4b[3]\n"
      "ldr d5, [%[w], #272]\n"
      "sdot v19.4s, v11.16b, v0.4b[3]\n"
      "ldr %[t1], [%[w], #280]\n"
      "sdot v20.4s, v8.16b, v1.4b[3]\n"
      "ins v4.d[1], %[t0]\n"
      "sdot v21.4s, v9.16b, v1.4b[3]\n"
      "ldr d6, [%[w], #288]\n"
      "sdot v22.4s, v10.16b, v1.4b[3]\n"
      "ldr %[t2], [%[w], #296]\n"
      "sdot v23.4s, v11.16b, v1.4b[3]\n"
      "ins v5.d[1], %[t1]\n"
      "sdot v24.4s, v8.16b, v2.4b[3]\n"
      "ldr d7, [%[w], #304]\n"
      "sdot v25.4s, v9.16b, v2.4b[3]\n"
      "ldr %[t0], [%[w], #312]\n"
      "sdot v26.4s, v10.16b, v2.4b[3]\n"
      "ins v6.d[1], %[t2]\n"
      "sdot v27.4s, v11.16b, v2.4b[3]\n"
      "ldr d0, [%[xt0], #16]\n"
      "sdot v28.4s, v8.16b, v3.4b[3]\n"
      "sdot v29.4s, v9.16b, v3.4b[3]\n"
      "sdot v30.4s, v10.16b, v3.4b[3]\n"
      "sdot v31.4s, v11.16b, v3.4b[3]\n"
      "ldr %[t1], [%[xt0], #24]\n"
      "ins v7.d[1], %[t0]\n"
      "ldr d1, [%[xt1], #16]\n"
      "ldr %[t2], [%[xt1], #24]\n"
      "ins v0.d[1], %[t1]\n"
      "ldr d2, [%[xt2], #16]\n"
      "ldr %[t0], [%[xt2], #24]\n"
      "ins v1.d[1], %[t2]\n"
      "ldr d3, [%[xt3], #16]\n"
      "ldr %[t1], [%[xt3], #24]\n"
      "ins v2.d[1], %[t0]\n"
      "ins v3.d[1], %[t1]\n"
      "add %[xt0], %[xt0], #16\n"
      "add %[xt1], %[xt1], #16\n"
      "add %[xt2], %[xt2], #16\n"
      "add %[xt3], %[xt3], #16\n"
      "add %[w], %[w], #256\n"
      "subs %[cnt], %[cnt], #1\n"
      "b.ne 1b\n"
      "add %[w], %[w], %[wskip]\n"
      "subs %[ntaps], %[ntaps], #1\n"
      "b.ne 2b\n"
      "stp q16, q17, [%[acc], #0]\n"
      "stp q18, q19, [%[acc], #32]\n"
      "stp q20, q21, [%[acc], #64]\n"
      "stp q22, q23, [%[acc], #96]\n"
      "stp q24, q25, [%[acc], #128]\n"
      "stp q26, q27, [%[acc], #160]\n"
      "stp q28, q29, [%[acc], #192]\n"
      "stp q30, q31, [%[acc], #224]\n"
      : [taps] "+r"(taps), [ntaps] "+r"(ntaps), [w] "+r"(w), [xt0] "=&r"(xt0), [xt1] "=&r"(xt1),
        [xt2] "=&r"(xt2), [xt3] "=&r"(xt3), [cnt] "=&r"(cnt), [toff] "=&r"(toff),
        [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2)
      : [x0] "r"(x0), [x1] "r"(x1), [x2] "r"(x2), [x3] "r"(x3), [n] "r"(n),
        [wskip] "r"(wskip), [acc] "r"(tile)
      : "cc", "memory", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
}

template <int MR, int NR, LoadVariant L>
void DotKernel(const MicroArgs& a) {
  constexpr int NV = NR / 4;
  constexpr bool kWideA = WideA(MR * NV, MR, NV);
  int32x4_t acc[MR][NV];
  InitRows<MR, NV, int32x4_t, int32_t>(acc, a);
  const int8_t* const w = static_cast<const int8_t*>(a.w);
  if constexpr (MR == 4 && NR == 16 && L == LoadVariant::kLd64) {
    const int channels = a.c_end - a.c_begin;
    if (channels > 0 && channels % 16 == 0 && a.num_taps > 0) {
      alignas(16) int32_t tile[MR * NR];
      QTUNE_UNROLL for (int m = 0; m < MR; ++m) {
        QTUNE_UNROLL for (int j = 0; j < NV; ++j) vst1q_s32(tile + m * NR + 4 * j, acc[m][j]);
      }
      const int8_t* x[MR];
      QTUNE_UNROLL for (int m = 0; m < MR; ++m) x[m] = static_cast<const int8_t*>(a.x[m]) + a.c_begin;
      Dot4x16A55(tile, x[0], x[1], x[2], x[3], a.taps, a.num_taps, w + a.c_begin * NR,
                 channels / 16, static_cast<int64_t>(a.cp - channels) * NR);
      QTUNE_UNROLL for (int m = 0; m < MR; ++m) {
        QTUNE_UNROLL for (int j = 0; j < NV; ++j) acc[m][j] = vld1q_s32(tile + m * NR + 4 * j);
      }
      FinishRows<MR, NV, int32x4_t, int32_t>(acc, a);
      return;
    }
  }
  for (int t = 0; t < a.num_taps; ++t) {
    const int8_t* x[MR];
    QTUNE_UNROLL for (int m = 0; m < MR; ++m) x[m] = static_cast<const int8_t*>(a.x[m]) + a.taps[t];
    const int8_t* wt = w + (static_cast<ptrdiff_t>(t) * a.cp + a.c_begin) * NR;
    int c = a.c_begin;
    // (The A55 4x16 kernel gets here only for channel ranges that are not
    // multiples of 16, rare enough for the 4-channel loop.)
    if constexpr (kWideA && !(MR == 4 && NR == 16 && L == LoadVariant::kLd64)) {
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
