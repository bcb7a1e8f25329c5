// File: micro.h (internal)
// The AArch64 microkernels' interface: one register tile of MR output pixels
// x NR output channels over a range of input channels, for every filter tap,
// with the requantisation (int8) or bias + activation (fp32) fused into the
// store. Each ISA's microkernels are compiled in their own translation unit
// with that ISA's -march flags (micro_neon.cc, micro_dot.cc, micro_i8mm.cc)
// from the templates in micro_impl.h, ahead of time, for every tile of
// kTiles; the driver (arm_conv.cc) looks them up by (kind, tile, load).
// See docs/kernels-arm.md.
#ifndef QTUNE_KERNELS_ARM_MICRO_H_
#define QTUNE_KERNELS_ARM_MICRO_H_

#include <cstddef>
#include <cstdint>

namespace qtune::kernels::arm {

// The arithmetic of a microkernel.
enum class MicroKind {
  kNeonS8,   // int8 by 16-bit widening multiply-accumulate (smlal), any ARMv8
  kDotS8,    // int8 by `sdot` (ARMv8.2 dot product)
  kMmlaS8,   // int8 by `smmla` (ARMv8.6 / i8mm)
  kFmlaF32,  // fp32 by `fmla` (by element), any ARMv8
};

// Input channels per packed weight group (and the channel padding unit).
constexpr int ChannelUnit(MicroKind kind) { return kind == MicroKind::kMmlaS8 ? 8 : 4; }

// 128-bit loads as one `ldr q` (kQ), or as `ldr d` + `ldr x` + `ins` (kLd64),
// which in-order cores (Cortex-A55, A510) issue alongside the arithmetic.
enum class LoadVariant { kQ = 0, kLd64 = 1 };

// The register tiles (MR x NR) with compiled microkernels. The i8mm kernels
// need even MR and exist for the tiles with MR >= 2.
struct Tile {
  int mr, nr;
};
inline constexpr Tile kTiles[] = {{1, 16}, {2, 16}, {4, 8}, {4, 16}, {8, 8}, {8, 12}};

// Requantisation (int8) and activation clamp (fp32) of the epilogue.
struct Epilogue {
  float lo = 0.0f, hi = 0.0f;  // int8: output clamp minus the zero point; fp32: activation
  int32_t zero_point = 0;      // int8 output zero point
  bool clamp_lo = false, clamp_hi = false;  // fp32: whether lo / hi apply
};

struct MicroArgs {
  // MR row pointers into the staged input (element type of the kind: s8 for
  // int8 (u8 inputs as u8 ^ 0x80), float for fp32), at the pixel's first tap.
  const void* const* x;
  const ptrdiff_t* taps;  // element offset of every filter tap
  int num_taps;
  int c_begin, c_end;     // input channel range, multiples of ChannelUnit()
  int cp;                 // channels per tap in the packed weights
  // Packed weights of this NR block at tap 0, channel 0: element (t, c, n)
  // of the block is at ((t * cp + c) * NR + n) units of the kind's layout
  // (see arm_conv.cc, PackWeights).
  const void* w;
  const void* bias;       // NR int32 (bias with zero-point compensation) or float
  const float* scale;     // NR requantisation scales (int8)
  const Epilogue* ep;
  // Partial sums (MR x NR, row-major int32 or float) between channel blocks:
  // read when load_acc, written unless store_out.
  void* acc;
  bool load_acc, store_out;
  // Output (u8, s8 or float) of the tile's first pixel; rows `out_stride`
  // elements apart; only rows < rows and columns < cols are written.
  void* out;
  ptrdiff_t out_stride;
  int rows, cols;
};

using MicroFn = void (*)(const MicroArgs&);

// The compiled microkernel, or null. The Dot/Mmla tables are null-safe to
// query on any CPU; calling them needs the feature.
MicroFn NeonMicro(MicroKind kind, Tile tile, LoadVariant load);  // kNeonS8, kFmlaF32
MicroFn DotMicro(Tile tile, LoadVariant load);
MicroFn MmlaMicro(Tile tile, LoadVariant load);

}  // namespace qtune::kernels::arm

#endif  // QTUNE_KERNELS_ARM_MICRO_H_
