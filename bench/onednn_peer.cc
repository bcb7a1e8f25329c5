#include "bench/onednn_peer.h"

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::bench {
namespace {

using dnnl::memory;
using kernels::Activation;
using kernels::DType;
using kernels::OpKind;
using kernels::OpSpec;
using Tag = memory::format_tag;
using Dt = memory::data_type;

const char* IsaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

struct IsaChoice {
  const char* name;
  dnnl::cpu_isa isa;
};
constexpr IsaChoice kIsaChoices[] = {
    {"sse41", dnnl::cpu_isa::sse41},
    {"avx", dnnl::cpu_isa::avx},
    {"avx2", dnnl::cpu_isa::avx2},
    {"avx2_vnni", dnnl::cpu_isa::avx2_vnni},
    {"avx512_core", dnnl::cpu_isa::avx512_core},
    {"avx512_core_vnni", dnnl::cpu_isa::avx512_core_vnni},
    {"avx512_core_bf16", dnnl::cpu_isa::avx512_core_bf16},
    {"avx512_core_amx", dnnl::cpu_isa::avx512_core_amx},
    {"all", dnnl::cpu_isa::all},
};

// The eltwise post-op of the fused activation. For int8, post-ops see the
// scaled accumulator before the destination zero point is added, i.e. the
// output in quantised units relative to the zero point; the clamp bounds of
// QuantParams translate directly.
void AppendActivation(const OpSpec& op, const kernels::QuantParams& q, dnnl::post_ops& ops) {
  const bool int8 = op.dtype == DType::kInt8;
  switch (op.activation) {
    case Activation::kNone:
      return;
    case Activation::kRelu:
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      return;
    case Activation::kRelu6:
      if (int8) {
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip,
                           static_cast<float>(q.output_min - q.output_zero_point),
                           static_cast<float>(q.output_max - q.output_zero_point));
      } else {
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
      }
      return;
  }
}

class OneDnnOpImpl final : public OneDnnOp {
 public:
  OneDnnOpImpl(int threads, bool fold_src_zero_point, int64_t output_bytes)
      : threads_(threads), fold_src_zero_point_(fold_src_zero_point), output_bytes_(output_bytes) {}

  // Builds everything; throws dnnl::error (caught by Create).
  void Build(const kernels::OpInstance& inst) {
    const OpSpec& op = inst.op;
    const bool int8 = op.dtype == DType::kInt8;
    const Dt src_dt = int8 ? (op.signed_io ? Dt::s8 : Dt::u8) : Dt::f32;  // also dst
    const Dt wei_dt = int8 ? Dt::s8 : Dt::f32;
    const Dt bias_dt = int8 ? Dt::s32 : Dt::f32;
    const kernels::QuantParams& q = inst.data.quant;
    engine_ = dnnl::engine(dnnl::engine::kind::cpu, 0);
    stream_ = dnnl::stream(engine_);

    dnnl::primitive_attr attr;
    if (int8) {
      const int mask = q.requant_scale.size() == 1 ? 0 : 2;  // 2 = output-channel dim
      attr.set_output_scales(mask, q.requant_scale);
      if (!fold_src_zero_point_) attr.set_zero_points(DNNL_ARG_SRC, 0, {q.input_zero_point});
      attr.set_zero_points(DNNL_ARG_DST, 0, {q.output_zero_point});
    }
    dnnl::post_ops ops;
    AppendActivation(op, q, ops);
    attr.set_post_ops(ops);

    memory::desc src_user, wei_user, bias_user, dst_user;
    dnnl::primitive_desc_base* pd_base = nullptr;
    if (op.kind == OpKind::kConv2d) {
      const memory::dims src_dims = {op.n, op.c, op.h, op.w};
      const memory::dims wei_dims = {op.k, op.c, op.r, op.s};
      const memory::dims dst_dims = {op.n, op.k, op.out_h(), op.out_w()};
      src_user = memory::desc(src_dims, src_dt, Tag::nhwc);
      wei_user = memory::desc(wei_dims, wei_dt, Tag::ohwi);
      bias_user = memory::desc({op.k}, bias_dt, Tag::x);
      dst_user = memory::desc(dst_dims, src_dt, Tag::nhwc);
      dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          memory::desc(src_dims, src_dt, Tag::any), memory::desc(wei_dims, wei_dt, Tag::any),
          bias_user, memory::desc(dst_dims, src_dt, Tag::any), {op.stride_h, op.stride_w},
          {op.dilation_h - 1, op.dilation_w - 1}, {op.pad_top, op.pad_left},
          {op.pad_bottom, op.pad_right});
      conv_pd_ = dnnl::convolution_forward::primitive_desc(desc, attr, engine_);
      pd_base = &conv_pd_;
      primitive_ = dnnl::convolution_forward(conv_pd_);
    } else {
      // y[N][K] = x[N][C] * w^T: the weights [K][C] are a [C][K] matrix in
      // column-major order ("ba").
      const memory::dims src_dims = {op.n, op.c};
      const memory::dims wei_dims = {op.c, op.k};
      const memory::dims dst_dims = {op.n, op.k};
      src_user = memory::desc(src_dims, src_dt, Tag::ab);
      wei_user = memory::desc(wei_dims, wei_dt, Tag::ba);
      bias_user = memory::desc({1, op.k}, bias_dt, Tag::ab);
      dst_user = memory::desc(dst_dims, src_dt, Tag::ab);
      dnnl::matmul::desc desc(memory::desc(src_dims, src_dt, Tag::any),
                              memory::desc(wei_dims, wei_dt, Tag::any), bias_user,
                              memory::desc(dst_dims, src_dt, Tag::any));
      matmul_pd_ = dnnl::matmul::primitive_desc(desc, attr, engine_);
      pd_base = &matmul_pd_;
      primitive_ = dnnl::matmul(matmul_pd_);
    }
    impl_ = pd_base->impl_info_str();

    const void* weights = int8 ? static_cast<const void*>(inst.data.weights_s8.data())
                               : static_cast<const void*>(inst.data.weights_f32.data());
    std::vector<int32_t> folded_bias;
    if (int8 && fold_src_zero_point_) {
      // bias - zp * sum of the output channel's weights: every tap counted,
      // padded ones included.
      const int64_t per_k = op.weight_elements() / op.k;
      folded_bias = inst.data.bias_s32;
      for (int k = 0; k < op.k; ++k) {
        int64_t sum = 0;
        for (int64_t i = 0; i < per_k; ++i) sum += inst.data.weights_s8[k * per_k + i];
        folded_bias[k] = static_cast<int32_t>(folded_bias[k] - q.input_zero_point * sum);
      }
    }
    const void* bias = !int8 ? static_cast<const void*>(inst.data.bias_f32.data())
                       : fold_src_zero_point_ ? static_cast<const void*>(folded_bias.data())
                                              : static_cast<const void*>(inst.data.bias_s32.data());
    const memory src = Import(src_user, inst.input.data(), pd_base->src_desc());
    const memory wei = Import(wei_user, weights, pd_base->weights_desc());
    const memory b = Import(bias_user, bias, pd_base->weights_desc(1));
    dst_ = memory(pd_base->dst_desc(), engine_);
    dst_user_ = memory(dst_user, engine_);
    args_ = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, b},
             {DNNL_ARG_DST, dst_}};
  }

  void Prepare() override { omp_set_num_threads(threads_); }

  absl::Status Execute() override {
    try {
      primitive_.execute(stream_, args_);
      stream_.wait();
    } catch (const dnnl::error& e) {
      return absl::InternalError(absl::StrCat("oneDNN execute: ", e.what()));
    }
    return absl::OkStatus();
  }

  absl::Status ReadOutput(void* output) override {
    try {
      dnnl::reorder(dst_, dst_user_).execute(stream_, dst_, dst_user_);
      stream_.wait();
    } catch (const dnnl::error& e) {
      return absl::InternalError(absl::StrCat("oneDNN reorder: ", e.what()));
    }
    std::memcpy(output, dst_user_.get_data_handle(), static_cast<size_t>(output_bytes_));
    return absl::OkStatus();
  }

  const std::string& impl() const override { return impl_; }

 private:
  // A memory of descriptor `wanted` holding a copy of `data` (laid out as
  // `user`), reordered now.
  memory Import(const memory::desc& user, const void* data, const memory::desc& wanted) {
    memory from(user, engine_, const_cast<void*>(data));
    memory to(wanted, engine_);
    dnnl::reorder(from, to).execute(stream_, from, to);
    stream_.wait();
    return to;
  }

  int threads_;
  bool fold_src_zero_point_;
  int64_t output_bytes_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::convolution_forward::primitive_desc conv_pd_;
  dnnl::matmul::primitive_desc matmul_pd_;
  dnnl::primitive primitive_;
  std::unordered_map<int, memory> args_;
  memory dst_, dst_user_;
  std::string impl_;
};

}  // namespace

