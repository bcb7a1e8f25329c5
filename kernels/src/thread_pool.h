// File: thread_pool.h (internal)
// A fixed-size pool of worker threads (pthreadpool) for the kernels' parallel
// loops. Workers sleep between calls (PTHREADPOOL_FLAG_YIELD_WORKERS), so an
// idle pool costs no CPU time.
//
// Thread-safety: one Parallelize call at a time per pool.
#ifndef QTUNE_KERNELS_SRC_THREAD_POOL_H_
#define QTUNE_KERNELS_SRC_THREAD_POOL_H_

#include <cstddef>

#include <pthreadpool.h>

namespace qtune::kernels::internal {

class ThreadPool {
 public:
  // `threads` <= 1 runs everything on the calling thread.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }

  // Calls fn(i, j) for every i < range_i, j < range_j. Each thread takes a
  // contiguous run of the row-major (i, j) order, so the inner index j varies
  // fastest within a thread.
  template <typename Fn>
  void Parallelize2d(size_t range_i, size_t range_j, const Fn& fn) {
    if (pool_ == nullptr) {
      for (size_t i = 0; i < range_i; ++i) {
        for (size_t j = 0; j < range_j; ++j) fn(i, j);
      }
      return;
    }
    pthreadpool_parallelize_2d(pool_, fn, range_i, range_j, PTHREADPOOL_FLAG_YIELD_WORKERS);
  }

  // Calls fn(i) for every i < range.
  template <typename Fn>
  void Parallelize1d(size_t range, const Fn& fn) {
    if (pool_ == nullptr) {
      for (size_t i = 0; i < range; ++i) fn(i);
      return;
    }
    pthreadpool_parallelize_1d(pool_, fn, range, PTHREADPOOL_FLAG_YIELD_WORKERS);
  }

 private:
  pthreadpool_t pool_ = nullptr;
  int threads_ = 1;
};

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_SRC_THREAD_POOL_H_
