// A small implementation of the pthreadpool entry points the kernels use
// (create, destroy, threads count, parallelize 1d/2d), for device builds
// without a static libpthreadpool (Debian has none for arm64). Semantics as
// documented in pthreadpool.h: the calling thread takes part, the call
// returns when every item is done, calls on one pool are serialised.
// Scheduling differs: threads claim single items from a shared counter
// rather than contiguous runs (the result does not depend on it).
#include <pthreadpool.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

struct pthreadpool {
  explicit pthreadpool(size_t threads) {
    for (size_t i = 1; i < threads; ++i) workers.emplace_back([this] { WorkerLoop(); });
  }
  ~pthreadpool() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    wake.notify_all();
    for (std::thread& t : workers) t.join();
  }

  // Claims and runs items until none is left.
  void Drain() {
    for (size_t i = next.fetch_add(1); i < range; i = next.fetch_add(1)) task(i);
  }

  void WorkerLoop() {
    uint64_t seen = 0;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait(lock, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
      }
      Drain();
      std::lock_guard<std::mutex> lock(mu);
      if (--running == 0) done.notify_all();
    }
  }

  template <typename Fn>
  void Run(size_t items, const Fn& fn) {
    std::lock_guard<std::mutex> serial(call_mu);
    {
      std::lock_guard<std::mutex> lock(mu);
      task = [&fn](size_t i) { fn(i); };
      range = items;
      next.store(0);
      running = workers.size();
      ++generation;
    }
    wake.notify_all();
    Drain();
    std::unique_lock<std::mutex> lock(mu);
    done.wait(lock, [&] { return running == 0; });
    task = nullptr;
  }

  std::vector<std::thread> workers;
  std::mutex call_mu;  // one parallel call at a time
  std::mutex mu;
  std::condition_variable wake, done;
  bool stop = false;
  uint64_t generation = 0;
  size_t running = 0;
  size_t range = 0;
  std::atomic<size_t> next{0};
  std::function<void(size_t)> task;
};

extern "C" {

pthreadpool_t pthreadpool_create(size_t threads_count) {
  if (threads_count == 0) {
    threads_count = std::thread::hardware_concurrency();
    if (threads_count == 0) threads_count = 1;
  }
  return new (std::nothrow) pthreadpool(threads_count);
}

size_t pthreadpool_get_threads_count(pthreadpool_t pool) {
  return pool == nullptr ? 1 : pool->workers.size() + 1;
}

void pthreadpool_parallelize_1d(pthreadpool_t pool, pthreadpool_task_1d_t function, void* context,
                                size_t range, uint32_t /*flags*/) {
  if (pool == nullptr || pool->workers.empty() || range <= 1) {
    for (size_t i = 0; i < range; ++i) function(context, i);
    return;
  }
  pool->Run(range, [&](size_t i) { function(context, i); });
}

void pthreadpool_parallelize_2d(pthreadpool_t pool, pthreadpool_task_2d_t function, void* context,
                                size_t range_i, size_t range_j, uint32_t /*flags*/) {
  const size_t items = range_i * range_j;
  if (pool == nullptr || pool->workers.empty() || items <= 1) {
    for (size_t i = 0; i < range_i; ++i) {
      for (size_t j = 0; j < range_j; ++j) function(context, i, j);
    }
    return;
  }
  pool->Run(items, [&](size_t k) { function(context, k / range_j, k % range_j); });
}

void pthreadpool_destroy(pthreadpool_t pool) { delete pool; }

}  // extern "C"
