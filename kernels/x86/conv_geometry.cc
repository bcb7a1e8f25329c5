#include "kernels/x86/conv_geometry.h"

#include <algorithm>

namespace qtune::kernels::x86 {

Geometry MakeGeometry(const OpSpec& op, bool gemm) {
  Geometry g;
  g.c = op.c;
  g.k = op.k;
  if (gemm) {
    g.w = g.ow = op.n * op.h * op.w;
    return g;
  }
  g.n = op.n;
  g.h = op.h;
  g.w = op.w;
  g.r = op.r;
  g.s = op.s;
  g.sh = op.stride_h;
  g.sw = op.stride_w;
  g.dh = op.dilation_h;
  g.dw = op.dilation_w;
  g.pt = op.pad_top;
  g.pl = op.pad_left;
  g.oh = op.out_h();
  g.ow = op.out_w();
  return g;
}

std::pair<int, int> ValidTaps(int o, int stride, int pad, int dil, int taps, int extent) {
  int lo = taps, hi = 0;
  for (int t = 0; t < taps; ++t) {
    const int i = o * stride - pad + t * dil;
    if (i >= 0 && i < extent) {
      lo = std::min(lo, t);
      hi = t + 1;
    }
  }
  if (lo >= hi) return {0, 0};
  return {lo, hi};
}

AxisCases MakeCases(int out, int stride, int pad, int dil, int taps, int extent) {
  AxisCases cases;
  for (int o = 0; o < out; ++o) {
    const auto range = ValidTaps(o, stride, pad, dil, taps, extent);
    auto it = std::find(cases.ranges.begin(), cases.ranges.end(), range);
    if (it == cases.ranges.end()) {
      cases.ranges.push_back(range);
      it = cases.ranges.end() - 1;
    }
    cases.index.push_back(static_cast<int>(it - cases.ranges.begin()));
  }
  return cases;
}

}  // namespace qtune::kernels::x86
