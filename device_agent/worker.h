// File: worker.h
// The worker side of trial isolation. `qtune-agent --worker PARENT_PID` (a
// hidden mode started only by WorkerSupervisor) reads trial requests from
// fd kWorkerRequestFd and writes one TrialResult per request to
// kWorkerReplyFd, as frames (frame_io.h). A request is a RunTrialsRequest
// with exactly one config whose op and options the agent already validated.
// The worker exits when the request pipe closes or its parent process is
// gone, and ignores SIGINT (the agent stops it).
//
// Test-only: the environment variable QTUNE_AGENT_TEST_FAULT=crash|hang
// makes the worker abort() / sleep forever on every trial request, so that
// tests can exercise the CRASH and TIMEOUT paths. Never set it otherwise.
#ifndef QTUNE_DEVICE_AGENT_WORKER_H_
#define QTUNE_DEVICE_AGENT_WORKER_H_

#include <string_view>

namespace qtune::agent {

inline constexpr std::string_view kWorkerFlag = "--worker";
inline constexpr int kWorkerRequestFd = 3;
inline constexpr int kWorkerReplyFd = 4;
inline constexpr char kTestFaultEnv[] = "QTUNE_AGENT_TEST_FAULT";

// True when argv asks for worker mode (argv[1] == kWorkerFlag).
bool IsWorkerInvocation(int argc, char** argv);

// The worker's main loop; returns the process exit code (0 after the agent
// closed the request pipe).
int RunWorker(int argc, char** argv);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_WORKER_H_
