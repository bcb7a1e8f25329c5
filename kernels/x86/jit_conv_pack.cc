#include "kernels/x86/jit_conv_pack.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kernels/src/lru_cache.h"

namespace qtune::kernels::x86 {
namespace {

// Fingerprint of the op's constants (weights, bias, quantisation), part of
// the pack cache key: a different seed or data set never reuses tables.
uint64_t DataFingerprint(const OpData& d) {
  // Every vector as its bytes: hashed in bulk, and bitwise (the packing
  // copies bits, so e.g. -0.0f and 0.0f are different constants).
  auto bytes = [](const auto& v) {
    return absl::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(v[0]));
  };
  const QuantParams& q = d.quant;
  return absl::HashOf(bytes(d.weights_s8), bytes(d.bias_s32), bytes(d.weights_f32),
                      bytes(d.bias_f32), bytes(q.requant_scale), q.input_zero_point,
                      q.output_zero_point, q.output_min, q.output_max);
}

size_t Bytes(const PackedConstants& tables) { return tables.bytes(); }

internal::LruCache<PackedConstants, Bytes>& PackCache() {
  static auto* cache = new internal::LruCache<PackedConstants, Bytes>(kPackCacheBytes);
  return *cache;
}

// Packed weights: [kb][r][channel block][s][step][nr lanes][4 bytes].
void PackWeights(const OpSpec& op, const ConvLayout& l, const OpData& data, PackedConstants& t) {
  const int64_t step_bytes = int64_t{l.nr} * 4;
  t.weights = AlignedBuffer(static_cast<size_t>(l.nkb * l.w_kb_bytes));
  // Byte offset of (s, c) inside one filter row of a lane: (s, c) are the
  // kernel's filter column and reduction channel; with folded columns
  // s = 0 and c runs over the S*C bytes of the row.
  std::vector<int64_t> offset(static_cast<size_t>(l.kernel_s) * l.reduction_c);
  for (int s = 0; s < l.kernel_s; ++s) {
    for (int c = 0; c < l.reduction_c; ++c) {
      const int q = c / l.unit, e = c % l.unit;
      const int b0 = q / l.block_steps * l.block_steps;
      const int bsize = std::min(l.block_steps, l.steps - b0);
      const int64_t step = int64_t{b0} * l.kernel_s + int64_t{s} * bsize + (q - b0);
      offset[static_cast<size_t>(s) * l.reduction_c + c] = step * step_bytes + e * l.eb;
    }
  }
  uint8_t* base = t.weights.as<uint8_t>();
  const size_t row = offset.size();  // logical KRSC elements per (k, r)
  for (int k = 0; k < l.g.k; ++k) {
    const int kb = k / l.nr, lane = k % l.nr;
    for (int r = 0; r < l.g.r; ++r) {
      uint8_t* dst = base + kb * l.w_kb_bytes + r * l.w_r_bytes + lane * 4;
      // Logical KRSC index: with folding, the row offset s*C + c is c.
      const size_t src = (static_cast<size_t>(k) * l.g.r + r) * row;
      if (op.dtype == DType::kFp32) {
        const float* w = &data.weights_f32[src];
        for (size_t i = 0; i < row; ++i) std::memcpy(dst + offset[i], &w[i], 4);
      } else if (l.math == Math::kMaddS16) {
        const int8_t* w = &data.weights_s8[src];
        for (size_t i = 0; i < row; ++i) {
          const int16_t v = w[i];
          std::memcpy(dst + offset[i], &v, 2);
        }
      } else {
        const int8_t* w = &data.weights_s8[src];
        for (size_t i = 0; i < row; ++i) dst[offset[i]] = static_cast<uint8_t>(w[i]);
      }
    }
  }
}

// Bias rows [row case][column case][kpad]: for u8 dot products the zero
// point of the bytes they multiply (l.dot_zero_point(): zx, or zx + 128 for
// s8 inputs read as x + 128) is folded in as bias - zp * sum of the weights
// of the taps that are inside the image for that case. Skipped (padded)
// taps contribute nothing, as in the reference. Also the int8 requantisation
// scales (kpad, padded with 1) and whether the packed epilogue is exact.
void MakeBiasAndScales(const OpSpec& op, const ConvLayout& l, const OpData& data,
                     PackedConstants& t) {
  const bool int8 = op.dtype == DType::kInt8;
  const bool fold_zp = l.math == Math::kDotU8S8;
  const int vcases = fold_zp ? static_cast<int>(l.rows.ranges.size()) : 1;
  const int hcases = fold_zp ? static_cast<int>(l.cols.ranges.size()) : 1;
  t.bias = AlignedBuffer(static_cast<size_t>(vcases * hcases) * l.bias_row_bytes);
  if (!int8) {
    std::memcpy(t.bias.data(), data.bias_f32.data(), static_cast<size_t>(l.g.k) * 4);
    t.scale = AlignedBuffer(64);
    return;
  }
  // Weight sums per (k, r, s) tap, over the C channels.
  const size_t taps = static_cast<size_t>(l.g.r) * l.g.s;
  std::vector<int64_t> tap_sum(fold_zp ? static_cast<size_t>(l.g.k) * taps : 0);
  for (size_t i = 0; i < tap_sum.size(); ++i) {
    const int8_t* w = &data.weights_s8[i * l.g.c];
    int64_t sum = 0;
    for (int c = 0; c < l.g.c; ++c) sum += w[c];
    tap_sum[i] = sum;
  }
  int32_t* b = t.bias.as<int32_t>();
  for (int vc = 0; vc < vcases; ++vc) {
    for (int hc = 0; hc < hcases; ++hc) {
      int32_t* row = b + (static_cast<size_t>(vc) * hcases + hc) * l.kpad;
      for (int k = 0; k < l.g.k; ++k) {
        int64_t sum = 0;
        if (fold_zp) {
          const auto [r0, r1] = l.rows.ranges[vc];
          const auto [s0, s1] = l.cols.ranges[hc];
          for (int r = r0; r < r1; ++r) {
            for (int s = s0; s < s1; ++s) sum += tap_sum[k * taps + r * l.g.s + s];
          }
        }
        row[k] = static_cast<int32_t>(static_cast<uint32_t>(data.bias_s32[k]) -
                                      static_cast<uint32_t>(sum * l.dot_zero_point()));
      }
    }
  }
  t.scale = AlignedBuffer(static_cast<size_t>(l.kpad) * 4);
  float* sc = t.scale.as<float>();
  const auto& rs = data.quant.requant_scale;
  for (int k = 0; k < l.kpad; ++k) sc[k] = k < l.g.k ? rs[k % rs.size()] : 1.0f;
  // |acc| <= |bias row| + taps * C * 255 * 128 for u8 dot-product inputs
  // (x, or x + 128 for s8) or int16 x - zx in [-255, 255], and s8 weights.
  int64_t max_bias = 0;
  for (size_t i = 0; i < t.bias.size() / 4; ++i) {
    max_bias = std::max<int64_t>(max_bias, b[i] < 0 ? -int64_t{b[i]} : int64_t{b[i]});
  }
  const double bound = static_cast<double>(max_bias) +
                       static_cast<double>(l.g.r) * l.g.s * l.g.c * 255.0 * 128.0;
  float max_scale = 0.0f;
  for (float v : rs) max_scale = std::max(max_scale, v);
  t.packed_epilogue = bound * max_scale < 1073741824.0;  // 2^30: margin for rounding
}

}  // namespace

