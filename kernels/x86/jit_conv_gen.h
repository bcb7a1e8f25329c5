// File: jit_conv_gen.h (internal)
// The Xbyak code generator behind every x86 JIT convolution / dense kernel.
//
// A generated function computes output pixels of ONE output row (or one run
// of a flattened pixel range) for ONE block of output channels:
//
//   void fn(const JitCallArgs* args);
//
// It walks a list of segments (repeated for args->rows output rows, with
// the same filter-row range and bias); a segment is `tiles` consecutive register
// tiles of P output pixels x nv vectors of output channels. For every tile
// the accumulators start from a bias row, then for each of args->nr filter
// rows, each channel block, each filter column s and each 4-byte reduction
// step it broadcasts 4 input bytes per pixel and multiply-accumulates them
// with nv weight vectors:
//   kDotU8S8: vpdpbusd, 4 u8 x s8 products per 32-bit lane (AVX-512 VNNI);
//             s8 inputs enter as x ^ 0x80 = x + 128 (GenSpec::flip_input);
//   kMaddS16: vpmaddwd + vpaddd on int16 pairs (exact; AVX-512BW / AVX2);
//   kFmaF32:  vfmadd231ps on one float per lane.
// Pixels whose filter column s falls into the padding skip that column
// entirely (per-pixel column ranges are compile-time constants). The
// epilogue requantises (int8) or applies the activation (fp32) while the
// accumulators are in registers and stores with a lane mask for the last
// vector of a partial channel block. With GenSpec::residual_add, the int8
// epilogue also computes the fused residual add (kernel.h's ResidualAdd)
// from the residual bytes at the output's position and stores its result.
//
// Thread-safety: a finished JitCode is immutable; its functions may run
// concurrently on distinct arguments.
#ifndef QTUNE_KERNELS_X86_JIT_CONV_GEN_H_
#define QTUNE_KERNELS_X86_JIT_CONV_GEN_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::x86 {

enum class VecIsa { kAvx512, kAvx2 };        // zmm (32 regs, 16 lanes) / ymm (16 regs, 8 lanes)
enum class Math { kDotU8S8, kMaddS16, kFmaF32 };

inline int Lanes(VecIsa isa) { return isa == VecIsa::kAvx512 ? 16 : 8; }
inline int VecRegs(VecIsa isa) { return isa == VecIsa::kAvx512 ? 32 : 16; }
// Input elements per 4-byte reduction step.
inline int StepElements(Math m) { return m == Math::kDotU8S8 ? 4 : m == Math::kMaddS16 ? 2 : 1; }
// Vector registers a tile needs besides its accumulators; `flip_input`: the
// register of 0x80 bytes that turns s8 inputs into u8 (GenSpec::flip_input).
inline int ExtraRegs(Math m, bool weights_in_regs, int nv, bool flip_input = false) {
  return (weights_in_regs ? nv : 0) + 2 + (m == Math::kMaddS16 ? 2 : 0) + (flip_input ? 1 : 0);
}

// Arguments of a generated function (layout shared with the generator).
struct JitCallArgs {
  const uint8_t* in;      // input byte address of pixel 0 of the row, filter row r_lo, column 0
  const uint8_t* w;       // packed weights of this channel block at filter row r_lo
  const void* bias;       // int32 (int8) or float (fp32) bias row of this channel block
  const float* scale;     // int8: requantisation scale of this channel block
  uint8_t* out;           // output address of pixel 0, first channel of the block
  int64_t nr;             // filter rows to accumulate (may be 0)
  int64_t tiles;          // tile count of a runtime-count segment
  int64_t rows;           // output rows to compute (>= 1): the segments repeat per row
  const void* consts;     // JitConsts
  // GenSpec::residual_add: the residual's byte address minus the output's
  // (the residual has the output's layout, so one difference serves all).
  int64_t residual_delta;
};

