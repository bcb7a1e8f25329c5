// File: conv_geometry.h (internal)
// The shape of a convolution as a driver walks it, and which filter taps
// fall inside the image for each output position: positions with the same
// valid tap range form one "case", and per-case tables (bias rows with the
// zero-point compensation of exactly those taps) let the microkernel skip
// the padding without branches.
#ifndef QTUNE_KERNELS_X86_CONV_GEOMETRY_H_
#define QTUNE_KERNELS_X86_CONV_GEOMETRY_H_

#include <utility>
#include <vector>

#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::x86 {

// The convolution as the driver sees it; GEMM mode is one row of m pixels.
struct Geometry {
  int n = 1, h = 1, w = 1, c = 1, k = 1, r = 1, s = 1;
  int sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  int oh = 1, ow = 1;
};

// `gemm`: the op flattened to one row of N*H*W pixels (IsFlattenable ops).
Geometry MakeGeometry(const OpSpec& op, bool gemm);

// The valid filter index range [lo, hi) of output position `o` along one
// axis ({0, 0} when no tap is inside).
std::pair<int, int> ValidTaps(int o, int stride, int pad, int dil, int taps, int extent);

// Distinct valid tap ranges of an axis, and the case index of each output
// position.
struct AxisCases {
  std::vector<std::pair<int, int>> ranges;
  std::vector<int> index;  // per output position
};

AxisCases MakeCases(int out, int stride, int pad, int dil, int taps, int extent);

}  // namespace qtune::kernels::x86

#endif  // QTUNE_KERNELS_X86_CONV_GEOMETRY_H_
