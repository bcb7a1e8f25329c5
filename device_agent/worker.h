// File: worker.h
// The worker side of trial isolation. `qtune-agent --worker PARENT_PID` (a
// hidden mode started only by WorkerSupervisor) reads trial requests from
// fd kWorkerRequestFd and answers each on kWorkerReplyFd, as frames
// (frame_io.h). A request is a RunTrialsRequest with exactly one config
// whose op and options the agent already validated. The answer is up to two
// TrialResult frames:
//   1. when the config is valid and the operator instance is ready (built,
//      or from the worker's cache), a "ready" marker: a TrialResult with
//      status TRIAL_STATUS_UNSPECIFIED and no other field set; the kernel's
//      deadline starts when the supervisor reads it;
//   2. the trial's result (any other status).
// A trial that ends before its instance is ready (invalid config,
// unsupported op, an instance that cannot be built) sends only the result.
// The worker exits when the request pipe closes or its parent process is
// gone, and ignores SIGINT (the agent stops it).
//
// Test-only: the environment variable QTUNE_AGENT_TEST_FAULT makes every
// trial request fail in one way, so that tests can exercise CRASH and
// TIMEOUT: `crash` abort()s on receipt; `hang_instance` sleeps forever
// before the instance is ready (a hanging reference); `slow_instance:MS`
// sleeps MS ms before building the instance, then runs the trial; `hang`
// sends the ready marker, then sleeps forever (a hanging kernel); `segv`
// sends the ready marker, then writes through a null pointer (a kernel that
// segfaults: SIGSEGV). When
// QTUNE_AGENT_TEST_FAULT_FILE names a file, the fault is that file's first
// line instead, read again for every request (missing or empty: none), so
// that a test can switch faults on and off in a running agent. Never set
// either otherwise.
#ifndef QTUNE_DEVICE_AGENT_WORKER_H_
#define QTUNE_DEVICE_AGENT_WORKER_H_

#include <cstddef>
#include <string_view>

namespace qtune::agent {

inline constexpr std::string_view kWorkerFlag = "--worker";
inline constexpr int kWorkerRequestFd = 3;
inline constexpr int kWorkerReplyFd = 4;
inline constexpr char kTestFaultEnv[] = "QTUNE_AGENT_TEST_FAULT";
inline constexpr char kTestFaultFileEnv[] = "QTUNE_AGENT_TEST_FAULT_FILE";

// Bytes the worker writes to evict the caches before a timed run
// (MeasureOptions.flush_cache): twice the last-level cache, within
// [4 MiB, 64 MiB].
size_t WorkerFlushBytes();

// True when argv asks for worker mode (argv[1] == kWorkerFlag).
bool IsWorkerInvocation(int argc, char** argv);

// The worker's main loop; returns the process exit code (0 after the agent
// closed the request pipe).
int RunWorker(int argc, char** argv);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_WORKER_H_
