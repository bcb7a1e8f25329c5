// File: machine_monitor.h
// What the worker reads about the machine around a trial's timed runs: CPU
// time counters, from which the load of other processes follows (the trial
// runner times again when it is too high, docs/agent.md "Outside load"), the
// current frequency of the core that ran the trial, and the hottest thermal
// zone. Behind an interface so that tests inject readings: no test may depend
// on the real machine's load.
#ifndef QTUNE_DEVICE_AGENT_MACHINE_MONITOR_H_
#define QTUNE_DEVICE_AGENT_MACHINE_MONITOR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace qtune::agent {

// CPU time counters at one instant; all times in seconds.
struct CpuTimes {
  double wall_s = 0;  // a monotonic clock
  // Summed over the online CPUs: time not idle (user, nice, system, irq,
  // softirq, steal; iowait counts as idle), by anyone.
  double busy_s = 0;
  // CPU time of this process (user + system, all its threads).
  double self_s = 0;
  int cpus = 0;         // CPUs summed in busy_s
  double tick_s = 0.01; // resolution of each CPU's counters (USER_HZ ticks)
};

// Load from other processes between two readings, in cores: the busy time of
// all CPUs minus this process's own CPU time, divided by the wall time between
// the readings, within [0, cpus] (0.5 = half of one core's time). 0 when the
// readings are out of order or the interval is empty. A best estimate: each
// CPU's counters move in whole ticks, so short intervals are coarse.
double OutsideLoad(const CpuTimes& before, const CpuTimes& after);

// True when the outside load between the readings exceeds `threshold` (in
// cores) by more than the counters' resolution can explain, i.e. when
//   busy - self - cpus * tick_s > threshold * wall.
// An interval too short to tell is never disturbed.
bool OutsideLoadExceeds(const CpuTimes& before, const CpuTimes& after, double threshold);

// Not thread-safe: one reader (the trial runner).
class MachineMonitor {
 public:
  virtual ~MachineMonitor() = default;
  // The counters now; nullopt when they cannot be read.
  virtual std::optional<CpuTimes> ReadCpuTimes() = 0;
  // Current frequency of CPU `cpu` in MHz; 0 when unknown.
  virtual double CpuMhz(int cpu) = 0;
  // Temperature of the hottest thermal zone in degrees Celsius; 0 when none
  // can be read.
  virtual double TemperatureC() = 0;
};

// The Linux implementation: /proc/stat (busy time), getrusage (own time),
// /sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq (kHz) and
// /sys/class/thermal/thermal_zone*/temp (millidegrees; the list of zones is
// read once, at construction). `root` prefixes the /proc and /sys paths (tests
// point it at a fake tree); "" is the real root. Each reading costs tens of
// microseconds. On other systems every reading is unknown.
std::unique_ptr<MachineMonitor> NewSystemMonitor(std::string root = "");

// The CPU lines of /proc/stat: the busy ticks of the "cpu" (all CPUs) line
// (user + nice + system + irq + softirq + steal) and the number of "cpuN"
// lines. INVALID_ARGUMENT when there is no "cpu" line or it does not parse.
struct ProcStatCpu {
  uint64_t busy_ticks = 0;
  int cpus = 0;
};
absl::StatusOr<ProcStatCpu> ParseProcStat(std::string_view text);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_MACHINE_MONITOR_H_
