// The Xbyak generator of the x86 convolution microkernels (see jit_conv_gen.h).
#define XBYAK_NO_EXCEPTION
#include "kernels/x86/jit_conv_gen.h"

#include <xbyak/xbyak.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace qtune::kernels::x86 {
namespace {

using Xbyak::Reg64;

class ConvCode final : public JitCode, public Xbyak::CodeGenerator {
 public:
  ConvCode() : Xbyak::CodeGenerator(1 << 16, Xbyak::AutoGrow) {}

  JitFn function(size_t i) const override {
    return reinterpret_cast<JitFn>(const_cast<uint8_t*>(getCode()) + offsets_[i]);
  }
  size_t code_bytes() const override { return getSize(); }

  void Generate(const GenSpec& spec) {
    spec_ = &spec;
    for (const FunctionSpec& fn : spec.functions) {
      align(64);
      offsets_.push_back(getSize());
      if (spec.isa == VecIsa::kAvx512) {
        EmitFunction<Xbyak::Zmm>(fn);
      } else {
        EmitFunction<Xbyak::Ymm>(fn);
      }
    }
    ready();
  }

 private:
  // General-purpose registers.
  const Reg64 args_ = rdi;
  const Reg64 in_tile_ = r8;   // input address of the tile's pixel 0, filter row r_lo
  const Reg64 in_r_ = r9;      // ... at the current filter row
  const Reg64 in_c_ = r10;     // ... at the current channel block
  const Reg64 w_ = r11;        // current weight step
  const Reg64 w_base_ = r12;   // args->w
  const Reg64 out_ = r13;
  const Reg64 bias_ = r14;
  const Reg64 scale_ = r15;
  const Reg64 r_count_ = rax;
  const Reg64 block_count_ = rbx;
  const Reg64 tile_count_ = rcx;
  const Reg64 consts_ = rdx;
  const Reg64 nr_ = rsi;
  const Reg64 row_count_ = rbp;
  // Epilogue with a residual add: JitCallArgs::residual_delta, in the
  // register of r_count_, which is free once a tile's reduction is done.
  const Reg64 residual_delta_ = rax;

  int vbytes() const { return Lanes(spec_->isa) * 4; }
  int lanes() const { return Lanes(spec_->isa); }

  // Vector register plan of the current function.
  int nv_ = 1, mr_ = 1;
  int acc(int i, int v) const { return i * nv_ + v; }
  int wreg(int v) const { return mr_ * nv_ + v; }
  int bcast(int t) const {
    return mr_ * nv_ + (spec_->weights_in_regs ? nv_ : 0) + t;
  }
  int tmp(int t) const { return bcast(2) + t; }
  // 0x80 in every byte (flip_input; kDotU8S8 has no products to keep).
  int flip() const { return bcast(2); }

