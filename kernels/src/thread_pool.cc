#include "kernels/src/thread_pool.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

#include <pthreadpool.h>

#include "qtune/kernels/threads.h"

namespace qtune::kernels {
namespace {

std::atomic<int> awake_scopes{0};

// QTUNE_POOL_YIELD set (not empty, not "0"): workers never spin.
bool YieldAlways() {
  static const bool yield = [] {
    const char* v = std::getenv("QTUNE_POOL_YIELD");
    return v != nullptr && v[0] != '\0' && !(v[0] == '0' && v[1] == '\0');
  }();
  return yield;
}

}  // namespace

WorkersStayAwake::WorkersStayAwake() { awake_scopes.fetch_add(1, std::memory_order_relaxed); }
WorkersStayAwake::~WorkersStayAwake() { awake_scopes.fetch_sub(1, std::memory_order_relaxed); }

namespace internal {

uint32_t ThreadPool::Flags() {
  return awake_scopes.load(std::memory_order_relaxed) > 0 && !YieldAlways()
             ? 0u
             : uint32_t{PTHREADPOOL_FLAG_YIELD_WORKERS};
}

ThreadPool::Shared* ThreadPool::SharedPool(int threads) {
  static std::mutex mu;
  static auto* pools = new std::map<int, Shared*>;
  std::lock_guard<std::mutex> lock(mu);
  auto it = pools->find(threads);
  if (it != pools->end()) return it->second;
  Shared* shared = nullptr;
  if (pthreadpool_t pool = pthreadpool_create(static_cast<size_t>(threads)); pool != nullptr) {
    shared = new Shared;
    shared->pool = pool;
  }
  // A failure is remembered too: the handles degrade to serial execution,
  // which is still correct, without retrying on every kernel.
  (*pools)[threads] = shared;
  return shared;
}

ThreadPool::ThreadPool(int threads) {
  if (threads > 1) {
    shared_ = SharedPool(threads);
    threads_ = shared_ != nullptr ? static_cast<int>(pthreadpool_get_threads_count(shared_->pool))
                                  : 1;
  }
}

}  // namespace internal
}  // namespace qtune::kernels
