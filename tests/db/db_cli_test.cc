#include "db/db_cli.h"

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/db/store.h"
#include "tests/db/test_util.h"

namespace qtune::db {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Populate;
using testing::ReadFileBytes;
using testing::ScratchDir;
using testing::WriteFileBytes;

class DbCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir();
    opt_.db_path = dir_ + "/q.db";
    auto store = Store::Open(opt_.db_path);
    ASSERT_TRUE(store.ok()) << store.status();
    job_ = Populate(**store);
  }

  // Runs `sub` and returns its output; fails the test on an error status.
  std::string Run(std::string_view sub) {
    std::ostringstream out;
    absl::Status s = RunDbCommand(sub, opt_, out);
    EXPECT_TRUE(s.ok()) << sub << ": " << s;
    return out.str();
  }

  // One row per JSON line: its members in order, as (name, string value or
  // number literal).
  using Row = std::vector<std::pair<std::string, std::string>>;
  std::vector<Row> RunJson(std::string_view sub) {
    opt_.json = true;
    std::istringstream lines(Run(sub));
    opt_.json = false;
    std::vector<Row> rows;
    std::string line;
    while (std::getline(lines, line)) {
      auto object = json::ParseObject(line);
      EXPECT_TRUE(object.ok()) << line;
      if (!object.ok()) continue;
      Row row;
      for (const auto& [k, v] : object->items()) {
        row.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  static std::string Member(const Row& o, const std::string& key) {
    for (const auto& [k, v] : o) {
      if (k == key) return v;
    }
    return "<missing>";
  }

  std::string dir_;
  std::string job_;
  DbCommandOptions opt_;
};

TEST_F(DbCliTest, BestTable) {
  std::string out = Run("best");
  std::istringstream lines(out);
  std::string header, row1, row2, row3, extra;
  std::getline(lines, header);
  std::getline(lines, row1);
  std::getline(lines, row2);
  std::getline(lines, row3);
  EXPECT_FALSE(std::getline(lines, extra));
  EXPECT_THAT(header, ::testing::MatchesRegex(
                          "DEVICE +BUILD +OP +DTYPE +SHAPE +MEDIAN_US +MIN_US +GOP/S +OK/TRIALS +"
                          "KERNEL +CONFIG"));
  // 1e6 MACs in 10 us = 200 GOP/s; right-aligned numbers end where headers end.
  EXPECT_THAT(row1, HasSubstr("dev/a"));
  EXPECT_THAT(row1, HasSubstr("10.00"));
  EXPECT_THAT(row1, HasSubstr("200.0"));
  EXPECT_THAT(row1, HasSubstr("2/3"));
  EXPECT_THAT(row1, HasSubstr("tile_m=1"));
  EXPECT_EQ(row1.find("200.0") + 5, header.find("GOP/S") + 5);
  EXPECT_THAT(row2, HasSubstr("fp32"));
  EXPECT_THAT(row2, HasSubstr("50.0"));
  EXPECT_THAT(row3, HasSubstr("dev/b"));
  EXPECT_EQ(header.find("SHAPE"), row1.find("56x56x64"));
}

TEST_F(DbCliTest, BestJson) {
  auto rows = RunJson("best");
  ASSERT_EQ(rows.size(), 3u);
  std::vector<std::string> keys;
  for (const auto& [k, v] : rows[0]) keys.push_back(k);
  EXPECT_THAT(keys, ElementsAre("device_key", "workload_key", "op_kind", "dtype", "shape", "macs",
                                "build_id", "config", "config_json", "kernel", "median_us", "min_us", "gops",
                                "trials", "ok_trials", "job_id", "created_at"));
  EXPECT_EQ(Member(rows[0], "device_key"), "dev/a");
  EXPECT_EQ(Member(rows[0], "workload_key"), "conv/int8/a");
  EXPECT_EQ(Member(rows[0], "median_us"), "10");
  EXPECT_EQ(Member(rows[0], "min_us"), "9");
  EXPECT_EQ(Member(rows[0], "gops"), "200");
  EXPECT_EQ(Member(rows[0], "macs"), "1000000");
  EXPECT_EQ(Member(rows[0], "trials"), "3");
  EXPECT_EQ(Member(rows[0], "ok_trials"), "2");
  EXPECT_EQ(Member(rows[0], "job_id"), job_);
  EXPECT_EQ(Member(rows[0], "config_json"), "{\"tile_m\":1}");

  opt_.device_key = "dev/b";
  rows = RunJson("best");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Member(rows[0], "job_id"), "job-b");
}

TEST_F(DbCliTest, HistoryTableAndJson) {
  opt_.job_id = job_;
  std::string out = Run("history");
  EXPECT_THAT(out, HasSubstr("WRONG_OUTPUT"));
  EXPECT_THAT(out, HasSubstr("failed: COMPILE_ERROR"));
  EXPECT_THAT(out, HasSubstr(job_.substr(0, 8)));
  EXPECT_THAT(out, Not(HasSubstr("job-b")));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1 + 5);

  auto rows = RunJson("history");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(Member(rows[2], "status"), "WRONG_OUTPUT");
  EXPECT_EQ(Member(rows[2], "seq"), "2");
  EXPECT_EQ(Member(rows[2], "message"), "failed: WRONG_OUTPUT");

  opt_.limit = 2;
  rows = RunJson("history");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(Member(rows[1], "seq"), "4");
}

