#include "device_agent/device_info.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::agent {
namespace {

using ::testing::MatchesRegex;

TEST(SanitizeKeyPartTest, LowercasesAndCollapses) {
  EXPECT_EQ(SanitizeKeyPart("AMD EPYC 9B14 96-Core Processor"), "amd-epyc-9b14-96-core-processor");
  EXPECT_EQ(SanitizeKeyPart("  Intel(R) Xeon(R)  "), "intel-r-xeon-r");
  EXPECT_EQ(SanitizeKeyPart("cortex-a55+cortex-a76"), "cortex-a55-cortex-a76");
  EXPECT_EQ(SanitizeKeyPart(""), "unknown");
  EXPECT_EQ(SanitizeKeyPart("///"), "unknown");
}

TEST(DeviceKeyTest, Format) {
  EXPECT_EQ(MakeDeviceKey("x86_64", "avx512_vnni", "AMD EPYC 9B14", 2),
            "x86_64/avx512_vnni/amd-epyc-9b14/2c");
  EXPECT_EQ(MakeDeviceKey("aarch64", "dotprod+i8mm", "cortex-x1", 8),
            "aarch64/dotprod+i8mm/cortex-x1/8c");
}

TEST(IsaLevelTest, PicksTheBestLevel) {
  EXPECT_EQ(IsaLevel("x86_64", {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"}),
            "avx512_vnni");
  EXPECT_EQ(IsaLevel("x86_64", {"avx2", "fma", "avx512f", "avx512bw"}), "avx512bw");
  EXPECT_EQ(IsaLevel("x86_64", {"avx2", "avx_vnni"}), "avx_vnni");
  EXPECT_EQ(IsaLevel("x86_64", {"avx2"}), "avx2");
  EXPECT_EQ(IsaLevel("x86_64", {}), "sse");
  EXPECT_EQ(IsaLevel("aarch64", {"asimd", "dotprod", "i8mm"}), "dotprod+i8mm");
  EXPECT_EQ(IsaLevel("aarch64", {"asimd"}), "neon");
}

TEST(LastLevelCacheTest, LargestLevelWins) {
  proto::DeviceInfo info;
  EXPECT_EQ(LastLevelCacheBytes(info), 0);
  auto add = [&](int level, int64_t size) {
    proto::CacheLevel* c = info.add_caches();
    c->set_level(level);
    c->set_size_bytes(size);
  };
  add(1, 48 << 10);
  add(3, 32 << 20);
  add(2, 1 << 20);
  EXPECT_EQ(LastLevelCacheBytes(info), 32 << 20);
}

TEST(ProbeDeviceInfoTest, DescribesThisHost) {
  proto::DeviceInfo info = ProbeDeviceInfo();
  EXPECT_FALSE(info.arch().empty());
  EXPECT_FALSE(info.cpu_name().empty());
  EXPECT_GE(info.cores(), 1);
  EXPECT_EQ(info.agent_version(), std::string(AgentVersion()));
  EXPECT_FALSE(info.build_id().empty());
  EXPECT_GT(info.kernel_paths_size(), 0);
  EXPECT_THAT(info.device_key(), MatchesRegex("[a-z0-9_]+/[a-z0-9_+]+/[a-z0-9-]+/[0-9]+c"));
  EXPECT_EQ(info.device_key(), ProbeDeviceInfo().device_key());  // stable
  for (const proto::CacheLevel& cache : info.caches()) {
    EXPECT_GE(cache.level(), 1);
    EXPECT_GT(cache.size_bytes(), 0);
    EXPECT_GE(cache.shared_by_cores(), 1);
  }
#if defined(__x86_64__)
  EXPECT_EQ(info.arch(), "x86_64");
  // Every x86-64 CPU this project targets has at least SSE4.1.
  EXPECT_THAT(std::vector<std::string>(info.isa_features().begin(), info.isa_features().end()),
              ::testing::Contains("sse4_1"));
#endif
}

// A sanity range only: the value depends on the machine and its load.
void ExpectPlausibleClock(double ghz) {
  EXPECT_TRUE(std::isfinite(ghz));
  EXPECT_TRUE(ghz == 0 || (ghz >= 0.2 && ghz <= 10)) << ghz << " GHz";
}

TEST(MeasureClockGhzTest, IsZeroOrPlausible) {
  const double ghz = MeasureClockGhz();
  ExpectPlausibleClock(ghz);
#if !defined(__x86_64__) && !defined(__aarch64__)
  EXPECT_EQ(ghz, 0);
#endif
}

TEST(ProbeDeviceInfoTest, ClockIsMeasuredOnceOrSkipped) {
  const double ghz = ProbeDeviceInfo().clock_ghz();
  ExpectPlausibleClock(ghz);
  EXPECT_EQ(ProbeDeviceInfo().clock_ghz(), ghz);  // measured once per process
  EXPECT_EQ(ProbeDeviceInfo(ClockProbe::kSkip).clock_ghz(), 0);
  EXPECT_EQ(ProbeDeviceInfo(ClockProbe::kSkip).device_key(), ProbeDeviceInfo().device_key());
}

// The start-up note: empty off aarch64; on aarch64 it names a refused
// executable-memory mapping and emulation (the missing paths depend on the
// CPU, see arm_fallback_cortex_a53).
TEST(PlatformNoteTest, SaysWhatAnOperatorShouldKnow) {
  proto::DeviceInfo info;
  info.set_cpu_name("qemu-user (AMD EPYC)");
  info.add_isa_features("asimd");
  info.add_isa_features("no_execmem");
  info.add_kernel_paths("neon");
  info.add_kernel_paths("generic");
  const std::string note = PlatformNote(info);
#if defined(__aarch64__)
  EXPECT_THAT(note, ::testing::HasSubstr("anonymous executable memory is refused"));
  EXPECT_THAT(note, ::testing::HasSubstr("running under emulation (qemu-user)"));
  proto::DeviceInfo phone;
  phone.set_cpu_name("gs101 cortex-x1+cortex-a76+cortex-a55");
  EXPECT_EQ(PlatformNote(phone).find("emulation"), std::string::npos);
#else
  EXPECT_EQ(note, "");
#endif
}

}  // namespace
}  // namespace qtune::agent
