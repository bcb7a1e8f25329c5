// File: residual_add.h (internal)
// The fused residual add (kernel.h's ResidualAdd) applied to requantised
// output elements in place, for the kernel families that fuse it after their
// own epilogue (generic, ARM): a loop the compiler vectorises that computes
// exactly reference.h's AddResidual.
#ifndef QTUNE_KERNELS_SRC_RESIDUAL_ADD_H_
#define QTUNE_KERNELS_SRC_RESIDUAL_ADD_H_

#include <cstddef>
#include <cstdint>

#include "qtune/kernels/kernel.h"

namespace qtune::kernels::internal {

// The constants of one kernel's residual add.
struct ResidualAddArgs {
  int32_t conv_zero_point = 0;  // the convolution's output zero point
  ResidualAdd add;
  bool s8 = false;              // s8 elements (else u8)
};

// y[i] = AddResidual(y[i], b[i], ...) for i < count. `y` and `b` must not
// overlap.
void AddResidualInPlace(uint8_t* y, const uint8_t* b, size_t count, const ResidualAddArgs& args);

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_SRC_RESIDUAL_ADD_H_
