// File: kernel_test_util.h
// Helpers for the kernel tests: shared shapes, one kernel path at a time.
#ifndef QTUNE_TESTS_KERNELS_KERNEL_TEST_UTIL_H_
#define QTUNE_TESTS_KERNELS_KERNEL_TEST_UTIL_H_

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <ostream>
#include <random>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/verify.h"

namespace qtune::kernels {

// The paths this CPU offers (QTUNE_KERNEL_PATHS ignored).
inline std::vector<std::string> CpuPaths() {
  const char* saved = std::getenv("QTUNE_KERNEL_PATHS");
  const std::string saved_value = saved != nullptr ? saved : "";
  unsetenv("QTUNE_KERNEL_PATHS");
  std::vector<std::string> paths = HostTarget().paths;
  if (saved != nullptr) setenv("QTUNE_KERNEL_PATHS", saved_value.c_str(), 1);
  return paths;
}

inline bool CpuHas(const std::string& path) {
  static const std::vector<std::string> paths = CpuPaths();
  return std::find(paths.begin(), paths.end(), path) != paths.end();
}

// One path only, by default with more threads than this machine may have.
inline Target PathTarget(const std::string& path, int max_threads = 3) {
  Target t;
  t.paths = {path};
  t.max_threads = max_threads;
  return t;
}

// The default config of `space` and `samples` sampled ones, from a seed
// derived from `salt` (the same configs on every run).
inline std::vector<Config> DefaultAndSampled(const ConfigSpace& space, size_t samples,
                                             const std::string& salt) {
  std::vector<Config> configs = {space.default_config()};
  std::mt19937_64 rng(std::hash<std::string>{}(salt));
  for (size_t i = 0; i < samples; ++i) configs.push_back(*space.Sample(rng));
  return configs;
}

// The element types a kernel sweep runs: int8 with u8 activations, int8 with
// s8 activations (io=s8), fp32.
struct TypeCase {
  DType dtype;
  bool signed_io;
  // Part of parameterised test names: "int8" (u8 activations), "s8", "fp32".
  std::string Name() const { return signed_io ? "s8" : std::string(DTypeName(dtype)); }
};
inline void PrintTo(const TypeCase& t, std::ostream* os) { *os << t.Name(); }
inline constexpr TypeCase kU8{DType::kInt8, false};
inline constexpr TypeCase kS8{DType::kInt8, true};
inline constexpr TypeCase kF32{DType::kFp32, false};
inline constexpr TypeCase kAllTypes[] = {kU8, kS8, kF32};
inline constexpr TypeCase kInt8Types[] = {kU8, kS8};

// Names the instances of a test parameterised by (path, TypeCase), e.g.
// "neondot_s8": pass an object as INSTANTIATE_TEST_SUITE_P's last argument.
struct PathTypeName {
  template <typename Param>
  std::string operator()(const ::testing::TestParamInfo<Param>& info) const {
    return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param).Name();
  }
};

// The `dtypes` part of the names of `op`'s kernels (docs/kernel-naming.md).
inline std::string KernelDTypes(const OpSpec& op) {
  if (op.dtype == DType::kFp32) return "f32";
  return op.signed_io ? "s8s8s8" : "u8s8u8";
}

