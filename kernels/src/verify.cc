#include "qtune/kernels/verify.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
// Target standard deviation of the requantised outputs, in u8 steps: centred
// in the u8 range, under 5% of outputs clamp at 0 or 255.
constexpr double kOutputSpread = 50.0;

// Edge values: each aligned run of kEdgeRun int8 elements is, with
// probability 1 / kEdgeOneIn, one edge value. Runs (rather than single
// elements) fill whole pairs and quadruples of the reduction, where
// saturating pair sums (vpmaddubsw) and 4-way dot products hide.
constexpr int kEdgeRun = 4;
constexpr uint64_t kEdgeOneIn = 16;
constexpr double kEdgeFraction = 1.0 / kEdgeOneIn;

// Fills `n` bytes: per aligned run of kEdgeRun, either one edge value (`low`
// or `high`, equally likely) or kEdgeRun uniform bytes. One draw per run.
void FillWithEdges(SplitMix64& rng, uint8_t* out, int64_t n, uint8_t low, uint8_t high) {
  for (int64_t i = 0; i < n; i += kEdgeRun) {
    const uint64_t r = rng.Next();
    const int m = static_cast<int>(std::min<int64_t>(kEdgeRun, n - i));
    if (r % kEdgeOneIn == 0) {
      std::memset(out + i, ((r >> 4) & 1) != 0 ? high : low, static_cast<size_t>(m));
    } else {
      for (int j = 0; j < m; ++j) out[i + j] = static_cast<uint8_t>(r >> (32 + 8 * j));
    }
  }
}

// The u8 instance of `seed` (verify.h); for signed_io its mirror in s8.
void FillInt8(const OpSpec& op, uint64_t seed, SplitMix64& rng, OpInstance& inst) {
  QuantParams& q = inst.data.quant;
  // Zero points by seed class; see MakeOpInstance in verify.h.
  const bool edge_zero_points = seed % 3 != 0;
  if (seed % 3 == 1) {
    q.input_zero_point = 255;
    q.output_zero_point = 0;
  } else if (seed % 3 == 2) {
    q.input_zero_point = 0;
    q.output_zero_point = op.activation == Activation::kNone ? 255 : 0;
  } else {
    q.input_zero_point = static_cast<int32_t>(rng.Uniform(96, 159));
    q.output_zero_point = static_cast<int32_t>(rng.Uniform(96, 159));
  }
  OpSpec u8_op = op;
  u8_op.signed_io = false;
  SetActivationClamp(u8_op, kOutputScale, q);

  FillWithEdges(rng, inst.input.as<uint8_t>(), op.input_elements(), 0, 255);
  inst.data.weights_s8.resize(op.weight_elements());
  FillWithEdges(rng, reinterpret_cast<uint8_t*>(inst.data.weights_s8.data()), op.weight_elements(),
                /*low=*/0x80 /* -128 */, /*high=*/0x7f /* 127 */);

  // Moments of x (u8) and w (s8): uniform on the whole range, except the
  // edge fraction, split evenly between the two edge values.
  const double p = kEdgeFraction;
  const double uniform_sq = (256.0 * 256.0 - 1.0) / 12.0;  // variance of a uniform byte
  const double x_mean = 127.5;
  const double x_sq = (1 - p) * (uniform_sq + 127.5 * 127.5) + p * (255.0 * 255.0 / 2);
  const double w_mean = -0.5;
  const double w_sq = (1 - p) * (uniform_sq + 0.25) + p * ((128.0 * 128.0 + 127.0 * 127.0) / 2);
  // acc = sum (x - zx) * w over R products; its mean and standard deviation.
  const double zx = q.input_zero_point;
  const double d_mean = x_mean - zx;
  const double d_sq = x_sq - 2 * zx * x_mean + zx * zx;
  const double r = static_cast<double>(op.reduction_size());
  const double acc_mean = r * d_mean * w_mean;
  const double acc_sd = std::sqrt(r * (d_sq * w_sq - d_mean * d_mean * w_mean * w_mean));
  const int64_t bias_range = static_cast<int64_t>(acc_sd);
  // Bias uniform on [-acc_sd, acc_sd] adds acc_sd^2 / 3 to the variance.
  const double total_sd = acc_sd * std::sqrt(4.0 / 3.0);
  // Outputs centre on a mid-range output zero point (as a real tensor's
  // would), else on the middle of the clamp range, so that an edge zero
  // point does not clamp half of the outputs.
  const double centre = edge_zero_points ? 0.5 * (q.output_min + q.output_max)
                                         : static_cast<double>(q.output_zero_point);
  inst.data.bias_s32.resize(op.k);
  q.requant_scale.resize(op.k);
  for (int k = 0; k < op.k; ++k) {
    const int64_t spread = rng.Uniform(-bias_range, bias_range);
    const double jitter = 0.75 + 0.5 * rng.Unit();  // per-channel scales differ
    q.requant_scale[k] = static_cast<float>(kOutputSpread / total_sd * jitter);
    const double shift = (centre - q.output_zero_point) / q.requant_scale[k] - acc_mean;
    const double bias = static_cast<double>(spread) + std::nearbyint(shift);
    inst.data.bias_s32[k] = static_cast<int32_t>(std::clamp(bias, -1073741824.0, 1073741824.0));
  }
  if (op.signed_io) {
    // The s8 instance is the u8 one moved down by 128: x - 128 (the byte
    // x ^ 0x80), zero points and clamp - 128. Every x - zx, hence every
    // accumulator, is unchanged, and each output is the u8 one minus 128;
    // the edge values 0 / 255 become -128 / 127.
    uint8_t* x = inst.input.as<uint8_t>();
    for (int64_t i = 0; i < op.input_elements(); ++i) x[i] ^= 0x80;
    q.input_zero_point -= 128;
    q.output_zero_point -= 128;
    SetActivationClamp(op, kOutputScale, q);
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

}  // namespace

size_t ElementBytes(DType dtype) { return dtype == DType::kInt8 ? 1 : 4; }

absl::StatusOr<std::unique_ptr<OpInstance>> MakeOpInstance(const OpSpec& op, uint64_t seed) {
  QTUNE_RETURN_IF_ERROR(ValidateOpSpec(op));
  auto inst = std::make_unique<OpInstance>();
  inst->op = op;
  const size_t elem = ElementBytes(op.dtype);
  inst->input = AlignedBuffer::OwnPages(op.input_elements() * elem);
  inst->reference = AlignedBuffer::OwnPages(op.output_elements() * elem);
  if (inst->input.size() != op.input_elements() * elem ||
      inst->reference.size() != op.output_elements() * elem) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate the tensors of ", CanonicalKey(op)));
  }
  SplitMix64 rng(seed);
  float* magnitude = nullptr;
  if (op.dtype == DType::kInt8) {
    FillInt8(op, seed, rng, *inst);
  } else {
    FillFp32(op, rng, *inst);
    inst->magnitude = AlignedBuffer::OwnPages(op.output_elements() * sizeof(float));
    if (inst->magnitude.size() != op.output_elements() * sizeof(float)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate the tensors of ", CanonicalKey(op)));
    }
    magnitude = inst->magnitude.as<float>();
  }
  QTUNE_RETURN_IF_ERROR(
      RunReference(op, inst->data, inst->input.data(), inst->reference.data(), magnitude));
  return inst;
}

