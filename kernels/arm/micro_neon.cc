// Baseline ARMv8-A microkernels: int8 by 16-bit widening (smlal) and fp32 by
// fmla. Compiled for plain ARMv8-A (every AArch64 CPU has them).
#include "kernels/arm/micro.h"
#include "kernels/arm/micro_impl.h"

namespace qtune::kernels::arm {
namespace {

// 8x12 would need 24 accumulators + 8 widened rows + 2 weight vectors.
template <int M, int N, LoadVariant L>
struct NeonS8Micro {
  static constexpr bool kValid = N % 8 == 0 && M * N / 4 + M + N / 8 <= 28;
  static void Run(const MicroArgs& a) {
    if constexpr (kValid) NeonS8Kernel<M, N, L>(a);
  }
};

template <int M, int N, LoadVariant L>
struct FmlaMicro {
  static constexpr bool kValid = true;
  static void Run(const MicroArgs& a) { FmlaKernel<M, N, L>(a); }
};

}  // namespace

MicroFn NeonMicro(MicroKind kind, Tile tile, LoadVariant load) {
  if (kind == MicroKind::kNeonS8) return Lookup<NeonS8Micro>(tile, load);
  if (kind == MicroKind::kFmlaF32) return Lookup<FmlaMicro>(tile, load);
  return nullptr;
}

}  // namespace qtune::kernels::arm
