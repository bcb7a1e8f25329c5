// CPU cluster detection from /proc/cpuinfo text (any architecture).
#include "kernels/arm/cpu_clusters.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::kernels::arm {
namespace {

using ::testing::ElementsAre;

std::string Block(int cpu, const char* part) {
  return "processor\t: " + std::to_string(cpu) +
         "\nBogoMIPS\t: 49.15\nFeatures\t: fp asimd asimddp\nCPU implementer\t: 0x41\n"
         "CPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: " +
         part + "\nCPU revision\t: 0\n\n";
}

TEST(CpuClusters, Pixel6BigFirst) {
  // Tensor G1: 4 x A55 (cpu0-3), 2 x A76 (cpu4-5), 2 x X1 (cpu6-7).
  std::string text;
  const char* parts[] = {"0xd05", "0xd05", "0xd05", "0xd05", "0xd0b", "0xd0b", "0xd44", "0xd44"};
  for (int i = 0; i < 8; ++i) text += Block(i, parts[i]);
  const std::map<int, int64_t> khz = {{0, 1803000}, {1, 1803000}, {2, 1803000}, {3, 1803000},
                                      {4, 2253000}, {5, 2253000}, {6, 2802000}, {7, 2802000}};
  const auto clusters = ParseClusters(text, khz);
  ASSERT_EQ(clusters.size(), 3u);
  EXPECT_EQ(clusters[0].name, "cortex-x1");
  EXPECT_THAT(clusters[0].cpus, ElementsAre(6, 7));
  EXPECT_EQ(clusters[1].name, "cortex-a76");
  EXPECT_EQ(clusters[2].name, "cortex-a55");
  EXPECT_THAT(clusters[2].cpus, ElementsAre(0, 1, 2, 3));
  // Without cpufreq, the later CPUs (the big ones on phones) come first.
  const auto no_freq = ParseClusters(text, {});
  ASSERT_EQ(no_freq.size(), 3u);
  EXPECT_EQ(no_freq[0].name, "cortex-x1");
}

TEST(CpuClusters, SameCoreTwoClocksGetDistinctLabels) {
  std::string text;
  for (int i = 0; i < 4; ++i) text += Block(i, "0xd0d");
  const auto clusters = ParseClusters(text, {{0, 2840000}, {1, 2420000}, {2, 2420000}, {3, 2420000}});
  ASSERT_EQ(clusters.size(), 2u);
  EXPECT_EQ(clusters[0].name, "cortex-a77@2840");
  EXPECT_THAT(clusters[1].cpus, ElementsAre(1, 2, 3));
}

TEST(CpuClusters, NoPartNumbersIsOneCluster) {
  const auto clusters = ParseClusters(
      "processor\t: 0\nvendor_id\t: AuthenticAMD\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n", {});
  ASSERT_EQ(clusters.size(), 1u);
  EXPECT_EQ(clusters[0].name, "cpu");
  EXPECT_THAT(clusters[0].cpus, ElementsAre(0, 1));
}

TEST(CpuClusters, UnknownPartIsNamedByNumber) {
  EXPECT_EQ(ArmPartName(0x41, 0xd05), "cortex-a55");
  EXPECT_EQ(ArmPartName(0x51, 0x804), "arm-0x51-0x804");
}

}  // namespace
}  // namespace qtune::kernels::arm
