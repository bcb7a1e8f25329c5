#include "common/npy.h"

#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace qtune {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMaxHeaderBytes = 1 << 16;

// The value of 'key' in the header dict, e.g. "'<f4'" or "(1, 3)".
bool HeaderValue(const std::string& header, const std::string& key, std::string* value) {
  const std::string quoted = absl::StrCat("'", key, "':");
  size_t at = header.find(quoted);
  if (at == std::string::npos) return false;
  at += quoted.size();
  while (at < header.size() && header[at] == ' ') ++at;
  size_t end = at;
  if (at < header.size() && header[at] == '(') {
    end = header.find(')', at);
    if (end == std::string::npos) return false;
    ++end;
  } else {
    end = header.find_first_of(",}", at);
    if (end == std::string::npos) return false;
  }
  *value = header.substr(at, end - at);
  return true;
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

int NpyElementBytes(const std::string& dtype) {
  if (dtype == "<f4") return 4;
  if (dtype == "|u1" || dtype == "|i1") return 1;
  return 0;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a usable .npy file: ", why));
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0) return bad("no NUMPY magic");
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, header_at = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
    header_at = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad("truncated header");
    header_len = 0;
    for (int i = 3; i >= 0; --i) header_len = header_len << 8 | static_cast<uint8_t>(bytes[8 + i]);
    header_at = 12;
  } else {
    return bad(absl::StrCat("format version ", major));
  }
  if (header_len > kMaxHeaderBytes || header_at + header_len > bytes.size()) {
    return bad("truncated header");
  }
  const std::string header = bytes.substr(header_at, header_len);
  std::string descr, order, shape_text;
  if (!HeaderValue(header, "descr", &descr) || !HeaderValue(header, "fortran_order", &order) ||
      !HeaderValue(header, "shape", &shape_text)) {
    return bad("header without descr, fortran_order and shape");
  }
  NpyArray array;
  array.dtype = std::string(absl::StripSuffix(absl::StripPrefix(descr, "'"), "'"));
  if (array.dtype == "<u1") array.dtype = "|u1";
  if (array.dtype == "<i1") array.dtype = "|i1";
  if (NpyElementBytes(array.dtype) == 0) {
    return bad(absl::StrCat("dtype ", descr, " (float32, uint8 or int8 wanted)"));
  }
  if (order != "False") return bad("Fortran order");
  shape_text = std::string(absl::StripSuffix(absl::StripPrefix(shape_text, "("), ")"));
  for (absl::string_view d : absl::StrSplit(shape_text, ',', absl::SkipWhitespace())) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(d, &v) || v < 0 || v > (int64_t{1} << 32)) return bad("bad shape");
    array.shape.push_back(v);
  }
  const size_t expected = static_cast<size_t>(Elements(array.shape)) *
                          static_cast<size_t>(NpyElementBytes(array.dtype));
  const size_t data_at = header_at + header_len;
  if (bytes.size() - data_at != expected) {
    return bad(absl::StrCat(bytes.size() - data_at, " data bytes, the shape needs ", expected));
  }
  array.data = bytes.substr(data_at);
  return array;
}

absl::Status WriteNpy(const std::string& path, const NpyArray& array) {
  const int size = NpyElementBytes(array.dtype);
  if (size == 0) return absl::InvalidArgumentError(absl::StrCat("npy dtype ", array.dtype));
  if (array.data.size() != static_cast<size_t>(Elements(array.shape)) * size) {
    return absl::InvalidArgumentError("npy data does not match its shape");
  }
  std::string shape = absl::StrJoin(array.shape, ", ");
  if (array.shape.size() == 1) shape += ",";
  std::string header = absl::StrCat("{'descr': '", array.dtype,
                                    "', 'fortran_order': False, 'shape': (", shape, "), }");
  // Pad with spaces so that the data starts at a multiple of 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out += array.data;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!file) return absl::DataLossError(absl::StrCat("writing ", path, " failed"));
  return absl::OkStatus();
}

}  // namespace qtune
