// The depthwise microkernels for the "avx512bw" path, compiled with
// -mavx512f -mavx512bw -mavx512vl -mfma (see kernels/CMakeLists.txt): one
// zmm per 16-lane vector, masked loads/stores for channel tails. Budget: 24
// accumulators of the 32 zmm registers, leaving room for the tile's weight
// vectors and one input.
#include "kernels/depthwise/micro_impl.h"

#if !defined(__AVX512BW__) || !defined(__AVX512VL__)
#error "micro_avx512.cc must be compiled with -mavx512f -mavx512bw -mavx512vl"
#endif

namespace qtune::kernels::depthwise {

const MicroSet& Avx512Micros() {
  static const MicroSet set = MakeMicroSet<24>();
  return set;
}

}  // namespace qtune::kernels::depthwise
