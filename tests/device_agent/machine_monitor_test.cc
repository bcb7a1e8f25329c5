// The load arithmetic and the Linux readings, on made-up counters and a fake
// /proc and /sys tree: nothing here depends on the machine's real load.
#include "device_agent/machine_monitor.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune::agent {
namespace {

namespace fs = std::filesystem;

constexpr char kProcStat[] =
    "cpu  100 5 50 1000 20 3 2 10 7 0\n"
    "cpu0 60 5 20 500 10 2 1 5 7 0\n"
    "cpu1 40 0 30 500 10 1 1 5 0 0\n"
    "intr 12345 0 0 0\n"
    "ctxt 999\n"
    "cpu_fake_line_after 1 2 3\n";

TEST(ProcStatTest, SumsTheBusyFieldsOfTheTotalLine) {
  absl::StatusOr<ProcStatCpu> cpu = ParseProcStat(kProcStat);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  // user + nice + system + irq + softirq + steal; idle, iowait and guest
  // (already inside user) are not added.
  EXPECT_EQ(cpu->busy_ticks, 100u + 5 + 50 + 3 + 2 + 10);
  EXPECT_EQ(cpu->cpus, 2);
}

TEST(ProcStatTest, OldKernelsWithFewerFieldsParse) {
  absl::StatusOr<ProcStatCpu> cpu = ParseProcStat("cpu 1 2 3 4\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(cpu->busy_ticks, 6u);
  EXPECT_EQ(cpu->cpus, 1);
}

TEST(ProcStatTest, GarbageIsAnError) {
  EXPECT_FALSE(ParseProcStat("").ok());
  EXPECT_FALSE(ParseProcStat("intr 1 2 3\n").ok());
  EXPECT_FALSE(ParseProcStat("cpu 1 2\n").ok());
  EXPECT_FALSE(ParseProcStat("cpu a b c d e\n").ok());
  EXPECT_FALSE(ParseProcStat("cpu -1 2 3 4 5\n").ok());
}

CpuTimes At(double wall, double busy, double self, int cpus = 2) {
  CpuTimes t;
  t.wall_s = wall;
  t.busy_s = busy;
  t.self_s = self;
  t.cpus = cpus;
  t.tick_s = 0.01;
  return t;
}

TEST(OutsideLoadTest, IsBusyTimeMinusOwnTimeOverWallTime) {
  // 2 s: 3 s busy in all, 1.8 s of it ours: 0.6 cores of outside load.
  EXPECT_NEAR(OutsideLoad(At(10, 100, 50), At(12, 103, 51.8)), 0.6, 1e-9);
  // Our own threads alone: no outside load, whatever their number.
  EXPECT_DOUBLE_EQ(OutsideLoad(At(10, 100, 50), At(12, 104, 54)), 0);
  // Ticks lag our precise own time: clamped at 0, and at the CPU count.
  EXPECT_DOUBLE_EQ(OutsideLoad(At(10, 100, 50), At(11, 100.5, 51)), 0);
  EXPECT_DOUBLE_EQ(OutsideLoad(At(10, 100, 50), At(11, 110, 50)), 2);
  // Out of order or empty intervals.
  EXPECT_EQ(OutsideLoad(At(10, 100, 50), At(10, 101, 50)), 0);
  EXPECT_EQ(OutsideLoad(At(10, 100, 50), At(9, 101, 50)), 0);
}

TEST(OutsideLoadTest, ExceedsOnlyBeyondTheTicksResolution) {
  // 1 s on 2 CPUs: the counters may be 2 ticks (0.02 s) off.
  EXPECT_TRUE(OutsideLoadExceeds(At(0, 0, 0), At(1, 0.28, 0), 0.25));
  EXPECT_FALSE(OutsideLoadExceeds(At(0, 0, 0), At(1, 0.26, 0), 0.25));
  EXPECT_FALSE(OutsideLoadExceeds(At(0, 0, 0), At(1, 0.2, 0), 0.25));
  // 20 ms: one tick of someone else's time looks like 0.5 cores, but two
  // ticks per interval is what the counters' resolution allows.
  EXPECT_FALSE(OutsideLoadExceeds(At(0, 0, 0), At(0.02, 0.01, 0), 0.25));
  EXPECT_TRUE(OutsideLoadExceeds(At(0, 0, 0), At(0.02, 0.04, 0.01), 0.25));
  EXPECT_FALSE(OutsideLoadExceeds(At(0, 0, 0), At(0, 5, 0), 0.25));
}

class SystemMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("qtune-monitor-test." + std::to_string(getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& path, const std::string& text) {
    fs::path p = root_ / path;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

  fs::path root_;
};

TEST_F(SystemMonitorTest, ReadsAFakeTree) {
  Write("proc/stat", kProcStat);
  Write("sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", "2400000\n");
  Write("sys/class/thermal/thermal_zone0/temp", "45000\n");
  Write("sys/class/thermal/thermal_zone1/temp", "61500\n");
  Write("sys/class/thermal/thermal_zone2/temp", "-273000\n");  // a placeholder
  Write("sys/class/thermal/thermal_zone3/temp", "garbage\n");
  std::unique_ptr<MachineMonitor> monitor = NewSystemMonitor(root_.string());
  std::optional<CpuTimes> t = monitor->ReadCpuTimes();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->cpus, 2);
  EXPECT_GT(t->tick_s, 0);
  EXPECT_NEAR(t->busy_s, 170 * t->tick_s, 1e-9);
  EXPECT_GE(t->self_s, 0);
  EXPECT_EQ(monitor->CpuMhz(1), 2400);
  EXPECT_EQ(monitor->CpuMhz(0), 0);   // no cpufreq there
  EXPECT_EQ(monitor->CpuMhz(-1), 0);  // sched_getcpu() failed
  EXPECT_DOUBLE_EQ(monitor->TemperatureC(), 61.5);
}

TEST_F(SystemMonitorTest, NothingReadableIsUnknown) {
  std::unique_ptr<MachineMonitor> monitor = NewSystemMonitor(root_.string());
  EXPECT_FALSE(monitor->ReadCpuTimes().has_value());
  EXPECT_EQ(monitor->CpuMhz(0), 0);
  EXPECT_EQ(monitor->TemperatureC(), 0);
}

#ifdef __linux__
TEST(SystemMonitorRealTest, ReadsThisMachine) {
  std::unique_ptr<MachineMonitor> monitor = NewSystemMonitor();
  std::optional<CpuTimes> before = monitor->ReadCpuTimes();
  ASSERT_TRUE(before.has_value());
  EXPECT_GE(before->cpus, 1);
  std::optional<CpuTimes> after = monitor->ReadCpuTimes();
  ASSERT_TRUE(after.has_value());
  EXPECT_GE(after->wall_s, before->wall_s);
  const double load = OutsideLoad(*before, *after);  // whatever it is
  EXPECT_GE(load, 0);
  EXPECT_LE(load, after->cpus);
  EXPECT_GE(monitor->CpuMhz(0), 0);
  EXPECT_GE(monitor->TemperatureC(), 0);
}
#endif

}  // namespace
}  // namespace qtune::agent
