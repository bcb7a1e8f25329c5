// File: sha256.h
// SHA-256 digests (OpenSSL's libcrypto), as lower-case hex: the content hash
// that names a model on the agent (proto/model.proto).
//
//   Sha256 h;
//   h.Update(chunk1); h.Update(chunk2);
//   std::string hex = h.HexDigest();     // == Sha256Hex(chunk1 + chunk2)
//
// Thread-safety: a Sha256 is used by one thread at a time.
#ifndef QTUNE_COMMON_SHA256_H_
#define QTUNE_COMMON_SHA256_H_

#include <memory>
#include <string>
#include <string_view>

namespace qtune {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // The digest of everything given so far; the object is reset afterwards.
  std::string HexDigest();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

std::string Sha256Hex(std::string_view data);

}  // namespace qtune

#endif  // QTUNE_COMMON_SHA256_H_
