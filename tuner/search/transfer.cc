#include "tuner/search/transfer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "proto/qtune.pb.h"

namespace qtune::tuner {
namespace {

using kernels::Config;
using kernels::ConfigSpace;
using kernels::OpSpec;

double Log2Ratio(double a, double b) { return std::fabs(std::log2(a / b)); }

}  // namespace

double ShapeDistance(const OpSpec& a, const OpSpec& b) {
  if (a.kind != b.kind || a.dtype != b.dtype) return std::numeric_limits<double>::infinity();
  const double pixels_a = static_cast<double>(a.n) * a.out_h() * a.out_w();
  const double pixels_b = static_cast<double>(b.n) * b.out_h() * b.out_w();
  // Kernel taps count twice: a 1x1 and a 3x3 convolution want different
  // register tiles even at equal channel counts.
  return Log2Ratio(pixels_a, pixels_b) + Log2Ratio(a.c, b.c) + Log2Ratio(a.k, b.k) +
         2.0 * Log2Ratio(static_cast<double>(a.r) * a.s, static_cast<double>(b.r) * b.s) +
         Log2Ratio(static_cast<double>(a.stride_h) * a.stride_w,
                   static_cast<double>(b.stride_h) * b.stride_w);
}

Config ParseForSpace(const ConfigSpace& space, std::string_view text) {
  Config config;
  for (absl::string_view item : absl::StrSplit(absl::string_view(text.data(), text.size()), ',',
                                               absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    const kernels::Knob* knob = space.FindKnob(std::string(kv.first));
    if (knob == nullptr) continue;
    if (knob->categorical()) {
      auto it = std::find(knob->labels.begin(), knob->labels.end(), kv.second);
      if (it != knob->labels.end()) config[knob->name] = knob->values[it - knob->labels.begin()];
      continue;
    }
    int64_t value = 0;
    if (absl::SimpleAtoi(kv.second, &value)) config[knob->name] = value;
  }
  return config;
}

DeviceCaches CachesOfJson(const std::string& info_json) {
  proto::DeviceInfo info;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(info_json, &info, options).ok()) return {};
  return CachesOf(info);
}

std::vector<Config> PickSeeds(const std::vector<TransferGroup>& groups, const ConfigSpace& space,
                              int max_seeds) {
  std::vector<Config> seeds;
  for (const TransferGroup& group : groups) {
    if (static_cast<int>(seeds.size()) >= max_seeds) break;
    // The group's fastest config that is valid here.
    const Measurement* best = nullptr;
    for (const Measurement& m : group.trials) {
      if (!space.IsValid(m.config)) continue;
      if (std::find(seeds.begin(), seeds.end(), m.config) != seeds.end()) continue;
      if (best == nullptr || m.latency_us < best->latency_us) best = &m;
    }
    if (best != nullptr) seeds.push_back(best->config);
  }
  return seeds;
}

absl::StatusOr<TransferData> LoadTransfer(const db::Store& store, const OpSpec& op,
                                          const std::string& device_key, const ConfigSpace& space,
                                          const TransferOptions& options) {
  TransferData data;
  if (options.max_groups <= 0) return data;
  const std::string own_key = kernels::CanonicalKey(op);

  // Candidate workloads, nearest first.
  db::Filter by_dtype;
  by_dtype.dtype = std::string(kernels::DTypeName(op.dtype));
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::WorkloadRecord> workloads, store.Workloads(by_dtype));
  std::vector<std::pair<double, OpSpec>> candidates;
  for (const db::WorkloadRecord& w : workloads) {
    absl::StatusOr<OpSpec> other = kernels::ParseOpSpec(w.workload_key);
    if (!other.ok()) continue;
    const double distance = ShapeDistance(op, *other);
    if (!(distance <= options.max_distance)) continue;
    candidates.emplace_back(distance, *std::move(other));
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  std::map<std::string, DeviceCaches> caches;
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::DeviceRecord> devices, store.Devices());
  for (const db::DeviceRecord& d : devices) caches[d.device_key] = CachesOfJson(d.info_json);

