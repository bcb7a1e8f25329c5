// The x86 JIT convolution kernel: input staging, the generated code of its
// tile, and the threaded driver that walks output rows (or pixel chunks)
// and channel blocks (see jit_conv.h, docs/kernels-x86.md). Geometry is in
// conv_geometry.h, the packed tables in jit_conv_pack.h, the code cache in
// jit_code_cache.h.
#include "kernels/x86/jit_conv.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/src/kernel_family.h"
#include "kernels/src/strings.h"
#include "kernels/src/thread_pool.h"
#include "kernels/x86/jit_code_cache.h"
#include "kernels/x86/jit_conv_gen.h"
#include "kernels/x86/jit_conv_pack.h"
#include "qtune/kernels/buffer.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::x86 {
namespace {

// Bytes of slack after staged inputs: the last reduction step of a pixel may
// read up to 3 bytes past its channels.
constexpr size_t kSlack = 64;

std::string TileName(const OpSpec& op, const JitConvParams& p) {
  const bool int8 = op.dtype == DType::kInt8;
  const char* algo = op.kind == OpKind::kDense ? "gemm" : (p.gemm ? "gemm" : "direct");
  std::string name =
      absl::StrCat(internal::Sv(OpKindName(op.kind)), "_", internal::Sv(internal::DTypesName(op)),
                   "_", algo, "_", p.mr, "x", p.nv * Lanes(p.isa));
  if (int8) absl::StrAppend(&name, "c", StepElements(p.math));
  absl::StrAppend(&name, "__", p.path);
  return name;
}

class JitConvKernel final : public Kernel {
 public:
  JitConvKernel(const OpSpec& op, const JitConvParams& p)
      : op_(op), p_(p), pool_(p.threads) {}

  const std::string& name() const override { return name_; }

  absl::Status Init(const OpData& data) {
    name_ = TileName(op_, p_);
    l_ = MakeLayout(op_, p_, data);
    // Input staging: int16 conversion, a horizontally padded copy (fold), a
    // copy with slack when the last reduction step of a pixel reads past
    // the tensor, or s8 inputs made u8 (stage_s8). Copies of s8 inputs hold
    // x ^ 0x80; padding columns hold the zero point of the staged values
    // (x - zx = 0).
    stage_s16_ = p_.math == Math::kMaddS16;
    stage_copy_ = p_.math == Math::kDotU8S8 &&
                  (l_.g.c % 4 != 0 || l_.fold || (l_.s8_input && p_.stage_s8));
    flip_input_ = p_.math == Math::kDotU8S8 && l_.s8_input && !stage_copy_;
    if (stage_s16_ || stage_copy_) {
      const size_t elements = static_cast<size_t>(l_.g.n) * l_.g.h * l_.wp * l_.g.c;
      staged_ = AlignedBuffer(elements * l_.eb + kSlack);
      if (stage_copy_) std::memset(staged_.data(), l_.dot_zero_point(), staged_.size());
    }
    tables_ = PackedConstantsFor(op_, l_, data);
    MakeConsts(data);
    return Generate();
  }

  absl::Status Execute(const void* input, void* output) override {
    QTUNE_RETURN_IF_ERROR(internal::CheckExecuteArgs(*this, residual_add_, input, nullptr,
                                                     /*with_residual=*/false, output));
    Run(static_cast<const uint8_t*>(input), 0, static_cast<uint8_t*>(output));
    return absl::OkStatus();
  }

  absl::Status ExecuteWithResidual(const void* input, const void* residual,
                                   void* output) override {
    QTUNE_RETURN_IF_ERROR(internal::CheckExecuteArgs(*this, residual_add_, input, residual,
                                                     /*with_residual=*/true, output));
    // The generated code addresses the residual relative to the output.
    const int64_t delta = static_cast<int64_t>(reinterpret_cast<uintptr_t>(residual) -
                                               reinterpret_cast<uintptr_t>(output));
    Run(static_cast<const uint8_t*>(input), delta, static_cast<uint8_t*>(output));
    return absl::OkStatus();
  }