// Per-kernel constants read by the epilogue, 16 lanes each.
struct alignas(64) JitConsts {
  float lo[16];        // int8: output_min - output_zero_point
  float hi[16];        // int8: output_max - output_zero_point
  int32_t zp[16];      // int8: output_zero_point
  float zero[16];      // fp32 ReLU
  float six[16];       // fp32 ReLU6
  int32_t mask[16];    // AVX2 fp32: -1 for the lanes of a partial last vector
  int32_t perm[16];    // packed epilogue: dword permutation restoring channel order
  // Packed epilogue, of the stored value (the residual add's with one):
  int16_t zp_w[32];    // zero point as int16
  uint8_t lo_b[64];    // clamp minimum (its byte: u8 or s8)
  uint8_t hi_b[64];    // clamp maximum
  uint32_t flip[16];   // kDotU8S8 with flip_input: 0x80808080
  // Residual add (ResidualAdd of kernel.h):
  float add_conv_ratio[16];     // conv_ratio
  float add_ratio[16];          // residual_ratio
  int32_t add_residual_zp[16];  // residual_zero_point
  float add_lo[16];             // lo - zero_point
  float add_hi[16];             // hi - zero_point
  int32_t add_zp[16];           // zero_point
};

// Column range [s_lo, s_hi) of one pixel of a tile and its bias row.
struct PixelTaps {
  int s_lo = 0, s_hi = 1, hcase = 0;
  friend bool operator==(const PixelTaps&, const PixelTaps&) = default;
};

struct Segment {
  int tiles = 1;                  // 0: runtime count args->tiles
  std::vector<PixelTaps> pixels;  // P pixels per tile
};

struct FunctionSpec {
  int nv = 1;              // accumulator vectors per pixel in this function
  int last_lanes = 16;     // lanes stored of the last vector (Lanes() = all)
  std::vector<Segment> segments;
};

struct GenSpec {
  VecIsa isa = VecIsa::kAvx512;
  Math math = Math::kDotU8S8;
  bool int8_out = true;        // requantise to int8 (else fp32 bias + activation)
  bool s8_out = false;         // int8 output elements are s8 (else u8)
  // kDotU8S8: the input bytes are s8; each broadcast is XORed with 0x80
  // (vpxord with a memory broadcast replaces vpbroadcastd), so vpdpbusd
  // multiplies x + 128 in [0, 255]. The bias rows compensate.
  bool flip_input = false;
  Activation act = Activation::kNone;  // fp32 only
  bool weights_in_regs = true;
  int nv_stride = 1;           // vectors per weight step in the packed weights
  int s = 1;                   // filter columns
  int steps = 1;               // reduction steps per (r, s): ceil(C / StepElements)
  int block_steps = 1;         // steps per channel block
  int64_t tap_bytes = 0;       // input bytes between filter columns
  int64_t pixel_bytes = 0;     // input bytes between adjacent output pixels
  int64_t left_bytes = 0;      // input bytes of the left padding
  int64_t row_bytes = 0;       // input bytes between filter rows
  int64_t in_row_bytes = 0;    // input bytes between consecutive output rows
  int64_t out_row_bytes = 0;   // output bytes between consecutive output rows
  int64_t out_pixel_bytes = 0; // output bytes between pixels
  int64_t bias_hcase_bytes = 0;  // bytes between bias rows of column cases
  // int8 AVX-512: requantise groups of 4 vectors with integer saturating
  // packs. Only valid when |float(acc) * scale| < 2^31 for every reachable
  // accumulator (the caller proves it from the bias, the reduction length
  // and the largest scale), so that vcvtps2dq never overflows.
  // With residual_add the bound is on the residual add's sum instead,
  // |sum| < 2^30 (the caller proves it from the ratios).
  bool packed_epilogue = false;
  // The stored value's clamp (the residual add's with one) is narrower than
  // the output type's range at the bottom / top (packed epilogue).
  bool clamp_lo = true;
  bool clamp_hi = true;
  // int8: fuse the residual add of kernel.h into the epilogue: the
  // requantised value is clamped in float, rounded in float (exactly
  // float(c - output_zero_point)), and combined with the residual byte at
  // out + JitCallArgs::residual_delta by separate vmulps/vaddps; the sum is
  // clamped, rounded and stored as the output (JitConsts::add_*).
  bool residual_add = false;
  std::vector<FunctionSpec> functions;
};

using JitFn = void (*)(const JitCallArgs*);

// The machine code of one GenSpec; functions in the order of the spec.
class JitCode {
 public:
  virtual ~JitCode() = default;
  virtual JitFn function(size_t i) const = 0;
  virtual size_t code_bytes() const = 0;
};

// Generates the code. FAILED_PRECONDITION when Xbyak fails (e.g. out of
// memory) or the spec exceeds the register file.
absl::StatusOr<std::shared_ptr<const JitCode>> GenerateConv(const GenSpec& spec);

}  // namespace qtune::kernels::x86

#endif  // QTUNE_KERNELS_X86_JIT_CONV_GEN_H_
