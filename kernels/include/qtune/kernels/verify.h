// File: verify.h
// Deterministic operator instances (random data from a seed) and the
// comparison of a kernel's output with the reference.
//
// Tolerance. int8 outputs must be bit-exact. An fp32 output y passes when
//   |y - y_ref| <= 1e-6 * m + 1e-6
// where m = |bias| + sum |x * w| over the element's R = reduction_size()
// products and y_ref is accumulated in double. A float sum in any order and
// blocking stays inside this bound in practice (its rounding error is a few
// units of 2^-24 * m, i.e. ~1e-7 * m at worst over millions of outputs; the
// worst-case bound R * 2^-24 * m is never approached with mixed-sign data),
// while one missing or wrong product (~m / R) exceeds it for R < 10^6.
#ifndef QTUNE_KERNELS_VERIFY_H_
#define QTUNE_KERNELS_VERIFY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qtune/kernels/buffer.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels {

inline constexpr double kFp32RelativeTolerance = 1e-6;

// One operator with deterministic random constants, input, and its
// reference output (computed once, at construction). The tensors are on
// pages of their own (AlignedBuffer::OwnPages), writable until
// SealOpInstance().
struct OpInstance {
  OpSpec op;
  OpData data;
  AlignedBuffer input;       // input_elements() of the op's dtype
  AlignedBuffer reference;   // output_elements() of the op's dtype
  AlignedBuffer magnitude;   // fp32 only: output_elements() floats (see above)

  // Set by SealOpInstance(): checksums of the parts, compared by
  // CheckOpInstance().
  struct Checksums {
    uint64_t input = 0;
    uint64_t reference = 0;  // reference and magnitude
    uint64_t constants = 0;  // data: weights, bias, quantisation parameters
  };
  bool sealed = false;
  Checksums checksums;
};

// Builds an instance (see docs/agent.md, "Trial inputs"). int8:
//   * activations uniform on [0, 255] and weights uniform on [-128, 127],
//     except that each aligned run of 4 elements is, with probability 1/16,
//     one edge value: activations 0 or 255, weights -128 or 127;
//   * zero points by seed % 3: 1 (the default seed 1) gives input 255 and
//     output 0; 2 gives input 0 and output 255 (0 when a ReLU/ReLU6 is fused:
//     255 would clamp every output); 0 gives mid-range ones in [96, 160);
//   * bias and per-channel requantisation scales such that outputs spread
//     over the u8 range (standard deviation ~50 steps, centred on the output
//     zero point when it is mid-range, else on the middle of the clamp range);
//   * signed_io (s8 activations): the u8 instance of the same seed moved
//     down by 128: inputs x - 128 (edge values -128 and 127), zero points
//     and output clamp - 128 (edge zero points -128 and 127, mid-range ones
//     in [-32, 32)), the same weights, bias and scales. The accumulators are
//     the u8 instance's, and every output is its output minus 128.
// fp32: data uniform on [-1, 1). Same seed, same bytes, on every platform.
absl::StatusOr<std::unique_ptr<OpInstance>> MakeOpInstance(const OpSpec& op, uint64_t seed);

// Records the checksums of `instance` and makes its tensors (input,
// reference, magnitude) read-only, so that a kernel writing into them
// crashes. For instances shared by many kernels (the agent's cache).
// INTERNAL when the pages cannot be protected (the checksums still hold).
absl::Status SealOpInstance(OpInstance& instance);

// OK for an unsealed instance or a sealed one whose parts still match their
// checksums; else DATA_LOSS naming the changed part: "reference corrupted",
// "input corrupted" or "constants corrupted" (e.g. a stray write of a
// kernel). Reads every byte of the instance: O(its size).
absl::Status CheckOpInstance(const OpInstance& instance);

// Bytes of one element of the op's activations (1 for int8, 4 for fp32).
size_t ElementBytes(DType dtype);

struct VerifyResult {
  int64_t outputs = 0;         // elements compared
  int64_t mismatches = 0;      // elements outside tolerance
  int64_t first_mismatch = -1; // flat index of the first one
  double max_abs_error = 0;
  std::string Summary() const; // "3 of 200704 outputs differ; first at 17 (got 12, want 13)"
  std::string detail;
};

// Compares `output` (the op's dtype, output_elements()) with instance.reference.
VerifyResult VerifyOutput(const OpInstance& instance, const void* output);

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_VERIFY_H_
