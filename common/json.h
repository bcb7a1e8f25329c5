// File: json.h
// Flat JSON objects, one per line: the format of Store::Export/Import and of
// `qtune db ... --json`. Values are strings, numbers, booleans or null; no
// nesting except pre-rendered members added with JsonLine::Raw.
#ifndef QTUNE_COMMON_JSON_H_
#define QTUNE_COMMON_JSON_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qtune::json {

// The shortest decimal form that parses back to the same double (std::to_chars),
// e.g. "0.1", "1e-300", "123456.789012345". Non-finite values give "null".
std::string FormatDouble(double value);

// Appends `value` as a JSON string literal (quotes, backslashes and control
// characters escaped; other bytes, UTF-8 included, copied as they are).
void AppendJsonString(std::string& out, absl::string_view value);

// Builds {"key":value,...} with members in the order they are added.
class JsonLine {
 public:
  JsonLine& Str(absl::string_view key, absl::string_view value);
  JsonLine& Int(absl::string_view key, int64_t value);
  JsonLine& Double(absl::string_view key, double value);
  JsonLine& Bool(absl::string_view key, bool value);
  JsonLine& Null(absl::string_view key);
  // `json` must already be a valid JSON value.
  JsonLine& Raw(absl::string_view key, absl::string_view json);
  // The object text, without a trailing newline.
  std::string Finish() &&;

 private:
  void Key(absl::string_view key);
  std::string text_ = "{";
};

struct JsonValue {
  enum class Kind { kString, kNumber, kBool, kNull };
  Kind kind = Kind::kNull;
  std::string text;  // the decoded string, the number's literal, "true"/"false"
};

using JsonObject = std::vector<std::pair<std::string, JsonValue>>;

// Parses one flat JSON object (members in text order; duplicate keys and
// nested values are errors). INVALID_ARGUMENT with a short reason on error.
absl::StatusOr<JsonObject> ParseFlatObject(absl::string_view text);

// Typed access to the members of a parsed object, for readers that want every
// member accounted for: Get* marks a member as used; Finish() fails on members
// that were never asked for.
class JsonFields {
 public:
  explicit JsonFields(const JsonObject& object) : object_(object), used_(object.size()) {}

  // Leaves *out unchanged when the member is absent and !required.
  absl::Status GetString(absl::string_view key, std::string* out, bool required = false);
  absl::Status GetBool(absl::string_view key, bool* out, bool required = false);
  absl::Status GetInt(absl::string_view key, int64_t* out, bool required = false);
  absl::Status GetInt32(absl::string_view key, int32_t* out, bool required = false);
  absl::Status GetDouble(absl::string_view key, double* out, bool required = false);
  // INVALID_ARGUMENT naming the first unused member.
  absl::Status Finish() const;

 private:
  const JsonValue* Find(absl::string_view key);
  const JsonObject& object_;
  std::vector<bool> used_;
};

}  // namespace qtune::json

#endif  // QTUNE_COMMON_JSON_H_
