#include "tests/db/test_util.h"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "db/migrations.h"
#include "gtest/gtest.h"

namespace qtune::db::testing {

namespace {
// Removes this process's scratch directories at exit.
struct ScratchDirs {
  std::vector<std::filesystem::path> dirs;
  ~ScratchDirs() {
    std::error_code ec;
    for (const auto& dir : dirs) std::filesystem::remove_all(dir, ec);
  }
};
ScratchDirs& Dirs() {
  static ScratchDirs dirs;
  return dirs;
}
}  // namespace

std::string ScratchDir() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // Per process, so that concurrent runs (other build directories) never share one.
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "qtune_db_tests" /
                              (std::string(info->test_suite_name()) + "." + info->name() + "." +
                               std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Dirs().dirs.push_back(dir);
  return dir.string();
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string Raw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::string result;
  sqlite3_stmt* stmt = nullptr;
  const char* tail = sql.c_str();
  while (*tail != '\0') {
    EXPECT_EQ(sqlite3_prepare_v2(db, tail, -1, &stmt, &tail), SQLITE_OK) << sqlite3_errmsg(db);
    if (stmt == nullptr) break;
    if (sqlite3_step(stmt) == SQLITE_ROW && result.empty()) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      result = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return result;
}

std::vector<std::vector<std::string>> RawRows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::vector<std::vector<std::string>> rows;
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    std::vector<std::string>& row = rows.emplace_back();
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      const unsigned char* text = sqlite3_column_text(stmt, i);
      row.push_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

void CreateAtVersion(const std::string& path, int version, const std::string& data_sql) {
  std::string sql = "PRAGMA application_id = " + std::to_string(0x7174756e) + ";";
  for (const internal::Migration& m : internal::Migrations()) {
    if (m.version > version) break;
    sql += m.sql;
    sql += "INSERT INTO schema_version VALUES (" + std::to_string(m.version) + ", '" + m.name +
           "', '2026-11-01T00:00:00.000Z');";
  }
  sql += data_sql;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << error;
  sqlite3_free(error);
  sqlite3_close(db);
}

std::unique_ptr<Store> OpenOrDie(const std::string& path, Store::Mode mode) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, mode);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

TrialRecord MakeTrial(const std::string& job_id, int64_t seq, const std::string& device,
                      const std::string& workload, const std::string& status, double median_us) {
  TrialRecord t;
  t.job_id = job_id;
  t.seq = seq;
  t.device_key = device;
  t.workload_key = workload;
  t.task = "layer" + std::to_string(seq % 3);
  t.config = "tile_m=" + std::to_string(seq);
  t.config_json = "{\"tile_m\":" + std::to_string(seq) + "}";
  t.status = status;
  t.message = status == "OK" ? "" : "failed: " + status;
  t.kernel = "conv2d_u8s8u8_direct_4x16c4__generic";
  t.median_us = median_us;
  t.min_us = median_us * 0.9;
  t.stddev_us = 0.5;
  t.repeats = 10;
  t.compile_ms = 1.25;
  t.measure_ms = 3.5;
  return t;
}

std::string Populate(Store& store) {
  for (const char* key : {"dev/a", "dev/b"}) {
    DeviceRecord d;
    d.device_key = key;
    d.arch = "x86_64";
    d.cpu_name = "Test CPU";
    d.cores = 2;
    d.info_json = "{\"device_key\":\"" + std::string(key) + "\"}";
    EXPECT_TRUE(store.UpsertDevice(d).ok());
  }
  struct W {
    const char* key;
    const char* kind;
    const char* dtype;
    const char* shape;
  };
  for (const W& w : {W{"conv/int8/a", "conv2d", "int8", "56x56x64 3x3/1 ->64"},
                     W{"conv/fp32/a", "conv2d", "fp32", "56x56x64 3x3/1 ->64"},
                     W{"dense/int8/b", "dense", "int8", "512 ->1000"}}) {
    WorkloadRecord r;
    r.workload_key = w.key;
    r.op_kind = w.kind;
    r.dtype = w.dtype;
    r.shape = w.shape;
    r.macs = 1000000;
    EXPECT_TRUE(store.UpsertWorkload(r).ok());
  }
  JobRecord job;
  job.model = "resnet18";
  job.device_key = "dev/a";
  job.args_json = "{\"trials\":8}";
  absl::StatusOr<std::string> id = store.CreateJob(job);
  EXPECT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE(store
                  .AddTasks({{*id, "layer1.0.conv1", "conv/int8/a", 4},
                             {*id, "layer1.0.conv1.fp32", "conv/fp32/a", 4},
                             {*id, "fc", "dense/int8/b", 1}})
                  .ok());
  EXPECT_TRUE(store
                  .AddTrials({MakeTrial(*id, 0, "dev/a", "conv/int8/a", "OK", 20),
                              MakeTrial(*id, 1, "dev/a", "conv/int8/a", "OK", 10),
                              MakeTrial(*id, 2, "dev/a", "conv/int8/a", "WRONG_OUTPUT", 1),
                              MakeTrial(*id, 3, "dev/a", "conv/fp32/a", "OK", 40),
                              MakeTrial(*id, 4, "dev/a", "dense/int8/b", "COMPILE_ERROR", 0)})
                  .ok());
  EXPECT_TRUE(store.FinishJob(*id, "done").ok());

  JobRecord other;
  other.job_id = "job-b";
  other.model = "resnet18";
  other.device_key = "dev/b";
  EXPECT_TRUE(store.CreateJob(other).ok());
  EXPECT_TRUE(store.AddTrials({MakeTrial("job-b", 0, "dev/b", "conv/int8/a", "OK", 30)}).ok());
  return *id;
}

}  // namespace qtune::db::testing
