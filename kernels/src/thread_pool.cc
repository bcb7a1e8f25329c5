#include "kernels/src/thread_pool.h"

#include <map>
#include <mutex>

#include <pthreadpool.h>

namespace qtune::kernels::internal {

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

}  // namespace qtune::kernels::internal
