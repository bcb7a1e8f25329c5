// File: direct_conv.h (internal)
// The portable direct convolution: NHWC activations, weights prepacked at
// creation into [K/NR][R*S][C][NR] blocks, a register tile of MR output
// pixels (along a row) x NR output channels, input-channel blocking, and a
// choice of loop order and thread count. Dense layers run as a 1x1
// convolution over N pixels; stride-1 unpadded 1x1 convolutions over N*H*W
// pixels.
//
// int8 works on pairs of input channels ("c2": packed int16 weights, inputs
// converted once per call to int16 x - zero_point in a zero-padded copy), so
// that one multiply-add instruction handles 8 products; results are
// bit-exact against the reference. fp32 uses the input in place when there
// is no padding.
#ifndef QTUNE_KERNELS_GENERIC_DIRECT_CONV_H_
#define QTUNE_KERNELS_GENERIC_DIRECT_CONV_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kernels/src/kernel_family.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::generic {

// Tile sizes with a compiled microkernel: every mr x nr from these lists with
// mr * nr <= kMaxTileElements.
inline constexpr int kMrValues[] = {1, 2, 3, 4, 6, 8};
inline constexpr int kNrValues[] = {8, 16, 32};
inline constexpr int kMaxTileElements = 128;

struct DirectConvParams {
  int mr = 4;               // output pixels per tile (one of kMrValues)
  int nr = 16;              // output channels per tile (one of kNrValues)
  int kc = 0;               // input channels per block; >= C means no blocking
  bool spatial_outer = false;  // true: pixels outer, channel blocks inner
  int threads = 1;
};

// `op` is a valid conv2d or dense op of the matching dtype, `data` fits it,
// and (mr, nr) is a compiled tile.
absl::StatusOr<std::unique_ptr<Kernel>> CreateDirectConvInt8(const OpSpec& op,
                                                              const DirectConvParams& params,
                                                              const OpData& data);
absl::StatusOr<std::unique_ptr<Kernel>> CreateDirectConvFp32(const OpSpec& op,
                                                             const DirectConvParams& params,
                                                             const OpData& data);

}  // namespace qtune::kernels::generic

namespace qtune::kernels::internal {

// The "generic_direct" family on the "generic" path (conv2d and dense, int8
// and fp32).
std::unique_ptr<KernelFamily> MakeGenericDirectFamily();

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_GENERIC_DIRECT_CONV_H_