  template <class Vmm>
  void EmitFunction(const FunctionSpec& fn) {
    const GenSpec& g = *spec_;
    nv_ = fn.nv;
    mr_ = 1;
    for (const Segment& seg : fn.segments) mr_ = std::max<int>(mr_, seg.pixels.size());

    for (const Reg64& r : {rbx, rbp, r12, r13, r14, r15}) push(r);
    mov(in_tile_, ptr[args_ + offsetof(JitCallArgs, in)]);
    mov(w_base_, ptr[args_ + offsetof(JitCallArgs, w)]);
    mov(bias_, ptr[args_ + offsetof(JitCallArgs, bias)]);
    mov(scale_, ptr[args_ + offsetof(JitCallArgs, scale)]);
    mov(out_, ptr[args_ + offsetof(JitCallArgs, out)]);
    mov(nr_, ptr[args_ + offsetof(JitCallArgs, nr)]);
    mov(consts_, ptr[args_ + offsetof(JitCallArgs, consts)]);
    if (g.left_bytes != 0) sub(in_tile_, g.left_bytes);
    if (g.isa == VecIsa::kAvx512 && fn.last_lanes < lanes()) {
      mov(eax, (1u << fn.last_lanes) - 1);
      kmovw(k1, eax);
      // Byte mask of a 64-byte store whose last 16 lanes are partial.
      mov(rax, (uint64_t{1} << (48 + fn.last_lanes)) - 1);
      kmovq(k2, rax);
    }
    if (g.flip_input) vmovups(Vmm(flip()), ptr[consts_ + offsetof(JitConsts, flip)]);
    mov(row_count_, ptr[args_ + offsetof(JitCallArgs, rows)]);
    Xbyak::Label row_loop;
    L(row_loop);
    int64_t in_advance = 0, out_advance = 0;  // per row, compile-time segments only
    for (const Segment& seg : fn.segments) {
      const int p = static_cast<int>(seg.pixels.size());
      in_advance += int64_t{seg.tiles} * p * g.pixel_bytes;
      out_advance += int64_t{seg.tiles} * p * g.out_pixel_bytes;
      Xbyak::Label loop, skip;
      if (seg.tiles == 0) {
        mov(tile_count_, ptr[args_ + offsetof(JitCallArgs, tiles)]);
        test(tile_count_, tile_count_);
        jz(skip, T_NEAR);
      } else if (seg.tiles > 1) {
        mov(tile_count_, seg.tiles);
      }
      L(loop);
      EmitTile<Vmm>(fn, seg.pixels);
      add(in_tile_, p * g.pixel_bytes);
      add(out_, p * g.out_pixel_bytes);
      if (seg.tiles != 1) {
        dec(tile_count_);
        jnz(loop, T_NEAR);
      }
      L(skip);
    }
    // Rows repeat only for compile-time segments (direct rows).
    if (g.in_row_bytes != in_advance) add(in_tile_, g.in_row_bytes - in_advance);
    if (g.out_row_bytes != out_advance) add(out_, g.out_row_bytes - out_advance);
    dec(row_count_);
    jnz(row_loop, T_NEAR);
    for (const Reg64& r : {r15, r14, r13, r12, rbp, rbx}) pop(r);
    vzeroupper();
    ret();
  }

  template <class Vmm>
  void EmitTile(const FunctionSpec& fn, const std::vector<PixelTaps>& px) {
    const GenSpec& g = *spec_;
    const int p = static_cast<int>(px.size());
    for (int i = 0; i < p; ++i) {
      for (int v = 0; v < nv_; ++v) {
        vmovups(Vmm(acc(i, v)), ptr[bias_ + px[i].hcase * g.bias_hcase_bytes + v * vbytes()]);
      }
    }
    Xbyak::Label r_loop, r_done;
    mov(in_r_, in_tile_);
    mov(w_, w_base_);
    mov(r_count_, nr_);
    test(r_count_, r_count_);
    jz(r_done, T_NEAR);
    L(r_loop);
    mov(in_c_, in_r_);
    const int full_blocks = g.steps / g.block_steps;
    const int tail_steps = g.steps % g.block_steps;
    const int64_t step_w_bytes = static_cast<int64_t>(g.nv_stride) * vbytes();
    if (full_blocks > 0) {
      Xbyak::Label b_loop;
      if (full_blocks > 1) mov(block_count_, full_blocks);
      L(b_loop);
      EmitBlock<Vmm>(px, g.block_steps);
      add(in_c_, g.block_steps * 4);
      add(w_, g.s * g.block_steps * step_w_bytes);
      if (full_blocks > 1) {
        dec(block_count_);
        jnz(b_loop, T_NEAR);
      }
    }
    if (tail_steps > 0) {
      EmitBlock<Vmm>(px, tail_steps);
      add(w_, g.s * tail_steps * step_w_bytes);
    }
    add(in_r_, g.row_bytes);
    dec(r_count_);
    jnz(r_loop, T_NEAR);
    L(r_done);
    if (g.int8_out) {
      EmitRequantize<Vmm>(fn, p);
    } else {
      EmitFloatStore<Vmm>(fn, p);
    }
  }

