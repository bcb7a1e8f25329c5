// File: depthwise.h (internal)
// The depthwise conv2d kernel families ("depthwise_avx512vnni",
// "depthwise_avx512bw", "depthwise_avx2", "depthwise_generic"): NHWC
// u8/s8/f32 activations, weights [R][S][C] prepacked once into channel
// tiles, any kernel size, stride, padding and dilation, requantisation fused.
//
// Structure. A microkernel computes a register tile of tile_h output rows x
// tile_w output columns x (16 * nv) channels: for each tap it loads the
// tile's weight vectors once and multiply-accumulates every pixel of the tile
// (no reduction over channels, so no dot-product instructions). The "rows"
// variant (algo knob) loads each input column of a tile row once and uses it
// for every tap and output column it belongs to. Inputs are
// addressed through a small table of tap pointers per tile row, so padded
// taps point at a row filled with the padding value (the input zero point for
// int8, whose compensation -zx * sum(w) is folded into the packed int32 bias;
// 0 for fp32) and contribute exactly zero. The microkernels are one C++
// source compiled once per ISA (GCC vector extensions of 16 lanes: zmm with
// -mavx512bw, 2 x ymm with -mavx2, 4 x xmm/NEON otherwise) behind the
// plain ABI of micro.h.
#ifndef QTUNE_KERNELS_DEPTHWISE_DEPTHWISE_H_
#define QTUNE_KERNELS_DEPTHWISE_DEPTHWISE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "kernels/depthwise/micro.h"
#include "kernels/src/kernel_family.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::depthwise {

// One configuration of the depthwise kernel.
struct DepthwiseParams {
  int tile_h = 1;       // output rows per register tile (kTileHValues)
  int tile_w = 8;       // output columns per register tile (kTileWValues)
  int tile_c = 32;      // channels per tile (kTileCValues)
  bool pixels_outer = true;  // true: all channel tiles per pixel tile
  // Interior tiles use the row microkernels (MicroSet::int8_row); needs
  // dilation_w == 1 and (S, stride_w) in kRowShapes.
  bool row_reuse = false;
  int threads = 1;
};

// Packs the weights of `op` (a valid depthwise_conv2d; `data` fits it) for
// `params` and builds the kernel around `micros`. INVALID_ARGUMENT when a
// tile the config needs is not compiled in `micros`. `path` names the kernel
// (docs/kernel-naming.md).
absl::StatusOr<std::unique_ptr<Kernel>> CreateDepthwiseKernel(const OpSpec& op,
                                                              const DepthwiseParams& params,
                                                              const OpData& data,
                                                              const MicroSet& micros,
                                                              std::string_view path);

}  // namespace qtune::kernels::depthwise

namespace qtune::kernels::internal {

// Best first. The x86 families are never Available() on other builds. The
// avx512vnni family offers fp32 only when the target lacks avx512bw.
std::unique_ptr<KernelFamily> MakeDepthwiseAvx512VnniFamily();
std::unique_ptr<KernelFamily> MakeDepthwiseAvx512Family();
std::unique_ptr<KernelFamily> MakeDepthwiseAvx2Family();
std::unique_ptr<KernelFamily> MakeDepthwiseGenericFamily();

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_DEPTHWISE_DEPTHWISE_H_
