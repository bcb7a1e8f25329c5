// `qtune run` end to end on the test models (build/models): a real
// qtune-agent process, the model sent once and cached, --check against the
// reference executor, --input/--output .npy files, the configs tuned by
// `qtune tune --onnx` found at run time, and the one-line errors.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/process_util.h"

namespace qtune {
namespace {

using ::testing::HasSubstr;
using testing_util::Lines;
using testing_util::Output;
using testing_util::RunProcess;
using testing_util::StartProcess;
using testing_util::WaitForLine;

const std::string kModels = QTUNE_MODELS_DIR;

class ModelRunE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("model_run_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    StartAgent();
  }
  void TearDown() override {
    StopAgent();
    std::filesystem::remove_all(dir_);
  }
  void StartAgent() {
    std::filesystem::remove(dir_ / "port");
    agent_ = StartProcess({QTUNE_AGENT_BINARY, "--listen=127.0.0.1:0",
                           "--port-file=" + (dir_ / "port").string(),
                           "--model-cache=" + (dir_ / "cache").string()},
                          dir_);
    const std::string port = WaitForLine(dir_ / "port");
    ASSERT_FALSE(port.empty()) << "the agent did not start";
    address_ = "127.0.0.1:" + port;
  }
  void StopAgent() {
    if (agent_.pid > 0) {
      kill(agent_.pid, SIGTERM);
      waitpid(agent_.pid, nullptr, 0);
      agent_.pid = -1;
    }
  }
  Output Qtune(std::vector<std::string> args) {
    args.insert(args.begin(), QTUNE_BINARY);
    return RunProcess(args, dir_);
  }
  // The last JSON line of `out`.
  static nlohmann::json Summary(const std::string& out) {
    const std::vector<std::string> lines = Lines(out);
    return lines.empty() ? nlohmann::json() : nlohmann::json::parse(lines.back());
  }

  std::filesystem::path dir_;
  testing_util::Started agent_;
  std::string address_;
};

TEST_F(ModelRunE2eTest, RunsCheckedWithNpyFilesAndCachesTheModel) {
  const std::string model = kModels + "/resnet18_int8_qop.onnx";
  const std::string out_npy = (dir_ / "out.npy").string();
  Output run = Qtune({"run", "--onnx", model, "--agent", address_, "--threads", "1", "--runs", "3",
                      "--check", "--json", "--input", kModels + "/input_1x3x224x224.npy",
                      "--output", out_npy});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json summary = Summary(run.out);
  EXPECT_EQ(summary["event"], "run");
  EXPECT_EQ(summary["check"], "passed");
  EXPECT_EQ(summary["check_exact"], true);
  EXPECT_EQ(summary["mismatches"], 0);
  EXPECT_EQ(summary["default"], 21);  // no database: every layer's default config
  EXPECT_EQ(summary["cached"], false);
  EXPECT_GT(summary["median_ms"].get<double>(), 0);
  int ops = 0;
  for (const std::string& line : Lines(run.out)) ops += nlohmann::json::parse(line)["event"] == "op";
  EXPECT_EQ(ops, 34);
  absl::StatusOr<NpyArray> out = ReadNpy(out_npy);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->dtype, "<f4");
  EXPECT_THAT(out->shape, ::testing::ElementsAre(1, 1000));

  // Sent once: the second run finds it cached, also after an agent restart
  // (--model-cache), and gives the same output for the same input.
  StopAgent();
  StartAgent();
  Output again = Qtune({"run", "--onnx", model, "--agent", address_, "--threads", "1", "--runs",
                        "2", "--json", "--input", kModels + "/input_1x3x224x224.npy", "--output",
                        (dir_ / "again.npy").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Summary(again.out)["cached"], true);
  EXPECT_EQ(ReadNpy((dir_ / "again.npy").string())->data, out->data);
}

TEST_F(ModelRunE2eTest, SignedActivationsCheckExactly) {
  Output run = Qtune({"run", "--onnx", kModels + "/resnet18_s8s8_qdq.onnx", "--agent", address_,
                      "--threads", "2", "--runs", "2", "--check", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Summary(run.out)["check"], "passed");
}

TEST_F(ModelRunE2eTest, UsesTheConfigsTunedFromTheSameFile) {
  const std::string model = kModels + "/mobilenetv2_int8_qdq.onnx";
  const std::string db = (dir_ / "t.db").string();
  Output tune = Qtune({"tune", "--onnx", model, "--agent", address_, "--db", db, "--layers",
                       "features.1.dw,features.18", "--trials", "6", "--json"});
  ASSERT_EQ(tune.exit_code, 0) << tune.err;
  Output run = Qtune({"run", "--onnx", model, "--agent", address_, "--db", db, "--threads", "2",
                      "--runs", "2", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  int tuned = 0;
  for (const std::string& line : Lines(run.out)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j["event"] == "op" && j.contains("config") && j["config"] != "default") {
      ++tuned;
      EXPECT_THAT(std::string(j["name"]), ::testing::AnyOf(HasSubstr("features.1.dw"),
                                                           HasSubstr("features.18")));
    }
  }
  EXPECT_EQ(tuned, 2);
}

TEST_F(ModelRunE2eTest, OneLineErrors) {
  const std::string model = kModels + "/resnet18_int8_qop.onnx";
  Output no_db = Qtune({"run", "--onnx", model, "--agent", address_, "--db",
                        (dir_ / "missing.db").string()});
  EXPECT_NE(no_db.exit_code, 0);
  EXPECT_EQ(Lines(no_db.err).size(), 1u) << no_db.err;
  Output bad_input = Qtune({"run", "--onnx", model, "--agent", address_, "--input",
                            (dir_ / "missing.npy").string()});
  EXPECT_NE(bad_input.exit_code, 0);
  EXPECT_EQ(Lines(bad_input.err).size(), 1u) << bad_input.err;
  NpyArray wrong{"<f4", {1, 3, 2, 2}, std::string(48, '\0')};
  ASSERT_TRUE(WriteNpy((dir_ / "wrong.npy").string(), wrong).ok());
  Output wrong_shape = Qtune({"run", "--onnx", model, "--agent", address_, "--input",
                              (dir_ / "wrong.npy").string()});
  EXPECT_NE(wrong_shape.exit_code, 0);
  EXPECT_THAT(wrong_shape.err, HasSubstr("(1, 3, 224, 224)"));
  Output no_agent = Qtune({"run", "--onnx", model, "--agent", "127.0.0.1:1"});
  EXPECT_NE(no_agent.exit_code, 0);
  EXPECT_EQ(Lines(no_agent.err).size(), 1u) << no_agent.err;
  Output no_model = Qtune({"run", "--agent", address_});
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_THAT(no_model.err, HasSubstr("--onnx"));
}

}  // namespace
}  // namespace qtune
