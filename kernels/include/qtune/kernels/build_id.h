// File: build_id.h
// The identity of the kernels compiled into this binary.
//
// KernelBuildId() is "<version>-<12 hex digits>", e.g. "0.1.0-3f9a2c01b7de":
// a digest, taken at build time, of every source under kernels/ (generators,
// packing, reference, verification), of the agent's trial protocol and
// measurement sources, of the project version, and of the compiler, its
// flags and the target architecture. Two binaries with the same id run and
// time every config the same way; any change to those sources gives a new id,
// and the tuning database keeps the trials of different ids apart.
#ifndef QTUNE_KERNELS_BUILD_ID_H_
#define QTUNE_KERNELS_BUILD_ID_H_

#include <string_view>

namespace qtune::kernels {

// Static storage; never empty.
std::string_view KernelBuildId();

}  // namespace qtune::kernels

#endif  // QTUNE_KERNELS_BUILD_ID_H_
