// File: config_space.h
// A ConfigSpace is the set of configurations a kernel family accepts for one
// operator: named knobs, each with a finite list of values, and constraints
// that every valid combination satisfies. Spaces are produced on the device
// (the agent knows its kernels) and consumed by the host tuner, which stays
// target-agnostic: it only enumerates, samples and validates.
//
// Example:
//   ASSIGN_OR_RETURN(ConfigSpace space, ConfigSpace::Create(
//       {{"mr", {1, 2, 4}}, {"nr", {8, 16}}, {"loop", {0, 1}, {"kn", "nk"}}},
//       {"mr * nr <= 32", "loop == \"kn\" || mr > 1"},
//       /*default_config=*/{{"mr", 2}, {"nr", 16}, {"loop", 0}}));
//   Config c = space.Sample(rng).value();
//   std::string key = space.ToString(c);   // "loop=kn,mr=2,nr=16"
//
// Constraint grammar (C-like precedence, 64-bit integer arithmetic):
//   expr    := or
//   or      := and ("||" and)*
//   and     := cmp ("&&" cmp)*
//   cmp     := sum (("=="|"!="|"<"|"<="|">"|">=") sum)?
//   sum     := product (("+"|"-") product)*
//   product := unary (("*"|"/"|"%") unary)*
//   unary   := ("!"|"-") unary | primary
//   primary := INTEGER | KNOB_NAME | "\"" LABEL "\"" | "(" expr ")"
//            | ("min"|"max") "(" expr "," expr ")"
// A quoted label compares against a categorical knob on the other side of
// == or != (it evaluates to that label's value). Division or modulo by zero
// makes the constraint false. Non-zero is true.
//
// Thread-safety: a ConfigSpace is immutable after Create(); const methods may
// be called concurrently. Sample() takes the caller's generator.
#ifndef QTUNE_KERNELS_CONFIG_SPACE_H_
#define QTUNE_KERNELS_CONFIG_SPACE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qtune::kernels {

struct Knob {
  std::string name;
  // Allowed values. For a categorical knob (non-empty labels), values[i] is
  // the value of labels[i].
  std::vector<int64_t> values;
  std::vector<std::string> labels;
  std::string help;

  bool categorical() const { return !labels.empty(); }
};

// knob name -> value; std::map keeps knobs sorted, which makes the canonical
// string unique.
using Config = std::map<std::string, int64_t>;

class ConfigSpace {
 public:
  // Fails when a knob name is not an identifier or is repeated, a knob has no
  // values or repeated values, labels and values differ in length, a
  // constraint does not parse or names an unknown knob, or the default config
  // is not valid.
  static absl::StatusOr<ConfigSpace> Create(std::vector<Knob> knobs,
                                            std::vector<std::string> constraints,
                                            Config default_config);

  ConfigSpace(const ConfigSpace&) = default;
  ConfigSpace& operator=(const ConfigSpace&) = default;
  ConfigSpace(ConfigSpace&&) = default;
  ConfigSpace& operator=(ConfigSpace&&) = default;

  const std::vector<Knob>& knobs() const { return knobs_; }
  const std::vector<std::string>& constraints() const { return constraints_; }
  const Config& default_config() const { return default_config_; }
  const Knob* FindKnob(std::string_view name) const;

  // OK when `config` sets exactly the space's knobs, each to an allowed value,
  // and satisfies every constraint. Otherwise INVALID_ARGUMENT naming the
  // first offending knob or constraint.
  absl::Status Validate(const Config& config) const;
  bool IsValid(const Config& config) const { return Validate(config).ok(); }

  // Product of the knobs' value counts (saturates at UINT64_MAX).
  uint64_t raw_size() const;
  // Number of valid configs (enumerates; cost proportional to raw_size()).
  uint64_t CountValid() const;

  // Calls `fn` on every valid config in mixed-radix order (the first knob
  // varies slowest); stops early when `fn` returns false.
  void ForEachValid(const std::function<bool(const Config&)>& fn) const;
  // The first `limit` valid configs in ForEachValid order.
  std::vector<Config> EnumerateValid(size_t limit = SIZE_MAX) const;

  // A uniformly random valid config. NOT_FOUND when the space has none.
  absl::StatusOr<Config> Sample(std::mt19937_64& rng) const;

  // Canonical text, knobs sorted by name, labels for categorical knobs:
  // "loop=kn,mr=2,nr=16". Parse() is its inverse and validates.
  std::string ToString(const Config& config) const;
  absl::StatusOr<Config> Parse(std::string_view text) const;

  // The position of every knob's value in its list (-1 if absent), in knob
  // order: a dense encoding for cost models and grids.
  std::vector<int> ValueIndices(const Config& config) const;

  struct Expr;  // compiled constraint (implementation detail)

 private:
  ConfigSpace() = default;

  std::vector<Knob> knobs_;
  std::vector<std::string> constraints_;
  Config default_config_;
  std::vector<std::shared_ptr<const Expr>> compiled_;
  // Every valid config (knob values in knob order, flattened), enumerated on
  // first need by Sample() when rejection sampling fails; shared by copies,
  // which describe the same space.
  struct ValidConfigs;
  std::shared_ptr<ValidConfigs> valid_;
};

// The canonical text of a config without a space (categorical knobs print
// their numeric value): "loop=0,mr=2,nr=16".
std::string ConfigToString(const Config& config);

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_CONFIG_SPACE_H_
