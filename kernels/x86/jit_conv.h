// File: jit_conv.h (internal)
// x86 JIT convolution / dense kernels: weight prepacking, zero-point and
// padding compensation, the per-row driver and threading around the
// generated microkernels of jit_conv_gen.h. See docs/kernels-x86.md.
#ifndef QTUNE_KERNELS_X86_JIT_CONV_H_
#define QTUNE_KERNELS_X86_JIT_CONV_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/x86/jit_conv_gen.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::x86 {

struct JitConvParams {
  VecIsa isa = VecIsa::kAvx512;
  Math math = Math::kDotU8S8;  // must match op.dtype (kFmaF32 for fp32)
  std::string path;            // kernel path, for the name: "avx512vnni", ...
  int mr = 6;                  // output pixels per register tile
  int nv = 4;                  // vectors of output channels per tile
  bool weights_in_regs = true; // load weight vectors once per step (else memory operands)
  int kc = 0;                  // input channels per block (>= C: no blocking)
  bool pixels_outer = false;   // loop order: rows (or pixel chunks) outer, channel blocks inner
  bool gemm = false;           // flattened pixel range (1x1 stride 1 unpadded conv, dense)
  int chunk_tiles = 4;         // gemm: register tiles per work item
  int oh_block = 1;            // direct: output rows per work item
  bool fold_columns = false;   // int8 direct, dilation_w 1: reduce over S*C contiguous bytes
  // kDotU8S8 with s8 inputs: make them u8 (x ^ 0x80) in a staged copy once
  // per Execute(); otherwise per broadcast in the loop (GenSpec::flip_input).
  // Inputs that are staged anyway (C % 4 != 0, fold) are flipped there.
  bool stage_s8 = false;
  int threads = 1;
};

// Whether the op can run as a flattened GEMM over pixels.
bool IsFlattenable(const OpSpec& op);

// `op` is valid and of a dtype matching params.math, `data` fits it, and the
// tile fits the register file (FAILED_PRECONDITION otherwise).
absl::StatusOr<std::unique_ptr<Kernel>> CreateJitConv(const OpSpec& op, const JitConvParams& params,
                                                      const OpData& data);

}  // namespace qtune::kernels::x86

#endif  // QTUNE_KERNELS_X86_JIT_CONV_H_
