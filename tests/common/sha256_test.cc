// Sha256 against the FIPS 180-4 example digests, incremental and in one go.
#include "common/sha256.h"

#include <string>

#include "gtest/gtest.h"

namespace qtune {
namespace {

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IncrementalEqualsWholeAndResets) {
  const std::string text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  Sha256 h;
  h.Update(text.substr(0, 7));
  h.Update(text.substr(7));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(text));
  EXPECT_EQ(h.HexDigest(), Sha256Hex(""));
}

}  // namespace
}  // namespace qtune
