// The kernel registry: host target detection, operator data validation, and
// DescribeSpace / CreateKernel over the ordered list of kernel families.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"
#include "absl/strings/ascii.h"
#include "common/status_macros.h"
#include "kernels/depthwise/depthwise.h"
#include "kernels/generic/direct_conv.h"
#include "kernels/src/kernel_family.h"
#include "kernels/src/strings.h"
#if defined(QTUNE_HAVE_X86_JIT)
#include "kernels/x86/x86_families.h"
#endif
#if defined(QTUNE_HAVE_ARM_KERNELS)
#include "kernels/arm/arm_families.h"
#endif
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels {
namespace internal {

const std::vector<const KernelFamily*>& AllFamilies() {
  // Best first. Families are never destroyed (process-lifetime singletons).
  static const std::vector<const KernelFamily*>* families = [] {
    auto* list = new std::vector<const KernelFamily*>;
#if defined(QTUNE_HAVE_X86_JIT)
    list->push_back(MakeX86Avx512VnniFamily().release());
    list->push_back(MakeX86Avx512BwFamily().release());
    list->push_back(MakeX86Avx2Family().release());
#endif
#if defined(QTUNE_HAVE_ARM_KERNELS)
    list->push_back(MakeArmNeonI8mmFamily().release());
    list->push_back(MakeArmNeonDotFamily().release());
    list->push_back(MakeArmNeonFamily().release());
#endif
    list->push_back(MakeDepthwiseAvx512VnniFamily().release());
    list->push_back(MakeDepthwiseAvx512Family().release());
    list->push_back(MakeDepthwiseAvx2Family().release());
    list->push_back(MakeDepthwiseGenericFamily().release());
    list->push_back(MakeGenericDirectFamily().release());
    return list;
  }();
  return *families;
}

std::vector<int64_t> UpToCovering(std::span<const int> candidates, int64_t extent) {
  std::vector<int64_t> values;
  for (int v : candidates) {
    values.push_back(v);
    if (v >= extent) break;
  }
  return values;
}

std::vector<int64_t> ChannelBlocks(int c) {
  std::vector<int64_t> values;
  for (int64_t v = 16; v < c; v *= 2) values.push_back(v);
  values.push_back(c);
  return values;
}

Knob ThreadsKnob(const Target& target, std::string help) {
  Knob threads{"threads", {}, {}, std::move(help)};
  for (int t = 1; t <= std::max(1, target.max_threads); ++t) threads.values.push_back(t);
  return threads;
}

namespace {

// "knob == value", with the label quoted for a categorical knob.
std::string Equals(const Knob& knob, int64_t value) {
  for (size_t i = 0; i < knob.values.size() && knob.categorical(); ++i) {
    if (knob.values[i] == value) return absl::StrCat(knob.name, " == \"", knob.labels[i], "\"");
  }
  return absl::StrCat(knob.name, " == ", value);
}

}  // namespace

absl::StatusOr<SpaceSpec> MergeSpaces(const std::vector<FamilySpace>& families) {
  if (families.size() == 1) return families[0].spec;
  SpaceSpec merged;
  Knob selector{std::string(kFamilyKnob), {}, {}, "kernel family"};
  for (size_t i = 0; i < families.size(); ++i) {
    selector.values.push_back(static_cast<int64_t>(i));
    selector.labels.emplace_back(families[i].family->name());
  }
  merged.knobs.push_back(selector);
  merged.default_config[selector.name] = 0;
  // Union of knobs; the pinned value of a knob is its owner's default.
  for (const FamilySpace& a : families) {
    for (const Knob& knob : a.spec.knobs) {
      if (knob.name == kFamilyKnob) {
        return absl::InternalError(absl::StrCat(Sv(a.family->name()), " uses the reserved knob name '",
                                                Sv(kFamilyKnob), "'"));
      }
      auto same = std::find_if(merged.knobs.begin(), merged.knobs.end(),
                               [&](const Knob& k) { return k.name == knob.name; });
      if (same == merged.knobs.end()) {
        merged.knobs.push_back(knob);
        merged.default_config[knob.name] = a.spec.default_config.at(knob.name);
      } else if (same->values != knob.values || same->labels != knob.labels) {
        return absl::InternalError(absl::StrCat("families disagree on the values of knob '",
                                                knob.name, "'"));
      }
    }
  }
  // Defaults of the first family win for its own knobs.
  for (const auto& [name, value] : families[0].spec.default_config) {
    merged.default_config[name] = value;
  }
  for (const FamilySpace& a : families) {
    const std::string when = absl::StrCat(Sv(kFamilyKnob), " != \"", Sv(a.family->name()), "\" || ");
    for (const std::string& c : a.spec.constraints) {
      merged.constraints.push_back(absl::StrCat(when, "(", c, ")"));
    }
    for (size_t k = 1; k < merged.knobs.size(); ++k) {
      const Knob& knob = merged.knobs[k];
      if (a.spec.default_config.count(knob.name) != 0) continue;
      merged.constraints.push_back(
          absl::StrCat(when, Equals(knob, merged.default_config.at(knob.name))));
    }
  }
  return merged;
}

}  // namespace internal

namespace {

using internal::FamilySpace;
using internal::kFamilyKnob;
using internal::KernelFamily;
using internal::MergeSpaces;
using internal::SpaceSpec;
using internal::Sv;

absl::Status SizeError(std::string_view what, size_t got, int64_t want, const OpSpec& op) {
  return absl::InvalidArgumentError(absl::StrCat("op data: ", Sv(what), " has ", got,
                                                 " elements, ", CanonicalKey(op), " needs ",
                                                 want));
}

// The families that support `op` on `target`, in the target's path order.
absl::StatusOr<std::vector<FamilySpace>> FindFamilies(const OpSpec& op, const Target& target) {
  QTUNE_RETURN_IF_ERROR(ValidateOpSpec(op));
  std::vector<FamilySpace> found;
  std::vector<std::string> reasons;
  for (const std::string& path : target.paths) {
    for (const KernelFamily* family : internal::AllFamilies()) {
      if (family->path() != path || !family->Available()) continue;
      absl::Status supported = family->Supports(op, target);
      if (!supported.ok()) {
        reasons.push_back(absl::StrCat(Sv(family->name()), ": ", supported.message()));
        continue;
      }
      QTUNE_ASSIGN_OR_RETURN(SpaceSpec spec, family->Space(op, target));
      found.push_back({family, std::move(spec)});
    }
  }
  if (found.empty()) {
    if (reasons.empty()) reasons.push_back("no kernel family on these paths");
    return absl::UnimplementedError(absl::StrCat("no kernel for ", CanonicalKey(op),
                                                 " on paths [", absl::StrJoin(target.paths, ","),
                                                 "]: ", absl::StrJoin(reasons, "; ")));
  }
  return found;
}

absl::StatusOr<ConfigSpace> MakeSpace(const SpaceSpec& spec) {
  return ConfigSpace::Create(spec.knobs, spec.constraints, spec.default_config);
}

}  // namespace

absl::Status ValidateOpData(const OpSpec& op, const OpData& data) {
  const int64_t weights = op.weight_elements();
  if (op.dtype == DType::kFp32) {
    if (data.residual_add.has_value()) {
      return absl::InvalidArgumentError("op data: a residual add needs an int8 op");
    }
    if (static_cast<int64_t>(data.weights_f32.size()) != weights) {
      return SizeError("weights_f32", data.weights_f32.size(), weights, op);
    }
    if (static_cast<int64_t>(data.bias_f32.size()) != op.k) {
      return SizeError("bias_f32", data.bias_f32.size(), op.k, op);
    }
    return absl::OkStatus();
  }
  if (static_cast<int64_t>(data.weights_s8.size()) != weights) {
    return SizeError("weights_s8", data.weights_s8.size(), weights, op);
  }
  if (static_cast<int64_t>(data.bias_s32.size()) != op.k) {
    return SizeError("bias_s32", data.bias_s32.size(), op.k, op);
  }
  const QuantParams& q = data.quant;
  if (q.requant_scale.size() != 1 && static_cast<int64_t>(q.requant_scale.size()) != op.k) {
    return absl::InvalidArgumentError(absl::StrCat("op data: requant_scale has ",
                                                   q.requant_scale.size(),
                                                   " elements, expected 1 or K=", op.k));
  }
  for (float scale : q.requant_scale) {
    if (!std::isfinite(scale) || scale <= 0.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat("op data: requant_scale ", scale, " is not a positive finite number"));
    }
  }
  const int32_t lo = ActivationMin(op), hi = ActivationMax(op);
  for (auto [name, zp] : {std::pair<const char*, int32_t>{"input_zero_point", q.input_zero_point},
                          {"output_zero_point", q.output_zero_point}}) {
    if (zp < lo || zp > hi) {
      return absl::InvalidArgumentError(
          absl::StrCat("op data: ", name, " ", zp, " is outside [", lo, ", ", hi, "]"));
    }
  }
  if (q.output_min < lo || q.output_max > hi || q.output_min > q.output_max) {
    return absl::InvalidArgumentError(absl::StrCat("op data: output clamp [", q.output_min, ", ",
                                                   q.output_max, "] is not within [", lo, ", ",
                                                   hi, "]"));
  }
  if (data.residual_add.has_value()) {
    const ResidualAdd& add = *data.residual_add;
    for (auto [name, zp] : {std::pair<const char*, int32_t>{"residual_zero_point",
                                                            add.residual_zero_point},
                            {"zero_point", add.zero_point}}) {
      if (zp < lo || zp > hi) {
        return absl::InvalidArgumentError(absl::StrCat("op data: residual add ", name, " ", zp,
                                                       " is outside [", lo, ", ", hi, "]"));
      }
    }
    if (add.lo < lo || add.hi > hi || add.lo > add.hi) {
      return absl::InvalidArgumentError(absl::StrCat("op data: residual add clamp [", add.lo,
                                                     ", ", add.hi, "] is not within [", lo, ", ",
                                                     hi, "]"));
    }
    if (std::isnan(add.conv_ratio) || std::isnan(add.residual_ratio)) {
      return absl::InvalidArgumentError("op data: residual add ratio is NaN");
    }
  }
  return absl::OkStatus();
}

