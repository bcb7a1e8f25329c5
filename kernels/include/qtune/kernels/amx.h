// File: amx.h
// Whether this process can execute Intel AMX tile instructions (the int8
// matrix engine of Xeon Sapphire Rapids and later), and if not, why.
//
// Four conditions, checked in this order; the first that fails is the
// reason:
//   1. the CPU: CPUID.(EAX=7,ECX=0):EDX bit 24 (AMX-TILE) and bit 25
//      (AMX-INT8);
//   2. the OS: XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA) set (XGETBV), i.e.
//      the kernel saves tile state on context switches;
//   3. a tile palette: CPUID.(EAX=0x1D,ECX=0):EAX (the highest palette) >= 1.
//      Some hypervisors advertise AMX-TILE and then fault on its use;
//   4. permission for this process: Linux (>= 5.16) grants the large tile
//      state only on request, arch_prctl(ARCH_REQ_XCOMP_PERM,
//      XFEATURE_XTILEDATA). The permission is per process and exec clears
//      it, so every process that runs AMX code (the agent's re-executed
//      trial worker too) must ask itself; AmxSupportOfThisProcess() does.
// Each thread that runs tile code must also load its own tile
// configuration (LDTILECFG) and release it (TILERELEASE); that is the
// kernels' business, not this header's.
//
// No AMX kernel family exists yet (issue 13 waits for a host with AMX); the
// agent reports this status (DeviceInfo.amx, `qtune info`).
#ifndef QTUNE_KERNELS_AMX_H_
#define QTUNE_KERNELS_AMX_H_

#include <string>

namespace qtune::kernels {

// What ProbeAmx() read. Plain data, so that every reason can be tested.
struct AmxProbe {
  bool x86_64 = false;
  bool cpu_amx_tile = false;   // CPUID.7.0:EDX[24]
  bool cpu_amx_int8 = false;   // CPUID.7.0:EDX[25]
  bool os_tile_state = false;  // XCR0[17] and XCR0[18]
  int max_palette = 0;         // CPUID.0x1D.0:EAX
  // arch_prctl(ARCH_REQ_XCOMP_PERM)'s errno: 0 granted, -1 not asked (an
  // earlier condition failed).
  int permission_errno = -1;
};

struct AmxSupport {
  bool usable = false;
  std::string reason;  // one line, when !usable; e.g. "the CPU has no AMX-INT8 (...)"
};

// Reads the CPU and the OS, and asks for the tile permission when 1-3 hold.
// Asking twice is harmless. Thread-safe.
AmxProbe ProbeAmx();

// The verdict on a probe (pure).
AmxSupport EvaluateAmx(const AmxProbe& probe);

// EvaluateAmx(ProbeAmx()), probed once per process. Thread-safe.
const AmxSupport& AmxSupportOfThisProcess();

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_AMX_H_
