// File: cpu_clusters.h (internal)
// The CPU clusters of an Arm device (big.LITTLE / DynamIQ): cores grouped by
// core type (/proc/cpuinfo "CPU implementer" + "CPU part") and maximum clock
// (cpufreq), biggest first. The ARM kernel families offer a `cluster` knob
// that pins their threads to one cluster (sched_setaffinity) when there are
// several. Parsing is separate from reading so that tests can feed text.
#ifndef QTUNE_KERNELS_ARM_CPU_CLUSTERS_H_
#define QTUNE_KERNELS_ARM_CPU_CLUSTERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace qtune::kernels::arm {

struct CpuCluster {
  std::string name;       // core type, e.g. "cortex-a76" (a label: unique in a list)
  std::vector<int> cpus;  // logical CPU numbers, ascending
  int64_t max_khz = 0;    // cpufreq maximum, 0 when unknown
};

// "cortex-a55" for (0x41, 0xd05); "arm-0x41-0xd4f"-style for unknown parts.
std::string ArmPartName(int implementer, int part);

// Clusters from the text of /proc/cpuinfo (one "processor" block per online
// CPU) and the per-CPU maximum clocks (may be empty). Biggest first: higher
// clock, then the order of the last CPU (little cores come first on phones).
// Clusters of the same core type but different clocks get "@<MHz>" labels.
// Without "CPU part" lines (e.g. emulation), one cluster of every processor,
// named "cpu".
std::vector<CpuCluster> ParseClusters(std::string_view proc_cpuinfo,
                                      const std::map<int, int64_t>& max_khz);

// The host's clusters (read once; thread-safe). The environment variable
// QTUNE_CPUINFO_PATH replaces /proc/cpuinfo (tests).
const std::vector<CpuCluster>& HostClusters();

}  // namespace qtune::kernels::arm

#endif  // QTUNE_KERNELS_ARM_CPU_CLUSTERS_H_
