// File: lru_cache.h (internal)
// A bounded, thread-safe cache of shared read-only values, keyed by string:
// the least recently used go first once the summed cost (Cost(value))
// exceeds the capacity. Holders keep a value alive through its shared
// pointer after eviction. Used for generated code and prepacked constants,
// which kernels of one operator share across the configs of a search.
#ifndef QTUNE_KERNELS_SRC_LRU_CACHE_H_
#define QTUNE_KERNELS_SRC_LRU_CACHE_H_

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace qtune::kernels::internal {

template <typename V, size_t (*Cost)(const V&)>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<const V> Find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  // A value costing more than the whole capacity is not kept.
  void Put(const std::string& key, std::shared_ptr<const V> value) {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t cost = Cost(*value);
    if (index_.count(key) > 0 || cost > capacity_) return;
    used_ += cost;
    lru_.emplace_front(key, std::move(value));
    index_[key] = lru_.begin();
    while (used_ > capacity_) {
      used_ -= Cost(*lru_.back().second);
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const V>>;
  const size_t capacity_;
  std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::map<std::string, typename std::list<Entry>::iterator> index_;
  size_t used_ = 0;
};

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_SRC_LRU_CACHE_H_
