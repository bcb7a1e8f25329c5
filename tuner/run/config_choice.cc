#include "tuner/run/config_choice.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "proto/convert.h"

namespace qtune::tuner {
namespace {

// The fastest trials read per (workload, settings) slice: enough to find
// the fastest within the thread cap and the fastest with one thread in the
// tunes qtune runs (hundreds of trials per layer), bounded whatever the
// database holds (one index seek each).
constexpr int kCandidatesPerSlice = 512;

int64_t ThreadsOf(const kernels::Config& config) {
  auto it = config.find("threads");
  return it == config.end() ? 1 : it->second;
}

// Fills `choice` (the default until a trial qualifies) from `store`.
absl::Status Choose(const db::Store& store, const proto::DeviceInfo& info,
                    const kernels::OpSpec& op, int threads, const DescribeSpaceFn& describe,
                    ConfigChoice& choice) {
  db::Filter filter;
  filter.device_key = info.device_key();
  filter.workload_key = choice.workload_key;
  filter.builds = db::Filter::Builds::kAll;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialCount> counts, store.TrialCounts(filter));
  const std::string& build = info.kernel_build_id();
  std::set<std::string> other_builds;
  std::vector<db::TrialRecord> candidates;
  for (const db::TrialCount& c : counts) {
    if (c.status != "OK") continue;
    if (c.build_id != build) {
      other_builds.insert(c.build_id);
      continue;
    }
    QTUNE_ASSIGN_OR_RETURN(
        std::vector<db::TrialRecord> sample,
        store.Sample({c.device_key, c.workload_key, c.build_id, c.settings}, kCandidatesPerSlice,
                     /*spread=*/0));
    for (db::TrialRecord& t : sample) candidates.push_back(std::move(t));
  }
  if (candidates.empty()) {
    if (!other_builds.empty()) {
      choice.note = absl::StrCat("tuned only with kernel build ",
                                 absl::StrJoin(other_builds, ", "), ", not ", build);
    }
    return absl::OkStatus();
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const db::TrialRecord& a, const db::TrialRecord& b) {
                     if (a.median_us != b.median_us) return a.median_us < b.median_us;
                     return a.min_us < b.min_us;
                   });
  QTUNE_ASSIGN_OR_RETURN(kernels::ConfigSpace space, describe(op));
  const db::TrialRecord* capped = nullptr;
  kernels::Config capped_config;
  // The fastest single-thread trial, the alternative of a multi-thread choice.
  auto single_thread = [&]() {
    for (const db::TrialRecord& t : candidates) {
      absl::StatusOr<kernels::Config> config = space.Parse(t.config);
      if (config.ok() && ThreadsOf(*config) == 1) {
        choice.alternative = *std::move(config);
        choice.alternative_text = t.config;
        choice.alternative_us = t.median_us;
        return;
      }
    }
  };
  for (const db::TrialRecord& t : candidates) {
    absl::StatusOr<kernels::Config> config = space.Parse(t.config);
    if (!config.ok()) continue;  // recorded under an older space
    if (ThreadsOf(*config) <= threads) {
      choice.source = ConfigChoice::Source::kTuned;
      choice.config = *std::move(config);
      choice.config_text = t.config;
      choice.kernel = t.kernel;
      choice.tuned_us = t.median_us;
      if (ThreadsOf(choice.config) > 1) single_thread();
      return absl::OkStatus();
    }
    if (capped == nullptr) {
      capped = &t;
      capped_config = *std::move(config);
    }
  }
  if (capped != nullptr) {
    choice.source = ConfigChoice::Source::kTunedCapped;
    choice.config = std::move(capped_config);
    choice.config_text = capped->config;
    choice.kernel = capped->kernel;
    choice.tuned_us = capped->median_us;
    choice.note = absl::StrCat("tuned with ", ThreadsOf(choice.config), " threads, run with ",
                               threads);
    if (threads > 1) single_thread();
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view SourceName(ConfigChoice::Source source) {
  switch (source) {
    case ConfigChoice::Source::kTuned:
      return "tuned";
    case ConfigChoice::Source::kTunedCapped:
      return "tuned-capped";
    case ConfigChoice::Source::kDefault:
      return "default";
  }
  return "default";
}

absl::StatusOr<std::vector<ConfigChoice>> ChooseConfigs(const db::Store* store,
                                                        const proto::DeviceInfo& info,
                                                        const proto::ModelGraph& graph,
                                                        int threads,
                                                        const DescribeSpaceFn& describe) {
  if (threads < 1) return absl::InvalidArgumentError("threads must be at least 1");
  std::vector<ConfigChoice> choices;
  for (const proto::ModelNode& node : graph.nodes()) {
    if (node.kind() != proto::ModelNode::CONV) continue;
    absl::StatusOr<kernels::OpSpec> op = FromProto(node.op());
    if (!op.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("node ", node.name(), ": ", op.status().message()));
    }
    ConfigChoice choice;
    choice.node = node.name();
    choice.workload_key = kernels::CanonicalKey(*op);
    choice.config_text = "default";
    if (store != nullptr) QTUNE_RETURN_IF_ERROR(Choose(*store, info, *op, threads, describe, choice));
    choices.push_back(std::move(choice));
  }
  return choices;
}

}  // namespace qtune::tuner