ConvLayout MakeLayout(const OpSpec& op, const JitConvParams& p, const OpData& data) {
  ConvLayout l;
  l.g = MakeGeometry(op, p.gemm);
  const Geometry& g = l.g;
  l.math = p.math;
  l.int8 = op.dtype == DType::kInt8;
  l.eb = l.int8 ? (p.math == Math::kMaddS16 ? 2 : 1) : 4;
  l.ob = l.int8 ? 1 : 4;
  l.lanes = Lanes(p.isa);
  l.nr = p.nv * l.lanes;
  l.nkb = (g.k + l.nr - 1) / l.nr;
  l.kpad = l.nkb * l.nr;
  l.unit = StepElements(p.math);
  l.fold = p.fold_columns && !p.gemm && g.dw == 1 && l.int8;
  l.kernel_s = l.fold ? 1 : g.s;
  l.reduction_c = l.fold ? g.s * g.c : g.c;
  l.wp = l.fold ? g.w + g.pl + std::max(0, (g.ow - 1) * g.sw + g.s - g.pl - g.w) : g.w;
  l.steps = (l.reduction_c + l.unit - 1) / l.unit;
  const int kc = p.kc <= 0 || l.fold ? l.reduction_c : std::min(p.kc, g.c);
  l.block_steps = std::max(1, std::min(l.steps, (kc + l.unit - 1) / l.unit));
  l.zero_point = l.int8 ? data.quant.input_zero_point : 0;
  l.s8_input = l.int8 && op.signed_io;
  l.rows = MakeCases(g.oh, g.sh, g.pt, g.dh, g.r, g.h);
  if (l.fold) {
    l.cols.ranges = {{0, g.s}};
    l.cols.index.assign(g.ow, 0);
  } else {
    l.cols = MakeCases(g.ow, g.sw, g.pl, g.dw, g.s, g.w);
  }
  l.w_r_bytes = int64_t{l.kernel_s} * l.steps * l.nr * 4;
  l.w_kb_bytes = g.r * l.w_r_bytes;
  const bool fold_zp = p.math == Math::kDotU8S8;
  l.bias_row_bytes = int64_t{l.kpad} * 4;
  l.bias_hcase_bytes = fold_zp ? l.bias_row_bytes : 0;
  l.bias_vcase_bytes = fold_zp ? l.bias_row_bytes * static_cast<int64_t>(l.cols.ranges.size()) : 0;
  return l;
}

std::shared_ptr<const PackedConstants> PackedConstantsFor(const OpSpec& op, const ConvLayout& l,
                                                          const OpData& data) {
  // Everything the tables depend on besides the op and its constants: lane
  // layout (nr, math), channel blocking and folding.
  const std::string key = absl::StrCat(CanonicalKey(op), "|", static_cast<int>(l.math), ",", l.nr,
                                       ",", l.block_steps, ",", l.fold, "|", DataFingerprint(data));
  std::shared_ptr<const PackedConstants> tables = PackCache().Find(key);
  if (tables == nullptr) {
    auto made = std::make_shared<PackedConstants>();
    PackWeights(op, l, data, *made);
    MakeBiasAndScales(op, l, data, *made);
    tables = std::move(made);
    PackCache().Put(key, tables);
  }
  return tables;
}

}  // namespace qtune::kernels::x86
