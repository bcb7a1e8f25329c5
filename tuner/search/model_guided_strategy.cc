#include "tuner/search/model_guided_strategy.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/status_macros.h"

namespace qtune::tuner {

using kernels::Config;
using kernels::ConfigSpace;

namespace {

// Orders (score, config) best first; ties by config for determinism.
bool Better(const std::pair<float, Config>& a, const std::pair<float, Config>& b) {
  if (a.first != b.first) return a.first > b.first;
  return a.second < b.second;
}

// Attempts to find a valid neighbour before a chain stays put for a step.
constexpr int kMutationAttempts = 8;

}  // namespace

ModelGuidedStrategy::ModelGuidedStrategy(ModelGuidedOptions options)
    : options_(std::move(options)) {}

ModelGuidedStrategy::~ModelGuidedStrategy() = default;

void ModelGuidedStrategy::SetTask(std::optional<kernels::OpSpec> op, DeviceCaches caches) {
  options_.op = std::move(op);
  options_.caches = caches;
}

void ModelGuidedStrategy::SetTransfer(TransferData transfer) { transfer_ = std::move(transfer); }

absl::Status ModelGuidedStrategy::Init(const ConfigSpace& space, uint64_t seed,
                                       const std::vector<Measurement>& history) {
  if (space_) return absl::FailedPreconditionError("search strategy initialised twice");
  if (!(options_.epsilon >= 0 && options_.epsilon <= 1) || options_.chains < 1 ||
      options_.steps < 0) {
    return absl::InvalidArgumentError(
        "model strategy: epsilon must be in [0, 1], chains >= 1, steps >= 0");
  }
  QTUNE_ASSIGN_OR_RETURN(model_, MakeXgboostCostModel(options_.model));
  QTUNE_ASSIGN_OR_RETURN(random_, MakeSearchStrategy("random"));
  QTUNE_RETURN_IF_ERROR(random_->Init(space, seed ^ 0x9e3779b97f4a7c15ULL, history));
  space_.emplace(space);
  features_.emplace(space, options_.op, options_.caches);
  rng_.seed(seed);
  for (const Measurement& m : history) {
    if (!space_->IsValid(m.config)) continue;
    seen_.insert(m.config);
    AddSample(m);
  }
  if (space_->raw_size() <= options_.exhaustive_limit) enumerated_ = space_->EnumerateValid();

  // Transfer: one ranking group per source (group 0 is this task).
  uint32_t group = 1;
  for (const TransferGroup& source : transfer_.groups) {
    // Same feature layout as the task's: shape features only if it has them.
    FeatureExtractor fx(*space_, options_.op ? std::optional<kernels::OpSpec>(source.op) : std::nullopt,
                        source.caches);
    FeatureRows rows;
    std::vector<double> latency;
    for (const Measurement& m : source.trials) {
      if (!m.ok || !(m.latency_us > 0) || !std::isfinite(m.latency_us)) continue;
      rows.push_back(fx.Extract(m.config));
      latency.push_back(m.latency_us);
    }
    if (rows.size() < 2) continue;  // nothing to rank
    if (absl::Status s = model_->Add(rows, latency, group++); !s.ok()) {
      model_status_ = s;
      continue;
    }
    transfer_fitted_ = true;
    model_has_transfer_ = true;
  }
  if (transfer_fitted_) {
    model_status_ = model_->Fit();
    transfer_fitted_ = model_status_.ok();
  }
  for (const Config& c : transfer_.seeds) {
    if (space_->IsValid(c) && !seen_.count(c)) seeds_.push_back(c);
  }
  transfer_ = {};
  return absl::OkStatus();
}

void ModelGuidedStrategy::AddSample(const Measurement& m) {
  if (!m.ok || !(m.latency_us > 0) || !std::isfinite(m.latency_us)) return;
  pending_rows_.push_back(features_->Extract(m.config));
  pending_latency_.push_back(m.latency_us);
  own_rows_.push_back(pending_rows_.back());
  own_latency_.push_back(m.latency_us);
  measured_.emplace_back(m.latency_us, m.config);
}

void ModelGuidedStrategy::Notify(const std::vector<Measurement>& results) {
  if (!space_) return;
  for (const Measurement& m : results) {
    if (!space_->IsValid(m.config)) continue;
    seen_.insert(m.config);  // measured elsewhere: not worth proposing
    AddSample(m);
  }
}

std::optional<Config> ModelGuidedStrategy::RandomUnseen() {
  // The random strategy never repeats itself and runs dry only when every
  // valid config was proposed by it or is in the history; skipping the
  // configs this strategy proposed keeps the exhaustion exact.
  while (true) {
    std::vector<Config> one = random_->ProposeBatch(1);
    if (one.empty()) return std::nullopt;
    if (Claim(one.front())) return std::move(one.front());
  }
}

std::vector<Config> ModelGuidedStrategy::ProposeBatch(size_t n) {
  std::vector<Config> out;
  if (!space_ || n == 0) return out;
  // Transferred seeds first.
  while (out.size() < n && next_seed_ < seeds_.size()) {
    const Config& c = seeds_[next_seed_++];
    if (Claim(c)) out.push_back(c);
  }
  // Which slots explore, drawn first so the draw count is fixed per batch.
  size_t exploit = 0;
  if (transfer_fitted_ || (!measured_.empty() && measured_.size() >= options_.warmup)) {
    for (size_t i = out.size(); i < n; ++i) exploit += Uniform() >= options_.epsilon ? 1 : 0;
  }
  if (exploit > 0) {
    absl::StatusOr<std::vector<Config>> top = TopScored(exploit);
    if (top.ok()) {
      for (Config& c : *top) {
        if (Claim(c)) out.push_back(std::move(c));
      }
    } else {
      model_status_ = top.status();
    }
  }
  while (out.size() < n) {
    std::optional<Config> c = RandomUnseen();
    if (!c) break;
    out.push_back(*std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<float>> ModelGuidedStrategy::Score(const std::vector<Config>& configs) {
  FeatureRows rows;
  rows.reserve(configs.size());
  for (const Config& c : configs) rows.push_back(features_->Extract(c));
  return model_->Predict(rows);
}

absl::StatusOr<std::vector<Config>> ModelGuidedStrategy::TopScored(size_t n) {
  if (model_has_transfer_ && own_rows_.size() >= options_.transfer_until) {
    // Enough of the task's own data: drop the transfer groups.
    QTUNE_ASSIGN_OR_RETURN(model_, MakeXgboostCostModel(options_.model));
    model_has_transfer_ = false;
    pending_rows_.clear();
    pending_latency_.clear();
    QTUNE_RETURN_IF_ERROR(model_->Update(own_rows_, own_latency_));
  }
  if (!pending_rows_.empty()) {
    // The model keeps the samples even when the refit fails: never re-add.
    const absl::Status updated = model_->Update(pending_rows_, pending_latency_);
    pending_rows_.clear();
    pending_latency_.clear();
    QTUNE_RETURN_IF_ERROR(updated);
  }
  std::vector<std::pair<float, Config>> ranked;
  if (!enumerated_.empty()) {
    std::vector<Config> unseen;
    for (const Config& c : enumerated_) {
      if (!seen_.count(c)) unseen.push_back(c);
    }
    QTUNE_ASSIGN_OR_RETURN(std::vector<float> scores, Score(unseen));
    for (size_t i = 0; i < unseen.size(); ++i) ranked.emplace_back(scores[i], std::move(unseen[i]));
  } else {
    std::map<Config, float> scores;
    absl::Status status;
    std::vector<Config> visited = Anneal(scores, status);
    QTUNE_RETURN_IF_ERROR(status);
    for (Config& c : visited) {
      if (!seen_.count(c)) ranked.emplace_back(scores.at(c), std::move(c));
    }
  }
  const size_t keep = std::min(n, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + keep, ranked.end(), Better);
  std::vector<Config> out;
  for (size_t i = 0; i < keep; ++i) out.push_back(std::move(ranked[i].second));
  return out;
}

// Simulated annealing: chains start at measured configs (the best first),
// move by changing one knob, accept worse moves with probability
// exp(delta / T), T falling linearly to 0. Returns every distinct
// config visited (their scores in `scores`).
std::vector<Config> ModelGuidedStrategy::Anneal(std::map<Config, float>& scores,
                                                absl::Status& status) {
  std::vector<Config> visited;
  // Scores the configs not scored yet; false (and `status` set) on failure.
  auto score_new = [&](const std::vector<Config>& configs) {
    std::vector<Config> fresh;
    for (const Config& c : configs) {
      if (!scores.count(c) && std::find(fresh.begin(), fresh.end(), c) == fresh.end()) {
        fresh.push_back(c);
      }
    }
    if (fresh.empty()) return true;
    absl::StatusOr<std::vector<float>> s = Score(fresh);
    if (!s.ok()) {
      status = s.status();
      return false;
    }
    for (size_t i = 0; i < fresh.size(); ++i) {
      scores.emplace(fresh[i], (*s)[i]);
      visited.push_back(fresh[i]);
    }
    return true;
  };

  // Starts: the best measured configs, then other measured ones at random
  // (cheap, unlike sampling a sparse space), then samples if none exist.
  const size_t chains = static_cast<size_t>(options_.chains);
  std::vector<Config> current;
  std::vector<std::pair<double, Config>> best = measured_;
  std::sort(best.begin(), best.end());
  for (size_t i = 0; i < best.size() && current.size() < (chains + 1) / 2; ++i) {
    current.push_back(best[i].second);
  }
  while (current.size() < chains && !measured_.empty()) {
    current.push_back(measured_[rng_() % measured_.size()].second);
  }
  for (size_t i = 0; i < seeds_.size() && current.size() < chains; ++i) {
    current.push_back(seeds_[i]);
  }
  while (current.size() < chains) {
    absl::StatusOr<Config> c = space_->Sample(rng_);
    if (!c.ok()) break;
    current.push_back(*std::move(c));
  }
  if (current.empty()) return visited;
  if (!score_new(current)) return {};

  float lo = scores.at(current.front()), hi = lo;
  for (const Config& c : current) {
    lo = std::min(lo, scores.at(c));
    hi = std::max(hi, scores.at(c));
  }
  const double t0 = hi > lo ? 0.5 * (hi - lo) : 1.0;

  const std::vector<kernels::Knob>& knobs = space_->knobs();
  std::vector<size_t> mutable_knobs;
  for (size_t k = 0; k < knobs.size(); ++k) {
    if (knobs[k].values.size() > 1) mutable_knobs.push_back(k);
  }
  if (mutable_knobs.empty()) return visited;

  for (int step = 0; step < options_.steps; ++step) {
    const double t = t0 * (1.0 - static_cast<double>(step) / options_.steps);
    std::vector<Config> next = current;
    for (Config& c : next) {
      for (int attempt = 0; attempt < kMutationAttempts; ++attempt) {
        const kernels::Knob& knob = knobs[mutable_knobs[rng_() % mutable_knobs.size()]];
        Config candidate = c;
        int64_t& v = candidate[knob.name];
        // Another value of the knob, uniformly.
        size_t index = std::find(knob.values.begin(), knob.values.end(), v) - knob.values.begin();
        size_t pick = rng_() % (knob.values.size() - 1);
        if (pick >= index) ++pick;
        v = knob.values[pick];
        if (space_->IsValid(candidate)) {
          c = std::move(candidate);
          break;
        }
      }
    }
    if (!score_new(next)) return {};
    for (size_t i = 0; i < current.size(); ++i) {
      const double delta = scores.at(next[i]) - scores.at(current[i]);
      if (delta >= 0 || (t > 0 && Uniform() < std::exp(delta / t))) current[i] = next[i];
    }
  }
  return visited;
}

}  // namespace qtune::tuner
