#include "device_agent/device_info.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "qtune/kernels/amx.h"
#include "qtune/kernels/build_id.h"
#include "qtune/kernels/kernel.h"

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(QTUNE_HAVE_CPUINFO)
#include <cpuinfo.h>
#endif
#elif defined(__aarch64__)
#include <sys/auxv.h>
#include <sys/mman.h>

#include <cstdlib>
#include <iterator>

#include "absl/strings/match.h"
#include "kernels/arm/arm_families.h"
#include "kernels/arm/cpu_clusters.h"
#endif

#ifndef QTUNE_VERSION
#define QTUNE_VERSION "0.0.0"
#endif
#ifndef QTUNE_GIT_REV
#define QTUNE_GIT_REV "unknown"
#endif

namespace qtune::agent {
namespace {

int OnlineCpus() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::string ReadFileTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return std::string(absl::StripAsciiWhitespace(text));
}

// Number of CPUs in a sysfs list such as "0-3,6".
int CountCpuList(const std::string& list) {
  int count = 0;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    std::vector<std::string> range = absl::StrSplit(part, '-');
    int lo = 0, hi = 0;
    if (range.size() == 1 && absl::SimpleAtoi(range[0], &lo)) {
      ++count;
    } else if (range.size() == 2 && absl::SimpleAtoi(range[0], &lo) &&
               absl::SimpleAtoi(range[1], &hi) && hi >= lo) {
      count += hi - lo + 1;
    }
  }
  return count;
}

// "48K", "1024K", "32M" -> bytes.
int64_t ParseCacheSize(const std::string& text) {
  if (text.empty()) return 0;
  int64_t scale = 1;
  std::string digits = text;
  switch (std::toupper(static_cast<unsigned char>(digits.back()))) {
    case 'K': scale = 1024; digits.pop_back(); break;
    case 'M': scale = 1024 * 1024; digits.pop_back(); break;
    case 'G': scale = int64_t{1024} * 1024 * 1024; digits.pop_back(); break;
    default: break;
  }
  int64_t value = 0;
  return absl::SimpleAtoi(digits, &value) ? value * scale : 0;
}

// Data and unified caches of cpu0 from sysfs, one entry per level.
std::vector<proto::CacheLevel> CachesFromSysfs() {
  std::map<int, proto::CacheLevel> by_level;
  for (int index = 0; index < 16; ++index) {
    std::string dir = absl::StrCat("/sys/devices/system/cpu/cpu0/cache/index", index, "/");
    std::string type = ReadFileTrimmed(dir + "type");
    if (type.empty()) break;
    if (type == "Instruction") continue;
    int level = 0;
    if (!absl::SimpleAtoi(ReadFileTrimmed(dir + "level"), &level) || level <= 0) continue;
    proto::CacheLevel cache;
    cache.set_level(level);
    cache.set_size_bytes(ParseCacheSize(ReadFileTrimmed(dir + "size")));
    cache.set_shared_by_cores(std::max(1, CountCpuList(ReadFileTrimmed(dir + "shared_cpu_list"))));
    if (cache.size_bytes() > 0) by_level[level] = cache;
  }
  std::vector<proto::CacheLevel> out;
  for (auto& [level, cache] : by_level) out.push_back(cache);
  return out;
}

// Last resort (glibc reads cpuid): sizes only. Sharing is not reported
// there; L1/L2 are assumed private and L3 shared by every online CPU.
std::vector<proto::CacheLevel> CachesFromSysconf(int cores) {
  std::vector<proto::CacheLevel> out;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  const int names[3] = {_SC_LEVEL1_DCACHE_SIZE, _SC_LEVEL2_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE};
  for (int level = 1; level <= 3; ++level) {
    long size = sysconf(names[level - 1]);
    if (size <= 0) continue;
    proto::CacheLevel cache;
    cache.set_level(level);
    cache.set_size_bytes(size);
    cache.set_shared_by_cores(level == 3 ? cores : 1);
    out.push_back(cache);
  }
#endif
  return out;
}