  // What each workload of the dtype has recorded, per slice and status.
  QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialCount> counts, store.TrialCounts(by_dtype));
  std::map<std::string, std::vector<const db::TrialCount*>> counts_of;  // by workload key
  for (const db::TrialCount& c : counts) counts_of[c.workload_key].push_back(&c);

  for (const auto& [distance, other] : candidates) {
    if (static_cast<int>(data.groups.size()) >= options.max_groups) break;
    const std::string workload_key = kernels::CanonicalKey(other);
    // One source per device (per build for the task's own op on its own
    // device), by device key and build.
    const bool own_op = workload_key == own_key;
    struct Source {
      int64_t trials = 0;                // all statuses
      std::vector<db::Slice> ok_slices;  // slices with OK trials
    };
    std::map<std::pair<std::string, std::string>, Source> sources;  // (device, build or "")
    for (const db::TrialCount* c : counts_of[workload_key]) {
      const bool own_device = c->device_key == device_key;
      if (own_device && own_op &&
          (options.kernel_build.empty() || c->build_id == options.kernel_build)) {
        continue;  // the task's history
      }
      Source& source = sources[{c->device_key, own_device && own_op ? c->build_id : ""}];
      source.trials += c->trials;
      if (c->status == "OK") {
        source.ok_slices.push_back(
            db::Slice{c->device_key, workload_key, c->build_id, c->settings});
      }
    }
    std::vector<TransferGroup> found;
    for (const auto& [key, source] : sources) {
      if (source.ok_slices.empty()) continue;
      const auto& [source_device, source_build] = key;
      // Small sources are read whole; large ones by a sample per slice.
      std::vector<db::TrialRecord> trials;
      if (source.trials <= options.read_all) {
        db::Filter filter;
        filter.device_key = source_device;
        filter.workload_key = workload_key;
        if (!source_build.empty()) filter.build_id = source_build;
        QTUNE_ASSIGN_OR_RETURN(trials, store.History(filter));
      } else {
        for (const db::Slice& slice : source.ok_slices) {
          QTUNE_ASSIGN_OR_RETURN(std::vector<db::TrialRecord> sample,
                                 store.Sample(slice, options.sample_best, options.sample_spread));
          for (db::TrialRecord& t : sample) trials.push_back(std::move(t));
        }
      }
      const bool own_device = source_device == device_key;
      TransferGroup group;
      group.device_key = source_device;
      group.workload_key = workload_key;
      group.op = other;
      if (auto c = caches.find(source_device); c != caches.end()) group.caches = c->second;
      // The same op elsewhere counts as nearer than any other op here; the
      // same op here by an older build, nearer still.
      group.distance = distance + (own_device ? (own_op ? 0.25 : 0.0) : 0.5);
      std::set<Config> seen;
      for (const db::TrialRecord& t : trials) {
        if (t.status != "OK" || !(t.median_us > 0) || !std::isfinite(t.median_us)) continue;
        Config config = ParseForSpace(space, t.config);
        if (config.empty() || !seen.insert(config).second) continue;
        group.trials.push_back(Measurement{std::move(config), true, t.median_us});
      }
      if (!group.trials.empty()) found.push_back(std::move(group));
    }
    for (TransferGroup& group : found) {
      std::sort(group.trials.begin(), group.trials.end(),
                [](const Measurement& a, const Measurement& b) {
                  return a.latency_us < b.latency_us;
                });
      // Keep the spread of latencies (evenly spaced ranks, the best
      // included), so that the model also learns what is slow.
      const size_t keep = static_cast<size_t>(std::max(options.max_trials_per_group, 1));
      if (group.trials.size() > keep) {
        std::vector<Measurement> kept;
        for (size_t i = 0; i < keep; ++i) {
          kept.push_back(std::move(group.trials[i * group.trials.size() / keep]));
        }
        group.trials = std::move(kept);
      }
      data.groups.push_back(std::move(group));
    }
  }
  std::stable_sort(data.groups.begin(), data.groups.end(),
                   [](const TransferGroup& a, const TransferGroup& b) {
                     return a.distance < b.distance;
                   });
  if (static_cast<int>(data.groups.size()) > options.max_groups) {
    data.groups.resize(options.max_groups);
  }
  data.seeds = PickSeeds(data.groups, space, options.max_seeds);
  return data;
}

}  // namespace qtune::tuner
