// File: arm_conv.h (internal)
// The AArch64 convolution / dense kernel around the microkernels of micro.h:
// input staging (int8 as s8: u8 ^ 0x80, s8 as is; spatial and channel
// padding), weight
// prepacking per microkernel kind, zero-point compensation folded into the
// int32 bias, channel blocking, threading and cluster pinning. See
// docs/kernels-arm.md.
#ifndef QTUNE_KERNELS_ARM_ARM_CONV_H_
#define QTUNE_KERNELS_ARM_ARM_CONV_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/arm/micro.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::arm {

struct ArmConvParams {
  MicroKind kind = MicroKind::kDotS8;  // must match the op's dtype
  std::string path;                    // kernel path, for the name: "neondot", ...
  Tile tile = {4, 16};
  LoadVariant load = LoadVariant::kQ;
  int kc = 0;                // input channels per block (>= C: no blocking)
  bool pixels_outer = false; // loop order: pixel chunks outer, channel blocks inner
  int threads = 1;
  int cluster = -1;          // index into HostClusters() to pin threads to; -1: any CPU
};

// `op` is a valid conv2d or dense op whose dtype matches params.kind, `data`
// fits it. INVALID_ARGUMENT when the tile has no microkernel for the kind.
absl::StatusOr<std::unique_ptr<Kernel>> CreateArmConv(const OpSpec& op, const ArmConvParams& params,
                                                      const OpData& data);

}  // namespace qtune::kernels::arm

#endif  // QTUNE_KERNELS_ARM_ARM_CONV_H_