 private:
  // `residual_delta`: JitCallArgs::residual_delta (with a residual add).
  void Run(const uint8_t* in, int64_t residual_delta, uint8_t* out) {
    if (stage_s16_ || stage_copy_) {
      // Row by row into the (possibly wider) staged rows; padding columns
      // keep their value from creation.
      const int64_t row = int64_t{l_.g.w} * l_.g.c;
      const int64_t lead = l_.fold ? int64_t{l_.g.pl} * l_.g.c : 0;
      const int16_t zx = static_cast<int16_t>(l_.zero_point);
      // s8 inputs: the byte v is x ^ 0x80 - 128 = (v ^ 0x80) - 128.
      const uint8_t flip = l_.s8_input ? 0x80 : 0;
      const int16_t szx = static_cast<int16_t>(l_.s8_input ? zx + 128 : zx);
      for (int64_t y = 0; y < int64_t{l_.g.n} * l_.g.h; ++y) {
        const uint8_t* src = in + y * row;
        const int64_t dst = y * l_.wp * l_.g.c + lead;
        if (stage_s16_) {
          int16_t* d = staged_.as<int16_t>() + dst;
          for (int64_t i = 0; i < row; ++i) d[i] = static_cast<int16_t>((src[i] ^ flip) - szx);
        } else if (flip != 0) {
          uint8_t* d = staged_.as<uint8_t>() + dst;
          for (int64_t i = 0; i < row; ++i) d[i] = src[i] ^ 0x80;
        } else {
          std::memcpy(staged_.as<uint8_t>() + dst, src, static_cast<size_t>(row));
        }
      }
      in = staged_.as<uint8_t>();
    }
    residual_delta_ = residual_delta;
    if (p_.gemm) {
      RunGemm(in, out);
    } else {
      RunDirect(in, out);
    }
  }

  // The epilogue constants of this kernel (output clamp, zero point, lane
  // mask and permutation; the residual add's) and its form.
  void MakeConsts(const OpData& data) {
    consts_ = AlignedBuffer(sizeof(JitConsts));
    JitConsts* c = consts_.as<JitConsts>();
    const QuantParams& q = data.quant;
    const int tail = l_.g.k % l_.lanes;
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
    // The stored value: the requantised one, or the residual add's.
    int32_t zp = q.output_zero_point, lo = q.output_min, hi = q.output_max;
    packed_epilogue_ = tables_->packed_epilogue;
    residual_add_ = data.residual_add.has_value();
    if (residual_add_) {
      const ResidualAdd& add = *data.residual_add;
      for (int i = 0; i < 16; ++i) {
        c->add_conv_ratio[i] = add.conv_ratio;
        c->add_ratio[i] = add.residual_ratio;
        c->add_residual_zp[i] = add.residual_zero_point;
        c->add_lo[i] = static_cast<float>(add.lo - add.zero_point);
        c->add_hi[i] = static_cast<float>(add.hi - add.zero_point);
        c->add_zp[i] = add.zero_point;
      }
      zp = add.zero_point;
      lo = add.lo;
      hi = add.hi;
      // The packed form converts the unclamped sum to int32: |float(c - zp)
      // * conv_ratio + float(b - zb) * residual_ratio| <= 255 * (|conv_ratio|
      // + |residual_ratio|) (+ rounding) must stay far inside it. False for
      // infinite or NaN terms.
      const double bound = 255.0 * (std::fabs(static_cast<double>(add.conv_ratio)) +
                                    std::fabs(static_cast<double>(add.residual_ratio)));
      packed_epilogue_ = bound < 1073741824.0;  // 2^30
    }
    for (int i = 0; i < 32; ++i) c->zp_w[i] = static_cast<int16_t>(zp);
    for (int i = 0; i < 64; ++i) {
      c->lo_b[i] = static_cast<uint8_t>(lo);
      c->hi_b[i] = static_cast<uint8_t>(hi);
    }
    for (uint32_t& f : c->flip) f = 0x80808080u;
    clamp_lo_ = lo > ActivationMin(op_);
    clamp_hi_ = hi < ActivationMax(op_);
  }

