// File: executor.h
// Executes a qtune model graph (proto/model.proto) on this device: every
// CONV node through a kernel of the kernel library (the given config, or the
// op's default), the other nodes through runtime/ops.h, an int8 ADD that
// follows a CONV in that CONV's kernel (ExecutorOptions::fuse); activations
// in planned, reused buffers. Or, with `reference`, every node through its
// reference (kernels::RunReference and reference:: ops): the definition
// that a fast run's int8 output must equal exactly.
//
//   ExecutorOptions options;
//   options.configs["layer1.0.conv1"] = config;
//   options.threads = 2;
//   ASSIGN_OR_RETURN(std::unique_ptr<Executor> e, Executor::Create(graph, options));
//   std::string output;
//   RETURN_IF_ERROR(e->Run(input, &output, &node_us));
//
// Create() validates the whole graph first (it comes off the network): every
// tensor defined once before it is read, shapes and types consistent with
// each node, constants of the right sizes, quantisation parameters in range,
// sizes bounded. A graph it accepts cannot make Run() read or write out of
// bounds; one it refuses gets INVALID_ARGUMENT naming the node and why.
//
// Thread-safety: Run() must not be called concurrently on one Executor (it
// owns the activation buffers and the kernels' scratch); distinct executors
// are independent.
#ifndef QTUNE_RUNTIME_EXECUTOR_H_
#define QTUNE_RUNTIME_EXECUTOR_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/model.pb.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"

namespace qtune::runtime {

// Bounds of an accepted graph.
inline constexpr int kMaxNodes = 4096;
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 30;

struct ExecutorOptions {
  // Kernel config per CONV node name; a node without one runs its op's
  // default config.
  std::map<std::string, kernels::Config> configs;
  // Per CONV node, a second config to try in place (Settle()).
  std::map<std::string, kernels::Config> alternatives;
  // Caps every kernel's `threads` knob (a default config gets the largest
  // value within the cap); 0 = as configured.
  int threads = 0;
  // Runs every node through its reference (kernels::RunReference, the
  // reference:: ops), unfused: the definition.
  bool reference = false;
  // Fuses each int8 CONV whose output only an ADD reads into one step whose
  // kernel computes the ADD in its epilogue (kernel.h's ResidualAdd; the
  // result is the unfused pair's bit for bit), where the kernel family can
  // (not depthwise); the ADD runs on its own otherwise.
  bool fuse = true;
  kernels::Target target = kernels::HostTarget();
};

// One node as it runs (the graph's order); the graph input's layout change
// shows as a node named "<input>:nhwc" where it is not fused into a
// QUANTIZE. A fused CONV + ADD is two nodes at the CONV's place: the CONV,
// whose time includes the ADD, then the ADD, with time 0.
struct NodeInfo {
  std::string name;
  proto::ModelNode::Kind kind = proto::ModelNode::KIND_UNSPECIFIED;
  std::string kernel;            // CONV: the kernel's name
  bool default_config = false;   // CONV: no config was given
  bool has_alternative = false;  // CONV: an alternative config was given
  bool alternative = false;      // CONV: the alternative runs (Settle() found it faster)
  std::string fused_add;         // CONV: the ADD its epilogue computes
  std::string fused_into;        // ADD: the CONV that computes it (in its epilogue)
};

class Executor {
 public:
  static absl::StatusOr<std::unique_ptr<Executor>> Create(const proto::ModelGraph& graph,
                                                          const ExecutorOptions& options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // `input`: the graph input's F32 NCHW bytes (INVALID_ARGUMENT for another
  // size). `output`: the graph output's bytes (F32 little-endian, or U8/S8).
  // `node_us` (optional): the time of each node of nodes(), microseconds (0
  // for an ADD fused into a CONV). The kernels' worker threads stay awake
  // between layers during the run (kernels/threads.h).
  absl::Status Run(const std::string& input, std::string* output,
                   std::vector<double>* node_us = nullptr);

  // For the nodes with an alternative config: runs the model `rounds` times
  // with every primary config and `rounds` times with every alternative,
  // alternating, and keeps per node the one whose fastest round in place was
  // faster (load from other processes only adds time). Later runs use the
  // choice; nodes() reports it.
  absl::Status Settle(const std::string& input, int rounds);

  const std::vector<NodeInfo>& nodes() const;
  size_t input_bytes() const;
  proto::ElemType output_type() const;
  const std::vector<int64_t>& output_shape() const;
  // Bytes of activation buffers after planning (the graph's tensors share them).
  size_t activation_bytes() const;

  struct Impl;

 private:
  explicit Executor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A deterministic input for `graph` (seed 1): uniform in [-1, 1), as
// little-endian F32 NCHW bytes.
std::string DefaultInput(const proto::ModelGraph& graph);

}  // namespace qtune::runtime

#endif  // QTUNE_RUNTIME_EXECUTOR_H_
