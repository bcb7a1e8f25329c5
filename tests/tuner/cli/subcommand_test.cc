#include "tuner/cli/subcommand.h"

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int32_t, sub_test_count, 4, "how many");
ABSL_FLAG(std::string, sub_test_name, "x", "a name");
ABSL_FLAG(bool, sub_test_on, true, "a switch");
ABSL_FLAG(int32_t, sub_test_other, 0, "not taken by the test command");

namespace qtune::tuner {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

const Subcommand kCmd{"run", "", "run something", "", {"sub_test_count", "sub_test_name",
                                                       "sub_test_on"}, ""};
const Subcommand kWithArgs{"db", "SUBCOMMAND", "db things", "", {"sub_test_count"}, ""};

class SubcommandTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::SetFlag(&FLAGS_sub_test_count, 4);
    absl::SetFlag(&FLAGS_sub_test_name, "x");
    absl::SetFlag(&FLAGS_sub_test_on, true);
  }
};

TEST_F(SubcommandTest, AcceptsEveryFlagForm) {
  absl::StatusOr<ParsedArgs> args = ParseSubcommandArgs(
      kCmd, {"--sub_test_count=7", "-sub_test_name", "y", "--nosub_test_on"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(absl::GetFlag(FLAGS_sub_test_count), 7);
  EXPECT_EQ(absl::GetFlag(FLAGS_sub_test_name), "y");
  EXPECT_FALSE(absl::GetFlag(FLAGS_sub_test_on));
  EXPECT_EQ(args->given, (std::set<std::string>{"sub_test_count", "sub_test_name",
                                                "sub_test_on"}));
  EXPECT_FALSE(args->help);

  args = ParseSubcommandArgs(kCmd, {"--sub_test_on"});
  ASSERT_TRUE(args.ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_sub_test_on));
  args = ParseSubcommandArgs(kCmd, {"--sub_test_on=false"});
  ASSERT_TRUE(args.ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_sub_test_on));
}

TEST_F(SubcommandTest, RejectsFlagsOfOtherCommands) {
  absl::Status s = ParseSubcommandArgs(kCmd, {"--sub_test_other=1"}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unknown flag --sub-test-other for 'run'"));
  EXPECT_THAT(s.message(), HasSubstr("--sub-test-count"));
  EXPECT_EQ(ParseSubcommandArgs(kCmd, {"--no_such_flag"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // --noX only for bool flags.
  EXPECT_EQ(ParseSubcommandArgs(kCmd, {"--nosub_test_count"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SubcommandTest, RejectsBadValuesInOneLine) {
  absl::Status s = ParseSubcommandArgs(kCmd, {"--sub_test_count=many"}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--sub-test-count"));
  EXPECT_EQ(std::string(s.message()).find('\n'), std::string::npos);
  s = ParseSubcommandArgs(kCmd, {"--sub_test_name"}).status();
  EXPECT_THAT(s.message(), HasSubstr("needs a value"));
}

TEST_F(SubcommandTest, Positionals) {
  EXPECT_EQ(ParseSubcommandArgs(kCmd, {"extra"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<ParsedArgs> args =
      ParseSubcommandArgs(kWithArgs, {"best", "--sub_test_count", "2", "--", "--odd"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(args->positional, ElementsAre("best", "--odd"));
  EXPECT_EQ(absl::GetFlag(FLAGS_sub_test_count), 2);
}

TEST_F(SubcommandTest, HelpAndUsage) {
  absl::StatusOr<ParsedArgs> args = ParseSubcommandArgs(kCmd, {"--help"});
  ASSERT_TRUE(args.ok());
  EXPECT_TRUE(args->help);
  const std::string usage = SubcommandUsage("prog", kCmd);
  EXPECT_THAT(usage, HasSubstr("usage: prog run [flags]"));
  EXPECT_THAT(usage, HasSubstr("--sub-test-count  [default: 4]"));
  EXPECT_THAT(usage, HasSubstr("how many"));
  EXPECT_THAT(usage, testing::Not(HasSubstr("sub-test-other")));
}

}  // namespace
}  // namespace qtune::tuner
