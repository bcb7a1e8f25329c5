#include "qtune/kernels/op_spec.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "kernels/src/strings.h"

namespace qtune::kernels {
namespace {

using internal::Sv;

constexpr int64_t kMaxTensorElements = (int64_t{1} << 31) - 1;
// Largest int8 reduction whose int32 accumulator cannot overflow:
// 255 * 128 * 65536 < 2^31.
constexpr int64_t kMaxInt8Reduction = 65536;
// Upper bound for any single dimension; keeps every product below in int64.
constexpr int kMaxDim = 1 << 24;

absl::StatusOr<int> ParseInt(std::string_view field, std::string_view text) {
  int value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", Sv(field), "': '", Sv(text), "' is not an integer"));
  }
  return value;
}

// Parses "A", "AxB", ... into exactly 1..max_parts integers.
absl::StatusOr<std::vector<int>> ParseParts(std::string_view field, std::string_view text) {
  std::vector<int> parts;
  for (absl::string_view part : absl::StrSplit(Sv(text), 'x')) {
    QTUNE_ASSIGN_OR_RETURN(int v, ParseInt(field, Sv(part)));
    parts.push_back(v);
  }
  return parts;
}

absl::Status PartsError(std::string_view field, std::string_view text, std::string_view forms) {
  return absl::InvalidArgumentError(
      absl::StrCat("field '", Sv(field), "': '", Sv(text), "' must have the form ", Sv(forms)));
}

absl::Status SetField(std::string_view name, std::string_view value, OpSpec& op) {
  struct IntField {
    std::string_view name;
    int OpSpec::*member;
  };
  static constexpr IntField kIntFields[] = {
      {"N", &OpSpec::n}, {"H", &OpSpec::h}, {"W", &OpSpec::w}, {"C", &OpSpec::c},
      {"K", &OpSpec::k}, {"R", &OpSpec::r}, {"S", &OpSpec::s}, {"groups", &OpSpec::groups},
  };
  for (const IntField& f : kIntFields) {
    if (name == f.name) {
      QTUNE_ASSIGN_OR_RETURN(op.*f.member, ParseInt(name, value));
      return absl::OkStatus();
    }
  }
  if (name == "stride" || name == "dilation") {
    QTUNE_ASSIGN_OR_RETURN(std::vector<int> p, ParseParts(name, value));
    if (p.size() > 2) return PartsError(name, value, "A or AxB");
    int& a = name == "stride" ? op.stride_h : op.dilation_h;
    int& b = name == "stride" ? op.stride_w : op.dilation_w;
    a = p[0];
    b = p.size() == 2 ? p[1] : p[0];
    return absl::OkStatus();
  }
  if (name == "pad") {
    QTUNE_ASSIGN_OR_RETURN(std::vector<int> p, ParseParts(name, value));
    if (p.size() == 1) {
      op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = p[0];
    } else if (p.size() == 2) {
      op.pad_top = op.pad_bottom = p[0];
      op.pad_left = op.pad_right = p[1];
    } else if (p.size() == 4) {
      op.pad_top = p[0];
      op.pad_left = p[1];
      op.pad_bottom = p[2];
      op.pad_right = p[3];
    } else {
      return PartsError(name, value, "P, PHxPW or TxLxBxR");
    }
    return absl::OkStatus();
  }
  if (name == "act") {
    QTUNE_ASSIGN_OR_RETURN(op.activation, ParseActivation(value));
    return absl::OkStatus();
  }
  if (name == "io") {
    if (value != "u8" && value != "s8") {
      return absl::InvalidArgumentError(
          absl::StrCat("io must be u8 or s8, got '", Sv(value), "'"));
    }
    op.signed_io = value == "s8";
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown field '", Sv(name),
      "' (expected N, H, W, C, K, R, S, stride, pad, dilation, groups, act or io)"));
}

// Field list without validation.
absl::Status ApplyFields(std::string_view fields, OpSpec& op) {
  if (fields.empty()) return absl::OkStatus();
  for (absl::string_view piece : absl::StrSplit(Sv(fields), ',')) {
    const std::string_view item = Sv(piece);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", Sv(item), "' is not of the form FIELD=VALUE"));
    }
    QTUNE_RETURN_IF_ERROR(SetField(item.substr(0, eq), item.substr(eq + 1), op));
  }
  return absl::OkStatus();
}

int OutSize(int in, int pad_a, int pad_b, int kernel, int dilation, int stride) {
  const int64_t span = int64_t{in} + pad_a + pad_b - int64_t{dilation} * (kernel - 1) - 1;
  if (span < 0 || stride <= 0) return 0;
  return static_cast<int>(span / stride + 1);
}

}  // namespace

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kConv2d: return "conv2d";
    case OpKind::kDepthwiseConv2d: return "depthwise_conv2d";
    case OpKind::kDense: return "dense";
  }
  return "unknown";
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kInt8: return "int8";
    case DType::kFp32: return "fp32";
  }
  return "unknown";
}

