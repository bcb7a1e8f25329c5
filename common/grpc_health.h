// File: grpc_health.h
// The standard gRPC health service (grpc.health.v1.Health) on qtune's
// servers, and a client for it, so that `grpc_health_probe`, load balancers,
// deployment scripts and the daemon's device pool can ask any qtune server
// "are you serving?" the same way.
//
// Server:
//   EnableHealthService();                        // before BuildAndStart
//   std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
//   SetHealthServing(*server, true, {"qtune.proto.DeviceAgent"});
//   ...
//   SetHealthServing(*server, false, {...});      // when draining, before Shutdown
// Client:
//   absl::StatusOr<HealthState> state = CheckHealth(channel, absl::Seconds(2));
//
// The health service is not behind the servers' token (it reveals only the
// serving state) but is behind TLS when the server uses TLS. No gRPC
// headers here. Thread-safe.
#ifndef QTUNE_COMMON_GRPC_HEALTH_H_
#define QTUNE_COMMON_GRPC_HEALTH_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
class Server;
}  // namespace grpc

namespace qtune {

// Makes every gRPC server built from now on in this process offer
// grpc.health.v1.Health (grpc::EnableDefaultHealthCheckService). Idempotent.
void EnableHealthService();

// Sets the serving state of the whole server ("") and of each of `services`
// (full service names, e.g. "qtune.proto.DeviceAgent"). A no-op when the
// server was built without EnableHealthService().
void SetHealthServing(grpc::Server& server, bool serving,
                      const std::vector<std::string>& services = {});

// grpc.health.v1.HealthCheckResponse.ServingStatus (proto/health.proto).
enum class HealthState {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3,
};
std::string_view HealthStateName(HealthState state);  // "SERVING", ...

// Calls grpc.health.v1.Health/Check for `service` ("" = the whole server)
// with a deadline of `timeout`. The gRPC error of the call otherwise (e.g.
// UNAVAILABLE when nothing listens, DEADLINE_EXCEEDED, UNIMPLEMENTED when the
// server has no health service, NOT_FOUND for a service it does not know);
// INTERNAL for a reply that does not parse. `token`, when not empty, is sent
// as the x-qtune-token metadata.
absl::StatusOr<HealthState> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        absl::Duration timeout, std::string_view service = "",
                                        std::string_view token = "");

}  // namespace qtune

#endif  // QTUNE_COMMON_GRPC_HEALTH_H_
