// The depthwise microkernels for the "avx512vnni" path: the AVX-512BW
// kernels with the int8 multiply-accumulate fused into vpdpwssd, compiled
// with -mavx512vnni in addition (see kernels/CMakeLists.txt).
#include "kernels/depthwise/micro_impl.h"

#if !defined(__AVX512BW__) || !defined(__AVX512VL__) || !defined(__AVX512VNNI__)
#error "micro_avx512vnni.cc must be compiled with -mavx512bw -mavx512vl -mavx512vnni"
#endif

namespace qtune::kernels::depthwise {

const MicroSet& Avx512VnniMicros() {
  static const MicroSet set = MakeMicroSet<24>();
  return set;
}

}  // namespace qtune::kernels::depthwise
