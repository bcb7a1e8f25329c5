// File: kernel_family.h (internal)
// A kernel family is one path/algorithm of the library (e.g. the portable
// direct convolution, or a JIT generator for one ISA). The registry
// (registry.cc) asks every family, in order, whether it supports an operator
// on a target, merges the spaces of those that do, and routes CreateKernel()
// to the family a config selects.
//
// Adding a family: implement KernelFamily, add its factory to the list in
// registry.cc (best first), and, if it needs a CPU feature, report it from
// Available().
#ifndef QTUNE_KERNELS_SRC_KERNEL_FAMILY_H_
#define QTUNE_KERNELS_SRC_KERNEL_FAMILY_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::kernels::internal {

// The ingredients of a ConfigSpace, before ConfigSpace::Create().
struct SpaceSpec {
  std::vector<Knob> knobs;
  std::vector<std::string> constraints;
  Config default_config;
};

// Thread-safety: families are immutable singletons; every method may be
// called concurrently.
class KernelFamily {
 public:
  virtual ~KernelFamily() = default;

  // Unique identifier, also the label of the `kernel` knob when several
  // families apply (e.g. "generic_direct").
  virtual std::string_view name() const = 0;
  // The kernel path it belongs to (Target::paths), e.g. "generic".
  virtual std::string_view path() const = 0;
  // Whether this build and CPU can run it.
  virtual bool Available() const = 0;

  // OK, or UNIMPLEMENTED with a one-line reason, for a valid `op`.
  virtual absl::Status Supports(const OpSpec& op, const Target& target) const = 0;
  // The family's own knobs for a supported `op`.
  virtual absl::StatusOr<SpaceSpec> Space(const OpSpec& op, const Target& target) const = 0;
  // Builds a kernel. `config` holds exactly the family's knobs and is valid in
  // its space; `data` has been validated against `op`.
  virtual absl::StatusOr<std::unique_ptr<Kernel>> Create(const OpSpec& op, const Config& config,
                                                         const OpData& data,
                                                         const Target& target) const = 0;
};

// Knob builders shared by the families. A knob name used by several families
// must have the same values in each (MergeSpaces requires it), so they are
// built in one place.

// The values of `candidates` (ascending) up to and including the first one
// >= `extent`: tiles larger than one covering the whole extent are useless.
std::vector<int64_t> UpToCovering(std::span<const int> candidates, int64_t extent);
// The `kc` knob's values: input-channel block sizes, powers of two from 16
// below C, and C itself (no blocking).
std::vector<int64_t> ChannelBlocks(int c);
// The `threads` knob: 1 .. target.max_threads.
Knob ThreadsKnob(const Target& target, std::string help = "worker threads");

// The `dtypes` part of a kernel name (docs/kernel-naming.md): input, weight
// and output element types: "u8s8u8", "s8s8s8" (int8 with signed_io) or
// "f32".
inline std::string_view DTypesName(const OpSpec& op) {
  if (op.dtype == DType::kFp32) return "f32";
  return op.signed_io ? "s8s8s8" : "u8s8u8";
}

// The checks at the top of Execute() (with_residual false, residual null)
// and ExecuteWithResidual() (with_residual true) of a kernel made with a
// residual add (`fused`) or without: FAILED_PRECONDITION for the call that
// does not match how the kernel was made, INVALID_ARGUMENT for a null
// pointer.
absl::Status CheckExecuteArgs(const Kernel& kernel, bool fused, const void* input,
                              const void* residual, bool with_residual, const void* output);

// Every family compiled into this build, best first.
const std::vector<const KernelFamily*>& AllFamilies();

// Name of the categorical knob that selects the family when several apply.
inline constexpr std::string_view kFamilyKnob = "kernel";

struct FamilySpace {
  const KernelFamily* family;
  SpaceSpec spec;
};

// One family: its own space. Several: the union of their knobs plus the
// categorical `kernel` knob (labels = family names, in the given order); each
// family's constraints apply when it is selected, and the knobs it lacks are
// pinned to their default so that every (family, own knobs) combination
// appears exactly once. INTERNAL when families disagree on a shared knob.
absl::StatusOr<SpaceSpec> MergeSpaces(const std::vector<FamilySpace>& families);

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_SRC_KERNEL_FAMILY_H_