void SetActivationClamp(const OpSpec& op, float output_scale, QuantParams& quant) {
  const int32_t lo = ActivationMin(op), hi = ActivationMax(op);
  quant.output_min = lo;
  quant.output_max = hi;
  if (op.activation == Activation::kNone) return;
  quant.output_min = std::clamp(quant.output_zero_point, lo, hi);
  if (op.activation == Activation::kRelu6 && std::isfinite(output_scale) && output_scale > 0.0f) {
    const double six = std::nearbyint(6.0 / output_scale);
    const double top = static_cast<double>(quant.output_zero_point) + six;
    quant.output_max = top >= hi ? hi : static_cast<int32_t>(top);
  }
}

namespace internal {

absl::Status CheckExecuteArgs(const Kernel& kernel, bool fused, const void* input,
                              const void* residual, bool with_residual, const void* output) {
  if (fused != with_residual) {
    return absl::FailedPreconditionError(
        fused ? absl::StrCat("kernel ", kernel.name(),
                             " was made with a residual add: use ExecuteWithResidual()")
              : absl::StrCat("kernel ", kernel.name(),
                             " was made without a residual add: use Execute()"));
  }
  if (input == nullptr || output == nullptr || (with_residual && residual == nullptr)) {
    return absl::InvalidArgumentError("Execute: input, residual and output must not be null");
  }
  return absl::OkStatus();
}

}  // namespace internal