std::string_view ActivationName(Activation act) {
  switch (act) {
    case Activation::kNone: return "none";
    case Activation::kRelu: return "relu";
    case Activation::kRelu6: return "relu6";
  }
  return "unknown";
}

absl::StatusOr<OpKind> ParseOpKind(std::string_view name) {
  for (OpKind k : {OpKind::kConv2d, OpKind::kDepthwiseConv2d, OpKind::kDense}) {
    if (name == OpKindName(k)) return k;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown op kind '", Sv(name), "' (expected conv2d, depthwise_conv2d or dense)"));
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  for (DType d : {DType::kInt8, DType::kFp32}) {
    if (name == DTypeName(d)) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", Sv(name), "' (expected int8 or fp32)"));
}

absl::StatusOr<Activation> ParseActivation(std::string_view name) {
  for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kRelu6}) {
    if (name == ActivationName(a)) return a;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown activation '", Sv(name), "' (expected none, relu or relu6)"));
}

int OpSpec::out_h() const { return OutSize(h, pad_top, pad_bottom, r, dilation_h, stride_h); }
int OpSpec::out_w() const { return OutSize(w, pad_left, pad_right, s, dilation_w, stride_w); }

int64_t OpSpec::reduction_size() const {
  const int64_t taps = int64_t{r} * s;
  return kind == OpKind::kDepthwiseConv2d ? taps : taps * c;
}

int64_t OpSpec::macs() const { return output_elements() * reduction_size(); }

int64_t OpSpec::in_bounds_macs() const {
  // Taps in bounds along one axis, summed over the output positions.
  auto in_bounds = [](int outputs, int taps, int stride, int pad, int dilation, int size) {
    int64_t sum = 0;
    for (int o = 0; o < outputs; ++o) {
      for (int t = 0; t < taps; ++t) {
        const int i = o * stride - pad + t * dilation;
        sum += i >= 0 && i < size ? 1 : 0;
      }
    }
    return sum;
  };
  const int64_t rows = in_bounds(out_h(), r, stride_h, pad_top, dilation_h, h);
  const int64_t cols = in_bounds(out_w(), s, stride_w, pad_left, dilation_w, w);
  const int64_t channels = kind == OpKind::kDepthwiseConv2d ? int64_t{c} : int64_t{c} * k;
  return int64_t{n} * rows * cols * channels;
}

int64_t OpSpec::input_elements() const { return int64_t{n} * h * w * c; }

int64_t OpSpec::weight_elements() const {
  if (kind == OpKind::kDepthwiseConv2d) return int64_t{r} * s * c;
  return int64_t{k} * r * s * c;
}

int64_t OpSpec::output_elements() const { return int64_t{n} * out_h() * out_w() * k; }

absl::Status ValidateOpSpec(const OpSpec& op) {
  const std::string_view kind = OpKindName(op.kind);
  struct Dim {
    const char* name;
    int value;
  };
  const Dim positive[] = {{"N", op.n},           {"H", op.h},
                          {"W", op.w},           {"C", op.c},
                          {"K", op.k},           {"R", op.r},
                          {"S", op.s},           {"stride height", op.stride_h},
                          {"stride width", op.stride_w}, {"dilation height", op.dilation_h},
                          {"dilation width", op.dilation_w}, {"groups", op.groups}};
  for (const Dim& d : positive) {
    if (d.value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(Sv(kind), ": ", d.name, " must be positive, got ", d.value));
    }
    if (d.value > kMaxDim) {
      return absl::InvalidArgumentError(
          absl::StrCat(Sv(kind), ": ", d.name, "=", d.value, " is too large"));
    }
  }
  const Dim pads[] = {{"pad top", op.pad_top},
                      {"pad left", op.pad_left},
                      {"pad bottom", op.pad_bottom},
                      {"pad right", op.pad_right}};
  for (const Dim& d : pads) {
    if (d.value < 0 || d.value > kMaxDim) {
      return absl::InvalidArgumentError(
          absl::StrCat(Sv(kind), ": ", d.name, " must be in [0, ", kMaxDim, "], got ", d.value));
    }
  }
  switch (op.kind) {
    case OpKind::kConv2d:
      if (op.groups != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "conv2d: groups must be 1, got ", op.groups, " (use depthwise_conv2d for groups == C)"));
      }
      break;
    case OpKind::kDepthwiseConv2d:
      if (op.groups != op.c || op.k != op.c) {
        return absl::InvalidArgumentError(absl::StrCat(
            "depthwise_conv2d: needs K == C == groups, got C=", op.c, ", K=", op.k,
            ", groups=", op.groups));
      }
      break;
    case OpKind::kDense:
      if (op.h != 1 || op.w != 1 || op.r != 1 || op.s != 1 || op.stride_h != 1 ||
          op.stride_w != 1 || op.dilation_h != 1 || op.dilation_w != 1 || op.pad_top != 0 ||
          op.pad_left != 0 || op.pad_bottom != 0 || op.pad_right != 0 || op.groups != 1) {
        return absl::InvalidArgumentError(
            "dense: needs H=W=R=S=1, stride 1, no padding, dilation 1, groups 1");
      }
      break;
  }
  if (op.out_h() <= 0 || op.out_w() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        Sv(kind), ": the kernel (", op.r, "x", op.s, ", dilation ", op.dilation_h, "x",
        op.dilation_w, ") does not fit the padded ", op.h, "x", op.w, " input"));
  }
  const struct {
    const char* name;
    int64_t elements;
  } tensors[] = {{"input", op.input_elements()},
                 {"weight", op.weight_elements()},
                 {"output", op.output_elements()}};
  for (const auto& t : tensors) {
    if (t.elements > kMaxTensorElements) {
      return absl::InvalidArgumentError(absl::StrCat(Sv(kind), ": the ", t.name, " tensor has ",
                                                     t.elements, " elements (limit 2^31 - 1)"));
    }
  }
  if (op.signed_io && op.dtype != DType::kInt8) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(kind), ": io=s8 is for int8 ops only"));
  }
  if (op.dtype == DType::kInt8 && op.reduction_size() > kMaxInt8Reduction) {
    return absl::InvalidArgumentError(absl::StrCat(
        Sv(kind), ": int8 reduction size ", op.reduction_size(), " exceeds ", kMaxInt8Reduction,
        " (the int32 accumulator could overflow)"));
  }
  return absl::OkStatus();
}

