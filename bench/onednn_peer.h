// File: onednn_peer.h
// oneDNN as the benchmark's peer: one primitive computing the same operator
// instance as qtune's kernels, with the same quantisation (see docs/bench.md).
//
//   conv2d -> convolution_forward (forward_inference, convolution_direct)
//   dense  -> matmul (src [N][C], weights viewed as [C][K])
//   int8:  u8 source with a source zero point (attribute, or folded into the
//          bias, see Create), s8 weights, s32 bias, output
//          scales per output channel (mask 2, or 0 for a single scale), u8
//          destination with a destination zero point; the activation is an
//          eltwise post-op (relu; clip for relu6).
//   fp32:  f32 everywhere, bias, activation as an eltwise post-op.
// Source, weights and destination use format_tag::any: oneDNN picks its
// layouts. Create() reorders the weights and the input into them once;
// Execute() runs the primitive only. ReadOutput() reorders the destination
// back to the op's logical layout (NHWC / [N][K]).
//
// oneDNN (Debian's build) threads with OpenMP (libgomp): Prepare() sets
// omp_set_num_threads to the op's thread count; call it before a series of
// Execute() calls whenever another op with a different count ran in between.
//
// Thread-safety: an op is used by one thread at a time.
#ifndef QTUNE_BENCH_ONEDNN_PEER_H_
#define QTUNE_BENCH_ONEDNN_PEER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qtune/kernels/verify.h"

namespace qtune::bench {

// oneDNN's version and the ISA it dispatches to, e.g.
// "2.6.3, cpu runtime OpenMP, isa avx512_core_bf16".
std::string OneDnnDescription();

// Holds oneDNN to at most `isa` for the rest of the process (dnnl::set_max_cpu_isa; the same
// as ONEDNN_MAX_CPU_ISA), so that a run can compare against oneDNN's kernels of a lower ISA,
// e.g. its VNNI kernels on a CPU with AMX. `isa` is one of sse41, avx, avx2, avx2_vnni,
// avx512_core, avx512_core_vnni, avx512_core_bf16, avx512_core_amx, all. A cap above the CPU's
// ISA is allowed and changes nothing (OneDnnDescription() reports the effective ISA).
// INVALID_ARGUMENT for an unknown name; FAILED_PRECONDITION when oneDNN refuses, which it does
// once any primitive was created: call it first.
absl::Status LimitOneDnnIsa(const std::string& isa);

class OneDnnOp {
 public:
  // The primitive for instance.op (conv2d or dense, int8 or fp32) running on
  // `threads` OpenMP threads. The constants and the input are copied
  // (reordered) here; `instance` may be freed afterwards. UNIMPLEMENTED for other op kinds; INTERNAL with
  // oneDNN's message when it rejects the descriptor.
  //
  // With `fold_src_zero_point` (int8 only) the source zero point is not
  // given to oneDNN but folded into the bias (bias - zp * sum of weights):
  // oneDNN 2.6 then may pick its brgemm convolution, which rejects source
  // zero points; the result equals the reference's only for outputs none of
  // whose taps fall into the padding.
  static absl::StatusOr<std::unique_ptr<OneDnnOp>> Create(const kernels::OpInstance& instance,
                                                          int threads, bool fold_src_zero_point);
  virtual ~OneDnnOp() = default;

  virtual void Prepare() = 0;
  // One execution of the primitive, waiting for its completion.
  virtual absl::Status Execute() = 0;
  // Copies the destination of the last Execute() to `output` in the op's
  // logical layout: output_elements() values of the op's dtype.
  virtual absl::Status ReadOutput(void* output) = 0;
  // oneDNN's implementation name, e.g. "brg:avx512_core_vnni".
  virtual const std::string& impl() const = 0;
};

}  // namespace qtune::bench

#endif  // QTUNE_BENCH_ONEDNN_PEER_H_
