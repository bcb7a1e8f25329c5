// File: job_spec.h
// A JobSpec (proto: what `qtune submit` sends a daemon, the options of
// `qtune tune`) as the tuning loop's tasks and options, checked.
#ifndef QTUNE_TUNER_CORE_JOB_SPEC_H_
#define QTUNE_TUNER_CORE_JOB_SPEC_H_

#include <vector>

#include "absl/status/statusor.h"
#include "proto/qtune.pb.h"
#include "tuner/core/tasks.h"
#include "tuner/core/tuner.h"

namespace qtune::tuner {

// Largest batch a spec may ask for (configs per RunTrials call).
inline constexpr int kMaxBatchSize = 4096;

// The tasks of the spec's model (the built-in `model`, or the layers of the
// `onnx` file), dtypes and layers. INVALID_ARGUMENT for an unknown model,
// layer or dtype, or no dtype; ImportOnnx's errors for a bad file.
absl::StatusOr<std::vector<Task>> TasksOfSpec(const proto::JobSpec& spec);

// The tuning options of the spec (fields as the flags of `qtune tune`; 0
// batch_size and warm_trials take the defaults, an unset `measure` the
// default measurement). INVALID_ARGUMENT for an unknown strategy, a value
// out of range, or neither a trial cap nor a time budget. Leaves job_name,
// args_json, cancel and clock for the caller.
absl::StatusOr<TuneOptions> TuneOptionsOfSpec(const proto::JobSpec& spec);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CORE_JOB_SPEC_H_
