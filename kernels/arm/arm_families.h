// File: arm_families.h (internal)
// The AArch64 kernel families, best first: "arm_neoni8mm" (int8 by smmla,
// path neoni8mm), "arm_neondot" (int8 by sdot, path neondot) and "arm_neon"
// (int8 by 16-bit widening and fp32 by fmla, path neon). A family is
// available when getauxval(AT_HWCAP/AT_HWCAP2) reports its feature.
#ifndef QTUNE_KERNELS_ARM_ARM_FAMILIES_H_
#define QTUNE_KERNELS_ARM_ARM_FAMILIES_H_

#include <memory>
#include <string>

#include "kernels/src/kernel_family.h"

namespace qtune::kernels::internal {

std::unique_ptr<KernelFamily> MakeArmNeonI8mmFamily();
std::unique_ptr<KernelFamily> MakeArmNeonDotFamily();
std::unique_ptr<KernelFamily> MakeArmNeonFamily();

}  // namespace qtune::kernels::internal

namespace qtune::kernels::arm {

// The ARM kernel paths this CPU cannot run and why, e.g.
// "neoni8mm (no i8mm), neondot (no asimddp)"; empty when all can run.
std::string MissingPaths();

}  // namespace qtune::kernels::arm

#endif  // QTUNE_KERNELS_ARM_ARM_FAMILIES_H_
