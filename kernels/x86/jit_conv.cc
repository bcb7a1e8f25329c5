// The x86 JIT convolution kernel: geometry, prepacking, compensation tables,
// code cache, driver and threading (see jit_conv.h, docs/kernels-x86.md).
#include "kernels/x86/jit_conv.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/hash/hash.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/src/strings.h"
#include "kernels/src/thread_pool.h"
#include "kernels/x86/jit_conv_gen.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/verify.h"

namespace qtune::kernels::x86 {
namespace {

// Bytes of slack after staged inputs: the last reduction step of a pixel may
// read up to 3 bytes past its channels.
constexpr size_t kSlack = 64;

// The convolution as the driver sees it; GEMM mode is one row of m pixels.
struct Geometry {
  int n = 1, h = 1, w = 1, c = 1, k = 1, r = 1, s = 1;
  int sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  int oh = 1, ow = 1;
};

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

// The valid filter index range [lo, hi) of output position `o` along one axis.
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

// Distinct ranges of an axis, and the case index of each output position.
struct AxisCases {
  std::vector<std::pair<int, int>> ranges;
  std::vector<int> index;  // per output position
};

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

// A bounded, thread-safe cache of shared read-only values; the least
// recently used go first once the summed cost (Cost(value)) exceeds the
// capacity. Holders keep a value alive through its shared pointer after
// eviction.
template <typename V, size_t (*Cost)(const V&)>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<const V> Find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  // A value costing more than the whole capacity is not kept.
  void Put(const std::string& key, std::shared_ptr<const V> value) {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t cost = Cost(*value);
    if (index_.count(key) > 0 || cost > capacity_) return;
    used_ += cost;
    lru_.emplace_front(key, std::move(value));
    index_[key] = lru_.begin();
    while (used_ > capacity_) {
      used_ -= Cost(*lru_.back().second);
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const V>>;
  const size_t capacity_;
  std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::map<std::string, typename std::list<Entry>::iterator> index_;
  size_t used_ = 0;
};

size_t CountOne(const JitCode&) { return 1; }

// Generated code, keyed by (op, config), at most 256 entries.
LruCache<JitCode, CountOne>& CodeCache() {
  static auto* cache = new LruCache<JitCode, CountOne>(256);
  return *cache;
}


// The kernel's tables derived from the op's constants: packed weights, bias
// rows (with the zero-point compensation) and requantisation scales. They
// depend only on the op, its constants and the knobs in the pack key (see
// JitConvKernel::Init), so kernels of different configs share them
// (read-only).
struct PackedConstants {
  AlignedBuffer weights, bias, scale;
  bool packed_epilogue = false;
  size_t bytes() const { return weights.size() + bias.size() + scale.size(); }
};

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

// PackedConstants, at most 32 MiB of them: a small cache is recycled sooner
// (see AlignedBuffer), and the tables of one op rarely repeat across the
// configs of a search.
LruCache<PackedConstants, Bytes>& PackCache() {
  static auto* cache = new LruCache<PackedConstants, Bytes>(size_t{32} << 20);
  return *cache;
}

std::string TileName(const OpSpec& op, const JitConvParams& p) {
  const bool int8 = op.dtype == DType::kInt8;
  const char* algo = op.kind == OpKind::kDense ? "gemm" : (p.gemm ? "gemm" : "direct");
  std::string name = absl::StrCat(internal::Sv(OpKindName(op.kind)), int8 ? "_u8s8u8_" : "_f32_", algo, "_",
                                  p.mr, "x", p.nv * Lanes(p.isa));
  if (int8) absl::StrAppend(&name, "c", StepElements(p.math));
  absl::StrAppend(&name, "__", p.path);
  return name;
}

class JitConvKernel final : public Kernel {
 public:
  JitConvKernel(const OpSpec& op, const JitConvParams& p)
      : op_(op), p_(p), g_(MakeGeometry(op, p.gemm)), pool_(p.threads) {}

  const std::string& name() const override { return name_; }

  absl::Status Init(const OpData& data) {
    name_ = TileName(op_, p_);
    const bool int8 = op_.dtype == DType::kInt8;
    eb_ = int8 ? (p_.math == Math::kMaddS16 ? 2 : 1) : 4;
    ob_ = int8 ? 1 : 4;
    lanes_ = Lanes(p_.isa);
    nr_ = p_.nv * lanes_;
    nkb_ = (g_.k + nr_ - 1) / nr_;
    kpad_ = nkb_ * nr_;
    unit_ = StepElements(p_.math);
    // Folded columns: the S*C bytes of one filter row are contiguous in a
    // horizontally padded copy of the input, so they form one reduction.
    fold_ = p_.fold_columns && !p_.gemm && g_.dw == 1 && int8;
    kernel_s_ = fold_ ? 1 : g_.s;
    reduction_c_ = fold_ ? g_.s * g_.c : g_.c;
    wp_ = fold_ ? g_.w + g_.pl + std::max(0, (g_.ow - 1) * g_.sw + g_.s - g_.pl - g_.w) : g_.w;
    steps_ = (reduction_c_ + unit_ - 1) / unit_;
    const int kc = p_.kc <= 0 || fold_ ? reduction_c_ : std::min(p_.kc, g_.c);
    block_steps_ = std::max(1, std::min(steps_, (kc + unit_ - 1) / unit_));
    // Input staging: int16 conversion, a horizontally padded copy (fold), or
    // a copy with slack when the last reduction step of a pixel reads past
    // the tensor. Padding columns hold the input zero point (x - zx = 0).
    stage_s16_ = p_.math == Math::kMaddS16;
    stage_copy_ = p_.math == Math::kDotU8S8 && (g_.c % 4 != 0 || fold_);
    zero_point_ = int8 ? data.quant.input_zero_point : 0;
    if (stage_s16_ || stage_copy_) {
      const size_t elements = static_cast<size_t>(g_.n) * g_.h * wp_ * g_.c;
      staged_ = AlignedBuffer(elements * eb_ + kSlack);
      if (stage_copy_) std::memset(staged_.data(), zero_point_, staged_.size());
    }
    rows_ = MakeCases(g_.oh, g_.sh, g_.pt, g_.dh, g_.r, g_.h);
    if (fold_) {
      cols_.ranges = {{0, g_.s}};
      cols_.index.assign(g_.ow, 0);
    } else {
      cols_ = MakeCases(g_.ow, g_.sw, g_.pl, g_.dw, g_.s, g_.w);
    }
    w_r_bytes_ = int64_t{kernel_s_} * steps_ * nr_ * 4;
    w_kb_bytes_ = g_.r * w_r_bytes_;
    const bool fold_zp = p_.math == Math::kDotU8S8;
    bias_row_bytes_ = int64_t{kpad_} * 4;
    bias_hcase_bytes_ = fold_zp ? bias_row_bytes_ : 0;
    bias_vcase_bytes_ = fold_zp ? bias_row_bytes_ * static_cast<int64_t>(cols_.ranges.size()) : 0;
    // Everything the tables depend on besides the op and its constants:
    // lane layout (nr, math), channel blocking and folding.
    const std::string pack_key =
        absl::StrCat(CanonicalKey(op_), "|", static_cast<int>(p_.math), ",", nr_, ",",
                     block_steps_, ",", fold_, "|", DataFingerprint(data));
    tables_ = PackCache().Find(pack_key);
    if (tables_ == nullptr) {
      auto tables = std::make_shared<PackedConstants>();
      PackWeights(data, *tables);
      MakeBiasAndScales(data, *tables);
      tables_ = std::move(tables);
      PackCache().Put(pack_key, tables_);
    }
    MakeConsts(data);
    return Generate();
  }

  absl::Status Execute(const void* input, void* output) override {
    if (input == nullptr || output == nullptr) {
      return absl::InvalidArgumentError("Execute: input and output must not be null");
    }
    const uint8_t* in = static_cast<const uint8_t*>(input);
    if (stage_s16_ || stage_copy_) {
      // Row by row into the (possibly wider) staged rows; padding columns
      // keep their value from creation.
      const int64_t row = int64_t{g_.w} * g_.c;
      const int64_t lead = fold_ ? int64_t{g_.pl} * g_.c : 0;
      const int16_t zx = static_cast<int16_t>(zero_point_);
      for (int64_t y = 0; y < int64_t{g_.n} * g_.h; ++y) {
        const uint8_t* src = in + y * row;
        const int64_t dst = y * wp_ * g_.c + lead;
        if (stage_s16_) {
          int16_t* d = staged_.as<int16_t>() + dst;
          for (int64_t i = 0; i < row; ++i) d[i] = static_cast<int16_t>(src[i] - zx);
        } else {
          std::memcpy(staged_.as<uint8_t>() + dst, src, static_cast<size_t>(row));
        }
      }
      in = staged_.as<uint8_t>();
    }
    uint8_t* out = static_cast<uint8_t*>(output);
    if (p_.gemm) {
      RunGemm(in, out);
    } else {
      RunDirect(in, out);
    }
    return absl::OkStatus();
  }

 private:
  // Packed weights: [kb][r][channel block][s][step][nr lanes][4 bytes].
  void PackWeights(const OpData& data, PackedConstants& t) const {
    const int64_t step_bytes = int64_t{nr_} * 4;
    t.weights = AlignedBuffer(static_cast<size_t>(nkb_ * w_kb_bytes_));
    // Byte offset of (s, c) inside one filter row of a lane: (s, c) are the
    // kernel's filter column and reduction channel; with folded columns
    // s = 0 and c runs over the S*C bytes of the row.
    std::vector<int64_t> offset(static_cast<size_t>(kernel_s_) * reduction_c_);
    for (int s = 0; s < kernel_s_; ++s) {
      for (int c = 0; c < reduction_c_; ++c) {
        const int q = c / unit_, e = c % unit_;
        const int b0 = q / block_steps_ * block_steps_;
        const int bsize = std::min(block_steps_, steps_ - b0);
        const int64_t step = int64_t{b0} * kernel_s_ + int64_t{s} * bsize + (q - b0);
        offset[static_cast<size_t>(s) * reduction_c_ + c] = step * step_bytes + e * eb_;
      }
    }
    uint8_t* base = t.weights.as<uint8_t>();
    const size_t row = offset.size();  // logical KRSC elements per (k, r)
    for (int k = 0; k < g_.k; ++k) {
      const int kb = k / nr_, lane = k % nr_;
      for (int r = 0; r < g_.r; ++r) {
        uint8_t* dst = base + kb * w_kb_bytes_ + r * w_r_bytes_ + lane * 4;
        // Logical KRSC index: with folding, the row offset s*C + c is c.
        const size_t src = (static_cast<size_t>(k) * g_.r + r) * row;
        if (op_.dtype == DType::kFp32) {
          const float* w = &data.weights_f32[src];
          for (size_t i = 0; i < row; ++i) std::memcpy(dst + offset[i], &w[i], 4);
        } else if (p_.math == Math::kMaddS16) {
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

  // Bias rows [row case][column case][kpad]: for u8 dot products the input
  // zero point is folded in as bias - zx * sum of the weights of the taps
  // that are inside the image for that case. Also the int8 requantisation
  // scales (kpad, padded with 1) and whether the packed epilogue is exact.
  void MakeBiasAndScales(const OpData& data, PackedConstants& t) const {
    const bool int8 = op_.dtype == DType::kInt8;
    const bool fold_zp = p_.math == Math::kDotU8S8;
    const int vcases = fold_zp ? static_cast<int>(rows_.ranges.size()) : 1;
    const int hcases = fold_zp ? static_cast<int>(cols_.ranges.size()) : 1;
    t.bias = AlignedBuffer(static_cast<size_t>(vcases * hcases) * bias_row_bytes_);
    if (!int8) {
      std::memcpy(t.bias.data(), data.bias_f32.data(), static_cast<size_t>(g_.k) * 4);
      t.scale = AlignedBuffer(64);
      return;
    }
    // Weight sums per (k, r, s) tap, over the C channels.
    const size_t taps = static_cast<size_t>(g_.r) * g_.s;
    std::vector<int64_t> tap_sum(fold_zp ? static_cast<size_t>(g_.k) * taps : 0);
    for (size_t i = 0; i < tap_sum.size(); ++i) {
      const int8_t* w = &data.weights_s8[i * g_.c];
      int64_t sum = 0;
      for (int c = 0; c < g_.c; ++c) sum += w[c];
      tap_sum[i] = sum;
    }
    int32_t* b = t.bias.as<int32_t>();
    for (int vc = 0; vc < vcases; ++vc) {
      for (int hc = 0; hc < hcases; ++hc) {
        int32_t* row = b + (static_cast<size_t>(vc) * hcases + hc) * kpad_;
        for (int k = 0; k < g_.k; ++k) {
          int64_t sum = 0;
          if (fold_zp) {
            const auto [r0, r1] = rows_.ranges[vc];
            const auto [s0, s1] = cols_.ranges[hc];
            for (int r = r0; r < r1; ++r) {
              for (int s = s0; s < s1; ++s) sum += tap_sum[k * taps + r * g_.s + s];
            }
          }
          row[k] = static_cast<int32_t>(static_cast<uint32_t>(data.bias_s32[k]) -
                                        static_cast<uint32_t>(sum * zero_point_));
        }
      }
    }
    t.scale = AlignedBuffer(static_cast<size_t>(kpad_) * 4);
    float* sc = t.scale.as<float>();
    const auto& rs = data.quant.requant_scale;
    for (int k = 0; k < kpad_; ++k) sc[k] = k < g_.k ? rs[k % rs.size()] : 1.0f;
    // |acc| <= |bias row| + taps * C * 255 * 128 for u8 inputs (or int16
    // x - zx in [-255, 255]) and s8 weights.
    int64_t max_bias = 0;
    for (size_t i = 0; i < t.bias.size() / 4; ++i) {
      max_bias = std::max<int64_t>(max_bias, b[i] < 0 ? -int64_t{b[i]} : int64_t{b[i]});
    }
    const double bound = static_cast<double>(max_bias) +
                         static_cast<double>(g_.r) * g_.s * g_.c * 255.0 * 128.0;
    float max_scale = 0.0f;
    for (float v : rs) max_scale = std::max(max_scale, v);
    t.packed_epilogue = bound * max_scale < 1073741824.0;  // 2^30: margin for rounding
  }

  // The epilogue constants of this kernel (output clamp, zero point, lane
  // mask and permutation).
  void MakeConsts(const OpData& data) {
    consts_ = AlignedBuffer(sizeof(JitConsts));
    JitConsts* c = consts_.as<JitConsts>();
    const QuantParams& q = data.quant;
    const int tail = g_.k % lanes_;
    for (int i = 0; i < 16; ++i) {
      c->lo[i] = static_cast<float>(q.output_min - q.output_zero_point);
      c->hi[i] = static_cast<float>(q.output_max - q.output_zero_point);
      c->zp[i] = q.output_zero_point;
      c->zero[i] = 0.0f;
      c->six[i] = 6.0f;
      c->mask[i] = (tail == 0 || i < tail) ? -1 : 0;
      // Dword d = 4 * lane + vector of the packed bytes goes to 4 * vector + lane.
      c->perm[(i % 4) * 4 + i / 4] = i;
    }
    for (int i = 0; i < 32; ++i) c->zp_w[i] = static_cast<int16_t>(q.output_zero_point);
    for (int i = 0; i < 64; ++i) {
      c->lo_b[i] = static_cast<uint8_t>(q.output_min);
      c->hi_b[i] = static_cast<uint8_t>(q.output_max);
    }
    clamp_lo_ = q.output_min > 0;
    clamp_hi_ = q.output_max < 255;
    packed_epilogue_ = tables_->packed_epilogue;
  }

  // Pixel lists of the tiles of one direct row, grouped into segments.
  std::vector<Segment> RowSegments() const {
    std::vector<Segment> segs;
    for (int ow0 = 0; ow0 < g_.ow; ow0 += p_.mr) {
      const int count = std::min(p_.mr, g_.ow - ow0);
      std::vector<PixelTaps> px;
      for (int i = 0; i < count; ++i) {
        const int hc = cols_.index[ow0 + i];
        const bool fold_zp = p_.math == Math::kDotU8S8;
        if (fold_) {
          px.push_back({0, 1, 0});
        } else {
          px.push_back({cols_.ranges[hc].first, cols_.ranges[hc].second, fold_zp ? hc : 0});
        }
      }
      if (!segs.empty() && segs.back().pixels == px) {
        ++segs.back().tiles;
      } else {
        segs.push_back({1, std::move(px)});
      }
    }
    return segs;
  }

  absl::Status Generate() {
    GenSpec spec;
    spec.isa = p_.isa;
    spec.math = p_.math;
    spec.int8_out = op_.dtype == DType::kInt8;
    spec.act = op_.activation;
    spec.weights_in_regs = p_.weights_in_regs;
    spec.nv_stride = p_.nv;
    spec.s = kernel_s_;
    spec.steps = steps_;
    spec.block_steps = block_steps_;
    spec.tap_bytes = fold_ ? 0 : int64_t{g_.dw} * g_.c * eb_;
    spec.pixel_bytes = int64_t{g_.sw} * g_.c * eb_;
    spec.left_bytes = fold_ ? 0 : int64_t{g_.pl} * g_.c * eb_;
    spec.row_bytes = int64_t{g_.dh} * wp_ * g_.c * eb_;
    if (!p_.gemm) {
      spec.in_row_bytes = int64_t{g_.sh} * wp_ * g_.c * eb_;
      spec.out_row_bytes = int64_t{g_.ow} * g_.k * ob_;
    }
    spec.out_pixel_bytes = int64_t{g_.k} * ob_;
    spec.bias_hcase_bytes = bias_hcase_bytes_;
    spec.packed_epilogue = packed_epilogue_;
    spec.clamp_lo = clamp_lo_;
    spec.clamp_hi = clamp_hi_;
    // Channel-block kinds: full blocks, then the partial last block.
    const int tail_k = g_.k - (nkb_ - 1) * nr_;
    kinds_.clear();
    if (tail_k == nr_) {
      kinds_.push_back({p_.nv, lanes_});
    } else {
      if (nkb_ > 1) kinds_.push_back({p_.nv, lanes_});
      const int tail_v = (tail_k + lanes_ - 1) / lanes_;
      kinds_.push_back({tail_v, tail_k - (tail_v - 1) * lanes_});
    }
    std::vector<PixelTaps> full_tile(p_.mr, PixelTaps{0, 1, 0});
    const int m_tail = g_.ow % p_.mr;
    for (const auto& [nv, last] : kinds_) {
      if (p_.gemm) {
        spec.functions.push_back({nv, last, {{0, full_tile}}});
        std::vector<Segment> with_tail = {{0, full_tile}};
        if (m_tail > 0) with_tail.push_back({1, std::vector<PixelTaps>(m_tail, {0, 1, 0})});
        spec.functions.push_back({nv, last, with_tail});
      } else {
        spec.functions.push_back({nv, last, RowSegments()});
      }
    }
    const std::string key =
        absl::StrCat(CanonicalKey(op_), "|", name_, "|", p_.weights_in_regs, ",", block_steps_,
                     ",", static_cast<int>(p_.math), ",", p_.gemm, ",", fold_, ",", packed_epilogue_,
                     clamp_lo_, clamp_hi_);
    code_ = CodeCache().Find(key);
    if (code_ == nullptr) {
      QTUNE_ASSIGN_OR_RETURN(code_, GenerateConv(spec));
      CodeCache().Put(key, code_);
    }
    return absl::OkStatus();
  }

  JitCallArgs BaseArgs(int kb) const {
    JitCallArgs a{};
    a.w = tables_->weights.as<uint8_t>() + kb * w_kb_bytes_;
    a.bias = tables_->bias.as<uint8_t>() + int64_t{kb} * nr_ * 4;
    a.scale = tables_->scale.as<float>() + (op_.dtype == DType::kInt8 ? kb * nr_ : 0);
    a.consts = consts_.data();
    return a;
  }

  size_t KindOf(int kb) const { return kinds_.size() == 2 && kb == nkb_ - 1 ? 1 : 0; }

  // One work item: output rows [b * oh_block, ...) of one image and one
  // channel block; consecutive rows with the same filter-row range run in
  // one call.
  void RunDirect(const uint8_t* in, uint8_t* out) {
    const int block = std::max(1, p_.oh_block);
    const int blocks_per_image = (g_.oh + block - 1) / block;
    const size_t blocks = static_cast<size_t>(g_.n) * blocks_per_image;
    auto item = [&](size_t block_index, size_t kb_index) {
      const int kb = static_cast<int>(kb_index);
      const int n = static_cast<int>(block_index / blocks_per_image);
      const int oh_begin = static_cast<int>(block_index % blocks_per_image) * block;
      const int oh_end = std::min(g_.oh, oh_begin + block);
      for (int oh = oh_begin; oh < oh_end;) {
        const int vc = rows_.index[oh];
        int run = 1;
        while (oh + run < oh_end && rows_.index[oh + run] == vc) ++run;
        const auto [r0, r1] = rows_.ranges[vc];
        JitCallArgs a = BaseArgs(kb);
        const int64_t ih = r1 > r0 ? int64_t{oh} * g_.sh - g_.pt + int64_t{r0} * g_.dh : 0;
        a.in = in + ((int64_t{n} * g_.h + ih) * wp_) * g_.c * eb_;
        a.w += r0 * w_r_bytes_;
        a.bias = static_cast<const uint8_t*>(a.bias) + vc * bias_vcase_bytes_;
        a.out = out + (((int64_t{n} * g_.oh + oh) * g_.ow) * g_.k + int64_t{kb} * nr_) * ob_;
        a.nr = r1 - r0;
        a.rows = run;
        code_->function(KindOf(kb))(&a);
        oh += run;
      }
    };
    if (p_.pixels_outer) {
      pool_.Parallelize2d(blocks, nkb_, [&](size_t i, size_t j) { item(i, j); });
    } else {
      pool_.Parallelize2d(nkb_, blocks, [&](size_t i, size_t j) { item(j, i); });
    }
  }

  void RunGemm(const uint8_t* in, uint8_t* out) {
    const int64_t m = g_.ow;
    const int64_t chunk = int64_t{p_.mr} * std::max(1, p_.chunk_tiles);
    const size_t chunks = static_cast<size_t>((m + chunk - 1) / chunk);
    auto item = [&](size_t ci, size_t kb_index) {
      const int kb = static_cast<int>(kb_index);
      const int64_t p0 = static_cast<int64_t>(ci) * chunk;
      const int64_t count = std::min(chunk, m - p0);
      JitCallArgs a = BaseArgs(kb);
      a.in = in + p0 * g_.c * eb_;
      a.out = out + (p0 * g_.k + int64_t{kb} * nr_) * ob_;
      a.nr = 1;
      a.rows = 1;
      a.tiles = count / p_.mr;
      const bool tail = count % p_.mr != 0;
      code_->function(KindOf(kb) * 2 + (tail ? 1 : 0))(&a);
    };
    if (p_.pixels_outer) {
      pool_.Parallelize2d(chunks, nkb_, [&](size_t i, size_t j) { item(i, j); });
    } else {
      pool_.Parallelize2d(nkb_, chunks, [&](size_t i, size_t j) { item(j, i); });
    }
  }

  const OpSpec op_;
  const JitConvParams p_;
  const Geometry g_;
  std::string name_;
  int eb_ = 1, ob_ = 1, lanes_ = 16, nr_ = 64, nkb_ = 1, kpad_ = 64;
  int unit_ = 4, steps_ = 1, block_steps_ = 1;
  int32_t zero_point_ = 0;
  bool stage_s16_ = false, stage_copy_ = false;
  bool fold_ = false;
  int kernel_s_ = 1, reduction_c_ = 1, wp_ = 1;  // filter columns, channels, staged width
  bool packed_epilogue_ = false, clamp_lo_ = true, clamp_hi_ = true;
  AxisCases rows_, cols_;
  int64_t w_r_bytes_ = 0, w_kb_bytes_ = 0;
  int64_t bias_row_bytes_ = 0, bias_hcase_bytes_ = 0, bias_vcase_bytes_ = 0;
  std::vector<std::pair<int, int>> kinds_;  // (vectors, lanes of the last vector)
  std::shared_ptr<const PackedConstants> tables_;
  AlignedBuffer consts_, staged_;
  std::shared_ptr<const JitCode> code_;
  internal::ThreadPool pool_;
};

}  // namespace

bool IsFlattenable(const OpSpec& op) {
  if (op.kind == OpKind::kDense) return true;
  return op.kind == OpKind::kConv2d && op.r == 1 && op.s == 1 && op.stride_h == 1 &&
         op.stride_w == 1 && op.pad_top == 0 && op.pad_left == 0 && op.pad_bottom == 0 &&
         op.pad_right == 0;
}

absl::StatusOr<std::unique_ptr<Kernel>> CreateJitConv(const OpSpec& op, const JitConvParams& params,
                                                      const OpData& data) {
  JitConvParams p = params;
  if (op.kind == OpKind::kDense) p.gemm = true;
  if (p.gemm && !IsFlattenable(op)) {
    return absl::InvalidArgumentError(absl::StrCat("jit: ", CanonicalKey(op),
                                                   " cannot run as a GEMM over pixels"));
  }
  if ((op.dtype == DType::kFp32) != (p.math == Math::kFmaF32)) {
    return absl::InvalidArgumentError("jit: arithmetic does not match the op's dtype");
  }
  auto kernel = std::make_unique<JitConvKernel>(op, p);
  QTUNE_RETURN_IF_ERROR(kernel->Init(data));
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace qtune::kernels::x86
