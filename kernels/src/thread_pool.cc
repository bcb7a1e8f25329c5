#include "kernels/src/thread_pool.h"

#include <pthreadpool.h>

namespace qtune::kernels::internal {

ThreadPool::ThreadPool(int threads) {
  if (threads > 1) {
    pool_ = pthreadpool_create(static_cast<size_t>(threads));
    // Creation failure degrades to serial execution, which is still correct.
    threads_ = pool_ != nullptr ? static_cast<int>(pthreadpool_get_threads_count(pool_)) : 1;
  }
}

ThreadPool::~ThreadPool() {
  if (pool_ != nullptr) pthreadpool_destroy(pool_);
}

}  // namespace qtune::kernels::internal