std::string OneDnnDescription() {
  const dnnl_version_t* v = dnnl_version();
  const char* runtime = v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP"
                        : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                        : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                             : "other";
  return absl::StrCat(v->major, ".", v->minor, ".", v->patch, ", cpu runtime ", runtime,
                      ", isa ", IsaName(dnnl::get_effective_cpu_isa()));
}

absl::Status LimitOneDnnIsa(const std::string& isa) {
  std::vector<std::string> names;
  for (const IsaChoice& c : kIsaChoices) {
    if (isa != c.name) {
      names.push_back(c.name);
      continue;
    }
    try {
      if (dnnl::set_max_cpu_isa(c.isa) != dnnl::status::success) {
        return absl::FailedPreconditionError(
            absl::StrCat("oneDNN refused to hold its ISA to ", isa,
                         " (it must be set before any primitive is created)"));
      }
    } catch (const dnnl::error& e) {
      return absl::FailedPreconditionError(
          absl::StrCat("oneDNN refused to hold its ISA to ", isa, ": ", e.what()));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ISA '", isa, "' (one of ", absl::StrJoin(names, ", "), ")"));
}

absl::StatusOr<std::unique_ptr<OneDnnOp>> OneDnnOp::Create(const kernels::OpInstance& instance,
                                                           int threads, bool fold_src_zero_point) {
  const OpSpec& op = instance.op;
  if (op.kind != OpKind::kConv2d && op.kind != OpKind::kDense) {
    return absl::UnimplementedError(
        absl::StrCat("oneDNN peer: no primitive for ", std::string(kernels::OpKindName(op.kind))));
  }
  const int64_t bytes =
      op.output_elements() * static_cast<int64_t>(kernels::ElementBytes(op.dtype));
  auto impl = std::make_unique<OneDnnOpImpl>(threads, fold_src_zero_point, bytes);
  impl->Prepare();
  try {
    impl->Build(instance);
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat("oneDNN rejects ", kernels::CanonicalKey(op), ": ", e.what()));
  }
  return std::unique_ptr<OneDnnOp>(std::move(impl));
}

}  // namespace qtune::bench
