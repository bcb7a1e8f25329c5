// File: model_guided_strategy.h
// The model-guided SearchStrategy ("model"): fits a cost model
// (tuner/cost_model.h) on every successful measurement so far (history and
// notified results), then proposes the unseen configs the model scores
// highest, found by simulated annealing over the space (one knob changed per
// step, invalid neighbours skipped) or, for small spaces, by scoring every
// unseen config. A fraction `epsilon` of each batch, and every proposal
// until `warmup` measurements exist, is uniformly random (exploration).
// With transfer data (SetTransfer), the first proposals are its seeds and the
// model is used from the first batch on.
//
// It keeps the SearchStrategy contract (search_strategy.h): valid, never
// repeated, deterministic for a seed, fewer than asked only when exhausted.
//
//   ModelGuidedOptions opts;
//   opts.op = task.op;                 // optional: enables shape features
//   opts.caches = {l1d, l2, l3, cores};
//   auto s = std::make_unique<ModelGuidedStrategy>(opts);
//   RETURN_IF_ERROR(s->Init(space, seed, history));
//
// MakeSearchStrategy("model") returns one with default options (knob
// features only); SetTask() adds the task context before Init().
//
// Thread-safety: one thread at a time.
#ifndef QTUNE_TUNER_SEARCH_MODEL_GUIDED_STRATEGY_H_
#define QTUNE_TUNER_SEARCH_MODEL_GUIDED_STRATEGY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"
#include "tuner/search/cost_model.h"
#include "tuner/search/features.h"
#include "tuner/search/search_strategy.h"
#include "tuner/search/transfer.h"

namespace qtune::tuner {

struct ModelGuidedOptions {
  std::optional<kernels::OpSpec> op;  // the task; none: knob features only
  DeviceCaches caches;
  double epsilon = 0.2;    // probability that a proposal is random
  size_t warmup = 8;       // successful measurements before the model is used
  // Own successful measurements after which the model is refitted on them
  // alone, without the transfer groups (task-specific, and cheaper to refit).
  size_t transfer_until = 64;
  int chains = 8;          // simulated-annealing chains per batch
  int steps = 60;          // annealing steps per chain
  // Spaces with at most this many raw configs are scored exhaustively.
  uint64_t exhaustive_limit = 4096;
  XgboostOptions model;
};

class ModelGuidedStrategy final : public SearchStrategy {
 public:
  explicit ModelGuidedStrategy(ModelGuidedOptions options = {});
  ~ModelGuidedStrategy() override;

  // Task context for the features; only before Init().
  void SetTask(std::optional<kernels::OpSpec> op, DeviceCaches caches);
  // Records of other sources (tuner/transfer.h); only before Init(). The
  // groups train the model before the task's own first measurement (each
  // its own ranking group) and the seeds, when unseen, are the first
  // proposals.
  void SetTransfer(TransferData transfer);

  std::string_view name() const override { return "model"; }
  absl::Status Init(const kernels::ConfigSpace& space, uint64_t seed,
                    const std::vector<Measurement>& history) override;
  std::vector<kernels::Config> ProposeBatch(size_t n) override;
  void Notify(const std::vector<Measurement>& results) override;

  // The last cost-model failure (OK if none); after a failure the batch is
  // proposed at random.
  const absl::Status& model_status() const { return model_status_; }

 private:
  void AddSample(const Measurement& m);
  bool Claim(const kernels::Config& c) { return seen_.insert(c).second; }
  // A random unseen config (claimed), or none when the space is exhausted.
  std::optional<kernels::Config> RandomUnseen();
  // Unseen configs ordered by predicted score, best first (at most `n`).
  absl::StatusOr<std::vector<kernels::Config>> TopScored(size_t n);
  absl::StatusOr<std::vector<float>> Score(const std::vector<kernels::Config>& configs);
  std::vector<kernels::Config> Anneal(std::map<kernels::Config, float>& scores,
                                      absl::Status& status);
  double Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

  ModelGuidedOptions options_;
  std::optional<kernels::ConfigSpace> space_;
  std::optional<FeatureExtractor> features_;
  std::unique_ptr<CostModel> model_;
  std::unique_ptr<SearchStrategy> random_;  // source of exploration proposals
  std::mt19937_64 rng_;
  std::set<kernels::Config> seen_;
  std::vector<kernels::Config> enumerated_;  // all valid configs of a small space
  // Successful measurements not yet given to the model, and all of them.
  FeatureRows pending_rows_;
  std::vector<double> pending_latency_;
  FeatureRows own_rows_;             // every successful own measurement
  std::vector<double> own_latency_;
  bool model_has_transfer_ = false;  // transfer groups are in the model
  std::vector<std::pair<double, kernels::Config>> measured_;  // (latency, config)
  absl::Status model_status_;
  TransferData transfer_;
  std::vector<kernels::Config> seeds_;  // transferred, best first; also annealing starts
  size_t next_seed_ = 0;                // seeds_[next_seed_..] not proposed yet
  bool transfer_fitted_ = false;        // the model was fitted on transfer groups
};

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_SEARCH_MODEL_GUIDED_STRATEGY_H_
