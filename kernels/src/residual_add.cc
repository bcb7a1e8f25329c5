#include "kernels/src/residual_add.h"

#include <cstddef>
#include <cstdint>

namespace qtune::kernels::internal {
namespace {

// The operations of reference.h's AddResidual, in its order, with the
// rounding done on the clamped sum: for integer bounds L = lo - zero_point
// and H = hi - zero_point, clamp(rne(v), L, H) = rne(clamp(v, L, H)) because
// rounding is monotonic and keeps integers; and clamp(rne(v) + zp, lo, hi)
// (the reference adds zp in float, exact for |rne(v)| <= 2^24, and any
// larger sum lies beyond the same bound) = clamp(rne(v), L, H) + zp. On
// [L, H], |v| <= 383 < 2^22, so (v + 1.5 * 2^23) - 1.5 * 2^23 is rne(v) in
// binary32 (the library is built without floating-point contraction). A NaN
// sum fails `v > L` and becomes L, as the reference's lo.
template <typename T>
void AddLoop(T* y, const T* b, size_t count, const ResidualAddArgs& args) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  const ResidualAdd& add = args.add;
  const int32_t zc = args.conv_zero_point, zb = add.residual_zero_point, zy = add.zero_point;
  const float ra = add.conv_ratio, rb = add.residual_ratio;
  const float lo = static_cast<float>(add.lo - zy), hi = static_cast<float>(add.hi - zy);
  for (size_t i = 0; i < count; ++i) {
    const float va = static_cast<float>(static_cast<int32_t>(y[i]) - zc) * ra;
    const float vb = static_cast<float>(static_cast<int32_t>(b[i]) - zb) * rb;
    float v = va + vb;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    v = (v + kRound) - kRound;
    y[i] = static_cast<T>(static_cast<int32_t>(v) + zy);
  }
}

}  // namespace

void AddResidualInPlace(uint8_t* y, const uint8_t* b, size_t count, const ResidualAddArgs& args) {
  if (args.s8) {
    AddLoop(reinterpret_cast<int8_t*>(y), reinterpret_cast<const int8_t*>(b), count, args);
  } else {
    AddLoop(y, b, count, args);
  }
}

}  // namespace qtune::kernels::internal