TEST_F(DbCliTest, DevicesWorkloadsJobs) {
  std::string devices = Run("devices");
  EXPECT_THAT(devices, HasSubstr("DEVICE"));
  EXPECT_THAT(devices, HasSubstr("Test CPU"));
  auto device_rows = RunJson("devices");
  ASSERT_EQ(device_rows.size(), 2u);
  EXPECT_EQ(Member(device_rows[1], "device_key"), "dev/b");
  EXPECT_EQ(Member(device_rows[1], "cores"), "2");

  std::string workloads = Run("workloads");
  EXPECT_THAT(workloads, HasSubstr("MMACS"));
  EXPECT_THAT(workloads, HasSubstr("1.00"));
  opt_.dtype = "fp32";
  auto workload_rows = RunJson("workloads");
  ASSERT_EQ(workload_rows.size(), 1u);
  EXPECT_EQ(Member(workload_rows[0], "workload_key"), "conv/fp32/a");
  opt_.dtype.reset();

  std::string jobs = Run("jobs");
  EXPECT_THAT(jobs, HasSubstr(job_));
  EXPECT_THAT(jobs, HasSubstr("done"));
  auto job_rows = RunJson("jobs");
  ASSERT_EQ(job_rows.size(), 2u);
  EXPECT_EQ(Member(job_rows[0], "state"), "done");
  EXPECT_EQ(Member(job_rows[1], "state"), "running");
}

TEST_F(DbCliTest, Stats) {
  std::string out = Run("stats");
  EXPECT_THAT(out, HasSubstr("schema version"));
  EXPECT_THAT(out, HasSubstr("OK 4"));
  opt_.json = true;
  std::string json = Run("stats");
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 1);
  EXPECT_THAT(json, HasSubstr("\"schema_version\":4,\"devices\":2,\"workloads\":3,\"jobs\":2,"
                              "\"tasks\":3,\"trials\":6,\"best\":3,"));
  EXPECT_THAT(json, HasSubstr("\"trials_by_status\":{\"OK\":4,\"COMPILE_ERROR\":1,"
                              "\"WRONG_OUTPUT\":1}"));
  EXPECT_THAT(json, HasSubstr("\"jobs_by_state\":{\"done\":1,\"running\":1}"));
}

TEST_F(DbCliTest, ExportImportThroughFiles) {
  opt_.file = dir_ + "/dump.jsonl";
  std::string message = Run("export");
  EXPECT_THAT(message, HasSubstr("dump.jsonl"));
  std::string dump = ReadFileBytes(opt_.file);
  EXPECT_FALSE(std::filesystem::exists(opt_.file + ".tmp"));

  opt_.file = "-";
  EXPECT_EQ(Run("export"), dump);

  DbCommandOptions into;
  into.db_path = dir_ + "/copy.db";
  into.file = dir_ + "/dump.jsonl";
  into.json = true;
  std::ostringstream out;
  ASSERT_TRUE(RunDbCommand("import", into, out).ok());
  EXPECT_EQ(out.str(),
            "{\"devices\":2,\"builds\":2,\"workloads\":3,\"jobs\":2,\"tasks\":3,\"trials\":6,"
            "\"skipped\":0}\n");
  into.file = "-";
  std::ostringstream copy;
  ASSERT_TRUE(RunDbCommand("export", into, copy).ok());
  EXPECT_EQ(copy.str(), dump);
}

TEST_F(DbCliTest, FailedImportIntoNewFileLeavesNoDatabase) {
  std::string bad = dir_ + "/bad.jsonl";
  WriteFileBytes(bad, "{\"table\":\"devices\",\"device_key\":\"d\"}\nnot json\n");
  DbCommandOptions into;
  into.db_path = dir_ + "/new.db";
  into.file = bad;
  std::ostringstream out;
  absl::Status s = RunDbCommand("import", into, out);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("line 2"));
  EXPECT_FALSE(std::filesystem::exists(into.db_path));

  into.file = dir_ + "/missing.jsonl";
  s = RunDbCommand("import", into, out);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_FALSE(std::filesystem::exists(into.db_path));
}

TEST_F(DbCliTest, Errors) {
  std::ostringstream out;
  absl::Status s = RunDbCommand("frobnicate", opt_, out);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(),
              HasSubstr("best, history, builds, devices, workloads, jobs, export, import, stats"));
  EXPECT_TRUE(absl::IsInvalidArgument(RunDbCommand("", opt_, out)));

  DbCommandOptions missing;
  missing.db_path = dir_ + "/missing.db";
  for (const char* sub : {"best", "history", "devices", "workloads", "jobs", "export", "stats"}) {
    s = RunDbCommand(sub, missing, out);
    EXPECT_TRUE(absl::IsNotFound(s)) << sub << ": " << s;
    EXPECT_FALSE(std::filesystem::exists(missing.db_path)) << sub;
  }

  DbCommandOptions foreign;
  foreign.db_path = dir_ + "/notes.txt";
  WriteFileBytes(foreign.db_path, "just some notes, definitely not a database\n");
  for (const char* sub : {"best", "import", "stats"}) {
    s = RunDbCommand(sub, foreign, out);
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << sub << ": " << s;
  }
  EXPECT_EQ(ReadFileBytes(foreign.db_path), "just some notes, definitely not a database\n");
  EXPECT_EQ(out.str(), "");

  DbCommandOptions no_path;
  EXPECT_TRUE(absl::IsInvalidArgument(RunDbCommand("best", no_path, out)));
  EXPECT_THAT(DbCommandHelp(), HasSubstr("usage: qtune db"));
}

TEST_F(DbCliTest, EmptyTablePrintsHeaderAndNoRows) {
  opt_.device_key = "dev/none";
  std::string out = Run("best");
  EXPECT_THAT(out, HasSubstr("DEVICE"));
  EXPECT_THAT(out, HasSubstr("(no rows)"));
  opt_.json = true;
  EXPECT_EQ(Run("best"), "");
}

}  // namespace
}  // namespace qtune::db