  // One channel block: filter columns x `steps` reduction steps.
  template <class Vmm>
  void EmitBlock(const std::vector<PixelTaps>& px, int steps) {
    const GenSpec& g = *spec_;
    const int p = static_cast<int>(px.size());
    const int64_t step_w_bytes = static_cast<int64_t>(g.nv_stride) * vbytes();
    int rot = 0;
    for (int s = 0; s < g.s; ++s) {
      bool any = false;
      for (int i = 0; i < p; ++i) any |= s >= px[i].s_lo && s < px[i].s_hi;
      if (!any) continue;
      for (int q = 0; q < steps; ++q) {
        const int64_t w_off = (static_cast<int64_t>(s) * steps + q) * step_w_bytes;
        if (g.weights_in_regs) {
          for (int v = 0; v < nv_; ++v) vmovups(Vmm(wreg(v)), ptr[w_ + w_off + v * vbytes()]);
        }
        for (int i = 0; i < p; ++i) {
          if (s < px[i].s_lo || s >= px[i].s_hi) continue;
          const Vmm b(bcast(rot));
          const int64_t in_off = i * g.pixel_bytes + s * g.tap_bytes + q * 4;
          if (g.math == Math::kFmaF32) {
            vbroadcastss(b, ptr[in_c_ + in_off]);
          } else if (g.flip_input) {
            // One load-op: the 4 input bytes broadcast and XORed with 0x80.
            vpxord(b, Vmm(flip()), ptr_b[in_c_ + in_off]);
          } else {
            vpbroadcastd(b, ptr[in_c_ + in_off]);
          }
          for (int v = 0; v < nv_; ++v) {
            const Vmm a(acc(i, v));
            if (g.weights_in_regs) {
              MultiplyAdd<Vmm>(a, b, Vmm(wreg(v)), (i * nv_ + v) & 1);
            } else {
              MultiplyAdd<Vmm>(a, b, ptr[w_ + w_off + v * vbytes()], (i * nv_ + v) & 1);
            }
          }
          rot ^= 1;
        }
      }
    }
  }

  template <class Vmm>
  void MultiplyAdd(const Vmm& a, const Vmm& b, const Xbyak::Operand& w, int parity) {
    switch (spec_->math) {
      case Math::kDotU8S8:
        vpdpbusd(a, b, w, Xbyak::EvexEncoding);
        break;
      case Math::kMaddS16: {
        const Vmm t(tmp(parity));
        vpmaddwd(t, b, w);
        vpaddd(a, a, t);
        break;
      }
      case Math::kFmaF32:
        vfmadd231ps(a, b, w);
        break;
    }
  }

