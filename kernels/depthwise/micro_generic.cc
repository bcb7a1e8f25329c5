// The depthwise microkernels for the "generic" path: baseline ISA of the
// build (SSE2 on x86-64, NEON on AArch64). Budget: 4 accumulators of 16
// lanes (16 xmm/NEON registers).
#include "kernels/depthwise/micro_impl.h"

namespace qtune::kernels::depthwise {

const MicroSet& GenericMicros() {
  static const MicroSet set = MakeMicroSet<4>();
  return set;
}

}  // namespace qtune::kernels::depthwise
