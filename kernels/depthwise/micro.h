// File: micro.h (internal)
// The ABI between the depthwise driver (depthwise_kernel.cc) and the
// microkernels compiled once per ISA (micro_*.cc, see depthwise.h). Plain
// data and function pointers only: the ISA translation units include nothing
// else, so no inline library code compiled for a wider ISA can be shared with
// (and picked by the linker for) the rest of the program.
#ifndef QTUNE_KERNELS_DEPTHWISE_MICRO_H_
#define QTUNE_KERNELS_DEPTHWISE_MICRO_H_

#include <cstddef>
#include <cstdint>

namespace qtune::kernels::depthwise {

// Lanes of one microkernel vector (channels per vector).
inline constexpr int kLanes = 16;
// Knob values (shared by the three families).
inline constexpr int kTileHValues[] = {1, 2, 4};
inline constexpr int kTileWValues[] = {1, 2, 4, 8};
inline constexpr int kTileCValues[] = {16, 32, 64};
inline constexpr int kMaxVectors = 4;  // 64 / kLanes
// Largest R * S the driver accepts (bounds its per-call pointer tables).
inline constexpr int kMaxTaps = 1024;

// Arguments of one microkernel call: one register tile of one channel tile.
// All pointers are borrowed; the microkernel reads and writes only the
// channels [c0, c0 + c_valid) of the pixels it is given.
struct MicroArgs {
  // [tile_h][num_taps]: input pointer (element 0 of a pixel) of every tap of
  // the tile's first column, per tile row.
  const void* const* taps;
  int num_taps;
  ptrdiff_t pix_step;   // elements between the inputs of adjacent output columns
  int c0;               // first channel of the tile
  int c_valid;          // channels in the tile (<= 16 * nv; < when `tail`)
  const void* weights;  // [num_taps][16 * nv] int32 (int8 ops: sign-extended) or float
  const void* bias;     // [16 * nv] int32 (zero-point compensated) or float
  const float* scale;   // [16 * nv] requantisation scales (int8 ops)
  void* const* out;     // [tile_h] output pointer (element 0 of the first column)
  ptrdiff_t out_step;   // elements between adjacent output columns (= C)
  int32_t zero_point;   // int8: output zero point
  float lo, hi;         // clamp: int8 [min - zp, max - zp]; fp32 activation bounds
};

using Micro = void (*)(const MicroArgs& args);

// The compiled microkernel for (tile_h, tile_w, nv, tail) of one ISA and
// dtype, or null when that combination is not compiled (more than the ISA's
// accumulator budget). `tail`: c_valid may be any count in (16 * (nv - 1),
// 16 * nv]; otherwise it is exactly 16 * nv.
struct MicroSet {
  int max_accumulators;  // tile_h * tile_w * nv budget of the ISA
  Micro (*int8)(int tile_h, int tile_w, int nv, bool tail);     // u8 activations
  Micro (*int8_s8)(int tile_h, int tile_w, int nv, bool tail);  // s8 activations
  Micro (*fp32)(int tile_h, int tile_w, int nv, bool tail);
  // Row microkernels for kernel width `s` and horizontal stride `stride_w`
  // (dilation 1; kRowShapes), without channel tail: each input column of a
  // tile row is loaded and widened once and multiplied into every (output
  // column, tap) it belongs to, instead of once per tap. They read only the
  // tap pointers of s = 0 (taps[i * num_taps + r * s]) and step between input
  // columns by out_step (= C). Null when not compiled.
  Micro (*int8_row)(int tile_h, int tile_w, int nv, int s, int stride_w);
  Micro (*int8_s8_row)(int tile_h, int tile_w, int nv, int s, int stride_w);
  Micro (*fp32_row)(int tile_h, int tile_w, int nv, int s, int stride_w);
};

// (S, stride_w) pairs with row microkernels.
inline constexpr int kRowShapes[][2] = {{3, 1}, {3, 2}, {5, 1}, {5, 2}};

const MicroSet& GenericMicros();
#if defined(__x86_64__) || defined(_M_X64)
const MicroSet& Avx2Micros();
const MicroSet& Avx512Micros();
const MicroSet& Avx512VnniMicros();
#endif

}  // namespace qtune::kernels::depthwise

#endif  // QTUNE_KERNELS_DEPTHWISE_MICRO_H_
