// AMX support (qtune/kernels/amx.h): every reason EvaluateAmx gives, in its
// order, and this host's probe agreeing with /proc/cpuinfo.
#include <cerrno>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "qtune/kernels/amx.h"

namespace qtune::kernels {
namespace {

AmxProbe Usable() {
  AmxProbe p;
  p.x86_64 = true;
  p.cpu_amx_tile = p.cpu_amx_int8 = true;
  p.os_tile_state = true;
  p.max_palette = 1;
  p.permission_errno = 0;
  return p;
}

TEST(AmxTest, UsableWhenEveryConditionHolds) {
  const AmxSupport s = EvaluateAmx(Usable());
  EXPECT_TRUE(s.usable);
  EXPECT_EQ(s.reason, "");
}

TEST(AmxTest, TheFirstFailingConditionIsTheReason) {
  AmxProbe p = Usable();
  p.x86_64 = false;
  EXPECT_EQ(EvaluateAmx(p).reason, "not an x86-64 CPU");

  p = Usable();
  p.cpu_amx_int8 = false;
  p.os_tile_state = false;  // later conditions do not matter
  EXPECT_EQ(EvaluateAmx(p).reason, "the CPU has no AMX-INT8 (CPUID.7.0:EDX bit 25 clear)");
  p.cpu_amx_tile = false;
  EXPECT_EQ(EvaluateAmx(p).reason, "the CPU has no AMX-TILE (CPUID.7.0:EDX bit 24 clear)");

  p = Usable();
  p.os_tile_state = false;
  EXPECT_EQ(EvaluateAmx(p).reason, "the OS has not enabled AMX tile state (XCR0 bits 17/18 clear)");

  p = Usable();
  p.max_palette = 0;
  EXPECT_FALSE(EvaluateAmx(p).usable);
  EXPECT_NE(EvaluateAmx(p).reason.find("no tile palette"), std::string::npos);

  p = Usable();
  p.permission_errno = EPERM;
  EXPECT_FALSE(EvaluateAmx(p).usable);
  EXPECT_NE(EvaluateAmx(p).reason.find("refused AMX tile permission"), std::string::npos);
  EXPECT_NE(EvaluateAmx(p).reason.find("Operation not permitted"), std::string::npos);
  p.permission_errno = -1;
  EXPECT_NE(EvaluateAmx(p).reason.find("not requested"), std::string::npos);
}

// The CPU bits agree with the kernel's view of the CPU; where the CPU has
// no AMX, the process cannot use it and says so.
TEST(AmxTest, ThisHostsProbeAgreesWithProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  std::stringstream text;
  text << in.rdbuf();
  std::string flags;
  for (std::string line; std::getline(text, line);) {
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  }
  const AmxProbe p = ProbeAmx();
  const AmxSupport& s = AmxSupportOfThisProcess();
#if defined(__x86_64__)
  ASSERT_FALSE(flags.empty()) << "no flags line in /proc/cpuinfo";
  EXPECT_EQ(p.cpu_amx_tile, flags.find(" amx_tile ") != std::string::npos);
  EXPECT_EQ(p.cpu_amx_int8, flags.find(" amx_int8 ") != std::string::npos);
  if (!p.cpu_amx_int8) {
    EXPECT_FALSE(s.usable);
    EXPECT_NE(s.reason.find("the CPU has no AMX"), std::string::npos) << s.reason;
    EXPECT_EQ(p.permission_errno, -1);  // nothing asked of the kernel
  }
#else
  EXPECT_FALSE(p.x86_64);
  EXPECT_EQ(s.reason, "not an x86-64 CPU");
#endif
  std::cout << "this host: AMX " << (s.usable ? "usable" : "unavailable: " + s.reason) << "\n";
}

}  // namespace
}  // namespace qtune::kernels
