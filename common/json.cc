#include "common/json.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace qtune::json {

std::string FormatDouble(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "null";  // cannot happen with 64 bytes
  return std::string(buf, end);
}

void AppendJsonString(std::string& out, absl::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void JsonLine::Key(absl::string_view key) {
  if (text_.size() > 1) text_.push_back(',');
  AppendJsonString(text_, key);
  text_.push_back(':');
}

JsonLine& JsonLine::Str(absl::string_view key, absl::string_view value) {
  Key(key);
  AppendJsonString(text_, value);
  return *this;
}

JsonLine& JsonLine::Int(absl::string_view key, int64_t value) {
  Key(key);
  absl::StrAppend(&text_, value);
  return *this;
}

JsonLine& JsonLine::Double(absl::string_view key, double value) {
  Key(key);
  text_ += FormatDouble(value);
  return *this;
}

JsonLine& JsonLine::Bool(absl::string_view key, bool value) {
  Key(key);
  text_ += value ? "true" : "false";
  return *this;
}

JsonLine& JsonLine::Null(absl::string_view key) {
  Key(key);
  text_ += "null";
  return *this;
}

JsonLine& JsonLine::Raw(absl::string_view key, absl::string_view json) {
  Key(key);
  text_.append(json.data(), json.size());
  return *this;
}

std::string JsonLine::Finish() && {
  text_.push_back('}');
  return std::move(text_);
}

namespace {

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<JsonObject> Object() {
    JsonObject object;
    SkipSpace();
    if (!Consume('{')) return Error("expected '{'");
    SkipSpace();
    if (!Consume('}')) {
      while (true) {
        SkipSpace();
        if (Peek() != '"') return Error("expected a member name");
        std::string key;
        if (absl::Status s = String(key); !s.ok()) return s;
        for (const auto& [k, v] : object) {
          if (k == key) return Error(absl::StrCat("duplicate member \"", key, "\""));
        }
        SkipSpace();
        if (!Consume(':')) return Error("expected ':'");
        SkipSpace();
        JsonValue value;
        if (absl::Status s = Value(value); !s.ok()) return s;
        object.emplace_back(std::move(key), std::move(value));
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Error("expected ',' or '}'");
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing characters after the object");
    return object;
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool Consume(char c) {
    if (Peek() != c || pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r' ||
            text_[pos_] == '\n')) {
      ++pos_;
    }
  }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " at column ", pos_ + 1));
  }

  absl::Status Value(JsonValue& value) {
    char c = Peek();
    if (c == '"') {
      value.kind = JsonValue::Kind::kString;
      return String(value.text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind = JsonValue::Kind::kNumber;
      return Number(value.text);
    }
    for (absl::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        value.kind = word == "null" ? JsonValue::Kind::kNull : JsonValue::Kind::kBool;
        value.text = std::string(word);
        return absl::OkStatus();
      }
    }
    if (c == '{' || c == '[') return Error("nested values are not supported");
    return Error("expected a value");
  }

  absl::Status Number(std::string& out) {
    size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    Consume('-');
    if (Peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      return Error("malformed number");
    }
    if (Consume('.') && !digits()) return Error("malformed number");
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (!Consume('+')) Consume('-');
      if (!digits()) return Error("malformed number");
    }
    out = std::string(text_.substr(start, pos_ - start));
    return absl::OkStatus();
  }

  absl::Status Hex4(uint32_t& out) {
    if (pos_ + 4 > text_.size()) return Error("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') out |= c - '0';
      else if (c >= 'a' && c <= 'f') out |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') out |= c - 'A' + 10;
      else return Error("bad \\u escape");
    }
    return absl::OkStatus();
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  absl::Status String(std::string& out) {
    out.clear();
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return Error("unterminated string");
      char e = text_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (absl::Status s = Hex4(cp); !s.ok()) return s;
          if (cp >= 0xd800 && cp < 0xdc00) {
            uint32_t low = 0;
            if (text_.substr(pos_, 2) != "\\u") return Error("unpaired surrogate");
            pos_ += 2;
            if (absl::Status s = Hex4(low); !s.ok()) return s;
            if (low < 0xdc00 || low >= 0xe000) return Error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return Error("unpaired surrogate");
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Error("bad escape");
      }
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<JsonObject> ParseFlatObject(absl::string_view text) {
  return Parser(text).Object();
}

const JsonValue* JsonFields::Find(absl::string_view key) {
  for (size_t i = 0; i < object_.size(); ++i) {
    if (object_[i].first == key) {
      used_[i] = true;
      return &object_[i].second;
    }
  }
  return nullptr;
}

namespace {
absl::Status Missing(absl::string_view key) {
  return absl::InvalidArgumentError(absl::StrCat("missing member \"", key, "\""));
}
absl::Status WrongType(absl::string_view key, absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat("member \"", key, "\" must be ", want));
}

// Parses a number member into `out` (std::from_chars: the whole literal must
// convert, in range).
template <typename T>
absl::Status NumberMember(const JsonValue* v, absl::string_view key, absl::string_view want,
                          bool required, T* out) {
  if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
  if (v->kind != JsonValue::Kind::kNumber) return WrongType(key, want);
  const char* begin = v->text.data();
  const char* end = begin + v->text.size();
  auto [ptr, ec] = std::from_chars(begin, end, *out);
  if (ec != std::errc() || ptr != end) return WrongType(key, want);
  return absl::OkStatus();
}

}  // namespace

absl::Status JsonFields::GetString(absl::string_view key, std::string* out, bool required) {
  const JsonValue* v = Find(key);
  if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
  if (v->kind != JsonValue::Kind::kString) return WrongType(key, "a string");
  *out = v->text;
  return absl::OkStatus();
}

absl::Status JsonFields::GetBool(absl::string_view key, bool* out, bool required) {
  const JsonValue* v = Find(key);
  if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
  if (v->kind != JsonValue::Kind::kBool) return WrongType(key, "true or false");
  *out = v->text == "true";
  return absl::OkStatus();
}

absl::Status JsonFields::GetInt(absl::string_view key, int64_t* out, bool required) {
  return NumberMember(Find(key), key, "a 64-bit integer", required, out);
}

absl::Status JsonFields::GetInt32(absl::string_view key, int32_t* out, bool required) {
  int64_t wide = *out;
  if (absl::Status s = GetInt(key, &wide, required); !s.ok()) return s;
  if (wide < std::numeric_limits<int32_t>::min() || wide > std::numeric_limits<int32_t>::max()) {
    return WrongType(key, "a 32-bit integer");
  }
  *out = static_cast<int32_t>(wide);
  return absl::OkStatus();
}

absl::Status JsonFields::GetDouble(absl::string_view key, double* out, bool required) {
  return NumberMember(Find(key), key, "a finite number", required, out);
}

absl::Status JsonFields::Finish() const {
  for (size_t i = 0; i < object_.size(); ++i) {
    if (!used_[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown member \"", object_[i].first, "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace qtune::json