std::string CanonicalKey(const OpSpec& op) {
  return absl::StrCat(Sv(OpKindName(op.kind)), "/", Sv(DTypeName(op.dtype)), "/N=", op.n, ",H=", op.h,
                      ",W=", op.w, ",C=", op.c, ",K=", op.k, ",R=", op.r, ",S=", op.s,
                      ",stride=", op.stride_h, "x", op.stride_w, ",pad=", op.pad_top, "x",
                      op.pad_left, "x", op.pad_bottom, "x", op.pad_right, ",dilation=",
                      op.dilation_h, "x", op.dilation_w, ",groups=", op.groups,
                      ",act=", Sv(ActivationName(op.activation)), op.signed_io ? ",io=s8" : "");
}

std::string ShapeString(const OpSpec& op) {
  const std::string batch = op.n == 1 ? "" : absl::StrCat(op.n, "x");
  if (op.kind == OpKind::kDense) return absl::StrCat(batch, op.c, " ->", op.k);
  const std::string stride = op.stride_h == op.stride_w
                                 ? absl::StrCat(op.stride_h)
                                 : absl::StrCat(op.stride_h, "x", op.stride_w);
  const char* dw = op.kind == OpKind::kDepthwiseConv2d ? "dw" : "";
  return absl::StrCat(batch, op.h, "x", op.w, "x", op.c, " ", dw, op.r, "x", op.s, "/", stride,
                      " ->", op.k);
}

absl::StatusOr<OpSpec> ParseOpSpec(std::string_view text) {
  // KIND/DTYPE[/FIELDS]
  std::vector<std::string_view> parts;
  const size_t first = text.find('/');
  if (first != std::string_view::npos) {
    parts.push_back(text.substr(0, first));
    const size_t second = text.find('/', first + 1);
    parts.push_back(text.substr(first + 1, second == std::string_view::npos
                                               ? std::string_view::npos
                                               : second - first - 1));
    if (second != std::string_view::npos) parts.push_back(text.substr(second + 1));
  }
  if (parts.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "op spec '", Sv(text), "' must have the form KIND/DTYPE/FIELD=VALUE,..."));
  }
  OpSpec op;
  QTUNE_ASSIGN_OR_RETURN(op.kind, ParseOpKind(parts[0]));
  QTUNE_ASSIGN_OR_RETURN(op.dtype, ParseDType(parts[1]));
  return ParseShapeFields(parts.size() == 3 ? parts[2] : std::string_view(), op);
}

absl::StatusOr<OpSpec> ParseShapeFields(std::string_view fields, OpSpec base) {
  QTUNE_RETURN_IF_ERROR(ApplyFields(fields, base));
  QTUNE_RETURN_IF_ERROR(ValidateOpSpec(base));
  return base;
}

}  // namespace qtune::kernels
