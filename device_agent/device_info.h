// File: device_info.h
// What the agent reports about the CPU it runs on (proto DeviceInfo): ISA
// features, online cores, caches, a stable device key, the agent's version
// and build, and the kernel paths it can execute.
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

// Probes the host once per process and returns a copy of the result.
// Thread-safe.
proto::DeviceInfo ProbeDeviceInfo();

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

}  // namespace qtune::agent

#endif  // QTUNE_DEVICE_AGENT_DEVICE_INFO_H_