  // Requantises the accumulators of a tile of p pixels and stores them (or,
  // with a residual add, the add's result).
  template <class Vmm>
  void EmitRequantize(const FunctionSpec& fn, int p) {
    const GenSpec& g = *spec_;
    const bool add = g.residual_add;
    // Groups of 4 zmm vectors are packed into one 64-byte store when the
    // values converted to int32 provably fit (see GenSpec::packed_epilogue).
    const int packed_groups = g.packed_epilogue && g.isa == VecIsa::kAvx512 ? nv_ / 4 : 0;
    if (packed_groups > 0) {
      vmovups(Xbyak::Zmm(bcast(0)), ptr[consts_ + offsetof(JitConsts, perm)]);
    }
    if (add) mov(residual_delta_, ptr[args_ + offsetof(JitCallArgs, residual_delta)]);
    for (int i = 0; i < p; ++i) {
      const int64_t pixel_off = i * g.out_pixel_bytes;
      for (int grp = 0; grp < packed_groups; ++grp) {
        const int v0 = grp * 4;
        for (int v = v0; v < v0 + 4; ++v) {
          const Xbyak::Zmm a(acc(i, v));
          vcvtdq2ps(a, a);
          vmulps(a, a, ptr[scale_ + v * vbytes()]);
          if (add) EmitResidualSum<Xbyak::Zmm>(fn, a, pixel_off + v * lanes(), v);
          vcvtps2dq(a, a);
        }
        const Xbyak::Zmm a0(acc(i, v0)), a1(acc(i, v0 + 1)), a2(acc(i, v0 + 2)),
            a3(acc(i, v0 + 3));
        // int32 -> int16 (signed saturation), + zp (saturating), -> u8
        // (unsigned saturation) or s8 (signed saturation): order-preserving,
        // exact inside the output type's range (docs/kernels-x86.md).
        vpackssdw(a0, a0, a1);
        vpackssdw(a2, a2, a3);
        vpaddsw(a0, a0, ptr[consts_ + offsetof(JitConsts, zp_w)]);
        vpaddsw(a2, a2, ptr[consts_ + offsetof(JitConsts, zp_w)]);
        if (g.s8_out) {
          vpacksswb(a0, a0, a2);
        } else {
          vpackuswb(a0, a0, a2);
        }
        // Lane L of the packs holds 4 channels of each vector: restore order.
        vpermd(a0, Xbyak::Zmm(bcast(0)), a0);
        if (g.clamp_lo) {
          if (g.s8_out) {
            vpmaxsb(a0, a0, ptr[consts_ + offsetof(JitConsts, lo_b)]);
          } else {
            vpmaxub(a0, a0, ptr[consts_ + offsetof(JitConsts, lo_b)]);
          }
        }
        if (g.clamp_hi) {
          if (g.s8_out) {
            vpminsb(a0, a0, ptr[consts_ + offsetof(JitConsts, hi_b)]);
          } else {
            vpminub(a0, a0, ptr[consts_ + offsetof(JitConsts, hi_b)]);
          }
        }
        const bool partial = v0 + 4 == nv_ && fn.last_lanes < lanes();
        if (partial) {
          vmovdqu8(ptr[out_ + pixel_off + v0 * lanes()] | k2, a0);
        } else {
          vmovdqu8(ptr[out_ + pixel_off + v0 * lanes()], a0);
        }
      }
      // General form: clamp in float, round, add the zero point; of the
      // requantised value, or of the residual add's sum.
      const size_t lo = add ? offsetof(JitConsts, add_lo) : offsetof(JitConsts, lo);
      const size_t hi = add ? offsetof(JitConsts, add_hi) : offsetof(JitConsts, hi);
      const size_t zp = add ? offsetof(JitConsts, add_zp) : offsetof(JitConsts, zp);
      for (int v = packed_groups * 4; v < nv_; ++v) {
        const Vmm a(acc(i, v));
        const int64_t off = pixel_off + v * lanes();
        vcvtdq2ps(a, a);
        vmulps(a, a, ptr[scale_ + v * vbytes()]);
        if (add) EmitResidualSum<Vmm>(fn, a, off, v);
        vmaxps(a, a, ptr[consts_ + lo]);
        vminps(a, a, ptr[consts_ + hi]);
        vcvtps2dq(a, a);
        vpaddd(a, a, ptr[consts_ + zp]);
        const bool partial = v == nv_ - 1 && fn.last_lanes < lanes();
        const Xbyak::Xmm x(a.getIdx());
        // The clamped values lie in the output type's range: vpmovdb's
        // truncation and the saturating packs both keep them.
        if (g.isa == VecIsa::kAvx512) {
          vpmovdb(x, a);
          if (partial) {
            vmovdqu8(ptr[out_ + off] | k1, x);
          } else {
            vmovdqu8(ptr[out_ + off], x);
          }
        } else {
          const Xbyak::Xmm t(bcast(0));
          vextracti128(t, a, 1);
          vpackssdw(x, x, t);
          if (g.s8_out) {
            vpacksswb(x, x, x);
          } else {
            vpackuswb(x, x, x);
          }
          if (partial) {
            for (int j = 0; j < fn.last_lanes; ++j) vpextrb(ptr[out_ + off + j], x, j);
          } else {
            vmovq(ptr[out_ + off], x);
          }
        }
      }
    }
  }