absl::Status Kernel::ExecuteWithResidual(const void* input, const void* residual, void* output) {
  return internal::CheckExecuteArgs(*this, /*fused=*/false, input, residual,
                                    /*with_residual=*/true, output);
}

Target HostTarget() {
  std::vector<std::string> available;
  for (const KernelFamily* family : internal::AllFamilies()) {
    const std::string path(family->path());
    if (family->Available() &&
        std::find(available.begin(), available.end(), path) == available.end()) {
      available.push_back(path);
    }
  }
  Target target;
  // An unset or empty variable offers every available path.
  const char* forced = std::getenv("QTUNE_KERNEL_PATHS");
  if (forced != nullptr && !absl::StripAsciiWhitespace(forced).empty()) {
    for (absl::string_view name : absl::StrSplit(forced, ',')) {
      const std::string path(absl::StripAsciiWhitespace(name));
      if (std::find(available.begin(), available.end(), path) != available.end() &&
          std::find(target.paths.begin(), target.paths.end(), path) == target.paths.end()) {
        target.paths.push_back(path);
      }
    }
  } else {
    target.paths = std::move(available);
  }
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  target.max_threads = static_cast<int>(std::clamp<long>(cpus, 1, 256));
  return target;
}

absl::StatusOr<ConfigSpace> DescribeSpace(const OpSpec& op, const Target& target) {
  QTUNE_ASSIGN_OR_RETURN(std::vector<FamilySpace> families, FindFamilies(op, target));
  QTUNE_ASSIGN_OR_RETURN(SpaceSpec spec, MergeSpaces(families));
  return MakeSpace(spec);
}

absl::StatusOr<std::unique_ptr<Kernel>> CreateKernel(const OpSpec& op, const Config& config,
                                                     const OpData& data, const Target& target) {
  QTUNE_ASSIGN_OR_RETURN(std::vector<FamilySpace> families, FindFamilies(op, target));
  QTUNE_RETURN_IF_ERROR(ValidateOpData(op, data));
  QTUNE_ASSIGN_OR_RETURN(SpaceSpec spec, MergeSpaces(families));
  QTUNE_ASSIGN_OR_RETURN(ConfigSpace space, MakeSpace(spec));
  absl::Status valid = space.Validate(config);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config '", ConfigToString(config), "' for ", CanonicalKey(op), ": ",
                     valid.message()));
  }
  size_t index = 0;
  if (families.size() > 1) index = static_cast<size_t>(config.at(std::string(kFamilyKnob)));
  const FamilySpace& chosen = families[index];
  Config own;
  for (const Knob& knob : chosen.spec.knobs) own[knob.name] = config.at(knob.name);
  return chosen.family->Create(op, own, data, target);
}

}  // namespace qtune::kernels
