#include "qtune/kernels/amx.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace qtune::kernels {
namespace {

#if defined(__x86_64__)
// Linux's arch_prctl codes (asm/prctl.h) and the XTILEDATA state component.
constexpr int kArchReqXcompPerm = 0x1023;
constexpr int kXfeatureXtiledata = 18;

bool OsXsaveEnabled() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c & (1u << 27)) != 0;  // OSXSAVE: XGETBV is available
}

unsigned long long Xcr0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}
#endif

}  // namespace

AmxProbe ProbeAmx() {
  AmxProbe p;
#if defined(__x86_64__)
  p.x86_64 = true;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    p.cpu_amx_tile = (d & (1u << 24)) != 0;
    p.cpu_amx_int8 = (d & (1u << 25)) != 0;
  }
  if (!p.cpu_amx_tile || !p.cpu_amx_int8) return p;
  if (OsXsaveEnabled()) {
    const unsigned long long xcr0 = Xcr0();
    p.os_tile_state = (xcr0 & (1ull << 17)) != 0 && (xcr0 & (1ull << 18)) != 0;
  }
  if (!p.os_tile_state) return p;
  if (__get_cpuid_count(0x1d, 0, &a, &b, &c, &d)) p.max_palette = static_cast<int>(a);
  if (p.max_palette < 1) return p;
  p.permission_errno =
      syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0 ? 0 : errno;
#endif
  return p;
}

AmxSupport EvaluateAmx(const AmxProbe& p) {
  AmxSupport s;
  if (!p.x86_64) {
    s.reason = "not an x86-64 CPU";
  } else if (!p.cpu_amx_tile || !p.cpu_amx_int8) {
    s.reason = absl::StrCat("the CPU has no AMX-", !p.cpu_amx_tile ? "TILE" : "INT8",
                            " (CPUID.7.0:EDX bit ", !p.cpu_amx_tile ? 24 : 25, " clear)");
  } else if (!p.os_tile_state) {
    s.reason = "the OS has not enabled AMX tile state (XCR0 bits 17/18 clear)";
  } else if (p.max_palette < 1) {
    s.reason =
        "CPUID leaf 0x1D lists no tile palette (AMX advertised but not provided, as under "
        "some hypervisors)";
  } else if (p.permission_errno != 0) {
    s.reason = absl::StrCat("the kernel refused AMX tile permission: arch_prctl(ARCH_REQ_XCOMP_PERM): ",
                            p.permission_errno > 0 ? std::strerror(p.permission_errno)
                                                   : "not requested");
  } else {
    s.usable = true;
  }
  return s;
}

const AmxSupport& AmxSupportOfThisProcess() {
  static const AmxSupport support = EvaluateAmx(ProbeAmx());
  return support;
}

}  // namespace qtune::kernels
