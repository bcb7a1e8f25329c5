#include "qtune/kernels/config_space.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <cstdint>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace qtune::kernels {

// ---------------------------------------------------------------------------
// Constraint expressions
// ---------------------------------------------------------------------------

// A node of a compiled constraint. Knob references hold the knob's position in
// the space, so evaluation reads a dense value vector.
struct ConfigSpace::Expr {
  enum class Op {
    kConst, kKnob, kNot, kNeg, kMul, kDiv, kMod, kAdd, kSub,
    kLt, kLe, kGt, kGe, kEq, kNe, kAnd, kOr, kMin, kMax,
  };
  Op op = Op::kConst;
  int64_t value = 0;  // kConst
  int knob = -1;      // kKnob
  std::shared_ptr<const Expr> lhs, rhs;
};

namespace {

using Expr = ConfigSpace::Expr;
using ExprPtr = std::shared_ptr<const Expr>;

ExprPtr MakeConst(int64_t v) {
  auto e = std::make_shared<Expr>();
  e->op = Expr::Op::kConst;
  e->value = v;
  return e;
}

ExprPtr MakeBinary(Expr::Op op, ExprPtr lhs, ExprPtr rhs) {
  auto e = std::make_shared<Expr>();
  e->op = op;
  e->lhs = std::move(lhs);
  e->rhs = std::move(rhs);
  return e;
}

// Evaluation with wrap-around-free semantics: overflow saturates, division by
// zero makes the whole constraint false (reported through `ok`).
int64_t Eval(const Expr& e, const std::vector<int64_t>& values, bool& ok) {
  using Op = Expr::Op;
  switch (e.op) {
    case Op::kConst: return e.value;
    case Op::kKnob: return values[e.knob];
    case Op::kNot: return Eval(*e.lhs, values, ok) == 0;
    case Op::kNeg: return -Eval(*e.lhs, values, ok);
    case Op::kAnd: return Eval(*e.lhs, values, ok) != 0 && Eval(*e.rhs, values, ok) != 0;
    case Op::kOr: return Eval(*e.lhs, values, ok) != 0 || Eval(*e.rhs, values, ok) != 0;
    default: break;
  }
  const int64_t a = Eval(*e.lhs, values, ok);
  const int64_t b = Eval(*e.rhs, values, ok);
  int64_t out = 0;
  switch (e.op) {
    case Op::kMul:
      if (__builtin_mul_overflow(a, b, &out)) {
        out = ((a < 0) != (b < 0)) ? std::numeric_limits<int64_t>::min()
                                   : std::numeric_limits<int64_t>::max();
      }
      return out;
    case Op::kAdd:
      if (__builtin_add_overflow(a, b, &out)) {
        out = a < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
      }
      return out;
    case Op::kSub:
      if (__builtin_sub_overflow(a, b, &out)) {
        out = a < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
      }
      return out;
    case Op::kDiv:
    case Op::kMod:
      if (b == 0 || (a == std::numeric_limits<int64_t>::min() && b == -1)) {
        ok = false;
        return 0;
      }
      return e.op == Op::kDiv ? a / b : a % b;
    case Op::kLt: return a < b;
    case Op::kLe: return a <= b;
    case Op::kGt: return a > b;
    case Op::kGe: return a >= b;
    case Op::kEq: return a == b;
    case Op::kNe: return a != b;
    case Op::kMin: return std::min(a, b);
    case Op::kMax: return std::max(a, b);
    default: return 0;
  }
}

// The highest knob position `e` reads, or -1 when it reads none.
int LastKnob(const Expr& e) {
  int last = e.op == Expr::Op::kKnob ? e.knob : -1;
  if (e.lhs) last = std::max(last, LastKnob(*e.lhs));
  if (e.rhs) last = std::max(last, LastKnob(*e.rhs));
  return last;
}

// Recursive-descent parser for the grammar in config_space.h.
class Parser {
 public:
  Parser(std::string_view text, const std::vector<Knob>& knobs) : text_(text), knobs_(knobs) {}

  absl::StatusOr<ExprPtr> Parse() {
    QTUNE_ASSIGN_OR_RETURN(Operand e, ParseOr());
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text");
    if (e.label) return Error("a quoted label must be compared with == or != to a categorical knob");
    return e.expr;
  }

