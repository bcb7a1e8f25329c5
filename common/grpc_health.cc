#include "common/grpc_health.h"

#include <chrono>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_security.h"
#include "proto/health.grpc.pb.h"

namespace qtune {

void EnableHealthService() { grpc::EnableDefaultHealthCheckService(true); }

void SetHealthServing(grpc::Server& server, bool serving,
                      const std::vector<std::string>& services) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  for (const std::string& service : services) health->SetServingStatus(service, serving);
}

std::string_view HealthStateName(HealthState state) {
  switch (state) {
    case HealthState::kUnknown: return "UNKNOWN";
    case HealthState::kServing: return "SERVING";
    case HealthState::kNotServing: return "NOT_SERVING";
    case HealthState::kServiceUnknown: return "SERVICE_UNKNOWN";
  }
  return "UNKNOWN";
}

absl::StatusOr<HealthState> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        absl::Duration timeout, std::string_view service,
                                        std::string_view token) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  if (!token.empty()) context.AddMetadata(kTokenMetadataKey, std::string(token));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(std::string(service));
  grpc::health::v1::HealthCheckResponse reply;
  grpc::Status status =
      grpc::health::v1::Health::NewStub(channel)->Check(&context, request, &reply);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("health check: ", status.error_message()));
  }
  switch (reply.status()) {
    case grpc::health::v1::HealthCheckResponse::SERVING: return HealthState::kServing;
    case grpc::health::v1::HealthCheckResponse::NOT_SERVING: return HealthState::kNotServing;
    case grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN:
      return HealthState::kServiceUnknown;
    default: return HealthState::kUnknown;
  }
}

}  // namespace qtune
