// File: transfer.h
// Transfer learning for a new tuning task from records already in the
// database: trials of the same operator on other devices and of similar
// operators (same kind and dtype, nearby shapes) on any device.
//
// The model-guided strategy uses a TransferData two ways: its groups train
// the cost model before the task has measured anything (one ranking group
// per source, so only configs of the same source are compared), and its
// seeds, the best configs of the nearest sources that are valid in the
// task's space, make the task's first proposals.
//
//   ASSIGN_OR_RETURN(TransferData data,
//                    LoadTransfer(store, op, device_key, space, TransferOptions{}));
//   model_strategy->SetTransfer(std::move(data));   // before Init()
//
// The task's own records on its own device by the same kernel build are
// never a source: they are its history (search_strategy.h), which a re-tune
// already starts from. Those of older builds are (TransferOptions).
//
// Thread-safety: free functions; the store is only read.
#ifndef QTUNE_TUNER_SEARCH_TRANSFER_H_
#define QTUNE_TUNER_SEARCH_TRANSFER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "qtune/db/store.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"
#include "tuner/search/features.h"
#include "tuner/search/search_strategy.h"

namespace qtune::tuner {

// The OK trials of one (device, workload) source.
struct TransferGroup {
  std::string device_key;
  std::string workload_key;
  kernels::OpSpec op;
  DeviceCaches caches;             // of the source's device
  double distance = 0;             // shape distance to the task (0 = same op)
  // Configs hold the knobs the task's space knows (values as recorded, which
  // need not be valid in the task's space); latency_us > 0.
  std::vector<Measurement> trials;
};

struct TransferData {
  std::vector<TransferGroup> groups;    // nearest first
  std::vector<kernels::Config> seeds;   // valid in the task's space, best first
};

struct TransferOptions {
  int max_groups = 8;                 // nearest sources kept
  // Trials kept per source (evenly spaced ranks, the best included): enough
  // to rank (bench-search --transfer, 64 random trials per source, reaches a
  // median 0.986 of the best at 64 trials), few enough that refitting after
  // every batch stays cheap.
  int max_trials_per_group = 64;
  // How a source's trials are read before that: whole when it has at most
  // `read_all` trials (all statuses); otherwise, per (kernel build,
  // measurement settings) slice of it, a sample of its OK trials through an
  // index (db::Store::Sample): the `sample_best` fastest and `sample_spread`
  // spread evenly over log latency up to the slowest. The cost then follows
  // the sources and slices, not the trials recorded.
  int64_t read_all = 256;
  int sample_best = 32;    // >= 1
  int sample_spread = 32;  // >= 0
  int max_seeds = 4;
  // Sources farther than this are ignored (see ShapeDistance).
  // (6: a 1x1 convolution does not learn from 3x3 ones, whose best tiles
  // differ; a 3x3 learns from 3x3s of 2-4x other sizes.)
  double max_distance = 6.0;
  // The kernel build of the task's device. Trials of the task's own op on
  // its own device by other builds are a source too (a prior, not a
  // result); empty: the task's own op on its own device is never a source.
  std::string kernel_build;
};

// How different two operators of the same kind and dtype are: the sum of
// |log2| ratios of output pixels, input and output channels, kernel taps
// (counted twice) and strides (0 for the same shape; a 1x1 against a 3x3 of
// the same channels and pixels: 6.3). +inf for another kind or dtype.
double ShapeDistance(const kernels::OpSpec& a, const kernels::OpSpec& b);

// Parses a recorded config string ("knob=value,..."; categorical knobs by
// label) for the knobs `space` has. Knobs the space does not have, and labels
// it does not know, are dropped; the result need not be valid.
kernels::Config ParseForSpace(const kernels::ConfigSpace& space, std::string_view text);

// The data-cache sizes recorded in a device's info JSON (DeviceInfo); the
// defaults of DeviceCaches for what is missing or unparsable.
DeviceCaches CachesOfJson(const std::string& info_json);

// Sources for `op` on device `device_key` from `store`: every (device,
// workload) with OK trials, of the same kind and dtype, within
// options.max_distance, except `op` itself on `device_key`; nearest first
// (same op on another device before similar ops; equally near ones by
// device key, then build).
absl::StatusOr<TransferData> LoadTransfer(const db::Store& store, const kernels::OpSpec& op,
                                          const std::string& device_key,
                                          const kernels::ConfigSpace& space,
                                          const TransferOptions& options = {});

// The seeds of `data` (best config of each group, nearest group first, valid
// in `space`, distinct, at most `max_seeds`); LoadTransfer sets them this way.
std::vector<kernels::Config> PickSeeds(const std::vector<TransferGroup>& groups,
                                       const kernels::ConfigSpace& space, int max_seeds);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_SEARCH_TRANSFER_H_
