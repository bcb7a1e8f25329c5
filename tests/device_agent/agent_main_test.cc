// The qtune-agent executable: flags, startup line, port file, exit codes,
// graceful stop on SIGTERM/SIGINT, the listen policy, registration with a
// daemon.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/device_agent/agent_process.h"
#include "tests/device_agent/fake_daemon.h"

#ifndef QTUNE_AGENT_BINARY
#error "QTUNE_AGENT_BINARY must name the qtune-agent executable"
#endif

namespace qtune {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class Agent : public testing::AgentProcess {
 public:
  explicit Agent(const std::vector<std::string>& flags)
      : AgentProcess(QTUNE_AGENT_BINARY, flags) {}
};

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name + "." + std::to_string(getpid());
}

int Lines(const std::string& text) { return static_cast<int>(std::count(text.begin(), text.end(), '\n')); }

// A loopback port nothing listens on (bound, then released).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t length = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(AgentMainTest, ServesWritesThePortFileAndStopsOnSigterm) {
  std::string port_file = TempPath("qtune-agent-port");
  std::remove(port_file.c_str());
  Agent agent({"--listen=127.0.0.1:0", "--port-file=" + port_file});
  std::string line = agent.FirstLine();
  EXPECT_THAT(line, MatchesRegex("qtune-agent [0-9.]+ listening on 127\\.0\\.0\\.1:[0-9]+ "
                                 "\\(device [a-z0-9_]+/[a-z0-9_+]+/[a-z0-9-]+/[0-9]+c\\)"));
  int port = Agent::PortOf(line);
  EXPECT_GT(port, 0);
  std::ifstream in(port_file);
  int written = -1;
  in >> written;
  EXPECT_EQ(written, port);
  std::remove(port_file.c_str());
  ASSERT_EQ(kill(agent.pid(), SIGTERM), 0);
  EXPECT_EQ(agent.Wait(), 0);
}

TEST(AgentMainTest, StopsOnSigint) {
  Agent agent({"--listen=127.0.0.1:0"});
  EXPECT_THAT(agent.FirstLine(), HasSubstr("listening on"));
  ASSERT_EQ(kill(agent.pid(), SIGINT), 0);
  EXPECT_EQ(agent.Wait(), 0);
}

TEST(AgentMainTest, NonLoopbackWithoutTokenOrTlsIsRefused) {
  Agent no_token({"--listen=0.0.0.0:0"});
  EXPECT_EQ(no_token.Wait(), 2);
  std::string err = no_token.Stderr();
  EXPECT_THAT(err, HasSubstr("--token"));
  EXPECT_EQ(Lines(err), 1) << err;
  EXPECT_EQ(no_token.Stdout(), "");  // never served

  Agent no_tls({"--listen=0.0.0.0:0", "--token=s3cret"});
  EXPECT_EQ(no_tls.Wait(), 2);
  err = no_tls.Stderr();
  EXPECT_THAT(err, HasSubstr("without TLS"));
  EXPECT_EQ(Lines(err), 1) << err;
  EXPECT_EQ(no_tls.Stdout(), "");
}