#if defined(__x86_64__)

bool HasAvxVnni() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
  return (eax >> 4) & 1;  // CPUID.(EAX=7,ECX=1):EAX[4] = AVX-VNNI
}

std::string CpuBrandFromCpuid() {
  unsigned regs[12] = {};
  unsigned max_ext = __get_cpuid_max(0x80000000, nullptr);
  if (max_ext < 0x80000004) return "";
  for (unsigned i = 0; i < 3; ++i) {
    __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2],
                &regs[4 * i + 3]);
  }
  std::string brand(reinterpret_cast<const char*>(regs), sizeof(regs));
  brand.resize(std::strlen(brand.c_str()));
  return std::string(absl::StripAsciiWhitespace(brand));
}

void ProbeArch(proto::DeviceInfo& info) {
  info.set_arch("x86_64");
  std::vector<std::string> features;
#if defined(QTUNE_HAVE_CPUINFO)
  bool cpuinfo_ok = cpuinfo_initialize();
  if (cpuinfo_ok) {
    const std::pair<bool, const char*> flags[] = {
        {cpuinfo_has_x86_sse4_1(), "sse4_1"},
        {cpuinfo_has_x86_sse4_2(), "sse4_2"},
        {cpuinfo_has_x86_avx(), "avx"},
        {cpuinfo_has_x86_f16c(), "f16c"},
        {cpuinfo_has_x86_fma3(), "fma"},
        {cpuinfo_has_x86_avx2(), "avx2"},
        {cpuinfo_has_x86_avx512f(), "avx512f"},
        {cpuinfo_has_x86_avx512cd(), "avx512cd"},
        {cpuinfo_has_x86_avx512dq(), "avx512dq"},
        {cpuinfo_has_x86_avx512bw(), "avx512bw"},
        {cpuinfo_has_x86_avx512vl(), "avx512vl"},
        {cpuinfo_has_x86_avx512vbmi(), "avx512vbmi"},
        {cpuinfo_has_x86_avx512vnni(), "avx512_vnni"},
        {cpuinfo_has_x86_avx512bf16(), "avx512_bf16"},
    };
    for (const auto& [present, name] : flags) {
      if (present) features.push_back(name);
    }
    if (cpuinfo_has_x86_avx2() && HasAvxVnni()) features.push_back("avx_vnni");
    const cpuinfo_package* package = cpuinfo_get_package(0);
    if (package != nullptr) info.set_cpu_name(package->name);

    const std::pair<int, std::pair<uint32_t, const cpuinfo_cache*>> levels[] = {
        {1, {cpuinfo_get_l1d_caches_count(), cpuinfo_get_l1d_caches()}},
        {2, {cpuinfo_get_l2_caches_count(), cpuinfo_get_l2_caches()}},
        {3, {cpuinfo_get_l3_caches_count(), cpuinfo_get_l3_caches()}},
    };
    for (const auto& [level, entry] : levels) {
      const auto& [count, caches] = entry;
      if (count == 0 || caches == nullptr || caches[0].size == 0) continue;
      proto::CacheLevel* cache = info.add_caches();
      cache->set_level(level);
      cache->set_size_bytes(caches[0].size);
      cache->set_shared_by_cores(static_cast<int>(std::max<uint32_t>(1, caches[0].processor_count)));
    }
  }
#endif
  if (features.empty()) {
    // No cpuinfo: the compiler's cpuid helpers cover the flags that matter.
    __builtin_cpu_init();
    const std::pair<bool, const char*> flags[] = {
        {__builtin_cpu_supports("sse4.1") != 0, "sse4_1"},
        {__builtin_cpu_supports("sse4.2") != 0, "sse4_2"},
        {__builtin_cpu_supports("avx") != 0, "avx"},
        {__builtin_cpu_supports("fma") != 0, "fma"},
        {__builtin_cpu_supports("avx2") != 0, "avx2"},
        {__builtin_cpu_supports("avx512f") != 0, "avx512f"},
        {__builtin_cpu_supports("avx512cd") != 0, "avx512cd"},
        {__builtin_cpu_supports("avx512dq") != 0, "avx512dq"},
        {__builtin_cpu_supports("avx512bw") != 0, "avx512bw"},
        {__builtin_cpu_supports("avx512vl") != 0, "avx512vl"},
        {__builtin_cpu_supports("avx512vbmi") != 0, "avx512vbmi"},
        {__builtin_cpu_supports("avx512vnni") != 0, "avx512_vnni"},
    };
    for (const auto& [present, name] : flags) {
      if (present) features.push_back(name);
    }
    if (__builtin_cpu_supports("avx2") && HasAvxVnni()) features.push_back("avx_vnni");
  }
  if (info.cpu_name().empty()) info.set_cpu_name(CpuBrandFromCpuid());
  for (std::string& f : features) info.add_isa_features(std::move(f));
}

