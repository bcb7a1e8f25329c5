// File: test_certs.h
// Throwaway TLS material for tests, made with the `openssl` command-line tool
// (Debian package openssl, installed by scripts/setup.sh): a CA, a server
// certificate it signed for 127.0.0.1 and localhost (subjectAltName
// IP:127.0.0.1, DNS:localhost), and a second, unrelated CA. EC P-256 keys:
// generating them takes milliseconds.
#ifndef QTUNE_TESTS_COMMON_TEST_CERTS_H_
#define QTUNE_TESTS_COMMON_TEST_CERTS_H_

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace qtune::testing {

struct TestCerts {
  std::string dir;           // the folder holding the files
  std::string ca;            // PEM CA certificate that signed `server_cert`
  std::string server_cert;   // PEM, for 127.0.0.1 and localhost
  std::string server_key;    // PEM private key of server_cert
  std::string other_ca;      // PEM CA certificate unrelated to the others
  std::string other_key;     // PEM private key that does not match server_cert
};

// Writes the files into `dir` (created if needed). Adds a test failure and
// returns false when openssl fails.
inline bool MakeTestCerts(const std::filesystem::path& dir, TestCerts* certs) {
  std::filesystem::create_directories(dir);
  const std::string d = dir.string();
  {
    std::ofstream ext(dir / "server.ext");
    ext << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
           "basicConstraints=CA:FALSE\n"
           "keyUsage=digitalSignature,keyEncipherment\n"
           "extendedKeyUsage=serverAuth\n";
  }
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string ca_ext =
      " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
  const std::string commands[] = {
      "openssl req -x509" + ec + " -keyout " + d + "/ca.key -out " + d +
          "/ca.pem -days 2 -subj /CN=qtune-test-ca" + ca_ext,
      "openssl req -x509" + ec + " -keyout " + d + "/other_ca.key -out " + d +
          "/other_ca.pem -days 2 -subj /CN=qtune-other-ca" + ca_ext,
      "openssl req" + ec + " -keyout " + d + "/server.key -out " + d +
          "/server.csr -subj /CN=localhost",
      "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
          "/ca.key -CAcreateserial -out " + d + "/server.pem -days 2 -extfile " + d +
          "/server.ext",
  };
  for (const std::string& command : commands) {
    const std::string quiet = command + " >" + d + "/openssl.log 2>&1";
    if (std::system(quiet.c_str()) != 0) {
      std::ifstream log(dir / "openssl.log");
      std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      ADD_FAILURE() << "openssl failed (is the openssl package installed? scripts/setup.sh): "
                    << command << "\n" << text;
      return false;
    }
  }
  certs->dir = d;
  certs->ca = d + "/ca.pem";
  certs->server_cert = d + "/server.pem";
  certs->server_key = d + "/server.key";
  certs->other_ca = d + "/other_ca.pem";
  certs->other_key = d + "/other_ca.key";
  return true;
}

// The certificates of this test process: made on the first call in a
// temporary folder that is removed at exit. Null (after a test failure) when
// openssl failed.
inline const TestCerts* SharedTestCerts() {
  struct Shared {
    Shared()
        : dir(std::filesystem::temp_directory_path() /
              ("qtune-test-certs." + std::to_string(::getpid()))),
          ok(MakeTestCerts(dir, &certs)) {}
    ~Shared() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
    std::filesystem::path dir;
    TestCerts certs;
    bool ok;
  };
  static Shared shared;
  return shared.ok ? &shared.certs : nullptr;
}

}  // namespace qtune::testing

#endif  // QTUNE_TESTS_COMMON_TEST_CERTS_H_
