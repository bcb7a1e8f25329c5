// The x86 JIT convolution kernel: geometry, prepacking, compensation tables,
// code cache, driver and threading (see jit_conv.h, docs/kernels-x86.md).
#include "kernels/x86/jit_conv.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// Bounded cache of generated code, keyed by (op, config). Kernels keep their
// code alive through the shared pointer after eviction.
class CodeCache {
 public:
  static CodeCache& Get() {
    static CodeCache* cache = new CodeCache;
    return *cache;
  }
  std::shared_ptr<const JitCode> Find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : it->second;
  }
  void Put(const std::string& key, std::shared_ptr<const JitCode> code) {
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.emplace(key, std::move(code)).second) order_.push_back(key);
    while (order_.size() > kCapacity) {
      map_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  static constexpr size_t kCapacity = 256;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const JitCode>> map_;
  std::deque<std::string> order_;
};

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
    PackWeights(data);
    MakeBiasAndConsts(data);
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
  void PackWeights(const OpData& data) {
    const int64_t step_bytes = int64_t{nr_} * 4;
    w_r_bytes_ = int64_t{kernel_s_} * steps_ * step_bytes;
    w_kb_bytes_ = g_.r * w_r_bytes_;
    weights_ = AlignedBuffer(static_cast<size_t>(nkb_ * w_kb_bytes_));
    uint8_t* base = weights_.as<uint8_t>();
    for (int k = 0; k < g_.k; ++k) {
      const int kb = k / nr_, lane = k % nr_;
      for (int r = 0; r < g_.r; ++r) {
        // (s, c) are the kernel's filter column and reduction channel; with
        // folded columns s = 0 and c runs over the S*C bytes of the row.
        for (int s = 0; s < kernel_s_; ++s) {
          for (int c = 0; c < reduction_c_; ++c) {
            const int q = c / unit_, e = c % unit_;
            const int block = q / block_steps_;
            const int b0 = block * block_steps_;
            const int bsize = std::min(block_steps_, steps_ - b0);
            const int64_t step = int64_t{b0} * kernel_s_ + int64_t{s} * bsize + (q - b0);
            uint8_t* dst = base + kb * w_kb_bytes_ + r * w_r_bytes_ + step * step_bytes +
                           lane * 4 + e * eb_;
            // Logical KRSC index: with folding, the row offset s*C + c is c.
            const size_t src = ((static_cast<size_t>(k) * g_.r + r) * g_.s + s) * g_.c + c;
            if (op_.dtype == DType::kFp32) {
              std::memcpy(dst, &data.weights_f32[src], 4);
            } else if (p_.math == Math::kMaddS16) {
              const int16_t v = data.weights_s8[src];
              std::memcpy(dst, &v, 2);
            } else {
              *dst = static_cast<uint8_t>(data.weights_s8[src]);
            }
          }
        }
      }
    }
  }

  // Bias rows [row case][column case][kpad]: for u8 dot products the input
  // zero point is folded in as bias - zx * sum of the weights of the taps
  // that are inside the image for that case.
  void MakeBiasAndConsts(const OpData& data) {
    const bool int8 = op_.dtype == DType::kInt8;
    const bool fold_zp = p_.math == Math::kDotU8S8;
    const int vcases = fold_zp ? static_cast<int>(rows_.ranges.size()) : 1;
    const int hcases = fold_zp ? static_cast<int>(cols_.ranges.size()) : 1;
    bias_row_bytes_ = int64_t{kpad_} * 4;
    bias_hcase_bytes_ = fold_zp ? bias_row_bytes_ : 0;
    bias_vcase_bytes_ = fold_zp ? bias_row_bytes_ * hcases : 0;
    bias_ = AlignedBuffer(static_cast<size_t>(vcases * hcases) * bias_row_bytes_);
    if (int8) {
      int32_t* b = bias_.as<int32_t>();
      for (int vc = 0; vc < vcases; ++vc) {
        for (int hc = 0; hc < hcases; ++hc) {
          int32_t* row = b + (static_cast<size_t>(vc) * hcases + hc) * kpad_;
          for (int k = 0; k < g_.k; ++k) {
            int64_t sum = 0;
            if (fold_zp) {
              const auto [r0, r1] = rows_.ranges[vc];
              const auto [s0, s1] = cols_.ranges[hc];
              for (int r = r0; r < r1; ++r) {
                for (int s = s0; s < s1; ++s) {
                  const int8_t* w =
                      &data.weights_s8[((static_cast<size_t>(k) * g_.r + r) * g_.s + s) * g_.c];
                  for (int c = 0; c < g_.c; ++c) sum += w[c];
                }
              }
            }
            row[k] = static_cast<int32_t>(static_cast<uint32_t>(data.bias_s32[k]) -
                                          static_cast<uint32_t>(sum * zero_point_));
          }
        }
      }
      scale_ = AlignedBuffer(static_cast<size_t>(kpad_) * 4);
      float* sc = scale_.as<float>();
      const auto& rs = data.quant.requant_scale;
      for (int k = 0; k < kpad_; ++k) sc[k] = k < g_.k ? rs[k % rs.size()] : 1.0f;
    } else {
      std::memcpy(bias_.data(), data.bias_f32.data(), static_cast<size_t>(g_.k) * 4);
      scale_ = AlignedBuffer(64);
    }
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
    if (int8) {
      // |acc| <= |bias row| + taps * C * 255 * 128 for u8 inputs (or int16
      // x - zx in [-255, 255]) and s8 weights.
      int64_t max_bias = 0;
      const int32_t* b = bias_.as<int32_t>();
      for (size_t i = 0; i < bias_.size() / 4; ++i) {
        max_bias = std::max<int64_t>(max_bias, b[i] < 0 ? -int64_t{b[i]} : int64_t{b[i]});
      }
      const double bound = static_cast<double>(max_bias) +
                           static_cast<double>(g_.r) * g_.s * g_.c * 255.0 * 128.0;
      float max_scale = 0.0f;
      for (float v : q.requant_scale) max_scale = std::max(max_scale, v);
      packed_epilogue_ = bound * max_scale < 1073741824.0;  // 2^30: margin for rounding
    }
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
    code_ = CodeCache::Get().Find(key);
    if (code_ == nullptr) {
      QTUNE_ASSIGN_OR_RETURN(code_, GenerateConv(spec));
      CodeCache::Get().Put(key, code_);
    }
    return absl::OkStatus();
  }

  JitCallArgs BaseArgs(int kb) const {
    JitCallArgs a{};
    a.w = weights_.as<uint8_t>() + kb * w_kb_bytes_;
    a.bias = bias_.as<uint8_t>() + int64_t{kb} * nr_ * 4;
    a.scale = scale_.as<float>() + (op_.dtype == DType::kInt8 ? kb * nr_ : 0);
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
  AlignedBuffer weights_, bias_, scale_, consts_, staged_;
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
