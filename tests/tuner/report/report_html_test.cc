// Tests for tuner/report_html.h: a small database built with the Store API
// renders into a self-contained, escaped, deterministic page.
#include "tuner/report/report_html.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/db/store.h"

namespace qtune::tuner {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDevice[] = "x86_64/avx512_vnni/test-cpu/2c";
constexpr char kConfig[] = "tile=<4&8>\"q\"'x'";

class ReportHtmlTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(testing::TempDir(), "/report_html_test_", getpid(), ".db");
    Remove();
    auto store = db::Store::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);

    db::DeviceRecord device;
    device.device_key = kDevice;
    device.arch = "x86_64";
    device.cpu_name = "Test CPU <x>";
    device.cores = 2;
    device.info_json =
        R"({"device_key":"x86_64/avx512_vnni/test-cpu/2c","arch":"x86_64",)"
        R"("isa_features":["avx2","fma","avx512f","avx512bw","avx512_vnni"],"cores":2})";
    ASSERT_TRUE(store_->UpsertDevice(device).ok());

    // One layer in two dtypes (two workloads) and an int8-only layer.
    const struct {
      const char* key;
      const char* dtype;
      const char* shape;
    } workloads[] = {{"w-l1-int8", "int8", "56x56x64 3x3/1 ->64"},
                     {"w-l1-fp32", "fp32", "56x56x64 3x3/1 ->64"},
                     {"w-fc-int8", "int8", "512 ->1000"}};
    for (const auto& w : workloads) {
      db::WorkloadRecord rec;
      rec.workload_key = w.key;
      rec.op_kind = "conv2d";
      rec.dtype = w.dtype;
      rec.shape = w.shape;
      rec.macs = 115605504;
      ASSERT_TRUE(store_->UpsertWorkload(rec).ok());
    }

    db::JobRecord job;
    job.model = "resnet18";
    job.device_key = kDevice;
    job.state = "running";
    job.args_json = "{}";
    auto job_id = store_->CreateJob(job);
    ASSERT_TRUE(job_id.ok()) << job_id.status();
    job_id_ = *job_id;
    ASSERT_TRUE(store_
                    ->AddTasks({{job_id_, "layer1.0-1.conv1/int8", "w-l1-int8", 4},
                                {job_id_, "layer1.0-1.conv1/fp32", "w-l1-fp32", 4},
                                {job_id_, "fc/int8", "w-fc-int8", 1}})
                    .ok());

    // A dozen trials, one of them a failure; int8 best 100 us, fp32 best 400 us.
    int64_t seq = 1;
    auto trial = [&](const char* task, const char* workload, double us, const char* status,
                     const std::string& config) {
      db::TrialRecord t;
      t.job_id = job_id_;
      t.seq = seq++;
      t.device_key = kDevice;
      t.workload_key = workload;
      t.task = task;
      t.config = config;
      t.config_json = "{}";
      t.status = status;
      t.message = std::string(status) == "OK" ? "" : "output differs";
      t.kernel = "conv2d_int8_avx512vnni";
      t.median_us = us;
      t.min_us = us;
      t.repeats = 10;
      return t;
    };
    const char* l8 = "layer1.0-1.conv1/int8";
    const char* l32 = "layer1.0-1.conv1/fp32";
    ASSERT_TRUE(store_
                    ->AddTrials({trial(l8, "w-l1-int8", 180, "OK", "tile=1"),
                                 trial(l8, "w-l1-int8", 150, "OK", "tile=2"),
                                 trial(l8, "w-l1-int8", 0, "WRONG_OUTPUT", "tile=3"),
                                 trial(l8, "w-l1-int8", 100, "OK", kConfig),
                                 trial(l8, "w-l1-int8", 120, "OK", "tile=5")})
                    .ok());
    ASSERT_TRUE(store_
                    ->AddTrials({trial(l32, "w-l1-fp32", 600, "OK", "tile=1"),
                                 trial(l32, "w-l1-fp32", 400, "OK", "tile=2"),
                                 trial(l32, "w-l1-fp32", 450, "OK", "tile=3"),
                                 trial(l32, "w-l1-fp32", 500, "OK", "tile=4")})
                    .ok());
    ASSERT_TRUE(store_
                    ->AddTrials({trial("fc/int8", "w-fc-int8", 9, "OK", "tile=1"),
                                 trial("fc/int8", "w-fc-int8", 7, "OK", "tile=2"),
                                 trial("fc/int8", "w-fc-int8", 8, "OK", "tile=3")})
                    .ok());
    ASSERT_TRUE(store_->FinishJob(job_id_, "done").ok());
  }

  void TearDown() override {
    store_.reset();
    Remove();
  }

  void Remove() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path_ + suffix).c_str());
  }

  std::string Render(const ReportOptions& options) {
    std::ostringstream out;
    absl::Status status = WriteHtmlReport(*store_, options, out);
    EXPECT_TRUE(status.ok()) << status;
    return out.str();
  }

  std::string path_;
  std::string job_id_;
  std::unique_ptr<db::Store> store_;
};

