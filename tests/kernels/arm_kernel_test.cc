// The AArch64 kernel families against the reference, each path forced in
// turn (neoni8mm, neondot, neon): the shape sweep x sampled configs, int8
// bit-exact and fp32 within the verify.h tolerance; every tile x load
// variant; extreme inputs, weights and zero points; naming; and the clean
// fallback on a CPU without dot product / i8mm (run under
// QEMU_CPU=cortex-a53 by the ctest entry arm_fallback_cortex_a53). Built and
// run only in the aarch64 build (under qemu-aarch64 when cross-compiled).
#include <sched.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/arm/arm_families.h"
#include "qtune/kernels/config_space.h"
#include "qtune/kernels/kernel.h"
#include "qtune/kernels/op_spec.h"
#include "qtune/kernels/reference.h"
#include "qtune/kernels/verify.h"
#include "tests/kernels/kernel_test_util.h"

namespace qtune::kernels {
namespace {

const char* const kPaths[] = {"neoni8mm", "neondot", "neon"};

// Sampled configs per (path, shape, dtype): kept small for emulation.
constexpr size_t kSampled = 8;

using Param = std::tuple<const char*, ShapeCase, TypeCase>;

class ArmKernelTest : public ::testing::TestWithParam<Param> {};

TEST_P(ArmKernelTest, SampledConfigsMatchTheReference) {
  const auto& [path, shape, type] = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  const std::string text = shape.Text(type);
  auto op = ParseOpSpec(text);
  ASSERT_TRUE(op.ok()) << op.status();
  auto inst = MakeOpInstance(*op, 23);
  ASSERT_TRUE(inst.ok()) << inst.status();
  const Target target = PathTarget(path);
  auto space = DescribeSpace(*op, target);
  ASSERT_TRUE(space.ok()) << space.status();

  const std::vector<Config> configs = DefaultAndSampled(*space, kSampled, text + path);
  const std::regex name_re(std::string("(conv2d|dense)_(u8s8u8|s8s8s8|f32)_(direct|gemm)_([0-9]+)x([0-9]+)"
                                       "(c4|c8)?__") + path + "(_ld64)?");
  for (const Config& config : configs) {
    ASSERT_TRUE(ExpectMatchesReference(**inst, *space, config, target, name_re, text));
  }
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  const auto& [path, shape, type] = info.param;
  return std::string(path) + "_" + type.Name() + "_" + std::to_string(info.index);
}

// int8 (u8 and s8 activations) on every path, fp32 on neon (the only fp32
// path).
std::vector<Param> AllParams() {
  std::vector<Param> params;
  for (const char* path : kPaths) {
    for (const ShapeCase& shape : kKernelShapes) {
      params.emplace_back(path, shape, kU8);
      params.emplace_back(path, shape, kS8);
      if (std::string(path) == "neon") params.emplace_back(path, shape, kF32);
    }
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(Shapes, ArmKernelTest, ::testing::ValuesIn(AllParams()), ParamName);

// Every valid (tile, load, kc) of a path on shapes with channel tails and
// blocking, so that each compiled microkernel runs at least once.
class ArmTileTest : public ::testing::TestWithParam<std::tuple<const char*, TypeCase>> {};

TEST_P(ArmTileTest, EveryTileAndLoadVariant) {
  const auto& [path, type] = GetParam();
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  for (const char* fields : {"H=5,W=11,C=45,K=29,R=3,S=3,pad=1", "N=9,C=70,K=27"}) {
    const ShapeCase shape{std::string(fields).rfind("N=", 0) == 0 ? "dense" : "conv2d", fields};
    auto op = ParseOpSpec(shape.Text(type));
    ASSERT_TRUE(op.ok()) << op.status();
    auto inst = MakeOpInstance(*op, 5);
    ASSERT_TRUE(inst.ok());
    const Target target = PathTarget(path, 2);
    auto space = DescribeSpace(*op, target);
    ASSERT_TRUE(space.ok()) << space.status();
    const std::regex name_re(std::string(".*__") + path + "(_ld64)?");
    int ran = 0;
    for (int64_t tile = 0; tile < 6; ++tile) {
      for (int64_t load : {0, 1}) {
        for (int64_t kc : {int64_t{16}, int64_t{op->c}}) {
          Config config = space->default_config();
          config["tile"] = tile;
          config["load"] = load;
          config["kc"] = kc;
          config["threads"] = 1 + (tile % 2);
          if (!space->Validate(config).ok()) continue;
          EXPECT_TRUE(ExpectMatchesReference(**inst, *space, config, target, name_re, fields));
          ++ran;
        }
      }
    }
    EXPECT_GE(ran, 4 * 2 * 2) << path;
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, ArmTileTest,
                         ::testing::Values(std::make_tuple("neoni8mm", kU8),
                                           std::make_tuple("neoni8mm", kS8),
                                           std::make_tuple("neondot", kU8),
                                           std::make_tuple("neondot", kS8),
                                           std::make_tuple("neon", kU8),
                                           std::make_tuple("neon", kS8),
                                           std::make_tuple("neon", kF32)),
                         PathTypeName());

// Extremes: x in {0, 255} (s8 -128 / 127 after the offset), weights -128 and
// 127, input zero points 0 and 255 (compensation of +-128 * sum w), padding;
// s8 activations: x in {-128, 127} straight into sdot / smmla / smlal, zero
// points -128, 127, 0 (compensation -zx * sum w), ReLU.
class ArmExtremesTest : public ::testing::TestWithParam<std::tuple<const char*, TypeCase>> {};

TEST_P(ArmExtremesTest, ExtremeValuesAreExact) {
  const auto& [path_name, type] = GetParam();
  const std::string path = path_name;
  if (!CpuHas(path)) GTEST_SKIP() << "this CPU lacks the " << path << " path";
  const bool s8 = type.signed_io;
  for (const char* spec : {"conv2d/int8/H=6,W=9,C=64,K=48,R=3,S=3,pad=1",
                           "conv2d/int8/H=5,W=5,C=6,K=20,R=1,S=1", "dense/int8/N=3,C=96,K=40",
                           "conv2d/int8/H=6,W=7,C=16,K=24,R=3,S=3,pad=1,act=relu"}) {
    for (int zx : s8 ? std::vector<int>{-128, 127, 0, -3} : std::vector<int>{0, 255, 128, 3}) {
      auto op = ParseOpSpec(std::string(spec) + (s8 ? ",io=s8" : ""));
      ASSERT_TRUE(op.ok());
      OpData data;
      data.weights_s8.resize(op->weight_elements());
      for (size_t i = 0; i < data.weights_s8.size(); ++i) {
        const size_t k = i / (op->weight_elements() / op->k);
        data.weights_s8[i] = ((i / 8 + k) % 3 == 0) ? int8_t{127} : int8_t{-128};
      }
      data.bias_s32.assign(op->k, -1000);
      data.quant.input_zero_point = zx;
      data.quant.output_zero_point = s8 ? 0 : 128;
      const int64_t range = op->reduction_size() * 255 * 128;
      data.quant.requant_scale.assign(op->k, 120.0f / static_cast<float>(range));
      SetActivationClamp(*op, 1.0f, data.quant);
      // The high edge with the low one in every fifth element.
      const uint8_t high = s8 ? 0x7f : 255, low = s8 ? 0x80 : 0;
      std::vector<uint8_t> input(op->input_elements(), high);
      for (size_t i = 0; i < input.size(); i += 5) input[i] = low;
      std::vector<uint8_t> want(op->output_elements()), got(op->output_elements());
      ASSERT_TRUE(RunReference(*op, data, input.data(), want.data()).ok());
      EXPECT_GT(std::count_if(want.begin(), want.end(),
                              [&](uint8_t v) { return v != low && v != high; }),
                0);
      const Target target = PathTarget(path);
      auto space = DescribeSpace(*op, target);
      ASSERT_TRUE(space.ok()) << space.status();
      std::mt19937_64 rng(zx);
      std::vector<Config> configs = {space->default_config()};
      for (int i = 0; i < 4; ++i) configs.push_back(*space->Sample(rng));
      for (const Config& config : configs) {
        auto kernel = CreateKernel(*op, config, data, target);
        ASSERT_TRUE(kernel.ok()) << kernel.status();
        ASSERT_TRUE((*kernel)->Execute(input.data(), got.data()).ok());
        int64_t diff = 0;
        for (size_t i = 0; i < got.size(); ++i) diff += got[i] != want[i];
        EXPECT_EQ(diff, 0) << spec << " zx=" << zx << " " << space->ToString(config);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, ArmExtremesTest,
                         ::testing::Combine(::testing::ValuesIn(kPaths),
                                            ::testing::ValuesIn(kInt8Types)),
                         PathTypeName());

// The ARM paths a CPU offers follow getauxval; without dot product (Cortex-A53
// under qemu: QEMU_CPU=cortex-a53, see tests/kernels/CMakeLists.txt) the
// dot and i8mm paths are missing, say why, and int8 still runs on neon.
TEST(ArmFallback, PathsFollowHwcaps) {
  const bool dot = (getauxval(AT_HWCAP) & (1UL << 20)) != 0;
  const bool i8mm = (getauxval(AT_HWCAP2) & (1UL << 13)) != 0;
  if (std::getenv("QTUNE_EXPECT_NO_DOTPROD") != nullptr) {
    ASSERT_FALSE(dot) << "QTUNE_EXPECT_NO_DOTPROD is set but the CPU has asimddp";
  }
  const std::vector<std::string> paths = CpuPaths();
  auto has = [&](const char* p) { return std::find(paths.begin(), paths.end(), p) != paths.end(); };
  EXPECT_EQ(has("neondot"), dot);
  EXPECT_EQ(has("neoni8mm"), i8mm);
  EXPECT_TRUE(has("neon"));
  EXPECT_TRUE(has("generic"));
  const std::string missing = arm::MissingPaths();
  EXPECT_EQ(missing.find("neondot (no asimddp)") != std::string::npos, !dot) << missing;
  EXPECT_EQ(missing.find("neoni8mm (no i8mm)") != std::string::npos, !i8mm) << missing;

  // The host target's default int8 config runs and is exact.
  auto op = ParseOpSpec("conv2d/int8/H=7,W=9,C=20,K=24,R=3,S=3,pad=1,act=relu");
  ASSERT_TRUE(op.ok());
  auto inst = MakeOpInstance(*op, 3);
  ASSERT_TRUE(inst.ok());
  Target target = HostTarget();
  auto space = DescribeSpace(*op, target);
  ASSERT_TRUE(space.ok()) << space.status();
  const std::string expected_path = i8mm ? "neoni8mm" : dot ? "neondot" : "neon";
  EXPECT_TRUE(ExpectMatchesReference(**inst, *space, space->default_config(), target,
                                     std::regex(".*__" + expected_path), "host target default"));
  OpSpec s8 = *op;
  s8.signed_io = true;
  auto s8_inst = MakeOpInstance(s8, 3);
  ASSERT_TRUE(s8_inst.ok());
  auto s8_space = DescribeSpace(s8, target);
  ASSERT_TRUE(s8_space.ok()) << s8_space.status();
  EXPECT_TRUE(ExpectMatchesReference(**s8_inst, *s8_space, s8_space->default_config(), target,
                                     std::regex(".*_s8s8s8_.*__" + expected_path),
                                     "host target default, s8"));
}

}  // namespace
}  // namespace qtune::kernels

namespace qtune::kernels {
namespace {

// The cluster knob, on a fake big.LITTLE /proc/cpuinfo (cpu0 Cortex-A55,
// cpu1 Cortex-A76: ctest entry arm_clusters_fake_cpuinfo sets
// QTUNE_CPUINFO_PATH): the space offers the clusters, big first, with at
// most one thread each; pinned kernels run exactly and leave the calling
// thread on the cluster's CPU.
TEST(ArmClusters, PinnedConfigsRunOnTheirCluster) {
  if (std::getenv("QTUNE_CPUINFO_PATH") == nullptr) {
    GTEST_SKIP() << "needs QTUNE_CPUINFO_PATH (ctest arm_clusters_fake_cpuinfo)";
  }
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs 2 online CPUs";
  auto op = ParseOpSpec("conv2d/int8/H=6,W=10,C=32,K=24,R=3,S=3,pad=1");
  ASSERT_TRUE(op.ok());
  auto inst = MakeOpInstance(*op, 9);
  ASSERT_TRUE(inst.ok());
  const Target target = PathTarget("neon", 2);
  auto space = DescribeSpace(*op, target);
  ASSERT_TRUE(space.ok()) << space.status();
  const Knob* cluster = nullptr;
  for (const Knob& k : space->knobs()) {
    if (k.name == "cluster") cluster = &k;
  }
  ASSERT_NE(cluster, nullptr) << "no cluster knob";
  EXPECT_THAT(cluster->labels, ::testing::ElementsAre("any", "cortex-a76", "cortex-a55"));
  Config config = space->default_config();
  config["threads"] = 2;
  config["cluster"] = 1;
  EXPECT_FALSE(space->Validate(config).ok()) << "2 threads on a 1-core cluster";
  for (int64_t c : {1, 2, 0}) {
    config["threads"] = 1;
    config["cluster"] = c;
    ASSERT_TRUE(space->Validate(config).ok()) << space->ToString(config);
    EXPECT_TRUE(ExpectMatchesReference(**inst, *space, config, target, std::regex(".*__neon"),
                                       "cluster " + std::to_string(c)));
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
    // cluster 1 (cortex-a76) is cpu1, cluster 2 (cortex-a55) cpu0, 0 both.
    const bool want0 = c != 1, want1 = c != 2;
    EXPECT_EQ(static_cast<bool>(CPU_ISSET(0, &set)), want0) << "cluster " << c;
    EXPECT_EQ(static_cast<bool>(CPU_ISSET(1, &set)), want1) << "cluster " << c;
  }
}

}  // namespace
}  // namespace qtune::kernels