 private:
  // An operand while parsing: either an expression, or a quoted label still
  // waiting for the categorical knob it is compared with.
  struct Operand {
    ExprPtr expr;
    std::optional<std::string> label;
    int knob = -1;  // set when expr is a bare knob reference
  };

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("constraint \"", std::string(text_), "\": ", std::string(what), " at offset ", pos_));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  bool Accept(std::string_view token) {
    SkipSpace();
    if (text_.substr(pos_, token.size()) != token) return false;
    // Do not split "<=" into "<" "=", "==" into "=" ..., "&&" / "||" are
    // always two characters.
    if ((token == "<" || token == ">" || token == "!") && pos_ + 1 < text_.size() &&
        text_[pos_ + 1] == '=') {
      return false;
    }
    pos_ += token.size();
    return true;
  }

  absl::StatusOr<ExprPtr> Resolve(Operand operand) {
    if (operand.label) return Error(absl::StrCat("label \"", *operand.label, "\" used outside a comparison"));
    return operand.expr;
  }

  // Turns a label into the value of `knob`'s label.
  absl::StatusOr<ExprPtr> LabelValue(const std::string& label, int knob) {
    if (knob < 0 || !knobs_[knob].categorical()) {
      return Error(absl::StrCat("label \"", label, "\" must be compared with a categorical knob"));
    }
    const Knob& k = knobs_[knob];
    for (size_t i = 0; i < k.labels.size(); ++i) {
      if (k.labels[i] == label) return MakeConst(k.values[i]);
    }
    return Error(absl::StrCat("knob '", k.name, "' has no label \"", label, "\""));
  }

  using Level = absl::StatusOr<Operand> (Parser::*)();

  // One left-associative binary level: next (op next)*.
  absl::StatusOr<Operand> ParseBinary(Level next,
                                      std::initializer_list<std::pair<std::string_view, Expr::Op>> ops) {
    QTUNE_ASSIGN_OR_RETURN(Operand lhs, (this->*next)());
    while (true) {
      const auto match = std::find_if(ops.begin(), ops.end(),
                                      [&](const auto& op) { return Accept(op.first); });
      if (match == ops.end()) return lhs;
      QTUNE_ASSIGN_OR_RETURN(Operand rhs, (this->*next)());
      QTUNE_ASSIGN_OR_RETURN(ExprPtr l, Resolve(std::move(lhs)));
      QTUNE_ASSIGN_OR_RETURN(ExprPtr r, Resolve(std::move(rhs)));
      lhs = Operand{MakeBinary(match->second, l, r)};
    }
  }

  absl::StatusOr<Operand> ParseOr() { return ParseBinary(&Parser::ParseAnd, {{"||", Expr::Op::kOr}}); }
  absl::StatusOr<Operand> ParseAnd() { return ParseBinary(&Parser::ParseCmp, {{"&&", Expr::Op::kAnd}}); }
  absl::StatusOr<Operand> ParseSum() {
    return ParseBinary(&Parser::ParseProduct, {{"+", Expr::Op::kAdd}, {"-", Expr::Op::kSub}});
  }
  absl::StatusOr<Operand> ParseProduct() {
    return ParseBinary(&Parser::ParseUnary,
                       {{"*", Expr::Op::kMul}, {"/", Expr::Op::kDiv}, {"%", Expr::Op::kMod}});
  }

  absl::StatusOr<Operand> ParseCmp() {
    QTUNE_ASSIGN_OR_RETURN(Operand lhs, ParseSum());
    static constexpr std::pair<std::string_view, Expr::Op> kOps[] = {
        {"==", Expr::Op::kEq}, {"!=", Expr::Op::kNe}, {"<=", Expr::Op::kLe},
        {">=", Expr::Op::kGe}, {"<", Expr::Op::kLt},  {">", Expr::Op::kGt},
    };
    for (const auto& [token, op] : kOps) {
      if (!Accept(token)) continue;
      QTUNE_ASSIGN_OR_RETURN(Operand rhs, ParseSum());
      const bool equality = op == Expr::Op::kEq || op == Expr::Op::kNe;
      if ((lhs.label || rhs.label) && !equality) {
        return Error("labels can only be compared with == or !=");
      }
      ExprPtr l, r;
      if (lhs.label && rhs.label) return Error("cannot compare two labels");
      if (lhs.label) {
        QTUNE_ASSIGN_OR_RETURN(l, LabelValue(*lhs.label, rhs.knob));
        r = rhs.expr;
      } else if (rhs.label) {
        l = lhs.expr;
        QTUNE_ASSIGN_OR_RETURN(r, LabelValue(*rhs.label, lhs.knob));
      } else {
        l = lhs.expr;
        r = rhs.expr;
      }
      return Operand{MakeBinary(op, l, r)};
    }
    return lhs;
  }

