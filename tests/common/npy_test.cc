// ReadNpy on files as numpy.save writes them, WriteNpy round trips, and the
// errors for files that are not usable arrays.
#include "common/npy.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/npy_", getpid(), "_", name);
}

std::string Write(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// numpy.save(f, np.array([[1.5, -2], [3, 4]], dtype=np.float32)), numpy 1.24.
std::string NumpyFloats() {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  header.append(117 - header.size(), ' ');
  header += '\n';
  std::string data = std::string("\x93NUMPY\x01\x00v\x00", 10) + header;
  for (float f : {1.5f, -2.0f, 3.0f, 4.0f}) data.append(reinterpret_cast<const char*>(&f), 4);
  return data;
}

TEST(NpyTest, ReadsWhatNumpyWrites) {
  absl::StatusOr<NpyArray> a = ReadNpy(Write("f.npy", NumpyFloats()));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dtype, "<f4");
  EXPECT_THAT(a->shape, ElementsAre(2, 2));
  ASSERT_EQ(a->data.size(), 16u);
  float v[4];
  std::memcpy(v, a->data.data(), 16);
  EXPECT_THAT(v, ElementsAre(1.5f, -2.0f, 3.0f, 4.0f));
}

TEST(NpyTest, WriteReadRoundTrip) {
  for (const char* dtype : {"<f4", "|u1", "|i1"}) {
    NpyArray a{dtype, {3}, std::string(3 * NpyElementBytes(dtype), '\x07')};
    const std::string path = TempPath(absl::StrCat("rt", std::string(1, dtype[1]), ".npy"));
    ASSERT_TRUE(WriteNpy(path, a).ok());
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ((bytes.size() - a.data.size()) % 64, 0u);  // data aligned as numpy aligns it
    EXPECT_THAT(bytes, HasSubstr("'shape': (3,)"));
    absl::StatusOr<NpyArray> b = ReadNpy(path);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->dtype, a.dtype);
    EXPECT_EQ(b->shape, a.shape);
    EXPECT_EQ(b->data, a.data);
  }
  EXPECT_FALSE(WriteNpy(TempPath("bad.npy"), {"<f8", {1}, std::string(8, 0)}).ok());
  EXPECT_FALSE(WriteNpy(TempPath("bad.npy"), {"<f4", {2}, std::string(4, 0)}).ok());
}

TEST(NpyTest, RefusesWhatItCannotUse) {
  EXPECT_EQ(ReadNpy("/nonexistent.npy").status().code(), absl::StatusCode::kNotFound);
  auto fails_with = [](const std::string& name, const std::string& bytes, const char* why) {
    absl::StatusOr<NpyArray> a = ReadNpy(Write(name, bytes));
    ASSERT_FALSE(a.ok()) << name;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(a.status().message(), HasSubstr(why)) << name;
  };
  fails_with("text.npy", "hello world, not numpy", "no NUMPY magic");
  std::string f8 = NumpyFloats();
  f8.replace(f8.find("<f4"), 3, "<f8");
  fails_with("f8.npy", f8, "dtype '<f8'");
  std::string fortran = NumpyFloats();
  fortran.replace(fortran.find("False"), 5, "True ");
  fails_with("fortran.npy", fortran, "Fortran order");
  fails_with("short.npy", NumpyFloats().substr(0, NumpyFloats().size() - 1), "15 data bytes");
  fails_with("header.npy", NumpyFloats().substr(0, 40), "truncated header");
}

}  // namespace
}  // namespace qtune