// Builds the kernel of `config` (valid in `space`) for `inst` on `target`,
// expects its name to match `name_re`, start with the op kind and carry the
// op's dtypes (KernelDTypes), runs it on
// a garbage-filled output (it must overwrite every element) and expects the
// reference's output (int8 bit-exact, fp32 within the verify.h tolerance).
// Returns the kernel's name, or nullopt after recording a failure.
inline std::optional<std::string> ExpectMatchesReference(const OpInstance& inst,
                                                         const ConfigSpace& space,
                                                         const Config& config,
                                                         const Target& target,
                                                         const std::regex& name_re,
                                                         const std::string& what) {
  const std::string key = space.ToString(config);
  auto kernel = CreateKernel(inst.op, config, inst.data, target);
  if (!kernel.ok()) {
    ADD_FAILURE() << what << " " << key << ": " << kernel.status();
    return std::nullopt;
  }
  const std::string name = (*kernel)->name();
  if (!std::regex_match(name, name_re) ||
      name.rfind(std::string(OpKindName(inst.op.kind)) + "_" + KernelDTypes(inst.op) + "_", 0) !=
          0) {
    ADD_FAILURE() << what << " " << key << ": unexpected kernel name " << name;
    return std::nullopt;
  }
  const size_t out_bytes = inst.op.output_elements() * ElementBytes(inst.op.dtype);
  AlignedBuffer out(out_bytes);
  std::memset(out.data(), 0xA5, out_bytes);
  const absl::Status run = (*kernel)->Execute(inst.input.data(), out.data());
  if (!run.ok()) {
    ADD_FAILURE() << what << " " << key << " " << name << ": " << run;
    return std::nullopt;
  }
  const VerifyResult v = VerifyOutput(inst, out.data());
  if (v.mismatches != 0) {
    ADD_FAILURE() << what << " " << key << " " << name << ": " << v.Summary();
    return std::nullopt;
  }
  return name;
}

// Operator shapes every conv2d/dense kernel family is checked on: odd sizes,
// padding (asymmetric too), stride 2, dilation, 1x1, C = 3, channel counts
// that are not multiples of 4 or 16, batches, dense with N > 1.
struct ShapeCase {
  const char* kind;
  const char* fields;
  // "KIND/DTYPE/FIELDS[,io=s8]", for ParseOpSpec.
  std::string Text(TypeCase type) const {
    return std::string(kind) + "/" + std::string(DTypeName(type.dtype)) + "/" + fields +
           (type.signed_io ? ",io=s8" : "");
  }
};

inline void PrintTo(const ShapeCase& c, std::ostream* os) { *os << c.kind << "/" << c.fields; }

inline const ShapeCase kKernelShapes[] = {
    {"conv2d", "H=9,W=11,C=5,K=13,R=3,S=3,pad=1"},
    {"conv2d", "H=10,W=9,C=7,K=20,R=3,S=3,stride=2,pad=1,act=relu"},
    {"conv2d", "N=2,H=5,W=7,C=19,K=33,R=1,S=1"},
    {"conv2d", "H=9,W=9,C=16,K=24,R=1,S=1,stride=2"},
    {"conv2d", "H=23,W=21,C=3,K=16,R=7,S=7,stride=2,pad=3,act=relu"},
    {"conv2d", "H=7,W=8,C=6,K=9,R=2,S=3,pad=0x1x2x1,act=relu6"},
    {"conv2d", "H=8,W=10,C=4,K=9,R=3,S=3,dilation=2,pad=2"},
    {"conv2d", "H=6,W=7,C=40,K=50,R=3,S=3,pad=1"},
    {"conv2d", "N=2,H=6,W=6,C=6,K=10,R=3,S=3"},
    {"conv2d", "H=2,W=150,C=4,K=8,R=1,S=3,pad=0x1"},
    {"conv2d", "H=9,W=13,C=33,K=7,R=3,S=3,stride=1x2,pad=1"},
    {"conv2d", "H=1,W=1,C=1,K=1,R=1,S=1"},
    {"conv2d", "H=3,W=4,C=8,K=16,R=3,S=3,pad=3"},
    {"conv2d", "H=14,W=14,C=64,K=64,R=3,S=3,pad=1,act=relu"},
    {"conv2d", "H=15,W=15,C=32,K=72,R=3,S=3,stride=2,pad=1,act=relu"},
    {"conv2d", "H=7,W=7,C=64,K=100,R=1,S=1,stride=2"},
    {"dense", "C=37,K=45"},
    {"dense", "N=5,C=64,K=17,act=relu"},
    {"dense", "N=3,C=1,K=1"},
    {"dense", "N=2,C=130,K=300"},
};

}  // namespace qtune::kernels

#endif  // QTUNE_TESTS_KERNELS_KERNEL_TEST_UTIL_H_