  absl::StatusOr<Operand> ParseUnary() {
    if (Accept("!") || Accept("-")) {
      const Expr::Op op = text_[pos_ - 1] == '!' ? Expr::Op::kNot : Expr::Op::kNeg;
      QTUNE_ASSIGN_OR_RETURN(Operand inner, ParseUnary());
      QTUNE_ASSIGN_OR_RETURN(ExprPtr e, Resolve(std::move(inner)));
      auto node = std::make_shared<Expr>();
      node->op = op;
      node->lhs = std::move(e);
      return Operand{node};
    }
    return ParsePrimary();
  }

  absl::StatusOr<Operand> ParsePrimary() {
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end");
    const char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      QTUNE_ASSIGN_OR_RETURN(Operand inner, ParseOr());
      if (!Accept(")")) return Error("expected ')'");
      return inner;
    }
    if (c == '"') {
      const size_t end = text_.find('"', pos_ + 1);
      if (end == std::string_view::npos) return Error("unterminated label");
      Operand label;
      label.label = std::string(text_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      return label;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t end = pos_;
      while (end < text_.size() && std::isdigit(static_cast<unsigned char>(text_[end]))) ++end;
      int64_t v = 0;
      if (!absl::SimpleAtoi(std::string(text_.substr(pos_, end - pos_)), &v)) return Error("integer out of range");
      pos_ = end;
      return Operand{MakeConst(v)};
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) {
        ++end;
      }
      const std::string_view name = text_.substr(pos_, end - pos_);
      pos_ = end;
      if (name == "min" || name == "max") {
        if (!Accept("(")) return Error(absl::StrCat("expected '(' after ", std::string(name)));
        QTUNE_ASSIGN_OR_RETURN(Operand a, ParseOr());
        if (!Accept(",")) return Error("expected ','");
        QTUNE_ASSIGN_OR_RETURN(Operand b, ParseOr());
        if (!Accept(")")) return Error("expected ')'");
        QTUNE_ASSIGN_OR_RETURN(ExprPtr l, Resolve(std::move(a)));
        QTUNE_ASSIGN_OR_RETURN(ExprPtr r, Resolve(std::move(b)));
        return Operand{MakeBinary(name == "min" ? Expr::Op::kMin : Expr::Op::kMax, l, r)};
      }
      for (size_t i = 0; i < knobs_.size(); ++i) {
        if (knobs_[i].name == name) {
          auto e = std::make_shared<Expr>();
          e->op = Expr::Op::kKnob;
          e->knob = static_cast<int>(i);
          Operand operand{e};
          operand.knob = static_cast<int>(i);
          return operand;
        }
      }
      return Error(absl::StrCat("unknown knob '", std::string(name), "'"));
    }
    return Error(absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  std::string_view text_;
  const std::vector<Knob>& knobs_;
  size_t pos_ = 0;
};

bool IsIdentifier(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace

// ---------------------------------------------------------------------------
// ConfigSpace
// ---------------------------------------------------------------------------

struct ConfigSpace::ValidConfigs {
  std::once_flag once;
  size_t count = 0;
  std::vector<int64_t> values;  // count * knobs values, in enumeration order
};

absl::StatusOr<ConfigSpace> ConfigSpace::Create(std::vector<Knob> knobs,
                                                std::vector<std::string> constraints,
                                                Config default_config) {
  std::set<std::string> names;
  for (const Knob& knob : knobs) {
    if (!IsIdentifier(knob.name) || knob.name == "min" || knob.name == "max") {
      return absl::InvalidArgumentError(absl::StrCat("invalid knob name '", knob.name, "'"));
    }
    if (!names.insert(knob.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("knob '", knob.name, "' is defined twice"));
    }
    if (knob.values.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("knob '", knob.name, "' has no values"));
    }
    if (std::set<int64_t>(knob.values.begin(), knob.values.end()).size() != knob.values.size()) {
      return absl::InvalidArgumentError(absl::StrCat("knob '", knob.name, "' repeats a value"));
    }
    if (knob.categorical()) {
      if (knob.labels.size() != knob.values.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("knob '", knob.name, "' has ", knob.values.size(), " values but ",
                         knob.labels.size(), " labels"));
      }
      std::set<std::string> labels;
      for (const std::string& label : knob.labels) {
        if (label.empty() || label.find_first_of(",=\"") != std::string::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat("knob '", knob.name, "' has an invalid label '", label, "'"));
        }
        if (!labels.insert(label).second) {
          return absl::InvalidArgumentError(
              absl::StrCat("knob '", knob.name, "' repeats the label '", label, "'"));
        }
      }
    }
  }
  ConfigSpace space;
  space.valid_ = std::make_shared<ValidConfigs>();
  space.knobs_ = std::move(knobs);
  for (const std::string& text : constraints) {
    QTUNE_ASSIGN_OR_RETURN(ExprPtr expr, Parser(text, space.knobs_).Parse());
    space.compiled_.push_back(std::move(expr));
  }
  space.constraints_ = std::move(constraints);
  if (absl::Status s = space.Validate(default_config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("default config: ", s.message()));
  }
  space.default_config_ = std::move(default_config);
  return space;
}