  // Pixel lists of the tiles of one direct row, grouped into segments.
  std::vector<Segment> RowSegments() const {
    std::vector<Segment> segs;
    for (int ow0 = 0; ow0 < l_.g.ow; ow0 += p_.mr) {
      const int count = std::min(p_.mr, l_.g.ow - ow0);
      std::vector<PixelTaps> px;
      for (int i = 0; i < count; ++i) {
        const int hc = l_.cols.index[ow0 + i];
        const bool fold_zp = p_.math == Math::kDotU8S8;
        if (l_.fold) {
          px.push_back({0, 1, 0});
        } else {
          px.push_back({l_.cols.ranges[hc].first, l_.cols.ranges[hc].second, fold_zp ? hc : 0});
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
    spec.s8_out = spec.int8_out && op_.signed_io;
    spec.flip_input = flip_input_;
    spec.act = op_.activation;
    spec.weights_in_regs = p_.weights_in_regs;
    spec.nv_stride = p_.nv;
    spec.s = l_.kernel_s;
    spec.steps = l_.steps;
    spec.block_steps = l_.block_steps;
    spec.tap_bytes = l_.fold ? 0 : int64_t{l_.g.dw} * l_.g.c * l_.eb;
    spec.pixel_bytes = int64_t{l_.g.sw} * l_.g.c * l_.eb;
    spec.left_bytes = l_.fold ? 0 : int64_t{l_.g.pl} * l_.g.c * l_.eb;
    spec.row_bytes = int64_t{l_.g.dh} * l_.wp * l_.g.c * l_.eb;
    if (!p_.gemm) {
      spec.in_row_bytes = int64_t{l_.g.sh} * l_.wp * l_.g.c * l_.eb;
      spec.out_row_bytes = int64_t{l_.g.ow} * l_.g.k * l_.ob;
    }
    spec.out_pixel_bytes = int64_t{l_.g.k} * l_.ob;
    spec.bias_hcase_bytes = l_.bias_hcase_bytes;
    spec.packed_epilogue = packed_epilogue_;
    spec.clamp_lo = clamp_lo_;
    spec.clamp_hi = clamp_hi_;
    spec.residual_add = residual_add_;
    // Channel-block kinds: full blocks, then the partial last block.
    const int tail_k = l_.g.k - (l_.nkb - 1) * l_.nr;
    kinds_.clear();
    if (tail_k == l_.nr) {
      kinds_.push_back({p_.nv, l_.lanes});
    } else {
      if (l_.nkb > 1) kinds_.push_back({p_.nv, l_.lanes});
      const int tail_v = (tail_k + l_.lanes - 1) / l_.lanes;
      kinds_.push_back({tail_v, tail_k - (tail_v - 1) * l_.lanes});
    }
    std::vector<PixelTaps> full_tile(p_.mr, PixelTaps{0, 1, 0});
    const int m_tail = l_.g.ow % p_.mr;
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
        absl::StrCat(CanonicalKey(op_), "|", name_, "|", p_.weights_in_regs, ",", l_.block_steps,
                     ",", static_cast<int>(p_.math), ",", p_.gemm, ",", l_.fold, ",", packed_epilogue_,
                     clamp_lo_, clamp_hi_, flip_input_, residual_add_);
    QTUNE_ASSIGN_OR_RETURN(code_, CachedCode(key, spec));
    return absl::OkStatus();
  }

  JitCallArgs BaseArgs(int kb) const {
    JitCallArgs a{};
    a.w = tables_->weights.as<uint8_t>() + kb * l_.w_kb_bytes;
    a.bias = tables_->bias.as<uint8_t>() + int64_t{kb} * l_.nr * 4;
    a.scale = tables_->scale.as<float>() + (op_.dtype == DType::kInt8 ? kb * l_.nr : 0);
    a.consts = consts_.data();
    a.residual_delta = residual_delta_;
    return a;
  }

  size_t KindOf(int kb) const { return kinds_.size() == 2 && kb == l_.nkb - 1 ? 1 : 0; }

  // One work item: output rows [b * oh_block, ...) of one image and one
  // channel block; consecutive rows with the same filter-row range run in
  // one call.
  void RunDirect(const uint8_t* in, uint8_t* out) {
    const int block = std::max(1, p_.oh_block);
    const int blocks_per_image = (l_.g.oh + block - 1) / block;
    const size_t blocks = static_cast<size_t>(l_.g.n) * blocks_per_image;
    auto item = [&](size_t block_index, size_t kb_index) {
      const int kb = static_cast<int>(kb_index);
      const int n = static_cast<int>(block_index / blocks_per_image);
      const int oh_begin = static_cast<int>(block_index % blocks_per_image) * block;
      const int oh_end = std::min(l_.g.oh, oh_begin + block);
      for (int oh = oh_begin; oh < oh_end;) {
        const int vc = l_.rows.index[oh];
        int run = 1;
        while (oh + run < oh_end && l_.rows.index[oh + run] == vc) ++run;
        const auto [r0, r1] = l_.rows.ranges[vc];
        JitCallArgs a = BaseArgs(kb);
        const int64_t ih = r1 > r0 ? int64_t{oh} * l_.g.sh - l_.g.pt + int64_t{r0} * l_.g.dh : 0;
        a.in = in + ((int64_t{n} * l_.g.h + ih) * l_.wp) * l_.g.c * l_.eb;
        a.w += r0 * l_.w_r_bytes;
        a.bias = static_cast<const uint8_t*>(a.bias) + vc * l_.bias_vcase_bytes;
        a.out = out + (((int64_t{n} * l_.g.oh + oh) * l_.g.ow) * l_.g.k + int64_t{kb} * l_.nr) * l_.ob;
        a.nr = r1 - r0;
        a.rows = run;
        code_->function(KindOf(kb))(&a);
        oh += run;
      }
    };
    if (p_.pixels_outer) {
      pool_.Parallelize2d(blocks, l_.nkb, [&](size_t i, size_t j) { item(i, j); });
    } else {
      pool_.Parallelize2d(l_.nkb, blocks, [&](size_t i, size_t j) { item(j, i); });
    }
  }

  void RunGemm(const uint8_t* in, uint8_t* out) {
    const int64_t m = l_.g.ow;
    const int64_t chunk = int64_t{p_.mr} * std::max(1, p_.chunk_tiles);
    const size_t chunks = static_cast<size_t>((m + chunk - 1) / chunk);
    auto item = [&](size_t ci, size_t kb_index) {
      const int kb = static_cast<int>(kb_index);
      const int64_t p0 = static_cast<int64_t>(ci) * chunk;
      const int64_t count = std::min(chunk, m - p0);
      JitCallArgs a = BaseArgs(kb);
      a.in = in + p0 * l_.g.c * l_.eb;
      a.out = out + (p0 * l_.g.k + int64_t{kb} * l_.nr) * l_.ob;
      a.nr = 1;
      a.rows = 1;
      a.tiles = count / p_.mr;
      const bool tail = count % p_.mr != 0;
      code_->function(KindOf(kb) * 2 + (tail ? 1 : 0))(&a);
    };
    if (p_.pixels_outer) {
      pool_.Parallelize2d(chunks, l_.nkb, [&](size_t i, size_t j) { item(i, j); });
    } else {
      pool_.Parallelize2d(l_.nkb, chunks, [&](size_t i, size_t j) { item(j, i); });
    }
  }

  const OpSpec op_;
  const JitConvParams p_;
  ConvLayout l_;
  std::string name_;
  bool stage_s16_ = false, stage_copy_ = false, flip_input_ = false;
  bool packed_epilogue_ = false, clamp_lo_ = true, clamp_hi_ = true;
  bool residual_add_ = false;    // made with a residual add
  int64_t residual_delta_ = 0;   // of the current Execute (JitCallArgs::residual_delta)
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
