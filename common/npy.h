// File: npy.h
// NumPy .npy files (format version 1.0-3.0) of little-endian float32, uint8
// or int8 arrays in C order: what `qtune run --input/--output` read and
// write, so that results compare with other runtimes (numpy.load/save).
//
//   ASSIGN_OR_RETURN(NpyArray x, ReadNpy("input.npy"));   // x.dtype == "<f4"
//   RETURN_IF_ERROR(WriteNpy("out.npy", {"<f4", {1, 1000}, bytes}));
//
// Thread-safety: free functions.
#ifndef QTUNE_COMMON_NPY_H_
#define QTUNE_COMMON_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qtune {

struct NpyArray {
  std::string dtype;            // "<f4", "|u1" or "|i1"
  std::vector<int64_t> shape;
  std::string data;             // the elements, C order, little-endian
};

// Bytes per element of a supported dtype; 0 for any other.
int NpyElementBytes(const std::string& dtype);

// NOT_FOUND for a missing file; INVALID_ARGUMENT, naming the file, for
// anything that is not such an array (bad magic, Fortran order, another
// dtype, a size that does not match the shape).
absl::StatusOr<NpyArray> ReadNpy(const std::string& path);
// INVALID_ARGUMENT when data does not match dtype and shape.
absl::Status WriteNpy(const std::string& path, const NpyArray& array);

}  // namespace qtune

#endif  // QTUNE_COMMON_NPY_H_