#elif defined(__aarch64__)

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1UL << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1UL << 22)
#endif
#ifndef HWCAP2_SVE2
#define HWCAP2_SVE2 (1UL << 1)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1UL << 14)
#endif

std::string ReadProcCpuinfo() {
  std::ifstream in("/proc/cpuinfo");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The SoC and its core types, biggest cluster first, e.g. "gs101
// cortex-x1+cortex-a76+cortex-a55". Under qemu-user /proc/cpuinfo is the
// host's (no Arm part numbers): "qemu-user (<host model>)".
std::string ArmCpuName() {
  const std::string cpuinfo = ReadProcCpuinfo();
  std::string model_name, hardware;
  for (absl::string_view line : absl::StrSplit(cpuinfo, '\n')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, absl::MaxSplits(':', 1));
    const absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    if (key == "model name" && model_name.empty()) {
      model_name = std::string(absl::StripAsciiWhitespace(kv.second));
    } else if (key == "Hardware" && hardware.empty()) {
      hardware = std::string(absl::StripAsciiWhitespace(kv.second));
    }
  }
  std::vector<std::string> types;
  for (const kernels::arm::CpuCluster& c : kernels::arm::HostClusters()) {
    std::string type = c.name.substr(0, c.name.find('@'));
    if (type != "cpu" && std::find(types.begin(), types.end(), type) == types.end()) {
      types.push_back(std::move(type));
    }
  }
  if (types.empty()) {
    if (absl::StrContains(cpuinfo, "vendor_id")) {
      return absl::StrCat("qemu-user (", model_name.empty() ? "x86_64" : model_name, ")");
    }
    return model_name;
  }
  std::string soc = ReadFileTrimmed("/sys/devices/soc0/machine");
  if (soc.empty()) soc = hardware;
  const std::string cores = absl::StrJoin(types, "+");
  return soc.empty() ? cores : absl::StrCat(soc, " ", cores);
}

