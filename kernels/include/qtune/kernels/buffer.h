// File: buffer.h
// Memory for tensors and packed constants: AlignedBuffer (64-byte aligned,
// from the heap with large blocks recycled, or on pages of its own that can
// be made read-only) and GuardedBuffer (an output between guard zones that
// catch out-of-bounds writes).
#ifndef QTUNE_KERNELS_BUFFER_H_
#define QTUNE_KERNELS_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace qtune::kernels {

// A 64-byte aligned, zero-initialised byte buffer. Move-only.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // From the heap (large blocks are recycled within the process).
  explicit AlignedBuffer(size_t bytes);
  // On whole pages of its own (mmap), page-aligned, so that it can be made
  // read-only without touching any other data.
  static AlignedBuffer OwnPages(size_t bytes);

  size_t size() const { return size_; }
  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <typename T> T* as() { return static_cast<T*>(data()); }
  template <typename T> const T* as() const { return static_cast<const T*>(data()); }

  // Makes the pages read-only (a write then faults with SIGSEGV) or
  // writable again. FAILED_PRECONDITION for a heap buffer; OK for an empty
  // one.
  absl::Status SetReadOnly(bool read_only);

 private:
  struct Free {
    Free() noexcept : mapped_bytes(0) {}
    explicit Free(size_t mapped) noexcept : mapped_bytes(mapped) {}
    void operator()(void* p) const;
    size_t mapped_bytes;  // 0: a heap block, else the length of the mapping
  };
  std::unique_ptr<void, Free> data_;
  size_t size_ = 0;
};

// An output buffer between two guard zones of kGuardBytes each, filled with
// a known pattern, to catch kernels that write outside their output. The
// output starts right after the first zone and the second starts right at
// its end (data() is 64-byte aligned; the output's size need not be a
// multiple of 64). Not thread-safe.
class GuardedBuffer {
 public:
  static constexpr size_t kGuardBytes = 4096;

  GuardedBuffer() = default;
  // An output of `bytes` bytes (contents unspecified) with fresh guards.
  explicit GuardedBuffer(size_t bytes);

  size_t size() const { return size_; }  // 0 also when allocation failed
  void* data() { return size_ == 0 ? nullptr : block_.as<uint8_t>() + kGuardBytes; }
  const void* data() const { return size_ == 0 ? nullptr : block_.as<uint8_t>() + kGuardBytes; }

  // Fills the output with `pattern`; the guards are left as they are.
  void FillOutput(uint8_t pattern);
  // Rewrites both guard zones with their pattern.
  void ResetGuards();

  // How far writes reached outside the output since the last ResetGuards():
  // the farthest changed guard byte on each side, in bytes from the
  // output's start (before) or end (after); 0 = that guard is intact.
  struct Breach {
    size_t before = 0;
    size_t after = 0;
    bool ok() const { return before == 0 && after == 0; }
    // "wrote 1 byte past the end of the 200704-byte output", "wrote 3 bytes
    // before the start of ...", both joined with "; ". Empty when ok().
    std::string Describe(size_t output_bytes) const;
  };
  Breach CheckGuards() const;

 private:
  AlignedBuffer block_;
  size_t size_ = 0;
};

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_BUFFER_H_
