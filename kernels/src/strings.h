// File: strings.h (internal)
// Bridges std::string_view (the public API) and the pinned Abseil, whose
// absl::string_view is a distinct type that StrCat/StrJoin expect.
#ifndef QTUNE_KERNELS_SRC_STRINGS_H_
#define QTUNE_KERNELS_SRC_STRINGS_H_

#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace qtune::kernels::internal {

inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Splits on every `sep`; an empty input gives one empty piece.
inline std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_SRC_STRINGS_H_
