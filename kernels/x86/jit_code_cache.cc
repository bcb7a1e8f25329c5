#include "kernels/x86/jit_code_cache.h"

#include "common/status_macros.h"
#include "kernels/src/lru_cache.h"

namespace qtune::kernels::x86 {
namespace {

size_t CountOne(const JitCode&) { return 1; }

internal::LruCache<JitCode, CountOne>& CodeCache() {
  static auto* cache = new internal::LruCache<JitCode, CountOne>(kCodeCacheEntries);
  return *cache;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const JitCode>> CachedCode(const std::string& key,
                                                           const GenSpec& spec) {
  std::shared_ptr<const JitCode> code = CodeCache().Find(key);
  if (code == nullptr) {
    QTUNE_ASSIGN_OR_RETURN(code, GenerateConv(spec));
    CodeCache().Put(key, code);
  }
  return code;
}

}  // namespace qtune::kernels::x86
