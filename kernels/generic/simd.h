// File: simd.h (internal)
// 128-bit vector types for the portable kernels, as GCC/Clang vector
// extensions: they compile to SSE2 on any x86-64 and to NEON on AArch64
// without ISA-specific code, except MaddPairs(), which uses the one
// instruction each baseline ISA has for it.
#ifndef QTUNE_KERNELS_GENERIC_SIMD_H_
#define QTUNE_KERNELS_GENERIC_SIMD_H_

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace qtune::kernels::generic {

typedef float F32x4 __attribute__((vector_size(16)));
typedef int32_t I32x4 __attribute__((vector_size(16)));
typedef int16_t I16x8 __attribute__((vector_size(16)));

// Unaligned load / store of one vector.
template <typename V, typename T>
inline V Load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V, typename T>
inline void Store(T* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

// Lanes {a0*b0 + a1*b1, a2*b2 + a3*b3, ...} in int32.
// Precondition: every |a_i * b_i| <= 32767 (the int8 kernels multiply
// x - zero_point in [-255, 255] by weights in [-128, 127]: at most 32640).
inline I32x4 MaddPairs(I16x8 a, I16x8 b) {
#if defined(__SSE2__)
  return reinterpret_cast<I32x4>(
      _mm_madd_epi16(reinterpret_cast<__m128i>(a), reinterpret_cast<__m128i>(b)));
#elif defined(__ARM_NEON)
  const int16x8_t va = reinterpret_cast<int16x8_t>(a);
  const int16x8_t vb = reinterpret_cast<int16x8_t>(b);
  const int32x4_t lo = vmull_s16(vget_low_s16(va), vget_low_s16(vb));
  const int32x4_t hi = vmull_s16(vget_high_s16(va), vget_high_s16(vb));
  return reinterpret_cast<I32x4>(vpaddq_s32(lo, hi));
#else
  // Each |product| <= 32640 fits int16, so the 16-bit multiply is exact;
  // split each 32-bit lane into its two signed halves and add them.
  const I32x4 p = reinterpret_cast<I32x4>(a * b);
  return (p >> 16) + ((p << 16) >> 16);
#endif
}

}  // namespace qtune::kernels::generic

#endif  // QTUNE_KERNELS_GENERIC_SIMD_H_