const Knob* ConfigSpace::FindKnob(std::string_view name) const {
  for (const Knob& knob : knobs_) {
    if (knob.name == name) return &knob;
  }
  return nullptr;
}

absl::Status ConfigSpace::Validate(const Config& config) const {
  std::vector<int64_t> values;
  values.reserve(knobs_.size());
  for (const Knob& knob : knobs_) {
    auto it = config.find(knob.name);
    if (it == config.end()) {
      return absl::InvalidArgumentError(absl::StrCat("config does not set knob '", knob.name, "'"));
    }
    if (std::find(knob.values.begin(), knob.values.end(), it->second) == knob.values.end()) {
      return absl::InvalidArgumentError(absl::StrCat("knob '", knob.name, "' = ", it->second,
                                                     " is not one of {",
                                                     absl::StrJoin(knob.values, ","), "}"));
    }
    values.push_back(it->second);
  }
  if (config.size() != knobs_.size()) {
    for (const auto& [name, value] : config) {
      if (FindKnob(name) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("unknown knob '", name, "'"));
      }
    }
  }
  for (size_t i = 0; i < compiled_.size(); ++i) {
    bool ok = true;
    const int64_t v = Eval(*compiled_[i], values, ok);
    if (!ok || v == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("config violates constraint \"", constraints_[i], "\""));
    }
  }
  return absl::OkStatus();
}

uint64_t ConfigSpace::raw_size() const {
  uint64_t size = 1;
  for (const Knob& knob : knobs_) {
    if (__builtin_mul_overflow(size, knob.values.size(), &size)) {
      return std::numeric_limits<uint64_t>::max();
    }
  }
  return size;
}

void ConfigSpace::ForEachValid(const std::function<bool(const Config&)>& fn) const {
  // Depth-first over the knobs in order (the last knob varies fastest, as in
  // a mixed-radix odometer). Each constraint is checked as soon as the last
  // knob it reads is set, so a failing prefix skips its whole subtree; a
  // config is visited iff every constraint holds for it.
  const size_t n = knobs_.size();
  std::vector<std::vector<const Expr*>> check_at(n);
  std::vector<const Expr*> constant;
  for (const auto& expr : compiled_) {
    const int last = LastKnob(*expr);
    (last < 0 ? constant : check_at[static_cast<size_t>(last)]).push_back(expr.get());
  }
  std::vector<int64_t> values(n, 0);
  auto holds = [&values](const std::vector<const Expr*>& exprs) {
    for (const Expr* expr : exprs) {
      bool ok = true;
      if (Eval(*expr, values, ok) == 0 || !ok) return false;
    }
    return true;
  };
  if (!holds(constant)) return;
  Config config;
  if (n == 0) {
    fn(config);
    return;
  }
  // Returns false once `fn` asks to stop.
  auto visit = [&](auto&& self, size_t d) -> bool {
    for (int64_t v : knobs_[d].values) {
      values[d] = v;
      if (!holds(check_at[d])) continue;
      if (d + 1 < n) {
        if (!self(self, d + 1)) return false;
        continue;
      }
      for (size_t i = 0; i < n; ++i) config[knobs_[i].name] = values[i];
      if (!fn(config)) return false;
    }
    return true;
  };
  visit(visit, 0);
}

uint64_t ConfigSpace::CountValid() const {
  uint64_t count = 0;
  ForEachValid([&](const Config&) {
    ++count;
    return true;
  });
  return count;
}

