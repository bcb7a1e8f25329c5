#include "tuner/search/search_strategy.h"

#include <optional>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tuner/search/model_guided_strategy.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using kernels::ConfigSpace;

// Spaces up to this raw size are enumerated once and shuffled; larger ones
// are sampled.
constexpr uint64_t kEnumerateLimit = uint64_t{1} << 20;
// Consecutive duplicate samples after which sampling gives way to a scan.
constexpr int kMaxSampleMisses = 64;

// State common to the strategies: the space and the configs already
// measured or proposed.
class StrategyBase : public SearchStrategy {
 public:
  absl::Status Init(const ConfigSpace& space, uint64_t seed,
                    const std::vector<Measurement>& history) override {
    if (space_) return absl::FailedPreconditionError("search strategy initialised twice");
    space_.emplace(space);
    seed_ = seed;
    for (const Measurement& m : history) {
      if (space_->IsValid(m.config)) seen_.insert(m.config);
    }
    return absl::OkStatus();
  }
  void Notify(const std::vector<Measurement>&) override {}

 protected:
  // Marks `config` proposed; false if it was already seen.
  bool Claim(const Config& config) { return seen_.insert(config).second; }
  bool Seen(const Config& config) const { return seen_.count(config) > 0; }
  // Up to `n` unseen valid configs in enumeration order, skipping the first
  // `*cursor` valid ones; advances `*cursor` past the configs examined.
  std::vector<Config> Scan(size_t n, uint64_t* cursor) {
    std::vector<Config> out;
    if (n == 0) return out;
    uint64_t index = 0;
    space_->ForEachValid([&](const Config& c) {
      if (index++ < *cursor) return true;
      ++*cursor;
      if (Claim(c)) out.push_back(c);
      return out.size() < n;
    });
    return out;
  }

  std::optional<ConfigSpace> space_;
  uint64_t seed_ = 0;

 private:
  std::set<Config> seen_;
};

// Uniformly random valid configs without repetition.
class RandomStrategy final : public StrategyBase {
 public:
  std::string_view name() const override { return "random"; }

  absl::Status Init(const ConfigSpace& space, uint64_t seed,
                    const std::vector<Measurement>& history) override {
    if (absl::Status s = StrategyBase::Init(space, seed, history); !s.ok()) return s;
    rng_.seed(seed);
    if (space_->raw_size() <= kEnumerateLimit) {
      enumerated_ = true;
      space_->ForEachValid([&](const Config& c) {
        if (!Seen(c)) order_.push_back(c);
        return true;
      });
      // Fisher-Yates with the raw generator output: identical on every
      // standard library, unlike std::shuffle.
      for (size_t i = order_.size(); i > 1; --i) {
        std::swap(order_[i - 1], order_[rng_() % i]);
      }
    }
    return absl::OkStatus();
  }

  std::vector<Config> ProposeBatch(size_t n) override {
    std::vector<Config> out;
    if (!space_) return out;
    if (enumerated_) {
      while (out.size() < n && next_ < order_.size()) {
        const Config& c = order_[next_++];
        if (Claim(c)) out.push_back(c);
      }
      return out;
    }
    int misses = 0;
    while (out.size() < n && !scanning_) {
      absl::StatusOr<Config> c = space_->Sample(rng_);
      if (!c.ok()) return out;  // no valid config at all
      if (Claim(*c)) {
        out.push_back(*std::move(c));
        misses = 0;
      } else if (++misses >= kMaxSampleMisses) {
        scanning_ = true;  // nearly exhausted: finish with a scan
      }
    }
    if (out.size() < n) {
      std::vector<Config> rest = Scan(n - out.size(), &cursor_);
      for (Config& c : rest) out.push_back(std::move(c));
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
  bool enumerated_ = false;
  std::vector<Config> order_;
  size_t next_ = 0;
  bool scanning_ = false;
  uint64_t cursor_ = 0;
};

// Valid configs in the space's enumeration order.
class GridStrategy final : public StrategyBase {
 public:
  std::string_view name() const override { return "grid"; }
  std::vector<Config> ProposeBatch(size_t n) override {
    if (!space_) return {};
    return Scan(n, &cursor_);
  }

 private:
  uint64_t cursor_ = 0;
};

}  // namespace

std::vector<std::string> SearchStrategyNames() { return {"random", "grid", "model"}; }

absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(std::string_view name) {
  if (name == "random") return std::make_unique<RandomStrategy>();
  if (name == "grid") return std::make_unique<GridStrategy>();
  if (name == "model") return std::make_unique<ModelGuidedStrategy>();
  return absl::InvalidArgumentError(absl::StrCat("unknown search strategy '", std::string(name),
                                                 "'; known strategies: ",
                                                 absl::StrJoin(SearchStrategyNames(), ", ")));
}

absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeTaskStrategy(std::string_view name,
                                                                  const kernels::OpSpec& op,
                                                                  const DeviceCaches& caches) {
  QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<SearchStrategy> strategy, MakeSearchStrategy(name));
  if (auto* model = dynamic_cast<ModelGuidedStrategy*>(strategy.get())) model->SetTask(op, caches);
  return strategy;
}

}  // namespace qtune::tuner
