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

#include "absl/status/statusor.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels {

inline constexpr double kFp32RelativeTolerance = 1e-6;

// A 64-byte aligned, zero-initialised byte buffer.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  size_t size() const { return size_; }
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <typename T> T* as() { return static_cast<T*>(data()); }
  template <typename T> const T* as() const { return static_cast<const T*>(data()); }

 private:
  struct Free { void operator()(void* p) const; };
  std::unique_ptr<void, Free> data_;
  size_t size_ = 0;
};

// One operator with deterministic random constants, input, and its
// reference output (computed once, at construction).
struct OpInstance {
  OpSpec op;
  OpData data;
  AlignedBuffer input;       // input_elements() of the op's dtype
  AlignedBuffer reference;   // output_elements() of the op's dtype
  AlignedBuffer magnitude;   // fp32 only: output_elements() floats (see above)
};

// Builds an instance: int8 inputs cover [0, 255], weights [-127, 127], zero
// points and per-channel scales chosen so that outputs spread over the u8
// range (not mostly clamped); fp32 data in [-1, 1]. Same seed, same bytes, on
// every platform.
absl::StatusOr<std::unique_ptr<OpInstance>> MakeOpInstance(const OpSpec& op, uint64_t seed);

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
