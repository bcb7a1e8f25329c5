#include "kernels/arm/cpu_clusters.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace qtune::kernels::arm {

std::string ArmPartName(int implementer, int part) {
  if (implementer == 0x41) {  // Arm Ltd.
    static const std::map<int, const char*>* parts = new std::map<int, const char*>{
        {0xd03, "cortex-a53"},  {0xd04, "cortex-a35"},  {0xd05, "cortex-a55"},
        {0xd07, "cortex-a57"},  {0xd08, "cortex-a72"},  {0xd09, "cortex-a73"},
        {0xd0a, "cortex-a75"},  {0xd0b, "cortex-a76"},  {0xd0c, "neoverse-n1"},
        {0xd0d, "cortex-a77"},  {0xd40, "neoverse-v1"}, {0xd41, "cortex-a78"},
        {0xd44, "cortex-x1"},   {0xd46, "cortex-a510"}, {0xd47, "cortex-a710"},
        {0xd48, "cortex-x2"},   {0xd49, "neoverse-n2"}, {0xd4d, "cortex-a715"},
        {0xd4e, "cortex-x3"},   {0xd4f, "neoverse-v2"}, {0xd80, "cortex-a520"},
        {0xd81, "cortex-a720"}, {0xd82, "cortex-x4"},
    };
    auto it = parts->find(part);
    if (it != parts->end()) return it->second;
  }
  char buf[48];
  std::snprintf(buf, sizeof(buf), "arm-0x%02x-0x%03x", implementer, part);
  return buf;
}

std::vector<CpuCluster> ParseClusters(std::string_view proc_cpuinfo,
                                      const std::map<int, int64_t>& max_khz) {
  // Per CPU: its core type ("" when /proc/cpuinfo has no part number).
  std::map<int, std::string> type;
  int cpu = -1, implementer = -1;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(proc_cpuinfo.data(), proc_cpuinfo.size()), '\n')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    const absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    const absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    int number = 0;
    if (key == "processor" && absl::SimpleAtoi(value, &number)) {
      cpu = number;
      implementer = -1;
      type[cpu];
    } else if (key == "CPU implementer" && absl::SimpleHexAtoi(value, &number)) {
      implementer = number;
    } else if (key == "CPU part" && cpu >= 0 && implementer >= 0 &&
               absl::SimpleHexAtoi(value, &number)) {
      type[cpu] = ArmPartName(implementer, number);
    }
  }
  // Group by (type, clock).
  std::map<std::pair<std::string, int64_t>, CpuCluster> groups;
  for (const auto& [c, name] : type) {
    auto f = max_khz.find(c);
    const int64_t khz = f == max_khz.end() ? 0 : f->second;
    CpuCluster& g = groups[{name, khz}];
    g.name = name.empty() ? "cpu" : name;
    g.max_khz = khz;
    g.cpus.push_back(c);
  }
  std::vector<CpuCluster> clusters;
  for (auto& [key, g] : groups) clusters.push_back(std::move(g));
  std::sort(clusters.begin(), clusters.end(), [](const CpuCluster& a, const CpuCluster& b) {
    return std::make_tuple(a.max_khz, a.cpus.back()) > std::make_tuple(b.max_khz, b.cpus.back());
  });
  for (CpuCluster& c : clusters) {
    const int same = static_cast<int>(std::count_if(
        clusters.begin(), clusters.end(), [&](const CpuCluster& o) { return o.name == c.name; }));
    if (same > 1 && c.max_khz > 0) c.name = absl::StrCat(c.name, "@", c.max_khz / 1000);
  }
  return clusters;
}

const std::vector<CpuCluster>& HostClusters() {
  static const std::vector<CpuCluster>* clusters = [] {
    // QTUNE_CPUINFO_PATH: a stand-in for /proc/cpuinfo (tests of the
    // cluster knob on a machine without clusters).
    const char* path = std::getenv("QTUNE_CPUINFO_PATH");
    std::ifstream in(path != nullptr && *path != '\0' ? path : "/proc/cpuinfo");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::map<int, int64_t> khz;
    for (int cpu = 0; cpu < 1024; ++cpu) {
      std::ifstream f(absl::StrCat("/sys/devices/system/cpu/cpu", cpu,
                                   "/cpufreq/cpuinfo_max_freq"));
      int64_t value = 0;
      if (!(f >> value)) {
        if (cpu > 64) break;
        continue;
      }
      khz[cpu] = value;
    }
    return new std::vector<CpuCluster>(ParseClusters(text, khz));
  }();
  return *clusters;
}

}  // namespace qtune::kernels::arm
