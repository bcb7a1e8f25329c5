// fast:: against reference:: of runtime/ops.h: bit-identical int8 outputs
// (and f32 outputs) on random data with the edge values of each type,
// lengths that leave vector tails, NaN and infinities, and pool windows
// with padding.
#include "runtime/ops.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace qtune::runtime {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Floats(size_t n, float range, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-range, range);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  // Edge values: exact ties, huge, infinite, NaN, signed zero.
  const float edges[] = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 1e30f, -1e30f, kInf, -kInf,
                         std::numeric_limits<float>::quiet_NaN(), -0.0f, 4194304.5f};
  for (size_t i = 0; i < n && i < sizeof(edges) / sizeof(edges[0]); ++i) v[i * 7 % n] = edges[i];
  return v;
}

std::vector<uint8_t> Bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& x : v) x = static_cast<uint8_t>(rng());
  if (n > 4) {
    v[0] = 0;
    v[1] = 255;
    v[2] = 127;
    v[3] = 128;
  }
  return v;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

class OpsTest : public ::testing::TestWithParam<bool> {  // s8?
 protected:
  QType type() const { return QType{GetParam()}; }
};

TEST_P(OpsTest, QuantizeAndDequantize) {
  for (size_t n : {1u, 15u, 64u, 1001u}) {
    for (float scale : {0.0123f, 1.0f, 3e-7f}) {
      const QuantizeArgs args{scale, type().s8 ? -7 : 131, type()};
      const std::vector<float> x = Floats(n, 200 * scale, static_cast<uint32_t>(n));
      std::vector<uint8_t> fast_q(n), ref_q(n);
      fast::Quantize(x.data(), n, args, fast_q.data());
      reference::Quantize(x.data(), n, args, ref_q.data());
      EXPECT_EQ(fast_q, ref_q) << "n=" << n << " scale=" << scale;
      std::vector<float> fast_x(n), ref_x(n);
      fast::Dequantize(fast_q.data(), n, args, fast_x.data());
      reference::Dequantize(ref_q.data(), n, args, ref_x.data());
      EXPECT_TRUE(SameBits(fast_x, ref_x));
    }
  }
  // Ties go to even, NaN to the bottom of the range.
  const QuantizeArgs unit{1.0f, 0, type()};
  const float ties[] = {0.5f, 1.5f, 2.5f, std::numeric_limits<float>::quiet_NaN()};
  uint8_t q[4];
  fast::Quantize(ties, 4, unit, q);
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[1], 2);
  EXPECT_EQ(q[2], 2);
  EXPECT_EQ(q[3], type().s8 ? 0x80 : 0);
}

TEST_P(OpsTest, QuantizeNchwToNhwc) {
  for (int c : {1, 3, 8}) {
    const int n = 2, hw = 37;
    const std::vector<float> x = Floats(static_cast<size_t>(n) * c * hw, 3, c);
    const QuantizeArgs args{0.02f, type().s8 ? 3 : 128, type()};
    std::vector<uint8_t> a(x.size()), b(x.size()), plain(x.size());
    fast::QuantizeNchwToNhwc(x.data(), n, c, hw, args, a.data());
    reference::QuantizeNchwToNhwc(x.data(), n, c, hw, args, b.data());
    EXPECT_EQ(a, b) << "c=" << c;
    // Element (b, ch, p) lands at (b, p, ch).
    reference::Quantize(x.data(), x.size(), args, plain.data());
    EXPECT_EQ(a[(1 * hw + 5) * c + (c - 1)], plain[(1 * c + (c - 1)) * hw + 5]);
  }
}

TEST_P(OpsTest, Add) {
  for (size_t n : {1u, 33u, 4099u}) {
    const std::vector<uint8_t> a = Bytes(n, 1), b = Bytes(n, 2);
    for (bool relu : {false, true}) {
      AddArgs args;
      args.type = type();
      args.a_zero_point = type().s8 ? -3 : 120;
      args.b_zero_point = type().s8 ? 100 : 7;
      args.y_zero_point = type().s8 ? -128 : 17;
      args.a_ratio = 0.7321f;
      args.b_ratio = 1.618034f;
      args.lo = relu ? args.y_zero_point : type().min();
      args.hi = type().max();
      std::vector<uint8_t> fast_y(n), ref_y(n);
      fast::AddQ(a.data(), b.data(), n, args, fast_y.data());
      reference::AddQ(a.data(), b.data(), n, args, ref_y.data());
      EXPECT_EQ(fast_y, ref_y) << "n=" << n << " relu=" << relu;
    }
  }
  const std::vector<float> fa = Floats(257, 4, 3), fb = Floats(257, 4, 4);
  std::vector<float> fy(257), ry(257);
  for (auto [lo, hi] : {std::pair{-kInf, kInf}, std::pair{0.0f, 6.0f}}) {
    fast::AddF32(fa.data(), fb.data(), 257, lo, hi, fy.data());
    reference::AddF32(fa.data(), fb.data(), 257, lo, hi, ry.data());
    EXPECT_TRUE(SameBits(fy, ry));
  }
}

