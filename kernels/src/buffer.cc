#include "qtune/kernels/buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"

namespace qtune::kernels {
namespace {

// Recycles large blocks (packed weights, tensors) within the process. On
// some virtual machines the first touch of memory the process has not used
// before costs far more than the buffer's use (~10 us per 4 KiB page
// measured: ~40 ms for 9 MiB), and kernels are created, and freed, on every
// trial. Freed blocks of at least kMinBytes wait here, up to kMaxPooledBytes
// in all (oldest freed first out), for a request they fit with less than 50%
// waste.
class BlockPool {
 public:
  static constexpr size_t kMinBytes = size_t{256} << 10;
  static constexpr size_t kMaxPooledBytes = size_t{256} << 20;

  static BlockPool& Get() {
    static BlockPool* pool = new BlockPool;
    return *pool;
  }

  // A block of at least `bytes` (a multiple of 64), or null.
  void* Allocate(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first - bytes <= bytes / 2) {
        void* p = it->second.block;
        pooled_bytes_ -= it->first;
        free_.erase(it);
        return p;
      }
    }
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    sizes_[p] = bytes;
    return p;
  }

  // Takes back a block of Allocate(); false when `p` is not one.
  bool Release(void* p) {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto size = sizes_.find(p);
      if (size == sizes_.end()) return false;
      free_.emplace(size->second, Free{p, ++clock_});
      pooled_bytes_ += size->second;
      while (pooled_bytes_ > kMaxPooledBytes) {
        auto oldest = free_.begin();
        for (auto it = free_.begin(); it != free_.end(); ++it) {
          if (it->second.freed < oldest->second.freed) oldest = it;
        }
        pooled_bytes_ -= oldest->first;
        sizes_.erase(oldest->second.block);
        evicted.push_back(oldest->second.block);
        free_.erase(oldest);
      }
    }
    for (void* block : evicted) std::free(block);
    return true;
  }

 private:
  struct Free {
    void* block;
    uint64_t freed;  // release order
  };
  std::mutex mu_;
  std::map<void*, size_t> sizes_;       // every block of the pool, in use or free
  std::multimap<size_t, Free> free_;    // free blocks by size
  size_t pooled_bytes_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  constexpr size_t kAlign = 64;
  const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = rounded >= BlockPool::kMinBytes ? BlockPool::Get().Allocate(rounded)
                                            : std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) {
    size_ = 0;
    return;
  }
  std::memset(p, 0, rounded);
  data_.reset(p);
}

AlignedBuffer AlignedBuffer::OwnPages(size_t bytes) {
  AlignedBuffer buffer;
  if (bytes == 0) return buffer;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t mapped = (bytes + page - 1) / page * page;
  void* p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return buffer;
  buffer.data_ = std::unique_ptr<void, Free>(p, Free{mapped});
  buffer.size_ = bytes;
  return buffer;
}

absl::Status AlignedBuffer::SetReadOnly(bool read_only) {
  if (size_ == 0) return absl::OkStatus();
  const size_t mapped = data_.get_deleter().mapped_bytes;
  if (mapped == 0) {
    return absl::FailedPreconditionError("only a buffer of its own pages can be made read-only");
  }
  if (mprotect(data_.get(), mapped, read_only ? PROT_READ : PROT_READ | PROT_WRITE) != 0) {
    return absl::InternalError(absl::StrCat("mprotect: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void AlignedBuffer::Free::operator()(void* p) const {
  if (mapped_bytes != 0) {
    munmap(p, mapped_bytes);
  } else if (!BlockPool::Get().Release(p)) {
    std::free(p);
  }
}

namespace {

// The guard pattern: varies with the position (so that a kernel storing a
// constant, or a copy of nearby bytes, still changes it) and differs
// between the two zones.
uint8_t GuardByte(size_t i, bool after) {
  const uint64_t h = (i + (after ? 0x9e37u : 0x7f4au)) * 0x9e3779b97f4a7c15ull;
  return static_cast<uint8_t>(h >> 56);
}

}  // namespace

GuardedBuffer::GuardedBuffer(size_t bytes) : block_(bytes + 2 * kGuardBytes) {
  if (block_.size() != bytes + 2 * kGuardBytes) return;
  size_ = bytes;
  ResetGuards();
}

void GuardedBuffer::FillOutput(uint8_t pattern) {
  if (size_ > 0) std::memset(data(), pattern, size_);
}

void GuardedBuffer::ResetGuards() {
  if (size_ == 0) return;
  uint8_t* before = block_.as<uint8_t>();
  uint8_t* after = before + kGuardBytes + size_;
  for (size_t i = 0; i < kGuardBytes; ++i) {
    before[i] = GuardByte(i, false);
    after[i] = GuardByte(i, true);
  }
}

GuardedBuffer::Breach GuardedBuffer::CheckGuards() const {
  Breach breach;
  if (size_ == 0) return breach;
  const uint8_t* before = block_.as<uint8_t>();
  const uint8_t* after = before + kGuardBytes + size_;
  for (size_t i = 0; i < kGuardBytes; ++i) {  // farthest from the output first
    if (before[i] != GuardByte(i, false)) {
      breach.before = kGuardBytes - i;
      break;
    }
  }
  for (size_t i = kGuardBytes; i > 0; --i) {
    if (after[i - 1] != GuardByte(i - 1, true)) {
      breach.after = i;
      break;
    }
  }
  return breach;
}

std::string GuardedBuffer::Breach::Describe(size_t output_bytes) const {
  auto part = [&](size_t n, const char* where) {
    return absl::StrCat("wrote ", n >= kGuardBytes ? "at least " : "", n,
                        n == 1 ? " byte " : " bytes ", where, " of the ", output_bytes,
                        "-byte output");
  };
  std::string text;
  if (before != 0) text = part(before, "before the start");
  if (after != 0) absl::StrAppend(&text, text.empty() ? "" : "; ", part(after, "past the end"));
  return text;
}

}  // namespace qtune::kernels
