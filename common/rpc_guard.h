// File: rpc_guard.h
// What every handler of qtune's gRPC services (the agent's DeviceAgent and
// ModelRunner, the daemon's Tuner) shares: absl::Status to grpc::Status, and
// a guard that turns an exception escaping a handler body into INTERNAL
// instead of letting it into gRPC. Header only; include it only in the
// services' .cc files (it includes gRPC's status header).
#ifndef QTUNE_COMMON_RPC_GUARD_H_
#define QTUNE_COMMON_RPC_GUARD_H_

#include <grpcpp/support/status.h>

#include <exception>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace qtune {

inline grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// Runs `body`; an exception becomes INTERNAL "<server> error: <what>"
// (`server`: "agent", "daemon").
inline grpc::Status Guard(const char* server, const std::function<grpc::Status()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat(server, " error: ", e.what()));
  } catch (...) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat(server, " error: unknown exception"));
  }
}

}  // namespace qtune

#endif  // QTUNE_COMMON_RPC_GUARD_H_