// Windows (kernel, stride, padding) with border and interior pixels: the
// 3x3 ones take the interior fast path for their inner pixels.
TEST_P(OpsTest, MaxPoolWithPadding) {
  struct Window {
    int k, stride, pad;
  };
  for (const Window win : {Window{3, 2, 1}, Window{3, 1, 1}, Window{3, 2, 0}, Window{2, 2, 0},
                           Window{5, 1, 2}}) {
    for (int c : {3, 64, 80}) {
      SCOPED_TRACE(testing::Message() << "k=" << win.k << " stride=" << win.stride
                                      << " pad=" << win.pad);
      PoolArgs p;
      p.n = 2;
      p.h = 9;
      p.w = 7;
      p.c = c;
      p.kernel_h = p.kernel_w = win.k;
      p.stride_h = p.stride_w = win.stride;
      p.pad_top = p.pad_left = win.pad;
      p.out_h = (p.h + 2 * win.pad - win.k) / win.stride + 1;
      p.out_w = (p.w + 2 * win.pad - win.k) / win.stride + 1;
      const size_t in = static_cast<size_t>(p.n) * p.h * p.w * c;
      const size_t out = static_cast<size_t>(p.n) * p.out_h * p.out_w * c;
      const std::vector<uint8_t> x = Bytes(in, c);
      std::vector<uint8_t> a(out), b(out);
      fast::MaxPoolQ(x.data(), p, type(), a.data());
      reference::MaxPoolQ(x.data(), p, type(), b.data());
      EXPECT_EQ(a, b) << "c=" << c;
      const std::vector<float> fx = Floats(in, 10, c);
      std::vector<float> fa(out), fb(out);
      fast::MaxPoolF32(fx.data(), p, fa.data());
      reference::MaxPoolF32(fx.data(), p, fb.data());
      for (size_t i = 0; i < out; ++i) {
        if (!std::isnan(fb[i])) EXPECT_EQ(fa[i], fb[i]) << i;  // NaN order may differ
      }
    }
  }
}

TEST_P(OpsTest, GlobalAveragePool) {
  for (int c : {5, 64, 1280}) {
    AvgPoolArgs args{2, 49, c, type().s8 ? -20 : 3, type().s8 ? 11 : 200,
                     0.37f / (0.41f * 49.0f), type()};
    const std::vector<uint8_t> x = Bytes(static_cast<size_t>(2) * 49 * c, c);
    std::vector<uint8_t> a(2 * c), b(2 * c);
    fast::GlobalAvgPoolQ(x.data(), args, a.data());
    reference::GlobalAvgPoolQ(x.data(), args, b.data());
    EXPECT_EQ(a, b) << "c=" << c;
    const std::vector<float> fx = Floats(x.size(), 5, c + 1);
    std::vector<float> fa(2 * c), fb(2 * c);
    std::vector<float> finite = fx;
    for (float& v : finite) v = std::isfinite(v) && std::abs(v) < 1e6f ? v : 1.0f;
    fast::GlobalAvgPoolF32(finite.data(), 2, 49, c, fa.data());
    reference::GlobalAvgPoolF32(finite.data(), 2, 49, c, fb.data());
    EXPECT_TRUE(SameBits(fa, fb));
  }
}

TEST_P(OpsTest, Clamp) {
  const std::vector<uint8_t> x = Bytes(1000, 9);
  std::vector<uint8_t> a(1000), b(1000);
  const int32_t lo = type().s8 ? -5 : 20, hi = type().s8 ? 90 : 200;
  fast::ClampQ(x.data(), 1000, lo, hi, type(), a.data());
  reference::ClampQ(x.data(), 1000, lo, hi, type(), b.data());
  EXPECT_EQ(a, b);
  const std::vector<float> fx = Floats(1000, 10, 9);
  std::vector<float> fa(1000), fb(1000);
  fast::ClampF32(fx.data(), 1000, 0.0f, 6.0f, fa.data());
  reference::ClampF32(fx.data(), 1000, 0.0f, 6.0f, fb.data());
  EXPECT_TRUE(SameBits(fa, fb));
}

INSTANTIATE_TEST_SUITE_P(Types, OpsTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "s8" : "u8"; });

}  // namespace
}  // namespace qtune::runtime
