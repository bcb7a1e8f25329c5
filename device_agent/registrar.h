// File: registrar.h
// The agent's registration with a tuner daemon (`qtune-agent --register
// HOST:PORT`): Tuner.RegisterAgent{address = the address the daemon should
// dial, token = the agent's own token, heartbeat = true}, once at start and
// then every `interval`, from a thread of its own. Every call carries a
// deadline (RegisterCallTimeout); the outcome is logged, one line, when its
// status code changes (first success, first failure, recovery), and after a
// failure the next heartbeat simply tries again: the agent never stops because
// the daemon is down. No gRPC headers here.
//
//   RegistrarOptions options;
//   options.daemon = "127.0.0.1:7000";
//   options.advertise = "127.0.0.1:7070";
//   ASSIGN_OR_RETURN(std::unique_ptr<Registrar> registrar, Registrar::Start(options));
//   ...
//   registrar->Stop();
#ifndef QTUNE_DEVICE_AGENT_REGISTRAR_H_
#define QTUNE_DEVICE_AGENT_REGISTRAR_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "proto/qtune.pb.h"

namespace qtune::agent {

struct RegistrarOptions {
  std::string daemon;        // HOST:PORT of `qtune serve` (--register)
  std::string advertise;     // HOST:PORT the daemon dials to reach this agent
  std::string agent_token;   // the agent's --token, sent in the request
  std::string daemon_token;  // the daemon's token, sent as x-qtune-token (--register-token)
  std::string tls_ca_file;   // TLS for the registration channel (--tls-ca); empty: plaintext
  absl::Duration interval = absl::Seconds(5);  // between heartbeats (> 0)
  // Heartbeats are due on this clock; not owned; null = Clock::Real(). The
  // thread checks it at least every 50 ms of real time, so a FakeClock moved
  // by a test is noticed.
  const Clock* clock = nullptr;
  // Receives each log line (without newline). Null: "qtune-agent: <line>"
  // on stderr.
  std::function<void(std::string_view line)> log;
};

// Sends one RegisterAgent request within `timeout`; the status of the call.
using RegisterTransport =
    std::function<absl::Status(const proto::RegisterAgentRequest& request, absl::Duration timeout)>;

// The deadline of each RegisterAgent call: the interval, within [1 s, 10 s].
absl::Duration RegisterCallTimeout(absl::Duration interval);

// Thread-safe.
class Registrar {
 public:
  // Checks the options — INVALID_ARGUMENT for a malformed daemon or advertise
  // address or an interval <= 0, FAILED_PRECONDITION for a non-loopback daemon
  // without --tls-ca (the request carries the agent's token), INVALID_ARGUMENT
  // for an unreadable CA file — and starts heartbeating over gRPC, the first
  // call at once.
  static absl::StatusOr<std::unique_ptr<Registrar>> Start(RegistrarOptions options);
  // The same over `transport` (tests); checks only the interval.
  static absl::StatusOr<std::unique_ptr<Registrar>> StartWithTransport(
      RegistrarOptions options, RegisterTransport transport);
  // Stops (see Stop).
  ~Registrar();

  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  // Stops heartbeating and joins the thread; a call in flight ends by its
  // deadline at the latest. Idempotent.
  void Stop();

  // Calls made so far, and how many of them succeeded.
  int64_t attempts() const;
  int64_t successes() const;

 private:
  Registrar(RegistrarOptions options, RegisterTransport transport);
  void Loop();
  void Log(const std::string& line) const;

  const RegistrarOptions options_;
  const RegisterTransport transport_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;         // guarded by mu_
  int64_t attempts_ = 0;      // guarded by mu_
  int64_t successes_ = 0;     // guarded by mu_
  std::thread thread_;
};

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_REGISTRAR_H_
