// File: tune_flags.h
// The flags that describe a tuning job, shared by `qtune tune` (which runs
// it in-process) and `qtune submit` (which sends it to a daemon).
#ifndef QTUNE_TUNER_CLI_TUNE_FLAGS_H_
#define QTUNE_TUNER_CLI_TUNE_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/qtune.pb.h"
#include "tuner/cli/subcommand.h"

namespace qtune::tuner {

// The job the flags describe (model, dtypes, layers, trials, budget,
// strategy, ..., measurement). INVALID_ARGUMENT, naming the flag, for a bad
// value; `args.given` tells whether --trials was set (a --time-budget
// without --trials means no cap).
absl::StatusOr<proto::JobSpec> JobSpecFromFlags(const ParsedArgs& args);

// The names of those flags.
const std::vector<std::string>& TuneJobFlags();

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CLI_TUNE_FLAGS_H_
