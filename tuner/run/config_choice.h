// File: config_choice.h
// Which kernel config each convolution of a model runs with: the fastest
// config the tuning database holds for the op on this device and kernel
// build, or the op's default where none was tuned, and why.
//
//   ASSIGN_OR_RETURN(std::vector<ConfigChoice> choices,
//                    ChooseConfigs(&store, info, model.graph, /*threads=*/2, describe));
//
// The rule, per CONV node (docs/runtime.md, "Which configs run"):
//  1. the fastest OK trial of the op on info.device_key() measured by the
//     agent's own kernel build (info.kernel_build_id()), under any
//     measurement settings, whose `threads` knob is at most `threads`;
//  2. else the fastest such trial with more threads, run with `threads`
//     (the request caps every kernel's threads: kTunedCapped);
//  3. else the op's default config (kDefault), noting when trials of the op
//     exist only for other kernel builds.
// A tuned config with several threads comes with the fastest one-thread
// config as its alternative: between the layers of a model, waking threads
// can cost more than they save on a small layer, which a layer timed alone
// does not show; the agent keeps whichever is faster in place.
//
// Thread-safety: free functions; `store` is only read.
#ifndef QTUNE_TUNER_RUN_CONFIG_CHOICE_H_
#define QTUNE_TUNER_RUN_CONFIG_CHOICE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/model.pb.h"
#include "qtune/db/store.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::tuner {

struct ConfigChoice {
  enum class Source { kTuned, kTunedCapped, kDefault };
  std::string node;           // CONV node name
  std::string workload_key;   // kernels::CanonicalKey of its op
  Source source = Source::kDefault;
  kernels::Config config;     // empty for kDefault
  std::string config_text;    // ConfigSpace::ToString, or "default"
  std::string kernel;         // the tuned trial's kernel name
  double tuned_us = 0;        // the tuned trial's median latency
  std::string note;           // e.g. "tuned only with kernel build X"
  // When `config` uses several threads: the fastest one-thread config, for
  // the agent to try in place (RunModelRequest.alternatives); empty if none.
  kernels::Config alternative;
  std::string alternative_text;
  double alternative_us = 0;
};

std::string_view SourceName(ConfigChoice::Source source);  // "tuned", "tuned-capped", "default"

// The op's config space on the agent (AgentClient::DescribeSpace).
using DescribeSpaceFn = std::function<absl::StatusOr<kernels::ConfigSpace>(const kernels::OpSpec&)>;

// One choice per CONV node of `graph`, in graph order. `store` may be null
// (no database: every node kDefault). `threads` >= 1. A recorded config that
// no longer parses in the agent's space is skipped (the next fastest is
// taken).
absl::StatusOr<std::vector<ConfigChoice>> ChooseConfigs(const db::Store* store,
                                                        const proto::DeviceInfo& info,
                                                        const proto::ModelGraph& graph,
                                                        int threads,
                                                        const DescribeSpaceFn& describe);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_RUN_CONFIG_CHOICE_H_
