// File: onnx_import.h
// Reads an ONNX model file and finds the operators qtune tunes: its
// convolutions (grouped as depthwise when group = C = K) and dense layers,
// in fp32 and in the quantised forms
//   QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger, and QDQ:
//   DequantizeLinear(int8/uint8) feeding Conv / Gemm / MatMul.
// Shapes come from ONNX's own shape inference (Debian libonnx). Operators
// are deduplicated into layers with occurrence counts, as the built-in zoo
// does (model_zoo.h), so `qtune tasks --onnx` and `qtune tune --onnx` work
// on them like on a zoo model.
//
//   ASSIGN_OR_RETURN(OnnxImport imported, ImportOnnx("resnet18_int8_qdq.onnx"));
//   for (const Layer& layer : imported.model.layers) ...
//   for (const auto& [op_type, count] : imported.not_tuned) ...   // listed, not fatal
//
// Layouts: ONNX convolutions are NCHW with OIHW weights; an OpSpec is the
// same operator in NHWC / KRSC (shapes only: no data is read here). Batch
// 1 and a static input shape are required (a symbolic batch is taken as 1).
//
// Thread-safety: free function, no shared state.
#ifndef QTUNE_TUNER_ONNX_ONNX_IMPORT_H_
#define QTUNE_TUNER_ONNX_ONNX_IMPORT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tuner/core/model_zoo.h"

namespace qtune::tuner {

struct OnnxImport {
  // Layers in graph order of their first instance; each layer's op has the
  // dtype of the model's operator (int8 for quantised forms, with
  // signed_io for int8 activations); model.fixed_dtypes is set.
  Model model;
  // Node op types that qtune does not tune, with their counts (Relu, Add,
  // MaxPool, QuantizeLinear, ... and anything unknown), for the user.
  std::map<std::string, int> not_tuned;
  // Tunable-looking nodes that could not be mapped, with why (e.g. a
  // weight that is not an initializer, an unsupported attribute).
  std::vector<std::string> skipped;
  int nodes = 0;
};

// INVALID_ARGUMENT for a file that is not an ONNX model (or fails shape
// inference), NOT_FOUND for a missing file; FAILED_PRECONDITION when no
// tunable operator is found.
absl::StatusOr<OnnxImport> ImportOnnx(const std::string& path);

}  // namespace qtune::tuner

#endif  // QTUNE_TUNER_ONNX_ONNX_IMPORT_H_
