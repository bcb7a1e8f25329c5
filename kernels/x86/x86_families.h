// File: x86_families.h (internal)
// The x86 JIT kernel families, one per kernel path:
//   "avx512vnni": int8 with vpdpbusd (zmm); fp32 only when the target does
//                 not also offer "avx512bw" (which owns the zmm fp32 kernels);
//   "avx512bw":   int8 with exact int16 vpmaddwd (zmm), fp32 zmm FMA;
//   "avx2":       int8 with exact int16 vpmaddwd (ymm), fp32 ymm FMA.
// Each is Available() only when the CPU has the instructions.
#ifndef QTUNE_KERNELS_X86_X86_FAMILIES_H_
#define QTUNE_KERNELS_X86_X86_FAMILIES_H_

#include <memory>

#include "kernels/src/kernel_family.h"

namespace qtune::kernels::internal {

std::unique_ptr<KernelFamily> MakeX86Avx512VnniFamily();
std::unique_ptr<KernelFamily> MakeX86Avx512BwFamily();
std::unique_ptr<KernelFamily> MakeX86Avx2Family();

}  // namespace qtune::kernels::internal

#endif  // QTUNE_KERNELS_X86_X86_FAMILIES_H_
