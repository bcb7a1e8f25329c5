// File: model_service.h
// The agent's ModelRunner service (proto/model.proto): models arrive once
// in chunks (LoadModel), are kept by the SHA-256 of their bytes, and run on
// request (RunModel) with the runtime (runtime/executor.h). No gRPC headers
// here; MakeModelRunnerService returns the service to register.
//
// RPC contract:
//  * The same token as DeviceAgent (UNAUTHENTICATED without it).
//  * LoadModel: every chunk names the model's SHA-256 (64 lower-case hex
//    digits) and total size (1 byte to kMaxModelBytes); chunks come in
//    order, without gaps or overlap. A model already kept is acknowledged
//    (cached = true) at its first chunk, and the rest is not read. The
//    bytes must hash to the SHA-256 (DATA_LOSS otherwise) and parse and
//    validate as a graph the runtime accepts (INVALID_ARGUMENT naming the
//    node otherwise). Kept in memory (the kMaxModels most recently used)
//    and, with a cache directory, on disk, so that a restarted agent still
//    has it.
//  * RunModel: NOT_FOUND for a model not kept; INVALID_ARGUMENT for a
//    config of a node that is not a convolution, a config its kernel
//    refuses, runs outside 1..kMaxRuns, an input of the wrong size. The run
//    waits for the trial in progress and trials wait for it
//    (WorkerSupervisor::RunExclusive); a cancelled call stops waiting. The
//    kernels of the last (model, configs, alternatives, threads) are kept,
//    so repeated runs do not compile again; alternative configs are settled
//    once, when those kernels are made (Executor::Settle).
//
// Thread-safety: the service is thread-safe.
#ifndef QTUNE_DEVICE_AGENT_MODEL_SERVICE_H_
#define QTUNE_DEVICE_AGENT_MODEL_SERVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "device_agent/supervisor.h"
#include "proto/qtune.pb.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace qtune::agent {

inline constexpr int64_t kMaxModelBytes = int64_t{256} << 20;
inline constexpr int kMaxModels = 4;
inline constexpr int kMaxRuns = 10000;

struct ModelServiceOptions {
  std::string token;
  std::string cache_dir;      // empty: memory only
  proto::DeviceInfo info;     // its kernel build id goes into every reply
};

// `supervisor` must outlive the service.
std::unique_ptr<grpc::Service> MakeModelRunnerService(ModelServiceOptions options,
                                                      WorkerSupervisor* supervisor);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_MODEL_SERVICE_H_
