// File: json.h
// JSON for everything that is not a protobuf message (those use protobuf's
// own JSON support): nlohmann::json with insertion-ordered members, plus the
// two conventions qtune's documented outputs rely on.
//
//   json::Json line = {{"device_key", key}, {"median_us", json::Number(us)}};
//   out << json::Dump(line) << '\n';
//
// Header-only; the functions are thread-safe.
#ifndef QTUNE_COMMON_JSON_H_
#define QTUNE_COMMON_JSON_H_

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace qtune::json {

// Members keep the order in which they were added (and parsed).
using Json = nlohmann::ordered_json;

// A JSON number for `value`: an integer when the double holds one exactly
// (so 10.0 is written "10"), null when it is not finite. Other values are
// written in the shortest form that parses back to the same double.
inline Json Number(double value) {
  if (!std::isfinite(value)) return nullptr;
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0 &&
      !(value == 0 && std::signbit(value))) {
    return static_cast<int64_t>(value);
  }
  return value;
}

// One line of compact JSON. UTF-8 is written as it is; bytes that are not
// valid UTF-8 become U+FFFD (nlohmann would throw otherwise).
inline std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Parses `text` as one JSON object. INVALID_ARGUMENT with a short reason for
// malformed JSON (nlohmann's message), a number out of the range of a
// double (naming its member), another value than an object, or a member
// name that occurs twice in the same object.
inline absl::StatusOr<Json> ParseObject(absl::string_view text) {
  std::string duplicate, last_key;
  std::vector<std::set<std::string>> names;  // per open object
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      names.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!names.empty()) names.pop_back();
    } else if (event == Json::parse_event_t::key) {
      last_key = parsed.get<std::string>();
      if (!names.empty() && !names.back().insert(last_key).second && duplicate.empty()) {
        duplicate = last_key;
      }
    }
    return true;
  };
  Json value;
  try {
    value = Json::parse(text.begin(), text.end(), check);
  } catch (const Json::out_of_range& e) {  // 406: a number too large for a double
    return absl::InvalidArgumentError(
        absl::StrCat("member \"", last_key, "\" must be a finite number"));
  } catch (const Json::exception& e) {
    absl::string_view what = e.what();
    if (size_t bracket = what.find("] "); bracket != absl::string_view::npos) {
      what.remove_prefix(bracket + 2);
    }
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", what));
  }
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("duplicate member \"", duplicate, "\""));
  }
  if (!value.is_object()) return absl::InvalidArgumentError("expected '{' (a JSON object)");
  return value;
}

}  // namespace qtune::json

#endif  // QTUNE_COMMON_JSON_H_
