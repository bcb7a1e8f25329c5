// File: test_graphs.h
// Small qtune model graphs for the runtime and agent tests: a builder with
// random constants, and Int8Chain, an int8 graph through every node kind.
#ifndef QTUNE_TESTS_RUNTIME_TEST_GRAPHS_H_
#define QTUNE_TESTS_RUNTIME_TEST_GRAPHS_H_

#include <random>
#include <string>
#include <vector>

#include "proto/model.pb.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::runtime::testing {

class GraphBuilder {
 public:
  explicit GraphBuilder(uint32_t seed = 1) : rng_(seed) {}
  void Tensor(const std::string& name, proto::ElemType type, std::vector<int64_t> shape,
              float scale = 0, int32_t zp = 0);
  proto::ModelNode& Node(proto::ModelNode::Kind kind, const std::string& name,
                         std::vector<std::string> inputs, const std::string& output);
  // A CONV node of `op` with random constants (int8: requantisation that
  // keeps outputs spread).
  proto::ModelNode& Conv(const std::string& name, const kernels::OpSpec& op, const std::string& in,
                         const std::string& out, int32_t in_zp, int32_t out_zp);
  proto::ModelGraph& graph() { return g_; }

 private:
  proto::ModelGraph g_;
  std::mt19937 rng_;
};

// An op of `kind` on an h x h x c input with "same" padding.
kernels::OpSpec Op(kernels::OpKind kind, kernels::DType dtype, int h, int c, int k, int r,
                   bool s8 = false, kernels::Activation act = kernels::Activation::kNone);

// input [1,4,6,6] -> QUANTIZE -> conv 3x3 (ReLU) -> depthwise 3x3 -> conv 1x1
// -> ADD(ReLU) with the first conv -> MAX_POOL 2x2/2 -> RELU -> CLIP ->
// GLOBAL_AVG_POOL -> RESHAPE [1,8] -> dense 8->5 -> DEQUANTIZE.
proto::ModelGraph Int8Chain(bool s8);

}  // namespace qtune::runtime::testing

#endif  // QTUNE_TESTS_RUNTIME_TEST_GRAPHS_H_
