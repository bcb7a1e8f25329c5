// File: onnx_to_model.h
// Converts an ONNX model into qtune's model format (proto/model.proto), the
// graph the model runtime executes: NHWC activations, convolutions and
// dense layers with their constants in the kernel library's layouts, and
// int8 kept int8 from the input's QuantizeLinear to the output's
// DequantizeLinear.
//
//   ASSIGN_OR_RETURN(OnnxModel m, ConvertOnnx("resnet18_int8_qdq.onnx"));
//   m.graph ...   // send to an agent (ModelRunner.LoadModel)
//
// Forms:
// - QOperator: QuantizeLinear, QLinearConv, com.microsoft QLinearAdd,
//   MaxPool on quantised tensors, com.microsoft QLinearGlobalAveragePool,
//   Flatten/Reshape, QLinearMatMul / com.microsoft QGemm, DequantizeLinear.
// - QDQ: DequantizeLinear -> Conv / Gemm / MatMul / Add / MaxPool /
//   GlobalAveragePool [-> Relu | Clip(0, 6)] -> QuantizeLinear becomes the
//   int8 operator, with the Relu/Clip as the output clamp (exact: ReLU after
//   requantisation is max(q, zero point)).
// - fp32: Conv/Gemm/MatMul (a following Relu or Clip(0, 6) fused), Add
//   (Relu fused), MaxPool, GlobalAveragePool, Flatten, Relu, Clip.
// A float operator whose input is quantised reads it through an explicit
// DEQUANTIZE node (e.g. a final Gemm whose output is not quantised).
// Weights must be symmetric (zero point 0); conv weight scales per output
// channel or per tensor.
//
// Thread-safety: free function, no shared state.
#ifndef QTUNE_TUNER_ONNX_ONNX_TO_MODEL_H_
#define QTUNE_TUNER_ONNX_ONNX_TO_MODEL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/model.pb.h"

namespace qtune::tuner {

struct OnnxModel {
  proto::ModelGraph graph;
  int onnx_nodes = 0;
  int int8_convs = 0;  // CONV nodes of int8 ops (conv, depthwise, dense)
  int fp32_convs = 0;
};

// NOT_FOUND / INVALID_ARGUMENT as ImportOnnx; UNIMPLEMENTED naming the
// first ONNX node that has no translation (op type and why).
absl::StatusOr<OnnxModel> ConvertOnnx(const std::string& path);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_ONNX_ONNX_TO_MODEL_H_
