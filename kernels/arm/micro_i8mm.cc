// int8 microkernels with the int8 matrix multiply (smmla, FEAT_I8MM).
// Compiled with -march=armv8.2-a+dotprod+i8mm; called only when getauxval
// reports i8mm.
#include "kernels/arm/micro.h"
#include "kernels/arm/micro_impl.h"

namespace qtune::kernels::arm {
namespace {

// smmla works on pairs of rows.
template <int M, int N, LoadVariant L>
struct MmlaMicroT {
  static constexpr bool kValid = M % 2 == 0;
  static void Run(const MicroArgs& a) {
    if constexpr (kValid) MmlaKernel<M, N, L>(a);
  }
};

}  // namespace

MicroFn MmlaMicro(Tile tile, LoadVariant load) { return Lookup<MmlaMicroT>(tile, load); }

}  // namespace qtune::kernels::arm
