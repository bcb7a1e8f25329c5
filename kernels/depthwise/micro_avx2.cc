// The depthwise microkernels for the "avx2" path, compiled with -mavx2
// -mfma (see kernels/CMakeLists.txt). Budget: 8 accumulators of 16 lanes
// (16 ymm registers hold 8 x 2 halves; weights and inputs stream from L1).
#include "kernels/depthwise/micro_impl.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "micro_avx2.cc must be compiled with -mavx2 -mfma"
#endif

namespace qtune::kernels::depthwise {

const MicroSet& Avx2Micros() {
  static const MicroSet set = MakeMicroSet<8>();
  return set;
}

}  // namespace qtune::kernels::depthwise
