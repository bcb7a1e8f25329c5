// File: convert.h
// Conversions between the wire messages (proto/qtune.proto) and the kernel
// library's C++ types. Every FromProto validates what it converts, so a
// malformed RPC field becomes INVALID_ARGUMENT at the boundary.
#ifndef QTUNE_PROTO_CONVERT_H_
#define QTUNE_PROTO_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/grpc_security.h"  // kTokenMetadataKey, for the RPC code that converts
#include "proto/qtune.pb.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/op_spec.h"

namespace qtune {

proto::OpSpec ToProto(const kernels::OpSpec& op);
absl::StatusOr<kernels::OpSpec> FromProto(const proto::OpSpec& op);

proto::Config ToProto(const kernels::Config& config);
kernels::Config FromProto(const proto::Config& config);

proto::ConfigSpace ToProto(const kernels::ConfigSpace& space);
absl::StatusOr<kernels::ConfigSpace> FromProto(const proto::ConfigSpace& space);

// "OK", "WRONG_OUTPUT", ... (the enum value names of proto::TrialStatus).
std::string TrialStatusName(proto::TrialStatus status);

// A message as one-line JSON with the proto field names (for logs and the DB).
std::string ToJson(const google::protobuf::Message& message);

}  // namespace qtune

#endif  // QTUNE_PROTO_CONVERT_H_
