#include "device_agent/machine_monitor.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace qtune::agent {
namespace {

// Reads up to `limit` bytes of a small file (procfs and sysfs files are
// generated on read: one read() call returns what fits). False on error.
bool ReadSmallFile(const std::string& path, std::string* out, size_t limit) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->resize(limit);
  size_t got = 0;
  while (got < limit) {
    ssize_t n = read(fd, out->data() + got, limit - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  out->resize(got);
  return got > 0;
}

// The first number in a sysfs file, or nullopt.
std::optional<double> ReadNumber(const std::string& path) {
  std::string text;
  if (!ReadSmallFile(path, &text, 64)) return std::nullopt;
  double value = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(text), &value)) return std::nullopt;
  return value;
}

class SystemMonitor final : public MachineMonitor {
 public:
  explicit SystemMonitor(std::string root) : root_(std::move(root)) {
    long hz = sysconf(_SC_CLK_TCK);
    tick_s_ = hz > 0 ? 1.0 / static_cast<double>(hz) : 0.01;
    glob_t found{};
    const std::string pattern = root_ + "/sys/class/thermal/thermal_zone*/temp";
    if (glob(pattern.c_str(), 0, nullptr, &found) == 0) {
      for (size_t i = 0; i < found.gl_pathc; ++i) zones_.emplace_back(found.gl_pathv[i]);
    }
    globfree(&found);
  }

  std::optional<CpuTimes> ReadCpuTimes() override {
#ifdef __linux__
    CpuTimes t;
    t.wall_s = std::chrono::duration<double>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count();
    // The CPU lines come first; 64 KiB holds them for ~800 CPUs.
    if (!ReadSmallFile(root_ + "/proc/stat", &stat_text_, 64 << 10)) return std::nullopt;
    absl::StatusOr<ProcStatCpu> cpu = ParseProcStat(stat_text_);
    if (!cpu.ok() || cpu->cpus <= 0) return std::nullopt;
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) != 0) return std::nullopt;
    auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec * 1e-6; };
    t.busy_s = static_cast<double>(cpu->busy_ticks) * tick_s_;
    t.self_s = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    t.cpus = cpu->cpus;
    t.tick_s = tick_s_;
    return t;
#else
    return std::nullopt;
#endif
  }

  double CpuMhz(int cpu) override {
    if (cpu < 0) return 0;
    std::optional<double> khz = ReadNumber(
        absl::StrCat(root_, "/sys/devices/system/cpu/cpu", cpu, "/cpufreq/scaling_cur_freq"));
    return khz.has_value() && *khz > 0 ? *khz / 1000.0 : 0;
  }

  double TemperatureC() override {
    double hottest = 0;
    for (const std::string& zone : zones_) {
      std::optional<double> milli = ReadNumber(zone);
      // Some zones report 0 or negative placeholders; they are not readings.
      if (milli.has_value() && *milli > 0) hottest = std::max(hottest, *milli / 1000.0);
    }
    return hottest;
  }

 private:
  const std::string root_;
  double tick_s_ = 0.01;
  std::vector<std::string> zones_;
  std::string stat_text_;  // reused buffer
};

}  // namespace

double OutsideLoad(const CpuTimes& before, const CpuTimes& after) {
  const double wall = after.wall_s - before.wall_s;
  if (!(wall > 0) || after.cpus <= 0) return 0;
  const double outside = (after.busy_s - before.busy_s) - (after.self_s - before.self_s);
  return std::clamp(outside / wall, 0.0, static_cast<double>(after.cpus));
}

bool OutsideLoadExceeds(const CpuTimes& before, const CpuTimes& after, double threshold) {
  const double wall = after.wall_s - before.wall_s;
  if (!(wall > 0) || after.cpus <= 0) return false;
  const double outside = (after.busy_s - before.busy_s) - (after.self_s - before.self_s);
  return outside - after.cpus * after.tick_s > threshold * wall;
}

absl::StatusOr<ProcStatCpu> ParseProcStat(std::string_view text_in) {
  absl::string_view text(text_in.data(), text_in.size());
  ProcStatCpu result;
  bool have_total = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "cpu")) {
      if (have_total) break;  // past the CPU lines
      continue;
    }
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields[0] != "cpu") {
      ++result.cpus;  // "cpuN"
      continue;
    }
    // cpu user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already part of user (and guest_nice of nice).
    uint64_t v[8] = {};
    if (fields.size() < 5) return absl::InvalidArgumentError("/proc/stat: short cpu line");
    for (size_t i = 0; i < 8 && i + 1 < fields.size(); ++i) {
      if (!absl::SimpleAtoi(fields[i + 1], &v[i])) {
        return absl::InvalidArgumentError("/proc/stat: cpu line does not parse");
      }
    }
    result.busy_ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    have_total = true;
  }
  if (!have_total) return absl::InvalidArgumentError("/proc/stat: no cpu line");
  return result;
}

std::unique_ptr<MachineMonitor> NewSystemMonitor(std::string root) {
  return std::make_unique<SystemMonitor>(std::move(root));
}

}  // namespace qtune::agent