std::vector<Config> ConfigSpace::EnumerateValid(size_t limit) const {
  std::vector<Config> out;
  if (limit == 0) return out;
  ForEachValid([&](const Config& c) {
    out.push_back(c);
    return out.size() < limit;
  });
  return out;
}

absl::StatusOr<Config> ConfigSpace::Sample(std::mt19937_64& rng) const {
  // Rejection sampling over the raw product is uniform over valid configs.
  // When constraints reject almost everything, fall back to choosing among
  // the enumerated valid configs (also uniform).
  constexpr int kMaxRejections = 2000;
  Config config;
  std::vector<int64_t> values(knobs_.size());
  for (int attempt = 0; attempt < kMaxRejections; ++attempt) {
    for (size_t i = 0; i < knobs_.size(); ++i) {
      std::uniform_int_distribution<size_t> pick(0, knobs_[i].values.size() - 1);
      values[i] = knobs_[i].values[pick(rng)];
    }
    bool valid = true;
    for (const auto& expr : compiled_) {
      bool ok = true;
      if (Eval(*expr, values, ok) == 0 || !ok) {
        valid = false;
        break;
      }
    }
    if (valid) {
      for (size_t i = 0; i < knobs_.size(); ++i) config[knobs_[i].name] = values[i];
      return config;
    }
  }
  // Enumerate once per space (sparse spaces can have millions of raw
  // combinations), then pick uniformly among the valid ones.
  std::call_once(valid_->once, [this] {
    ForEachValid([this](const Config& c) {
      for (const Knob& knob : knobs_) valid_->values.push_back(c.at(knob.name));
      ++valid_->count;
      return true;
    });
  });
  const size_t count = valid_->count;
  if (count == 0) return absl::NotFoundError("the config space has no valid config");
  std::uniform_int_distribution<size_t> pick(0, count - 1);
  const size_t chosen = pick(rng);
  config.clear();
  for (size_t i = 0; i < knobs_.size(); ++i) {
    config[knobs_[i].name] = valid_->values[chosen * knobs_.size() + i];
  }
  return config;
}

std::string ConfigSpace::ToString(const Config& config) const {
  std::vector<std::string> parts;
  parts.reserve(config.size());
  for (const auto& [name, value] : config) {
    const Knob* knob = FindKnob(name);
    std::string text = absl::StrCat(value);
    if (knob != nullptr && knob->categorical()) {
      for (size_t i = 0; i < knob->values.size(); ++i) {
        if (knob->values[i] == value) text = knob->labels[i];
      }
    }
    parts.push_back(absl::StrCat(name, "=", text));
  }
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<Config> ConfigSpace::Parse(std::string_view text) const {
  Config config;
  for (absl::string_view part : absl::StrSplit(absl::string_view(text.data(), text.size()), ',',
                                               absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("config item '", std::string(part), "' is not knob=value"));
    }
    const std::string name(absl::StripAsciiWhitespace(part.substr(0, eq)));
    const std::string value_text(absl::StripAsciiWhitespace(part.substr(eq + 1)));
    const Knob* knob = FindKnob(name);
    if (knob == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown knob '", name, "'"));
    if (config.count(name) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("knob '", name, "' is set twice"));
    }
    int64_t value = 0;
    bool found = false;
    for (size_t i = 0; i < knob->labels.size(); ++i) {
      if (knob->labels[i] == value_text) {
        value = knob->values[i];
        found = true;
      }
    }
    if (!found && !absl::SimpleAtoi(value_text, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("knob '", name, "' has no value '", std::string(value_text), "'"));
    }
    config[name] = value;
  }
  QTUNE_RETURN_IF_ERROR(Validate(config));
  return config;
}

std::vector<int> ConfigSpace::ValueIndices(const Config& config) const {
  std::vector<int> out;
  out.reserve(knobs_.size());
  for (const Knob& knob : knobs_) {
    int index = -1;
    if (auto it = config.find(knob.name); it != config.end()) {
      auto pos = std::find(knob.values.begin(), knob.values.end(), it->second);
      if (pos != knob.values.end()) index = static_cast<int>(pos - knob.values.begin());
    }
    out.push_back(index);
  }
  return out;
}

std::string ConfigToString(const Config& config) {
  return absl::StrJoin(config, ",", absl::PairFormatter("="));
}

}  // namespace qtune::kernels
