// File: rpc_guard.h
// What every handler of the agent's services shares: absl::Status to
// grpc::Status, and a guard that turns an exception escaping a handler body
// into INTERNAL instead of letting it into gRPC. Include only in the
// services' .cc files (it includes gRPC).
#ifndef QTUNE_DEVICE_AGENT_RPC_GUARD_H_
#define QTUNE_DEVICE_AGENT_RPC_GUARD_H_

#include <grpcpp/support/status.h>

#include <exception>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace qtune::agent {

inline grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

inline grpc::Status Guard(const std::function<grpc::Status()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("agent error: ", e.what()));
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "agent error: unknown exception");
  }
}

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_RPC_GUARD_H_
