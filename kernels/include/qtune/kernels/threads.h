// File: threads.h
// How the kernels' worker threads wait between parallel calls.
//
// By default a worker sleeps as soon as a kernel's parallel loop ends, so an
// idle process costs no CPU time, and waking it for the next call costs
// about 10 us (a futex wake and a context switch). That is cheap for one
// kernel timed in a loop, and dear between the layers of a model, where a
// small layer's share of work is of the same size. While a WorkersStayAwake
// lives, workers instead spin for a moment (a few ms at most) after each
// call before they sleep, as XNNPACK's do: the next layer finds them awake.
// Spinning costs a core while it lasts, and with more busy threads than
// cores it takes CPU from threads with real work, so hold one only around
// latency-critical sequences of calls (a model run), never for long idle
// periods. The environment variable QTUNE_POOL_YIELD=1 disables it.
//
// Thread-safety: instances may live on any threads; the effect is process
// wide while at least one lives.
#ifndef QTUNE_KERNELS_THREADS_H_
#define QTUNE_KERNELS_THREADS_H_

namespace qtune::kernels {

class WorkersStayAwake {
 public:
  WorkersStayAwake();
  ~WorkersStayAwake();
  WorkersStayAwake(const WorkersStayAwake&) = delete;
  WorkersStayAwake& operator=(const WorkersStayAwake&) = delete;
};

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_THREADS_H_
