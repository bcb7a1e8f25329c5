// GraphBuilder: small ONNX models written to the test's temp dir, for the
// importer and converter tests.
#ifndef QTUNE_TESTS_TUNER_ONNX_GRAPH_BUILDER_H_
#define QTUNE_TESTS_TUNER_ONNX_GRAPH_BUILDER_H_

#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace qtune::tuner::testing {

class GraphBuilder {
 public:
  GraphBuilder() {
    model_.set_ir_version(8);
    auto* opset = model_.add_opset_import();
    opset->set_domain("");
    opset->set_version(13);
    auto* ms = model_.add_opset_import();
    ms->set_domain("com.microsoft");
    ms->set_version(1);
  }
  onnx::GraphProto& g() { return *model_.mutable_graph(); }

  void Input(const std::string& name, int type, std::vector<int64_t> shape) {
    auto* in = g().add_input();
    in->set_name(name);
    auto* t = in->mutable_type()->mutable_tensor_type();
    t->set_elem_type(type);
    for (int64_t d : shape) t->mutable_shape()->add_dim()->set_dim_value(d);
  }
  // An initializer of `type` with every element `value`.
  void Constant(const std::string& name, int type, std::vector<int64_t> dims, double value = 1) {
    onnx::TensorProto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t i = 0; i < n; ++i) {
      if (type == 1) {
        t->add_float_data(static_cast<float>(value));
      } else if (type == 7) {
        t->add_int64_data(static_cast<int64_t>(value));
      } else {
        t->add_int32_data(static_cast<int32_t>(value));
      }
    }
  }
  // An initializer with the given elements (float for type 1, int64 for 7,
  // int32 storage otherwise).
  void Values(const std::string& name, int type, std::vector<int64_t> dims,
              const std::vector<double>& values) {
    onnx::TensorProto* t = g().add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    for (double v : values) {
      if (type == 1) {
        t->add_float_data(static_cast<float>(v));
      } else if (type == 7) {
        t->add_int64_data(static_cast<int64_t>(v));
      } else {
        t->add_int32_data(static_cast<int32_t>(v));
      }
    }
  }
  void Output(const std::string& name) { g().add_output()->set_name(name); }
  onnx::NodeProto& Node(const std::string& type, std::vector<std::string> in,
                        std::vector<std::string> out, const std::string& name = "") {
    onnx::NodeProto* n = g().add_node();
    n->set_op_type(type);
    n->set_name(name);
    if (type.rfind("QLinearAdd", 0) == 0 || type == "QGemm") n->set_domain("com.microsoft");
    for (auto& i : in) n->add_input(i);
    for (auto& o : out) n->add_output(o);
    return *n;
  }
  static void Ints(onnx::NodeProto& n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void Int(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  std::string Write() {
    const std::string path = absl::StrCat(::testing::TempDir(), "/graph_", getpid(), "_",
                                          counter_++, ".onnx");
    std::ofstream out(path, std::ios::binary);
    model_.SerializeToOstream(&out);
    return path;
  }

 private:
  onnx::ModelProto model_;
  static inline int counter_ = 0;
};

}  // namespace qtune::tuner::testing

#endif  // QTUNE_TESTS_TUNER_ONNX_GRAPH_BUILDER_H_
