// File: strings.h (internal)
// Bridges std::string_view (the public API) and the pinned Abseil, whose
// absl::string_view is a distinct type that StrCat/StrJoin/StrSplit expect
// and return: Sv() converts either way.
#ifndef QTUNE_KERNELS_SRC_STRINGS_H_
#define QTUNE_KERNELS_SRC_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace qtune::kernels::internal {

inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_SRC_STRINGS_H_
