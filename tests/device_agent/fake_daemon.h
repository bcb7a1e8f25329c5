// File: fake_daemon.h
// A stand-in for the tuner daemon's Tuner service that records the
// RegisterAgent calls it receives (the request and the x-qtune-token
// metadata), served on 127.0.0.1:0 in the test's process. Thread-safe.
#ifndef QTUNE_TESTS_DEVICE_AGENT_FAKE_DAEMON_H_
#define QTUNE_TESTS_DEVICE_AGENT_FAKE_DAEMON_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/grpc_security.h"
#include "proto/qtune.grpc.pb.h"

namespace qtune::testing {

class FakeDaemon final : public proto::Tuner::Service {
 public:
  // Serves on 127.0.0.1:0 with `credentials` (insecure when null).
  explicit FakeDaemon(std::shared_ptr<grpc::ServerCredentials> credentials = nullptr) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(
        "127.0.0.1:0", credentials != nullptr ? credentials : grpc::InsecureServerCredentials(),
        &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeDaemon() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  bool ok() const { return server_ != nullptr && port_ > 0; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  grpc::Status RegisterAgent(grpc::ServerContext* context,
                             const proto::RegisterAgentRequest* request,
                             proto::DeviceInfo*) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(*request);
    auto it = context->client_metadata().find(kTokenMetadataKey);
    tokens_.push_back(it == context->client_metadata().end()
                          ? ""
                          : std::string(it->second.data(), it->second.size()));
    return grpc::Status::OK;
  }

  size_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }
  proto::RegisterAgentRequest request(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.at(i);
  }
  // The x-qtune-token metadata of call i ("" when absent).
  std::string token(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return tokens_.at(i);
  }

 private:
  std::mutex mu_;
  std::vector<proto::RegisterAgentRequest> requests_;
  std::vector<std::string> tokens_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace qtune::testing

#endif  // QTUNE_TESTS_DEVICE_AGENT_FAKE_DAEMON_H_