  // The residual add's sum of vector v, from a = float(acc) * scale (the
  // requantisation's product) and the residual bytes at out_ + off + delta:
  //   a = rne(clamp(a, output_min - zp, output_max - zp))
  //     = float(c - zp)     (c: the reference's requantised value; the
  //                          bounds are integers and rounding is monotonic,
  //                          so clamping first equals clamping the rounded
  //                          value, and a in [-255, 255] is exact)
  //   a = a * conv_ratio + float(b - residual_zp) * residual_ratio
  // with the round-to-integer under immediate RNE (not the MXCSR) and every
  // product and the sum as its own vmulps / vaddps: the binary32 operations
  // of reference.h's AddResidual (a -0.0 from rounding a small negative
  // value changes no result: 0 * x and the sum with any term round to the
  // same integers as +0.0 would). The caller clamps, rounds and stores the
  // sum as the reference does (clamp before or after rounding: the same
  // argument).
  template <class Vmm>
  void EmitResidualSum(const FunctionSpec& fn, const Vmm& a, int64_t off, int v) {
    const GenSpec& g = *spec_;
    const bool avx512 = g.isa == VecIsa::kAvx512;
    const bool partial = v == nv_ - 1 && fn.last_lanes < lanes();
    vmaxps(a, a, ptr[consts_ + offsetof(JitConsts, lo)]);
    vminps(a, a, ptr[consts_ + offsetof(JitConsts, hi)]);
    if (avx512) {
      vrndscaleps(a, a, 0);
    } else {
      vroundps(a, a, 0);
    }
    vmulps(a, a, ptr[consts_ + offsetof(JitConsts, add_conv_ratio)]);
    // b: one byte per lane, widened to int32 (zero- or sign-extended).
    const Vmm t(bcast(1));
    const Xbyak::Xmm tx(t.getIdx());
    auto widen = [&](const Xbyak::Operand& src) {
      if (g.s8_out) {
        vpmovsxbd(t, src);
      } else {
        vpmovzxbd(t, src);
      }
    };
    if (!partial) {
      widen(ptr[out_ + residual_delta_ + off]);
    } else if (avx512) {
      // Masked-off bytes are not read (no fault past the tensor's end).
      vmovdqu8(tx | k1 | T_z, ptr[out_ + residual_delta_ + off]);
      widen(tx);
    } else {
      vpxor(tx, tx, tx);
      for (int j = 0; j < fn.last_lanes; ++j) vpinsrb(tx, tx, ptr[out_ + residual_delta_ + off + j], j);
      widen(tx);
    }
    vpsubd(t, t, ptr[consts_ + offsetof(JitConsts, add_residual_zp)]);
    vcvtdq2ps(t, t);
    vmulps(t, t, ptr[consts_ + offsetof(JitConsts, add_ratio)]);
    vaddps(a, a, t);
  }

  template <class Vmm>
  void EmitFloatStore(const FunctionSpec& fn, int p) {
    const GenSpec& g = *spec_;
    if (g.isa == VecIsa::kAvx2 && fn.last_lanes < lanes()) {
      vmovups(Vmm(bcast(0)), ptr[consts_ + offsetof(JitConsts, mask)]);
    }
    for (int i = 0; i < p; ++i) {
      for (int v = 0; v < nv_; ++v) {
        const Vmm a(acc(i, v));
        if (g.act != Activation::kNone) vmaxps(a, a, ptr[consts_ + offsetof(JitConsts, zero)]);
        if (g.act == Activation::kRelu6) vminps(a, a, ptr[consts_ + offsetof(JitConsts, six)]);
        const bool partial = v == nv_ - 1 && fn.last_lanes < lanes();
        const int64_t off = i * g.out_pixel_bytes + v * vbytes();
        if (!partial) {
          vmovups(ptr[out_ + off], a);
        } else if (g.isa == VecIsa::kAvx512) {
          vmovups(ptr[out_ + off] | k1, a);
        } else {
          vmaskmovps(ptr[out_ + off], Vmm(bcast(0)), a);
        }
      }
    }
  }

  const GenSpec* spec_ = nullptr;
  std::vector<size_t> offsets_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const JitCode>> GenerateConv(const GenSpec& spec) {
  for (const FunctionSpec& fn : spec.functions) {
    int mr = 0;
    for (const Segment& seg : fn.segments) mr = std::max<int>(mr, seg.pixels.size());
    const int need = mr * fn.nv + ExtraRegs(spec.math, spec.weights_in_regs, fn.nv,
                                            spec.flip_input);
    if (spec.flip_input && (spec.math != Math::kDotU8S8 || spec.isa != VecIsa::kAvx512)) {
      return absl::FailedPreconditionError("jit: flip_input needs kDotU8S8 on AVX-512");
    }
    if (spec.residual_add && !spec.int8_out) {
      return absl::FailedPreconditionError("jit: a residual add needs an int8 output");
    }
    if (need > VecRegs(spec.isa) || fn.nv > spec.nv_stride || fn.last_lanes < 1 ||
        fn.last_lanes > Lanes(spec.isa)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "jit: tile of ", mr, " pixels x ", fn.nv, " vectors needs ", need,
          " vector registers, the ISA has ", VecRegs(spec.isa)));
    }
  }
  Xbyak::ClearError();
  auto code = std::make_shared<ConvCode>();
  code->Generate(spec);
  if (Xbyak::GetError() != 0) {
    const int err = Xbyak::GetError();
    Xbyak::ClearError();
    return absl::FailedPreconditionError(
        absl::StrCat("jit: code generation failed: ", Xbyak::ConvertErrorToString(err)));
  }
  return std::shared_ptr<const JitCode>(std::move(code));
}

}  // namespace qtune::kernels::x86
