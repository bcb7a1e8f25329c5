// File: synthetic_space.h (test helper)
// A small config space with a known optimum and a smooth, slightly noisy
// latency: the benchmark for cost models and model-guided strategies.
//   knobs a, b in 0..15, c in {x, y, z}, d in 0..3 (irrelevant);
//   constraint a + b <= 26; optimum a=11, b=4, c=y (about 100 us).
#ifndef QTUNE_TESTS_TUNER_SYNTHETIC_SPACE_H_
#define QTUNE_TESTS_TUNER_SYNTHETIC_SPACE_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "qtune/kernels/config_space.h"

namespace qtune::tuner::testing_util {

inline kernels::ConfigSpace SyntheticSpace() {
  std::vector<int64_t> sixteen;
  for (int64_t v = 0; v < 16; ++v) sixteen.push_back(v);
  return kernels::ConfigSpace::Create(
             {{"a", sixteen}, {"b", sixteen}, {"c", {0, 1, 2}, {"x", "y", "z"}}, {"d", {0, 1, 2, 3}}},
             {"a + b <= 26"}, {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}})
      .value();
}

// Latency in microseconds; noise within +-1%, a fixed function of the config.
inline double SyntheticLatency(const kernels::Config& c) {
  const double da = static_cast<double>(c.at("a") - 11), db = static_cast<double>(c.at("b") - 4);
  static constexpr double kPenalty[] = {0.1, 0.0, 0.25};
  uint64_t h = static_cast<uint64_t>(c.at("a") * 1000003 + c.at("b") * 10007 + c.at("c") * 101 +
                                     c.at("d") + 1) * 0x9e3779b97f4a7c15ULL;
  h ^= h >> 29;
  const double noise = (static_cast<double>(h % 2001) / 1000.0 - 1.0) * 0.01;
  return 100.0 * (1.0 + 0.02 * da * da + 0.03 * db * db + kPenalty[c.at("c")]) * (1.0 + noise);
}

// The lowest latency of the space.
inline double SyntheticOptimum() {
  double best = 1e300;
  SyntheticSpace().ForEachValid([&](const kernels::Config& c) {
    best = std::min(best, SyntheticLatency(c));
    return true;
  });
  return best;
}

}  // namespace qtune::tuner::testing_util

#endif  // QTUNE_TESTS_TUNER_SYNTHETIC_SPACE_H_