// Whether this process may map anonymous memory executable (Android's
// SELinux policy for `adb shell` processes may refuse it: execmem). The ARM
// kernels are compiled ahead of time and need none; the answer is reported.
// QTUNE_ASSUME_NO_EXECMEM=1 simulates a refusal (tests).
bool AnonymousExecAllowed() {
  if (const char* env = std::getenv("QTUNE_ASSUME_NO_EXECMEM"); env != nullptr && *env == '1') {
    return false;
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = mprotect(p, page, PROT_READ | PROT_EXEC) == 0;
  munmap(p, page);
  return ok;
}

void ProbeArch(proto::DeviceInfo& info) {
  info.set_arch("aarch64");
  unsigned long hwcap = getauxval(AT_HWCAP);
  unsigned long hwcap2 = getauxval(AT_HWCAP2);
  const std::pair<bool, const char*> flags[] = {
      {(hwcap & HWCAP_ASIMD) != 0, "asimd"},
      {(hwcap & HWCAP_ASIMDHP) != 0, "fp16"},
      {(hwcap & HWCAP_ASIMDDP) != 0, "dotprod"},
      {(hwcap2 & HWCAP2_I8MM) != 0, "i8mm"},
      {(hwcap2 & HWCAP2_BF16) != 0, "bf16"},
      {(hwcap & HWCAP_SVE) != 0, "sve"},
      {(hwcap2 & HWCAP2_SVE2) != 0, "sve2"},
  };
  for (const auto& [present, name] : flags) {
    if (present) info.add_isa_features(name);
  }
  if (!AnonymousExecAllowed()) info.add_isa_features("no_execmem");
  info.set_cpu_name(ArmCpuName());
}

#else

void ProbeArch(proto::DeviceInfo& info) {
#if defined(__riscv)
  info.set_arch("riscv64");
#else
  info.set_arch("unknown");
#endif
}

#endif

// Runs `iterations` x 32 dependent adds on one register. The source operand
// is a register, not an immediate, so a renamer that folds add-immediate
// chains cannot shorten the chain below one add per cycle.
[[maybe_unused]] void AddChain(int64_t iterations) {
  uint64_t value = 0;
  const uint64_t one = 1;
  for (int64_t i = 0; i < iterations; ++i) {
#if defined(__x86_64__)
    asm volatile(".rept 32\n\tadd %1, %0\n\t.endr" : "+r"(value) : "r"(one));
#elif defined(__aarch64__)
    asm volatile(".rept 32\n\tadd %0, %0, %1\n\t.endr" : "+r"(value) : "r"(one));
#endif
  }
}

proto::DeviceInfo Probe() {
  proto::DeviceInfo info;
  ProbeArch(info);
  int cores = OnlineCpus();
  info.set_cores(cores);
  if (info.caches().empty()) {
    std::vector<proto::CacheLevel> caches = CachesFromSysfs();
    if (caches.empty()) caches = CachesFromSysconf(cores);
    for (proto::CacheLevel& c : caches) *info.add_caches() = std::move(c);
  }
  if (info.cpu_name().empty()) info.set_cpu_name("unknown");
  std::vector<std::string> features(info.isa_features().begin(), info.isa_features().end());
  info.set_device_key(
      MakeDeviceKey(info.arch(), IsaLevel(info.arch(), features), info.cpu_name(), cores));
  info.set_agent_version(std::string(AgentVersion()));
  info.set_build_id(std::string(BuildId()));
  info.set_kernel_build_id(std::string(kernels::KernelBuildId()));
  for (const std::string& path : kernels::HostTarget().paths) info.add_kernel_paths(path);
  const kernels::AmxSupport& amx = kernels::AmxSupportOfThisProcess();
  info.set_amx(amx.usable ? "usable" : absl::StrCat("unavailable: ", amx.reason));
  return info;
}

}  // namespace

proto::DeviceInfo ProbeDeviceInfo(ClockProbe clock) {
  static const proto::DeviceInfo* const info = new proto::DeviceInfo(Probe());
  proto::DeviceInfo out = *info;
  if (clock == ClockProbe::kMeasure) {
    static const double clock_ghz = MeasureClockGhz();
    out.set_clock_ghz(clock_ghz);
  }
  return out;
}

