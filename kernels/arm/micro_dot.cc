// int8 microkernels with the ARMv8.2 dot product (sdot). Compiled with
// -march=armv8.2-a+dotprod; called only when getauxval reports asimddp.
#include "kernels/arm/micro.h"
#include "kernels/arm/micro_impl.h"

namespace qtune::kernels::arm {
namespace {

template <int M, int N, LoadVariant L>
struct DotMicroT {
  static constexpr bool kValid = true;
  static void Run(const MicroArgs& a) { DotKernel<M, N, L>(a); }
};

}  // namespace

MicroFn DotMicro(Tile tile, LoadVariant load) { return Lookup<DotMicroT>(tile, load); }

}  // namespace qtune::kernels::arm
