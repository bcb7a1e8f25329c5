#include "tuner/search/cost_model.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace qtune::tuner {
namespace {

// OK, or INTERNAL with XGBoost's message for a failed call.
absl::Status Check(int rc, const char* what) {
  if (rc == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("xgboost ", what, ": ", XGBGetLastError()));
}

// Owner of an XGBoost handle, freed with `Free`.
template <typename Handle, int (*Free)(Handle)>
struct Owned {
  Handle h = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (h) Free(h);
  }
};
using DMatrix = Owned<DMatrixHandle, XGDMatrixFree>;
using Booster = Owned<BoosterHandle, XGBoosterFree>;

// A dense matrix of `rows` (all of width `width`) with NaN as missing.
absl::StatusOr<std::unique_ptr<DMatrix>> MakeMatrix(const FeatureRows& rows, size_t width) {
  std::vector<float> flat;
  flat.reserve(rows.size() * width);
  for (const std::vector<float>& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  auto m = std::make_unique<DMatrix>();
  QTUNE_RETURN_IF_ERROR(Check(XGDMatrixCreateFromMat(flat.data(), rows.size(), width,
                                                     std::nanf(""), &m->h),
                              "XGDMatrixCreateFromMat"));
  return m;
}

class XgboostCostModel final : public CostModel {
 public:
  explicit XgboostCostModel(XgboostOptions options) : options_(std::move(options)) {}

  absl::Status Update(const FeatureRows& rows, const std::vector<double>& latency_us,
                      uint32_t group) override {
    QTUNE_RETURN_IF_ERROR(Add(rows, latency_us, group));
    return rows.empty() ? absl::OkStatus() : Fit();
  }

  absl::Status Add(const FeatureRows& rows, const std::vector<double>& latency_us,
                   uint32_t group) override {
    if (rows.size() != latency_us.size()) {
      return absl::InvalidArgumentError(absl::StrCat("cost model: ", rows.size(), " rows but ",
                                                     latency_us.size(), " latencies"));
    }
    if (rows.empty()) return absl::OkStatus();
    const size_t width = width_ ? width_ : rows.front().size();
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].size() != width) {
        return absl::InvalidArgumentError(absl::StrCat("cost model: row of ", rows[i].size(),
                                                       " features, expected ", width));
      }
      if (!(latency_us[i] > 0) || !std::isfinite(latency_us[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("cost model: latency must be positive and finite, got ", latency_us[i]));
      }
    }
    width_ = width;
    Group& g = groups_[group];
    for (size_t i = 0; i < rows.size(); ++i) {
      g.rows.push_back(rows[i]);
      g.labels.push_back(static_cast<float>(-std::log(latency_us[i])));
    }
    samples_ += rows.size();
    return absl::OkStatus();
  }

  absl::Status Fit() override {
    if (samples_ == 0) return absl::FailedPreconditionError("cost model: no samples to fit");
    return Refit();
  }

  absl::StatusOr<std::vector<float>> Predict(const FeatureRows& rows) const override {
    if (!booster_) return absl::FailedPreconditionError("cost model: predict before any update");
    for (const std::vector<float>& r : rows) {
      if (r.size() != width_) {
        return absl::InvalidArgumentError(absl::StrCat("cost model: row of ", r.size(),
                                                       " features, expected ", width_));
      }
    }
    if (rows.empty()) return std::vector<float>{};
    QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<DMatrix> m, MakeMatrix(rows, width_));
    bst_ulong len = 0;
    const float* out = nullptr;
    QTUNE_RETURN_IF_ERROR(Check(XGBoosterPredict(booster_->h, m->h, /*option_mask=*/0,
                                                 /*ntree_limit=*/0, /*training=*/0, &len, &out),
                                "XGBoosterPredict"));
    if (len != rows.size()) {
      return absl::InternalError(absl::StrCat("xgboost returned ", len, " predictions for ",
                                              rows.size(), " rows"));
    }
    return std::vector<float>(out, out + len);
  }

  size_t num_samples() const override { return samples_; }

 private:
  struct Group {
    FeatureRows rows;
    std::vector<float> labels;
  };

  absl::Status Refit() {
    static const bool quiet = XGBSetGlobalConfig("{\"verbosity\": 0}") == 0;
    (void)quiet;
    FeatureRows rows;
    rows.reserve(samples_);
    std::vector<float> labels;
    std::vector<unsigned> sizes;
    for (const auto& [id, g] : groups_) {  // ordered: rows of a group are contiguous
      rows.insert(rows.end(), g.rows.begin(), g.rows.end());
      labels.insert(labels.end(), g.labels.begin(), g.labels.end());
      sizes.push_back(static_cast<unsigned>(g.rows.size()));
    }
    QTUNE_ASSIGN_OR_RETURN(std::unique_ptr<DMatrix> train, MakeMatrix(rows, width_));
    QTUNE_RETURN_IF_ERROR(Check(XGDMatrixSetFloatInfo(train->h, "label", labels.data(), labels.size()),
                                "set label"));
    QTUNE_RETURN_IF_ERROR(Check(XGDMatrixSetUIntInfo(train->h, "group", sizes.data(), sizes.size()),
                                "set group"));
    auto booster = std::make_unique<Booster>();
    QTUNE_RETURN_IF_ERROR(Check(XGBoosterCreate(&train->h, 1, &booster->h), "XGBoosterCreate"));
    const std::pair<const char*, std::string> params[] = {
        {"objective", options_.objective},
        {"max_depth", std::to_string(options_.max_depth)},
        {"eta", std::to_string(options_.eta)},
        {"min_child_weight", std::to_string(options_.min_child_weight)},
        {"nthread", "1"},
        {"seed", std::to_string(options_.seed)},
        {"tree_method", "exact"},
        {"verbosity", "0"},
    };
    for (const auto& [key, value] : params) {
      QTUNE_RETURN_IF_ERROR(Check(XGBoosterSetParam(booster->h, key, value.c_str()),
                                  "XGBoosterSetParam"));
    }
    for (int iter = 0; iter < options_.rounds; ++iter) {
      QTUNE_RETURN_IF_ERROR(Check(XGBoosterUpdateOneIter(booster->h, iter, train->h),
                                  "XGBoosterUpdateOneIter"));
    }
    booster_ = std::move(booster);  // before train_: the booster may refer to it
    train_ = std::move(train);
    return absl::OkStatus();
  }

  XgboostOptions options_;
  size_t width_ = 0;
  size_t samples_ = 0;
  std::map<uint32_t, Group> groups_;
  std::unique_ptr<DMatrix> train_;
  std::unique_ptr<Booster> booster_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CostModel>> MakeXgboostCostModel(const XgboostOptions& options) {
  if (options.objective != "rank:pairwise" && options.objective != "reg:squarederror") {
    return absl::InvalidArgumentError(absl::StrCat("cost model: unsupported objective '",
                                                   options.objective, "'"));
  }
  if (options.rounds < 1 || options.max_depth < 1 || !(options.eta > 0) ||
      !(options.min_child_weight >= 0)) {
    return absl::InvalidArgumentError(
        "cost model: rounds and max_depth must be >= 1, eta > 0, min_child_weight >= 0");
  }
  return std::make_unique<XgboostCostModel>(options);
}

}  // namespace qtune::tuner
