#include "device_agent/request_limits.h"

#include "absl/strings/str_cat.h"
#include "qtune/kernels/verify.h"

namespace qtune::agent {

absl::Status CheckOpBounds(const kernels::OpSpec& op) {
  const int64_t element_bytes = static_cast<int64_t>(kernels::ElementBytes(op.dtype));
  const struct {
    const char* name;
    int64_t elements;
  } tensors[] = {{"input", op.input_elements()},
                 {"weight", op.weight_elements()},
                 {"output", op.output_elements()}};
  for (const auto& t : tensors) {
    // elements < 2^31 (ValidateOpSpec), so the product cannot overflow.
    const int64_t bytes = t.elements * element_bytes;
    if (bytes > kMaxTensorBytes) {
      return absl::InvalidArgumentError(absl::StrCat("op: the ", t.name, " tensor has ", bytes,
                                                     " bytes; the agent's limit is ",
                                                     kMaxTensorBytes, " (1 GiB)"));
    }
  }
  if (op.macs() > kMaxOpMacs) {
    return absl::InvalidArgumentError(absl::StrCat("op: ", op.macs(),
                                                   " multiply-accumulates; the agent's limit is ",
                                                   kMaxOpMacs, " (1e11)"));
  }
  return absl::OkStatus();
}

}  // namespace qtune::agent
