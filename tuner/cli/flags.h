// File: flags.h
// The command-line flags that several `qtune` commands take (each command
// lists the ones it accepts, commands.h), and helpers over them. Flags of a
// single command are defined next to that command.
#ifndef QTUNE_TUNER_CLI_FLAGS_H_
#define QTUNE_TUNER_CLI_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, onnx);
ABSL_DECLARE_FLAG(std::string, agent);
ABSL_DECLARE_FLAG(std::string, token);
ABSL_DECLARE_FLAG(std::string, db);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(std::string, dtype);
ABSL_DECLARE_FLAG(bool, transfer);
ABSL_DECLARE_FLAG(std::string, strategy);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(int32_t, batch_size);
ABSL_DECLARE_FLAG(std::string, device);
ABSL_DECLARE_FLAG(std::string, job);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(int32_t, warmup_runs);
ABSL_DECLARE_FLAG(int32_t, threads);

namespace qtune::tuner {

// --token, else $QTUNE_TOKEN, else empty.
std::string Token();

// "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> SplitList(const std::string& text);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_CLI_FLAGS_H_
