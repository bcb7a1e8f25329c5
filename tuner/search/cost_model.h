// File: cost_model.h
// A cost model predicts which configs of a task run fastest from their
// feature vectors (tuner/features.h). Scores only order configs: higher means
// predicted faster; their scale means nothing.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<CostModel> model, MakeXgboostCostModel({}));
//   RETURN_IF_ERROR(model->Update(rows, latencies_us));   // all rows: same width
//   ASSIGN_OR_RETURN(std::vector<float> scores, model->Predict(candidates));
//
// Update() adds samples and refits on every sample seen so far (training is
// cheap at tuning sizes: a few hundred samples in milliseconds). Samples carry
// a group (one task = one group): only configs of the same group are compared
// when ranking, so tasks with very different latencies can share a model.
//
// Thread-safety: a model is used by one thread at a time.
#ifndef QTUNE_TUNER_SEARCH_COST_MODEL_H_
#define QTUNE_TUNER_SEARCH_COST_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qtune::tuner {

// Feature rows; every row has the same number of features (NaN = missing).
using FeatureRows = std::vector<std::vector<float>>;

class CostModel {
 public:
  virtual ~CostModel() = default;

  // Adds `rows` measured at `latency_us` (same length, latencies > 0, finite)
  // to group `group`, then refits. INVALID_ARGUMENT on mismatched sizes or
  // widths, or bad latencies; the samples are then not added.
  virtual absl::Status Update(const FeatureRows& rows, const std::vector<double>& latency_us,
                              uint32_t group = 0) = 0;
  // Update() in two steps, to fit once after adding several groups: Add()
  // checks and stores the samples (same errors as Update), Fit() refits on
  // all of them (FAILED_PRECONDITION without samples).
  virtual absl::Status Add(const FeatureRows& rows, const std::vector<double>& latency_us,
                           uint32_t group = 0) = 0;
  virtual absl::Status Fit() = 0;

  // One score per row (higher = predicted faster). FAILED_PRECONDITION before
  // the first successful Update; INVALID_ARGUMENT when a row's width differs
  // from the training rows'.
  virtual absl::StatusOr<std::vector<float>> Predict(const FeatureRows& rows) const = 0;

  // Samples the model was fitted on.
  virtual size_t num_samples() const = 0;
};

struct XgboostOptions {
  // "rank:pairwise" (label -log latency, compared within a group) or
  // "reg:squarederror" (label -log latency).
  std::string objective = "rank:pairwise";
  // Trees per fit. 25 vs 40: replay median 0.990 vs 0.991 at 64 trials, and
  // ~0.7 ms less host time per trial (the model is refitted after every batch).
  int rounds = 25;
  int max_depth = 5;
  double eta = 0.3;
  double min_child_weight = 1.0;
  uint64_t seed = 0;
};

// An XGBoost gradient-boosted-trees model (single-threaded, deterministic).
// INVALID_ARGUMENT for bad options.
absl::StatusOr<std::unique_ptr<CostModel>> MakeXgboostCostModel(const XgboostOptions& options);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_SEARCH_COST_MODEL_H_
