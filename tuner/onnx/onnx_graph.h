// File: onnx_graph.h (internal to tuner/onnx)
// An ONNX model loaded for reading: its graph, the shape and element type
// of every value (ONNX's shape inference, completed by qtune's own rules for
// the operators it knows, including the com.microsoft quantised ops that
// ONNX has no schema for), initializer data, producers and consumers.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<OnnxGraph> g, OnnxGraph::Load("model.onnx"));
//   for (const onnx::NodeProto& node : g->graph().node()) {
//     const ValueInfo* x = g->Info(node.input(0));
//     ...
//   }
//
// Thread-safety: immutable after Load; any number of readers.
#ifndef QTUNE_TUNER_ONNX_ONNX_GRAPH_H_
#define QTUNE_TUNER_ONNX_ONNX_GRAPH_H_

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "qtune/kernels/op_spec.h"

namespace qtune::tuner::onnx_graph {

// Element types (onnx::TensorProto_DataType values).
inline constexpr int kFloat = 1;
inline constexpr int kUint8 = 2;
inline constexpr int kInt8 = 3;
inline constexpr int kInt32 = 6;
inline constexpr int kInt64 = 7;

struct ValueInfo {
  std::vector<int64_t> shape;  // -1 for an unknown dimension
  int elem_type = 0;           // 0: unknown
  bool has_shape = false;
};

class OnnxGraph {
 public:
  // NOT_FOUND for a missing file; INVALID_ARGUMENT for one that is not an
  // ONNX model. A symbolic or missing batch dimension of a graph input is
  // taken as 1.
  static absl::StatusOr<std::unique_ptr<OnnxGraph>> Load(const std::string& path);

  const onnx::ModelProto& model() const { return model_; }
  const onnx::GraphProto& graph() const { return model_.graph(); }

  // Shape and type of a value, or null when neither is known.
  const ValueInfo* Info(const std::string& name) const;
  // The initializer of that name, or null.
  const onnx::TensorProto* Initializer(const std::string& name) const;
  // The node that produces `name` (null for graph inputs and initializers).
  const onnx::NodeProto* Producer(const std::string& name) const;
  // The nodes reading `name`, in graph order.
  const std::vector<const onnx::NodeProto*>& Consumers(const std::string& name) const;
  // A printable node name: its name, else "<op_type> -> <first output>".
  static std::string NodeName(const onnx::NodeProto& node);

  static int64_t AttrInt(const onnx::NodeProto& node, const std::string& name, int64_t fallback);
  static float AttrFloat(const onnx::NodeProto& node, const std::string& name, float fallback);
  static std::vector<int64_t> AttrInts(const onnx::NodeProto& node, const std::string& name);

 private:
  OnnxGraph() = default;
  void Index();
  void PropagateShapes();

  onnx::ModelProto model_;
  std::map<std::string, ValueInfo> info_;
  std::map<std::string, const onnx::TensorProto*> initializers_;
  std::map<std::string, const onnx::NodeProto*> producers_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
};

// The elements of an initializer (any integer type: int8, uint8, int32,
// int64), from its typed fields or raw_data. INVALID_ARGUMENT for another
// type or a size that does not match the dims.
absl::StatusOr<std::vector<int64_t>> IntegerData(const onnx::TensorProto& tensor);
// Float elements.
absl::StatusOr<std::vector<float>> FloatData(const onnx::TensorProto& tensor);
// Number of elements from the dims.
int64_t ElementCount(const onnx::TensorProto& tensor);

// The activation node `n` applies, as a kernel epilogue: kRelu for Relu or
// Clip to [0, +inf), kRelu6 for Clip to [0, 6] (bounds from attributes or
// constant inputs of `g`); kNone for any other node.
kernels::Activation ActivationOf(const OnnxGraph& g, const onnx::NodeProto& n);

}  // namespace qtune::tuner::onnx_graph

#endif  // QTUNE_TUNER_ONNX_ONNX_GRAPH_H_