namespace {

// A 64-bit checksum of `bytes` bytes (not cryptographic): four independent
// lanes of 8-byte words, each step a bijection of the lane, so any change
// confined to one word always changes the result. Runs near memory speed.
uint64_t Checksum(const void* data, size_t bytes, uint64_t seed) {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t lane[4] = {seed ^ 0x243f6a8885a308d3ull, seed ^ 0x13198a2e03707344ull,
                      seed ^ 0xa4093822299f31d0ull, seed ^ 0x082efa98ec4e6c89ull};
  auto step = [](uint64_t h, uint64_t word) {
    h = (h ^ word) * kMul;
    return h ^ (h >> 29);
  };
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    for (int j = 0; j < 4; ++j) {
      uint64_t word;
      std::memcpy(&word, p + i + 8 * j, 8);
      lane[j] = step(lane[j], word);
    }
  }
  for (int j = 0; i < bytes; i += 8, j = (j + 1) % 4) {
    uint64_t word = 0;
    std::memcpy(&word, p + i, std::min<size_t>(8, bytes - i));
    lane[j] = step(lane[j], word);
  }
  uint64_t h = step(seed, bytes);
  for (uint64_t l : lane) h = step(h, l);
  return h;
}

template <typename T>
uint64_t Checksum(const std::vector<T>& v, uint64_t seed) {
  return Checksum(v.data(), v.size() * sizeof(T), seed);
}

OpInstance::Checksums ComputeChecksums(const OpInstance& inst) {
  OpInstance::Checksums sums;
  sums.input = Checksum(inst.input.data(), inst.input.size(), 1);
  sums.reference = Checksum(inst.reference.data(), inst.reference.size(), 2);
  sums.reference = Checksum(inst.magnitude.data(), inst.magnitude.size(), sums.reference);
  const OpData& d = inst.data;
  const QuantParams& q = d.quant;
  uint64_t c = Checksum(d.weights_s8, 3);
  c = Checksum(d.bias_s32, c);
  c = Checksum(q.requant_scale, c);
  const int32_t scalars[4] = {q.input_zero_point, q.output_zero_point, q.output_min, q.output_max};
  c = Checksum(scalars, sizeof(scalars), c);
  c = Checksum(d.weights_f32, c);
  sums.constants = Checksum(d.bias_f32, c);
  return sums;
}

}  // namespace

absl::Status SealOpInstance(OpInstance& instance) {
  instance.checksums = ComputeChecksums(instance);
  instance.sealed = true;
  for (AlignedBuffer* buffer : {&instance.input, &instance.reference, &instance.magnitude}) {
    QTUNE_RETURN_IF_ERROR(buffer->SetReadOnly(true));
  }
  return absl::OkStatus();
}

absl::Status CheckOpInstance(const OpInstance& instance) {
  if (!instance.sealed) return absl::OkStatus();
  const OpInstance::Checksums now = ComputeChecksums(instance);
  const char* changed = nullptr;
  if (now.reference != instance.checksums.reference) {
    changed = "reference";
  } else if (now.input != instance.checksums.input) {
    changed = "input";
  } else if (now.constants != instance.checksums.constants) {
    changed = "constants";
  }
  if (changed == nullptr) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(changed, " corrupted: the ", changed,
                                          " of the cached operator instance changed after it "
                                          "was built (a stray write?)"));
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
    // Element values: u8, or s8 (two's complement bytes) for signed_io.
    auto value = [&](uint8_t b) { return op.signed_io ? int{static_cast<int8_t>(b)} : int{b}; };
    for (int64_t i = 0; i < result.outputs; ++i) {
      const int diff = std::abs(value(y[i]) - value(ref[i]));
      if (diff > result.max_abs_error) result.max_abs_error = diff;
      if (diff != 0) record(i, absl::StrCat(value(y[i])), absl::StrCat(value(ref[i])));
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
