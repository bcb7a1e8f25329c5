// File: search_strategy.h
// A SearchStrategy decides which configurations of one task to measure next.
// The tuning loop drives it:
//
//   ASSIGN_OR_RETURN(std::unique_ptr<SearchStrategy> s, MakeSearchStrategy("random"));
//   RETURN_IF_ERROR(s->Init(space, seed, history));
//   while (budget left) {
//     std::vector<Config> batch = s->ProposeBatch(8);
//     if (batch.empty()) break;                  // space exhausted
//     ... measure ...
//     s->Notify(measurements);
//   }
//
// Contract shared by every implementation: ProposeBatch only returns valid
// configs of the space, never one that was proposed before or appears in the
// history given to Init, and returns fewer than asked (possibly none) only
// when no unproposed valid config is left. Proposals depend only on the
// space, the seed, the history and the notified results (deterministic).
//
// Thread-safety: a strategy is used by one thread at a time.
#ifndef QTUNE_TUNER_SEARCH_SEARCH_STRATEGY_H_
#define QTUNE_TUNER_SEARCH_SEARCH_STRATEGY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"
#include "tuner/search/features.h"

namespace qtune::tuner {

// The outcome of one measured config, as strategies see it.
struct Measurement {
  kernels::Config config;
  bool ok = false;          // the trial verified and was timed
  double latency_us = 0;    // median latency; meaningful when ok
};

class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;

  // The factory name ("random", "grid", "model").
  virtual std::string_view name() const = 0;

  // Called once, before any other method. `history` holds earlier
  // measurements of this task (e.g. from the database); their configs are
  // never proposed. Configs of `history` outside the space are ignored.
  virtual absl::Status Init(const kernels::ConfigSpace& space, uint64_t seed,
                            const std::vector<Measurement>& history) = 0;

  // Up to `n` new valid configs; empty when the space is exhausted.
  virtual std::vector<kernels::Config> ProposeBatch(size_t n) = 0;

  // Results of measured proposals (any order, any subset).
  virtual void Notify(const std::vector<Measurement>& results) = 0;
};

// Names accepted by MakeSearchStrategy, in documentation order.
std::vector<std::string> SearchStrategyNames();

// A fresh strategy. INVALID_ARGUMENT listing the known names otherwise.
absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(std::string_view name);

// A fresh strategy `name` (MakeSearchStrategy) given its task's context: the
// model-guided one gets `op` and `caches` for its features, the others
// ignore them. INVALID_ARGUMENT for an unknown name.
absl::StatusOr<std::unique_ptr<SearchStrategy>> MakeTaskStrategy(std::string_view name,
                                                                  const kernels::OpSpec& op,
                                                                  const DeviceCaches& caches);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_SEARCH_SEARCH_STRATEGY_H_