TEST_F(ReportHtmlTest, RendersSelfContainedPage) {
  ReportOptions options;
  options.model = "ResNet18";  // case-insensitive
  const std::string html = Render(options);
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("layer1.0-1.conv1"));
  EXPECT_THAT(html, HasSubstr("<td>fc</td>"));
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("<polyline"));
  EXPECT_THAT(html, HasSubstr("4.00x"));  // fp32 400 us / int8 100 us
  EXPECT_THAT(html, HasSubstr("avx512_vnni"));
  EXPECT_THAT(html, HasSubstr(job_id_));
  EXPECT_THAT(html, Not(HasSubstr("http://")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, HasSubstr("1 failed"));
}

TEST_F(ReportHtmlTest, EscapesDatabaseStrings) {
  ReportOptions options;
  options.model = "resnet18";
  const std::string html = Render(options);
  EXPECT_THAT(html, HasSubstr("tile=&lt;4&amp;8&gt;&quot;q&quot;&#39;x&#39;"));
  EXPECT_THAT(html, Not(HasSubstr(kConfig)));
  EXPECT_THAT(html, HasSubstr("Test CPU &lt;x&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<x>")));
}

TEST_F(ReportHtmlTest, DeterministicForTheSameDatabase) {
  ReportOptions options;
  options.model = "resnet18";
  options.device_key = kDevice;
  EXPECT_EQ(Render(options), Render(options));
}

TEST_F(ReportHtmlTest, UnknownModelOrJobIsNotFound) {
  std::ostringstream out;
  ReportOptions options;
  options.model = "mobilenet_v2";
  EXPECT_EQ(WriteHtmlReport(*store_, options, out).code(), absl::StatusCode::kNotFound);
  options.model = "resnet18";
  options.device_key = "no/such/device";
  EXPECT_EQ(WriteHtmlReport(*store_, options, out).code(), absl::StatusCode::kNotFound);
  options.device_key.reset();
  options.job_id = "no-such-job";
  EXPECT_EQ(WriteHtmlReport(*store_, options, out).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(out.str().empty());
}

TEST_F(ReportHtmlTest, PeakUsesTheAssumedClockWithoutAMeasuredOne) {
  ReportOptions options;
  options.model = "resnet18";
  const std::string html = Render(options);
  EXPECT_THAT(html, HasSubstr("<th>clock (assumed)</th>"));
  EXPECT_THAT(html, HasSubstr("3.650 GHz"));
  EXPECT_THAT(html, HasSubstr(">1869<"));  // 256 ops/cycle x 3.65 GHz x 2 cores
  EXPECT_THAT(html, HasSubstr("is an assumption, not a measurement"));
}

TEST_F(ReportHtmlTest, PeakUsesTheClockTheAgentMeasured) {
  // As an agent with the clock measurement records it (JSON field names of
  // either form are accepted).
  for (const char* field : {"clock_ghz", "clockGhz"}) {
    db::DeviceRecord device;
    device.device_key = kDevice;
    device.arch = "x86_64";
    device.cpu_name = "Test CPU <x>";
    device.cores = 2;
    device.info_json = absl::StrCat(
        R"({"device_key":"x86_64/avx512_vnni/test-cpu/2c","arch":"x86_64",)",
        R"("isa_features":["avx2","fma","avx512f","avx512bw","avx512_vnni"],"cores":2,")", field,
        R"(":4.5})");
    ASSERT_TRUE(store_->UpsertDevice(device).ok());
    ReportOptions options;
    options.model = "resnet18";
    const std::string html = Render(options);
    EXPECT_THAT(html, HasSubstr("<th>clock (measured by the agent)</th>")) << field;
    EXPECT_THAT(html, HasSubstr("4.500 GHz")) << field;
    EXPECT_THAT(html, HasSubstr(">2304<")) << field;  // 256 ops/cycle x 4.5 GHz x 2 cores
    EXPECT_THAT(html, Not(HasSubstr("(assumed)"))) << field;
    EXPECT_THAT(html, Not(HasSubstr("3.650 GHz"))) << field;

    // An explicit clock overrides the measured one.
    options.clock_ghz = 4.0;
    const std::string given = Render(options);
    EXPECT_THAT(given, HasSubstr("<th>clock (given)</th>")) << field;
    EXPECT_THAT(given, HasSubstr(">2048<")) << field;  // 256 x 4.0 x 2
  }
}

TEST_F(ReportHtmlTest, GivenClockMustBePositive) {
  ReportOptions options;
  options.model = "resnet18";
  options.clock_ghz = 0.0;
  std::ostringstream out;
  EXPECT_EQ(WriteHtmlReport(*store_, options, out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.str().empty());
}

TEST(PeakOpsPerCycleTest, UsesIsaFeatures) {
  EXPECT_EQ(
      PeakOpsPerCycle("x86_64", {"avx2", "fma", "avx512f", "avx512_vnni"}, "int8").ops_per_cycle,
      256);
  EXPECT_EQ(PeakOpsPerCycle("x86_64", {"avx2", "fma"}, "int8").basis, "avx2");
  EXPECT_EQ(PeakOpsPerCycle("x86_64", {"avx2", "fma"}, "fp32").ops_per_cycle, 32);
  EXPECT_EQ(PeakOpsPerCycle("aarch64", {"asimd", "dotprod"}, "int8").basis, "dotprod");
  EXPECT_EQ(PeakOpsPerCycle("riscv64", {}, "fp32").basis, "scalar");
}

TEST(HtmlEscapeTest, EscapesSpecialCharacters) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

}  // namespace
}  // namespace qtune::tuner
