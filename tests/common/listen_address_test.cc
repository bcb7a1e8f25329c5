#include "common/listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qtune {
namespace {

using ::testing::HasSubstr;

TEST(ListenAddressTest, Parses) {
  absl::StatusOr<ListenAddress> a = ParseListenAddress("127.0.0.1:7070");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7070);
  EXPECT_TRUE(a->loopback());
  EXPECT_FALSE(a->wildcard());
  EXPECT_EQ(a->ToString(), "127.0.0.1:7070");

  a = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_TRUE(a->loopback());
  EXPECT_EQ(a->ToString(), "[::1]:0");

  EXPECT_TRUE(ParseListenAddress("localhost:1").value().loopback());
  EXPECT_TRUE(ParseListenAddress("127.3.2.1:1").value().loopback());
  EXPECT_FALSE(ParseListenAddress("0.0.0.0:1").value().loopback());
  EXPECT_FALSE(ParseListenAddress("[::]:1").value().loopback());
  EXPECT_FALSE(ParseListenAddress("192.168.1.2:1").value().loopback());
  EXPECT_FALSE(ParseListenAddress("example.com:1").value().loopback());

  EXPECT_TRUE(ParseListenAddress("0.0.0.0:1").value().wildcard());
  EXPECT_TRUE(ParseListenAddress("[::]:1").value().wildcard());
  EXPECT_FALSE(ParseListenAddress("192.168.1.2:1").value().wildcard());
  EXPECT_FALSE(ParseListenAddress("example.com:1").value().wildcard());

  for (const char* bad : {"", "7070", ":7070", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536",
                          "127.0.0.1:-1", "::1:80", "[::1]80", "a b:1"}) {
    EXPECT_EQ(ParseListenAddress(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseListenAddress("x", "--register address").status().message(),
              HasSubstr("bad --register address \"x\""));
}

TEST(ListenAddressTest, TakenPortIsOneCleanError) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t length = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  ListenAddress taken{"127.0.0.1", ntohs(addr.sin_port)};
  absl::Status status = CheckBindable(taken);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("port already in use"));
  close(fd);
  EXPECT_TRUE(CheckBindable(ListenAddress{"127.0.0.1", 0}).ok());
}

}  // namespace
}  // namespace qtune
