// File: jit_conv_pack.h (internal)
// The data layout of an x86 JIT convolution kernel and the constant tables
// packed into it: weights in the microkernel's order, bias rows with the
// input zero point folded in per padding case (the compensation), and the
// requantisation scales. See docs/kernels-x86.md.
#ifndef QTUNE_KERNELS_X86_JIT_CONV_PACK_H_
#define QTUNE_KERNELS_X86_JIT_CONV_PACK_H_

#include <cstdint>
#include <memory>

#include "kernels/x86/conv_geometry.h"
#include "kernels/x86/jit_conv.h"
#include "qtune/kernels/buffer.h"
#include "qtune/kernels/kernel.h"

namespace qtune::kernels::x86 {

// Everything derived from (op, params, zero point) that the packed tables,
// the generated code and the driver agree on. Byte sizes are of the packed
// tables.
struct ConvLayout {
  Geometry g;
  Math math = Math::kDotU8S8;
  bool int8 = true;
  int eb = 1;          // bytes per staged input element (2 for int16 staging)
  int ob = 1;          // bytes per output element
  int lanes = 16;      // 32-bit lanes per vector
  int nr = 64;         // output channels per register tile
  int nkb = 1;         // channel blocks of nr
  int kpad = 64;       // nkb * nr
  int unit = 4;        // reduction elements per step (StepElements)
  // Folded columns: the S*C bytes of one filter row are contiguous in a
  // horizontally padded copy of the input, so they form one reduction.
  bool fold = false;
  int kernel_s = 1;    // filter columns the kernel walks (1 when folded)
  int reduction_c = 1; // channels of one reduction (S*C when folded)
  int wp = 1;          // width of a staged input row
  int steps = 1;       // reduction steps of one (r, s)
  int block_steps = 1; // steps per channel block (kc)
  int32_t zero_point = 0;  // the input's (int8), else 0
  bool s8_input = false;   // int8 inputs are s8 (signed_io)
  // kDotU8S8: the zero point of the u8 bytes vpdpbusd multiplies: s8 inputs
  // enter as x ^ 0x80 = x + 128, so theirs is zero_point + 128 (in [0, 255]).
  int32_t dot_zero_point() const { return zero_point + (s8_input ? 128 : 0); }
  AxisCases rows, cols;    // padding cases of output rows and columns
  int64_t w_r_bytes = 0, w_kb_bytes = 0;  // packed weights of one filter row / channel block
  // Bias rows: one per (row case, column case) with u8 dot products.
  int64_t bias_row_bytes = 0, bias_hcase_bytes = 0, bias_vcase_bytes = 0;
};

ConvLayout MakeLayout(const OpSpec& op, const JitConvParams& p, const OpData& data);

// The tables of one kernel, derived from the op's constants. Read-only once
// made; shared between kernels.
struct PackedConstants {
  // Weights: [kb][r][channel block][s][step][nr lanes][4 bytes].
  AlignedBuffer weights;
  // int32 bias rows [row case][column case][kpad] (fp32: the float bias).
  AlignedBuffer bias;
  AlignedBuffer scale;          // int8: requantisation scale per channel, padded with 1
  bool packed_epilogue = false; // the fast int8 epilogue is exact (docs/kernels-x86.md)
  size_t bytes() const { return weights.size() + bias.size() + scale.size(); }
};

// The tables of (op, layout, data): from a cache shared by the kernels of
// one op (at most kPackCacheBytes of tables, least recently used out), or
// newly packed. The key covers the op, every layout value the tables depend
// on, and a fingerprint of the constants. Thread-safe.
inline constexpr size_t kPackCacheBytes = size_t{32} << 20;
std::shared_ptr<const PackedConstants> PackedConstantsFor(const OpSpec& op, const ConvLayout& l,
                                                          const OpData& data);

}  // namespace qtune::kernels::x86

#endif  // QTUNE_KERNELS_X86_JIT_CONV_PACK_H_
