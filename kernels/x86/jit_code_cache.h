// File: jit_code_cache.h (internal)
// Generated microkernels, shared by every kernel whose code is the same:
// the configs of a search that differ only in threading or loop order reuse
// one JitCode instead of assembling it again.
#ifndef QTUNE_KERNELS_X86_JIT_CODE_CACHE_H_
#define QTUNE_KERNELS_X86_JIT_CODE_CACHE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/x86/jit_conv_gen.h"

namespace qtune::kernels::x86 {

// The code generated for `spec`, from the cache under `key` (which must
// identify everything `spec` holds) or newly generated and cached. At most
// kCodeCacheEntries codes are kept (least recently used out). Thread-safe.
inline constexpr size_t kCodeCacheEntries = 256;
absl::StatusOr<std::shared_ptr<const JitCode>> CachedCode(const std::string& key,
                                                           const GenSpec& spec);

}  // namespace qtune::kernels::x86

#endif  // QTUNE_KERNELS_X86_JIT_CODE_CACHE_H_
