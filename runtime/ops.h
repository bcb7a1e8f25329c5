// File: ops.h
// The model runtime's operators other than convolutions, on NHWC tensors:
// quantise (optionally fused with the NCHW -> NHWC change at the graph's
// input), dequantise, add, max pool, global average pool and clamps, for
// u8 / s8 (bytes, interpreted as signed for s8) and f32.
//
// Two implementations with one signature each:
//   fast::      loops written so that the compiler vectorises them (the
//               rounding uses the 1.5 * 2^23 trick on clamped values, the
//               clamps are branch-free);
//   reference:: plain scalar code with std::nearbyint, the definition.
// Both compute exactly the same IEEE binary32 operations in the same order
// (this library is built with -ffp-contract=off), so their int8 outputs are
// bit-identical (tests/runtime/ops_test.cc checks it); the formulas are
// those of proto/model.proto:
//   quantize:   q = clamp(rne(x / s) + z)
//   dequantize: x = s * float(q - z)
//   add (int8): y = clamp(rne(float(a - za) * ra + float(b - zb) * rb) + zy, lo, hi)
//               with ra = sa / sy and rb = sb / sy computed once, in float
//   global average pool (int8):
//               y = clamp(rne(float(sum - HW * zx) * m) + zy), m = sx / (sy * float(HW))
//   global average pool (f32): y = (sum over HW, in order) / float(HW)
//   add (f32):  y = act(a + b)
// rne: round to nearest, ties to even; clamp: to [lo, hi] (the type's range
// unless given), NaN going to lo.
//
// Thread-safety: pure functions of their arguments.
#ifndef QTUNE_RUNTIME_OPS_H_
#define QTUNE_RUNTIME_OPS_H_

#include <cstddef>
#include <cstdint>

namespace qtune::runtime {

// An int8 tensor's interpretation: u8 in [0, 255] or s8 in [-128, 127].
struct QType {
  bool s8 = false;
  int32_t min() const { return s8 ? -128 : 0; }
  int32_t max() const { return s8 ? 127 : 255; }
};

struct QuantizeArgs {
  float scale = 1;
  int32_t zero_point = 0;
  QType type;
};

struct AddArgs {
  int32_t a_zero_point = 0, b_zero_point = 0, y_zero_point = 0;
  float a_ratio = 1, b_ratio = 1;  // sa / sy, sb / sy
  int32_t lo = 0, hi = 255;        // output clamp (fused ReLU: lo = y_zero_point)
  QType type;
};

// NHWC window of a max pool.
struct PoolArgs {
  int n = 1, h = 1, w = 1, c = 1;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0;
  int out_h = 1, out_w = 1;
};

struct AvgPoolArgs {
  int n = 1, hw = 1, c = 1;
  int32_t x_zero_point = 0, y_zero_point = 0;
  float multiplier = 1;  // sx / (sy * float(hw))
  QType type;
};

#define QTUNE_RUNTIME_OPS                                                                      \
  /* x: `count` floats; y: `count` bytes. */                                                   \
  void Quantize(const float* x, size_t count, const QuantizeArgs& args, uint8_t* y);          \
  /* x: NCHW [n][c][hw] floats; y: NHWC [n][hw][c] bytes. */                                   \
  void QuantizeNchwToNhwc(const float* x, int n, int c, int hw, const QuantizeArgs& args,      \
                          uint8_t* y);                                                          \
  void Dequantize(const uint8_t* q, size_t count, const QuantizeArgs& args, float* y);        \
  void TransposeNchwToNhwc(const float* x, int n, int c, int hw, float* y);                    \
  void AddQ(const uint8_t* a, const uint8_t* b, size_t count, const AddArgs& args,            \
            uint8_t* y);                                                                        \
  /* lo/hi: the fused activation's bounds (none: -inf/+inf). */                                \
  void AddF32(const float* a, const float* b, size_t count, float lo, float hi, float* y);     \
  void MaxPoolQ(const uint8_t* x, const PoolArgs& args, QType type, uint8_t* y);               \
  void MaxPoolF32(const float* x, const PoolArgs& args, float* y);                             \
  void GlobalAvgPoolQ(const uint8_t* x, const AvgPoolArgs& args, uint8_t* y);                  \
  void GlobalAvgPoolF32(const float* x, int n, int hw, int c, float* y);                       \
  void ClampQ(const uint8_t* x, size_t count, int32_t lo, int32_t hi, QType type, uint8_t* y); \
  void ClampF32(const float* x, size_t count, float lo, float hi, float* y);

namespace fast {
QTUNE_RUNTIME_OPS
}  // namespace fast

namespace reference {
QTUNE_RUNTIME_OPS
}  // namespace reference

#undef QTUNE_RUNTIME_OPS

}  // namespace qtune::runtime

#endif  // QTUNE_RUNTIME_OPS_H_
