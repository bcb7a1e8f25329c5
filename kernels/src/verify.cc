#include "qtune/kernels/verify.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/reference.h"

namespace qtune::kernels {
namespace {

// splitmix64: tiny, fast, and identical on every platform (unlike the
// std::*_distribution family, whose output is implementation-defined).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform integer in [lo, hi]; the modulo bias is irrelevant here.
  int64_t Uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  // Uniform float in [0, 1) with 24 random bits (exact in binary32).
  float Unit() { return static_cast<float>(Next() >> 40) * 0x1.0p-24f; }
  // Uniform float in [-1, 1).
  float Symmetric() { return 2.0f * Unit() - 1.0f; }

 private:
  uint64_t state_;
};

// Real-valued scale of the int8 output tensor; only the ReLU6 clamp uses it.
constexpr float kOutputScale = 6.0f / 100.0f;
// Target standard deviation of the requantised outputs, in u8 steps: with the
// output zero point in [96, 160) under 5% of outputs clamp at 0 or 255.
constexpr double kOutputSpread = 50.0;

void FillInt8(const OpSpec& op, SplitMix64& rng, OpInstance& inst) {
  QuantParams& q = inst.data.quant;
  q.input_zero_point = static_cast<int32_t>(rng.Uniform(96, 159));
  q.output_zero_point = static_cast<int32_t>(rng.Uniform(96, 159));
  SetActivationClamp(op.activation, kOutputScale, q);

  uint8_t* x = inst.input.as<uint8_t>();
  for (int64_t i = 0; i < op.input_elements(); ++i) x[i] = static_cast<uint8_t>(rng.Next() >> 56);
  inst.data.weights_s8.resize(op.weight_elements());
  for (int8_t& w : inst.data.weights_s8) w = static_cast<int8_t>(rng.Uniform(-127, 127));

  // Standard deviation of acc = sum (x - zx) * w over R products: x uniform
  // on [0, 255] (second moment about zx: var + (mean - zx)^2), w uniform on
  // [-127, 127].
  const double mean_offset = 127.5 - q.input_zero_point;
  const double x_moment = (256.0 * 256.0 - 1.0) / 12.0 + mean_offset * mean_offset;
  const double w_moment = (255.0 * 255.0 - 1.0) / 12.0;
  const double acc_sd =
      std::sqrt(static_cast<double>(op.reduction_size()) * x_moment * w_moment);
  const int64_t bias_range = static_cast<int64_t>(acc_sd);
  // Bias uniform on [-acc_sd, acc_sd] adds acc_sd^2 / 3 to the variance.
  const double total_sd = acc_sd * std::sqrt(4.0 / 3.0);
  inst.data.bias_s32.resize(op.k);
  q.requant_scale.resize(op.k);
  for (int k = 0; k < op.k; ++k) {
    inst.data.bias_s32[k] = static_cast<int32_t>(rng.Uniform(-bias_range, bias_range));
    const double jitter = 0.75 + 0.5 * rng.Unit();  // per-channel scales differ
    q.requant_scale[k] = static_cast<float>(kOutputSpread / total_sd * jitter);
  }
}

void FillFp32(const OpSpec& op, SplitMix64& rng, OpInstance& inst) {
  float* x = inst.input.as<float>();
  for (int64_t i = 0; i < op.input_elements(); ++i) x[i] = rng.Symmetric();
  inst.data.weights_f32.resize(op.weight_elements());
  for (float& w : inst.data.weights_f32) w = rng.Symmetric();
  inst.data.bias_f32.resize(op.k);
  for (float& b : inst.data.bias_f32) b = rng.Symmetric();
}

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

void AlignedBuffer::Free::operator()(void* p) const {
  if (!BlockPool::Get().Release(p)) std::free(p);
}

size_t ElementBytes(DType dtype) { return dtype == DType::kInt8 ? 1 : 4; }

absl::StatusOr<std::unique_ptr<OpInstance>> MakeOpInstance(const OpSpec& op, uint64_t seed) {
  QTUNE_RETURN_IF_ERROR(ValidateOpSpec(op));
  auto inst = std::make_unique<OpInstance>();
  inst->op = op;
  const size_t elem = ElementBytes(op.dtype);
  inst->input = AlignedBuffer(op.input_elements() * elem);
  inst->reference = AlignedBuffer(op.output_elements() * elem);
  if (inst->input.size() != op.input_elements() * elem ||
      inst->reference.size() != op.output_elements() * elem) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate the tensors of ", CanonicalKey(op)));
  }
  SplitMix64 rng(seed);
  float* magnitude = nullptr;
  if (op.dtype == DType::kInt8) {
    FillInt8(op, rng, *inst);
  } else {
    FillFp32(op, rng, *inst);
    inst->magnitude = AlignedBuffer(op.output_elements() * sizeof(float));
    magnitude = inst->magnitude.as<float>();
  }
  QTUNE_RETURN_IF_ERROR(
      RunReference(op, inst->data, inst->input.data(), inst->reference.data(), magnitude));
  return inst;
}

VerifyResult VerifyOutput(const OpInstance& instance, const void* output) {
  const OpSpec& op = instance.op;
  VerifyResult result;
  result.outputs = op.output_elements();
  auto record = [&](int64_t i, const std::string& got, const std::string& want) {
    if (result.mismatches++ == 0) {
      result.first_mismatch = i;
      result.detail = absl::StrCat("got ", got, ", want ", want);
    }
  };
  if (op.dtype == DType::kInt8) {
    const uint8_t* y = static_cast<const uint8_t*>(output);
    const uint8_t* ref = instance.reference.as<uint8_t>();
    for (int64_t i = 0; i < result.outputs; ++i) {
      const int diff = std::abs(static_cast<int>(y[i]) - static_cast<int>(ref[i]));
      if (diff > result.max_abs_error) result.max_abs_error = diff;
      if (diff != 0) record(i, absl::StrCat(y[i]), absl::StrCat(ref[i]));
    }
    return result;
  }
  const float* y = static_cast<const float*>(output);
  const float* ref = instance.reference.as<float>();
  const float* mag = instance.magnitude.as<float>();
  for (int64_t i = 0; i < result.outputs; ++i) {
    const double error = std::fabs(static_cast<double>(y[i]) - static_cast<double>(ref[i]));
    const double bound = kFp32RelativeTolerance * static_cast<double>(mag[i]) + 1e-6;
    if (std::isnan(error)) {
      result.max_abs_error = HUGE_VAL;
    } else if (error > result.max_abs_error) {
      result.max_abs_error = error;
    }
    if (!(error <= bound)) {
      record(i, absl::StrFormat("%.9g", y[i]), absl::StrFormat("%.9g", ref[i]));
    }
  }
  return result;
}

std::string VerifyResult::Summary() const {
  if (mismatches == 0) return absl::StrCat("all ", outputs, " outputs match");
  return absl::StrCat(mismatches, " of ", outputs, " outputs differ; first at ", first_mismatch,
                      " (", detail, ")");
}

}  // namespace qtune::kernels