TEST(AgentMainTest, TakenPortExitsWith3) {
  Agent first({"--listen=127.0.0.1:0"});
  int port = Agent::PortOf(first.FirstLine());
  ASSERT_GT(port, 0);
  Agent second({"--listen=127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(second.Wait(), 3);
  std::string err = second.Stderr();
  EXPECT_THAT(err, HasSubstr(std::to_string(port)));
  EXPECT_EQ(Lines(err), 1) << err;
}

TEST(AgentMainTest, BadArgumentsExitNonZero) {
  Agent positional({"--listen=127.0.0.1:0", "extra"});
  EXPECT_EQ(positional.Wait(), 2);
  Agent bad_address({"--listen=nonsense"});
  EXPECT_EQ(bad_address.Wait(), 2);
  Agent unknown({"--no-such-flag"});
  EXPECT_NE(unknown.Wait(), 0);
  Agent heartbeat({"--listen=127.0.0.1:0", "--register=127.0.0.1:1", "--heartbeat=0"});
  EXPECT_EQ(heartbeat.Wait(), 2);
  EXPECT_THAT(heartbeat.Stderr(), HasSubstr("--heartbeat"));
}

TEST(AgentMainTest, RegistrationFlagsAreCheckedBeforeServing) {
  // The request carries the agent's token: not in plaintext off the machine.
  Agent remote({"--listen=127.0.0.1:0", "--register=tuner.example:7000"});
  EXPECT_EQ(remote.Wait(), 2);
  std::string err = remote.Stderr();
  EXPECT_THAT(err, HasSubstr("--tls-ca"));
  EXPECT_EQ(Lines(err), 1) << err;
  EXPECT_EQ(remote.Stdout(), "");
  // A wildcard listen address is nothing the daemon can dial.
  Agent wildcard({"--listen=0.0.0.0:0", "--register=127.0.0.1:7000"});
  EXPECT_EQ(wildcard.Wait(), 2);
  err = wildcard.Stderr();
  EXPECT_THAT(err, HasSubstr("--advertise"));
  EXPECT_EQ(Lines(err), 1) << err;
}

TEST(AgentMainTest, RegistersWithTheDaemonAndKeepsBeating) {
  testing::FakeDaemon daemon;
  ASSERT_TRUE(daemon.ok());
  Agent agent({"--listen=127.0.0.1:0", "--token=agent-secret", "--register=" + daemon.address(),
               "--register-token=daemon-secret", "--heartbeat=0.2"});
  const int port = Agent::PortOf(agent.FirstLine());
  ASSERT_GT(port, 0);
  ASSERT_TRUE(testing::Eventually([&] { return daemon.calls() >= 2; }));
  const proto::RegisterAgentRequest first = daemon.request(0);
  EXPECT_EQ(first.address(), "127.0.0.1:" + std::to_string(port));  // the actual port
  EXPECT_EQ(first.token(), "agent-secret");
  EXPECT_TRUE(first.heartbeat());
  EXPECT_EQ(daemon.token(0), "daemon-secret");
  ASSERT_EQ(kill(agent.pid(), SIGTERM), 0);
  EXPECT_EQ(agent.Wait(), 0);
  EXPECT_THAT(agent.Stderr(), HasSubstr("registered with the qtune daemon at " + daemon.address()));
}

TEST(AgentMainTest, ADownDaemonNeitherStopsTheAgentNorFloodsItsLog) {
  const std::string daemon = "127.0.0.1:" + std::to_string(ClosedPort());
  Agent agent({"--listen=127.0.0.1:0", "--register=" + daemon, "--heartbeat=0.1",
               "--advertise=agent.example:7070"});
  ASSERT_GT(Agent::PortOf(agent.FirstLine()), 0);
  ASSERT_TRUE(testing::Eventually(
      [&] { return agent.Stderr().find("cannot register") != std::string::npos; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // several more heartbeats
  ASSERT_EQ(kill(agent.pid(), SIGTERM), 0);
  EXPECT_EQ(agent.Wait(), 0);
  const std::string err = agent.Stderr();
  EXPECT_THAT(err, HasSubstr("cannot register with the qtune daemon at " + daemon));
  // The failure is logged once: repeats of the same error are not. (Other
  // lines: the shutdown, and on some devices a start-up note such as
  // "running under emulation".)
  size_t failures = 0;
  for (size_t at = err.find("cannot register"); at != std::string::npos;
       at = err.find("cannot register", at + 1)) {
    ++failures;
  }
  EXPECT_EQ(failures, 1u) << err;
  EXPECT_LE(Lines(err), 3) << err;
}

TEST(AgentMainTest, HelpNamesTheFlags) {
  Agent help({"--help"});
  help.Wait();
  const std::string text = help.Stdout() + help.Stderr();
  for (const char* flag : {"listen", "token", "tls_cert", "tls_key", "register", "advertise",
                           "heartbeat", "register_token", "tls_ca", "port_file"}) {
    EXPECT_THAT(text, HasSubstr(flag)) << flag;
  }
  EXPECT_THAT(text, Not(HasSubstr("worker")));
}

}  // namespace
}  // namespace qtune
