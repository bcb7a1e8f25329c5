// File: reference.h
// Plain-loop implementations that define the semantics of every operator
// (see kernel.h). Obviously correct rather than fast: per output pixel, the
// in-bounds taps and channels in (r, s, c) order, summed into all output
// channels at once (int8 exactly in int32; fp32 in double, with the sum of
// |products| as the magnitude that sets the fp32 tolerance). No blocking, no
// threads; tests/kernels/reference_test.cc checks it against a naive loop.
#ifndef QTUNE_KERNELS_REFERENCE_H_
#define QTUNE_KERNELS_REFERENCE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels {

// Requantises one int32 accumulator: clamp(rne(float(acc) * scale) + zp, lo, hi).
// float(acc) and the product are IEEE binary32 operations; rne is round to
// nearest, ties to even. Kernels must reproduce exactly these operations.
// Returns the output element's byte: the u8 value for bounds in [0, 255], the
// s8 value in two's complement for bounds in [-128, 127] (signed_io).
uint8_t Requantize(int32_t acc, float scale, int32_t zero_point, int32_t lo, int32_t hi);

// One element of a fused residual add (ResidualAdd in kernel.h): the byte of
// y from the bytes of the convolution's output c and the residual b (u8, or
// s8 in two's complement when `s8`), with c's zero point `conv_zero_point`
// (QuantParams::output_zero_point). The binary32 operations of kernel.h's
// formula, in its order; rne is std::nearbyint.
uint8_t AddResidual(uint8_t conv, uint8_t residual, int32_t conv_zero_point,
                    const ResidualAdd& add, bool s8);

// Runs the reference of `op` (int8: u8 in/out, or s8 in/out for signed_io;
// fp32: float in/out).
// For fp32, `magnitude` (optional, output_elements() floats) receives
// |bias| + sum |x * w| per output element, which sets the verification
// tolerance (verify.h).
absl::Status RunReference(const OpSpec& op, const OpData& data, const void* input, void* output,
                          float* magnitude = nullptr);

// The reference of an int8 `op` with its fused residual add
// (data.residual_add, INVALID_ARGUMENT without one): RunReference, then
// AddResidual per element with the residual tensor `residual` (the output's
// type, layout and size).
absl::Status RunReferenceWithResidual(const OpSpec& op, const OpData& data, const void* input,
                                      const void* residual, void* output);

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_REFERENCE_H_
