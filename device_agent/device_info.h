// File: device_info.h
// What the agent reports about the CPU it runs on (proto DeviceInfo): ISA
// features, online cores, caches, the measured core clock, a stable device
// key, the agent's version and build, and the kernel paths it can execute.
//
// Sources: cpuinfo on x86_64 (plus cpuid for AVX-VNNI, which the pinned
// cpuinfo predates); getauxval(AT_HWCAP/AT_HWCAP2) and /proc/cpuinfo on
// aarch64. Caches fall back to sysfs and then to sysconf when the primary
// source has none (common in VMs).
#ifndef QTUNE_DEVICE_AGENT_DEVICE_INFO_H_
#define QTUNE_DEVICE_AGENT_DEVICE_INFO_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/qtune.pb.h"

namespace qtune::agent {

// Whether ProbeDeviceInfo fills DeviceInfo.clock_ghz.
enum class ClockProbe {
  kMeasure,  // MeasureClockGhz() once per process (~100 ms on the first call)
  kSkip,     // clock_ghz = 0; for processes that must start fast (trial workers)
};

// Probes the host once per process and returns a copy of the result.
// Thread-safe.
proto::DeviceInfo ProbeDeviceInfo(ClockProbe clock = ClockProbe::kMeasure);

// The sustained clock of the calling thread's core in GHz: a chain of
// dependent single-cycle integer adds (one register, 32 per loop iteration)
// timed with steady_clock, after a ~20 ms warm-up spin, best (highest) of 5
// samples of ~15 ms each; under 150 ms in total. Returns 0 on architectures
// other than x86_64 and aarch64, or when the result is outside [0.2, 10] GHz
// (e.g. a starved or emulated CPU). Never negative or non-finite. Busy-spins
// one core; call it when the process is otherwise idle.
double MeasureClockGhz();

// "qtune-agent"'s version (the CMake project version) and the git revision
// the binary was built from ("unknown" outside a git checkout).
std::string_view AgentVersion();
std::string_view BuildId();

// Lower-cases `text` and maps every run of characters outside [a-z0-9] to a
// single '-', without leading or trailing '-'. Empty input gives "unknown".
std::string SanitizeKeyPart(std::string_view text);

// "<arch>/<isa_level>/<sanitised cpu name>/<cores>c", e.g.
// "x86_64/avx512_vnni/amd-epyc-9b14/2c". `isa_level` is used verbatim (it
// comes from a fixed vocabulary, see IsaLevel()).
std::string MakeDeviceKey(std::string_view arch, std::string_view isa_level,
                          std::string_view cpu_name, int cores);

// The most capable int8-relevant ISA level among `features` (names as in
// DeviceInfo.isa_features): x86_64: "avx512_vnni", "avx512bw", "avx_vnni",
// "avx2", else "sse"; aarch64: '+'-joined subset of "dotprod", "i8mm", "sve"
// in that order, else "neon".
std::string IsaLevel(std::string_view arch, const std::vector<std::string>& features);

// Size in bytes of the largest cache in `info` (0 when none is known).
int64_t LastLevelCacheBytes(const proto::DeviceInfo& info);

// What an operator should know about this platform, one line, or empty:
// on aarch64, the kernel paths the CPU lacks and why (e.g. "neondot (no
// asimddp)"), a refused executable-memory mapping ("no_execmem" in
// isa_features), and emulation (cpu_name "qemu-user (...)").
std::string PlatformNote(const proto::DeviceInfo& info);

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_DEVICE_INFO_H_