double MeasureClockGhz() {
#if defined(__x86_64__) || defined(__aarch64__)
  constexpr int kAddsPerIteration = 32;
  constexpr double kWarmupSeconds = 0.020;
  constexpr double kSampleSeconds = 0.015;
  constexpr int kSamples = 5;
  auto seconds_of = [](int64_t iterations) {
    const auto start = std::chrono::steady_clock::now();
    AddChain(iterations);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Warm-up: spin until the core has ramped up, doubling the run length until
  // one run takes >= 2 ms, which then sizes the samples.
  int64_t iterations = 1024;
  double last = 0;
  for (double spun = 0; spun < kWarmupSeconds; spun += last) {
    last = seconds_of(iterations);
    if (last < 0.002) iterations *= 2;
  }
  const int64_t per_sample = std::max<int64_t>(
      1024, static_cast<int64_t>(static_cast<double>(iterations) * kSampleSeconds /
                                 std::max(last, 1e-6)));
  double best_ghz = 0;
  for (int sample = 0; sample < kSamples; ++sample) {
    const double seconds = seconds_of(per_sample);
    if (!(seconds > 0)) continue;
    const double ghz =
        static_cast<double>(per_sample) * kAddsPerIteration / seconds * 1e-9;
    best_ghz = std::max(best_ghz, ghz);
  }
  if (!std::isfinite(best_ghz) || best_ghz < 0.2 || best_ghz > 10) return 0;
  return best_ghz;
#else
  return 0;
#endif
}

std::string_view AgentVersion() { return QTUNE_VERSION; }
std::string_view BuildId() { return QTUNE_GIT_REV; }

std::string SanitizeKeyPart(std::string_view text) {
  std::string out;
  bool pending_dash = false;
  for (char raw : text) {
    char ch = absl::ascii_tolower(static_cast<unsigned char>(raw));
    if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
      if (pending_dash && !out.empty()) out.push_back('-');
      pending_dash = false;
      out.push_back(ch);
    } else {
      pending_dash = true;
    }
  }
  return out.empty() ? "unknown" : out;
}

std::string MakeDeviceKey(std::string_view arch, std::string_view isa_level,
                          std::string_view cpu_name, int cores) {
  return absl::StrCat(absl::string_view(arch.data(), arch.size()), "/",
                      absl::string_view(isa_level.data(), isa_level.size()), "/",
                      SanitizeKeyPart(cpu_name), "/", cores, "c");
}

std::string IsaLevel(std::string_view arch, const std::vector<std::string>& features) {
  auto has = [&](std::string_view name) {
    return std::find(features.begin(), features.end(), name) != features.end();
  };
  if (arch == "aarch64") {
    std::vector<std::string> parts;
    for (const char* f : {"dotprod", "i8mm", "sve"}) {
      if (has(f)) parts.push_back(f);
    }
    return parts.empty() ? "neon" : absl::StrJoin(parts, "+");
  }
  if (arch == "x86_64") {
    for (const char* f : {"avx512_vnni", "avx512bw", "avx_vnni", "avx2"}) {
      if (has(f)) return f;
    }
    return "sse";
  }
  return "generic";
}

int64_t LastLevelCacheBytes(const proto::DeviceInfo& info) {
  int best_level = 0;
  int64_t bytes = 0;
  for (const proto::CacheLevel& cache : info.caches()) {
    if (cache.level() > best_level || (cache.level() == best_level && cache.size_bytes() > bytes)) {
      best_level = cache.level();
      bytes = cache.size_bytes();
    }
  }
  return bytes;
}

}  // namespace qtune::agent

namespace qtune::agent {

std::string PlatformNote(const proto::DeviceInfo& info) {
  std::vector<std::string> notes;
#if defined(__aarch64__)
  const std::string missing = kernels::arm::MissingPaths();
  if (!missing.empty()) {
    notes.push_back(absl::StrCat("kernel paths missing on this CPU: ", missing, "; using ",
                                 absl::StrJoin(info.kernel_paths(), ", ")));
  }
  const auto& features = info.isa_features();
  if (std::find(features.begin(), features.end(), "no_execmem") != features.end()) {
    notes.push_back(
        "anonymous executable memory is refused (no effect: the ARM kernels are compiled ahead "
        "of time)");
  }
  if (absl::StartsWith(info.cpu_name(), "qemu-user")) {
    notes.push_back("running under emulation (qemu-user): timings are meaningless");
  }
#endif
  return absl::StrJoin(notes, "; ");
}

}  // namespace qtune::agent
