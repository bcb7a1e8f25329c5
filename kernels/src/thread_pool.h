// File: thread_pool.h (internal)
// A handle on a process-wide pool of worker threads (pthreadpool) for the
// kernels' parallel loops. Handles of the same thread count share one pool,
// created on first use and kept for the life of the process, so creating a
// kernel never starts or joins threads. Workers sleep as soon as a call ends
// (PTHREADPOOL_FLAG_YIELD_WORKERS), so an idle pool costs no CPU time;
// while a WorkersStayAwake (qtune/kernels/threads.h) lives, they spin for a
// while first, so the next call finds them awake.
//
// Thread-safety: Parallelize calls of handles that share a pool take turns
// (a mutex per pool), so distinct kernels stay safe to run concurrently. A
// Parallelize callback must not call Parallelize on a handle of the same
// thread count.
#ifndef QTUNE_KERNELS_SRC_THREAD_POOL_H_
#define QTUNE_KERNELS_SRC_THREAD_POOL_H_

#include <cstddef>
#include <cstdint>
#include <mutex>

#include <pthreadpool.h>

namespace qtune::kernels::internal {

class ThreadPool {
 public:
  // `threads` <= 1 runs everything on the calling thread.
  explicit ThreadPool(int threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }

  // Calls fn(i, j) for every i < range_i, j < range_j. Each thread takes a
  // contiguous run of the row-major (i, j) order, so the inner index j varies
  // fastest within a thread.
  template <typename Fn>
  void Parallelize2d(size_t range_i, size_t range_j, const Fn& fn) {
    if (shared_ == nullptr) {
      for (size_t i = 0; i < range_i; ++i) {
        for (size_t j = 0; j < range_j; ++j) fn(i, j);
      }
      return;
    }
    std::lock_guard<std::mutex> lock(shared_->mu);
    pthreadpool_parallelize_2d(shared_->pool, fn, range_i, range_j, Flags());
  }

  // Calls fn(i) for every i < range.
  template <typename Fn>
  void Parallelize1d(size_t range, const Fn& fn) {
    if (shared_ == nullptr) {
      for (size_t i = 0; i < range; ++i) fn(i);
      return;
    }
    std::lock_guard<std::mutex> lock(shared_->mu);
    pthreadpool_parallelize_1d(shared_->pool, fn, range, Flags());
  }

 private:
  // The pthreadpool flags of a call now: YIELD_WORKERS unless a
  // WorkersStayAwake lives (and QTUNE_POOL_YIELD is not set).
  static uint32_t Flags();

  struct Shared {
    pthreadpool_t pool = nullptr;
    std::mutex mu;  // one parallel call at a time
  };
  // The pool of `threads` threads (> 1), or null when it cannot be created.
  static Shared* SharedPool(int threads);

  Shared* shared_ = nullptr;  // never freed
  int threads_ = 1;
};

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_SRC_THREAD_POOL_H_
