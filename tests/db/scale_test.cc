// Schema version 3: `best` and the counts come from tables that triggers keep
// up to date. They must give exactly what the window-function queries they
// replace gave, whatever wrote the trials (AddTrials, Import, the migration,
// sqlite3). And the bounded reads of a slice (TrialCounts, MeasuredConfigs,
// Sample).

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/db/store.h"
#include "tests/db/test_util.h"

namespace qtune::db {
namespace {

using ::testing::ElementsAre;
using testing::OpenOrDie;
using testing::Raw;
using testing::RawRows;
using testing::ScratchDir;

// The `best_by_build` view of schema version 2, verbatim: every OK trial
// ranked with a window function. The maintained view must give its rows.
constexpr char kWindowBestByBuild[] = R"sql(
WITH counts AS (
  SELECT device_ref, workload_ref, build_ref, COUNT(*) AS trials,
         SUM(status = 'OK') AS ok_trials
  FROM trials
  GROUP BY device_ref, workload_ref, build_ref
),
ranked AS (
  SELECT t.*, ROW_NUMBER() OVER (PARTITION BY t.device_ref, t.workload_ref, t.build_ref
                                 ORDER BY t.median_us, t.min_us, t.id) AS pos
  FROM trials t
  WHERE t.status = 'OK'
)
SELECT d.device_key, w.workload_key, w.op_kind, w.dtype, w.shape, w.macs, b.build_id,
       r.config, r.config_json, r.kernel, r.median_us, r.min_us,
       2.0 * w.macs / (r.median_us * 1000.0) AS gops,
       c.trials, c.ok_trials, j.job_id, r.created_at,
       r.device_ref, r.build_ref
FROM ranked r
JOIN counts c ON c.device_ref = r.device_ref AND c.workload_ref = r.workload_ref
             AND c.build_ref = r.build_ref
JOIN devices d ON d.id = r.device_ref
JOIN workloads w ON w.id = r.workload_ref
JOIN builds b ON b.id = r.build_ref
JOIN jobs j ON j.id = r.job_ref
WHERE r.pos = 1
)sql";

constexpr char kBestColumns[] =
    "device_key, workload_key, op_kind, dtype, shape, macs, build_id, config, config_json, "
    "kernel, median_us, min_us, gops, trials, ok_trials, job_id, created_at";

std::string Sorted(const std::string& columns, const std::string& from) {
  return absl::StrCat("SELECT ", columns, " FROM (", from,
                      ") ORDER BY device_key, workload_key, build_id");
}

// best_by_build, best, the per-build counts of `db builds` and the trial
// counts all agree with queries over every trial.
void ExpectAgreement(const std::string& path, const std::string& when) {
  SCOPED_TRACE(when);
  const std::string all = absl::StrCat(kBestColumns, ", device_ref, build_ref");
  const auto maintained = RawRows(path, Sorted(all, "SELECT * FROM best_by_build"));
  EXPECT_EQ(maintained, RawRows(path, Sorted(all, kWindowBestByBuild)));
  EXPECT_EQ(RawRows(path, Sorted(kBestColumns, "SELECT * FROM best")),
            RawRows(path, Sorted(kBestColumns,
                                 absl::StrCat("SELECT r.* FROM (", kWindowBestByBuild,
                                              ") r JOIN current_builds cb ON cb.device_ref = "
                                              "r.device_ref AND cb.build_ref = r.build_ref"))));
  constexpr char kCounts[] =
      "SELECT device_ref, workload_ref, build_ref, settings_ref, status, %s FROM %s "
      "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5";
  EXPECT_EQ(RawRows(path, absl::StrFormat(kCounts, "sum(trials)", "trial_counts")),
            RawRows(path, absl::StrFormat(kCounts, "count(*)", "trials")));
  EXPECT_EQ(Raw(path, "SELECT count(*) FROM trial_counts WHERE trials <= 0"), "0");
  EXPECT_EQ(Raw(path, "PRAGMA integrity_check"), "ok");
}

// Trials with many ties: latencies from a few values (equal medians, and
// equal medians and mins), the same configs again, several devices, builds
// and settings, OK and failed (failures carry latencies too, faster ones).
class TrialMaker {
 public:
  explicit TrialMaker(uint32_t seed) : rng_(seed) {}

  TrialRecord Next(const std::string& job, int64_t seq, const std::string& device) {
    TrialRecord t;
    t.job_id = job;
    t.seq = seq;
    t.device_key = device;
    t.workload_key = absl::StrCat("w", Pick(4));
    t.build_id = absl::StrCat("0.1.0-00000000000", Pick(3));
    t.settings = absl::StrCat("threads=", Pick(2));
    t.config = absl::StrCat("tile=", Pick(6));
    t.config_json = "{}";
    static constexpr const char* kStatuses[] = {
        "OK", "OK", "OK", "OK", "OK", "OK", "WRONG_OUTPUT", "TIMEOUT", "CRASH", "COMPILE_ERROR"};
    t.status = kStatuses[Pick(10)];
    static constexpr double kMedians[] = {10, 10, 12, 15, 20};
    static constexpr double kMins[] = {9, 9.5, 9.5, 10};
    t.median_us = kMedians[Pick(5)] - (t.status == "OK" ? 0 : 5);
    t.min_us = kMins[Pick(4)];
    t.kernel = "k";
    t.created_at = absl::StrFormat("2026-11-28T09:%02d:%02d.000Z", seq / 60 % 60, seq % 60);
    return t;
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % n); }
  std::mt19937 rng_;
};

// Devices dev/a..c with workloads w0..w3; returns a job on each device.
std::vector<std::string> AddDevicesAndJobs(Store& store, const std::string& job_prefix) {
  std::vector<std::string> jobs;
  for (const char* device : {"dev/a", "dev/b", "dev/c"}) {
    EXPECT_TRUE(store.UpsertDevice({.device_key = device, .build_id = "0.1.0-000000000001"}).ok());
    for (int w = 0; w < 4; ++w) {
      EXPECT_TRUE(
          store.UpsertWorkload({absl::StrCat("w", w), "conv2d", "int8", "s", 1000 * (w + 1)}).ok());
    }
    absl::StatusOr<std::string> job =
        store.CreateJob({.job_id = absl::StrCat(job_prefix, device), .device_key = device});
    EXPECT_TRUE(job.ok()) << job.status();
    jobs.push_back(job.ok() ? *job : "");
  }
  return jobs;
}

// `batches` batches of `per_batch` trials spread over the jobs of AddDevicesAndJobs();
// checks the agreement after each when `check` is set.
void AddBatches(Store& store, const std::string& path, const std::vector<std::string>& jobs,
                TrialMaker& maker, int batches, int per_batch, bool check, int64_t& seq) {
  static constexpr const char* kDevices[] = {"dev/a", "dev/b", "dev/c"};
  for (int b = 0; b < batches; ++b) {
    std::vector<TrialRecord> batch;
    for (int i = 0; i < per_batch; ++i, ++seq) {
      const size_t d = static_cast<size_t>(seq % 3);
      batch.push_back(maker.Next(jobs[d], seq, kDevices[d]));
    }
    ASSERT_TRUE(store.AddTrials(batch).ok());
    if (check) ExpectAgreement(path, absl::StrCat("after batch ", b));
  }
}

TEST(MaintainedBestTest, AgreesWithTheWindowQueryAfterEveryBatch) {
  const std::string path = ScratchDir() + "/q.db";
  auto store = OpenOrDie(path);
  const std::vector<std::string> jobs = AddDevicesAndJobs(*store, "job-");
  TrialMaker maker(1);
  int64_t seq = 0;
  AddBatches(*store, path, jobs, maker, 25, 40, /*check=*/true, seq);
  // A device seen with another build: `best` follows it.
  ASSERT_TRUE(store->UpsertDevice({.device_key = "dev/b", .build_id = "0.1.0-000000000002"}).ok());
  ExpectAgreement(path, "after a build change");
  AddBatches(*store, path, jobs, maker, 5, 40, /*check=*/true, seq);
  // Every triple with OK trials has a row; the API reads the same.
  EXPECT_EQ(Raw(path, "SELECT count(*) FROM best_by_build"), "36");  // 3 x 4 x 3
  absl::StatusOr<std::vector<BestRecord>> all = store->Best({.builds = Filter::Builds::kAll});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 36u);
  absl::StatusOr<std::vector<BuildRecord>> builds = store->Builds();
  ASSERT_TRUE(builds.ok());
  for (const BuildRecord& b : *builds) {
    const std::string where = absl::StrCat(
        " FROM trials t JOIN devices d ON d.id = t.device_ref JOIN builds b ON b.id = "
        "t.build_ref WHERE d.device_key = '",
        b.device_key, "' AND b.build_id = '", b.build_id, "'");
    EXPECT_EQ(absl::StrCat(b.trials), Raw(path, absl::StrCat("SELECT count(*)", where)));
    EXPECT_EQ(absl::StrCat(b.ok_trials),
              Raw(path, absl::StrCat("SELECT count(*)", where, " AND t.status = 'OK'")));
  }
}

TEST(MaintainedBestTest, AgreesAfterImport) {
  const std::string dir = ScratchDir();
  auto source = OpenOrDie(dir + "/source.db");
  TrialMaker maker(2);
  int64_t seq = 0;
  AddBatches(*source, dir + "/source.db", AddDevicesAndJobs(*source, "imported-"), maker, 10, 60,
             false, seq);
  std::ostringstream exported;
  ASSERT_TRUE(source->Export(exported).ok());

  // Into an empty database, and into one with trials of its own.
  auto fresh = OpenOrDie(dir + "/fresh.db");
  std::istringstream in(exported.str());
  ASSERT_TRUE(fresh->Import(in).ok());
  ExpectAgreement(dir + "/fresh.db", "import into an empty database");
  EXPECT_EQ(RawRows(dir + "/fresh.db", Sorted(kBestColumns, "SELECT * FROM best_by_build")),
            RawRows(dir + "/source.db", Sorted(kBestColumns, "SELECT * FROM best_by_build")));

  auto mixed = OpenOrDie(dir + "/mixed.db");
  TrialMaker other(3);
  int64_t other_seq = 0;
  AddBatches(*mixed, dir + "/mixed.db", AddDevicesAndJobs(*mixed, "local-"), other, 10, 60, false,
             other_seq);
  std::istringstream again(exported.str());
  absl::StatusOr<ImportStats> stats = mixed->Import(again);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->trials, 600);
  ExpectAgreement(dir + "/mixed.db", "import into a database with trials");
  // Importing the same again adds nothing and changes nothing.
  const auto before = RawRows(dir + "/mixed.db", "SELECT * FROM trial_counts");
  std::istringstream third(exported.str());
  stats = mixed->Import(third);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->trials, 0);
  EXPECT_EQ(RawRows(dir + "/mixed.db", "SELECT * FROM trial_counts"), before);
  ExpectAgreement(dir + "/mixed.db", "a repeated import");
}

// Someone with sqlite3 deletes and corrects trials: the triggers keep the
// maintained tables right.
TEST(MaintainedBestTest, FollowsDeletesAndUpdatesMadeWithSqlite3) {
  const std::string path = ScratchDir() + "/q.db";
  {
    auto store = OpenOrDie(path);
    TrialMaker maker(4);
    int64_t seq = 0;
    AddBatches(*store, path, AddDevicesAndJobs(*store, "job-"), maker, 10, 60, false, seq);
  }
  const std::pair<const char*, const char*> edits[] = {
      {"the best of some triples deleted",
       "DELETE FROM trials WHERE id IN (SELECT trial_ref FROM best_trials "
       "WHERE workload_ref % 2 = 0)"},
      {"bests made slower",
       "UPDATE trials SET median_us = median_us + 100 "
       "WHERE id IN (SELECT trial_ref FROM best_trials WHERE build_ref = 2)"},
      {"a failure made OK and fastest",
       "UPDATE trials SET status = 'OK', median_us = 1 WHERE id = "
       "(SELECT min(id) FROM trials WHERE status = 'TIMEOUT')"},
      {"OK trials marked wrong", "UPDATE trials SET status = 'WRONG_OUTPUT' WHERE id % 5 = 0"},
      {"trials moved to another build and settings",
       "UPDATE trials SET build_ref = 2, settings_ref = 2 WHERE id % 7 = 0"},
      {"ids renumbered", "UPDATE trials SET id = id + 10000 WHERE id % 11 = 0"},
      {"a workload's trials deleted", "DELETE FROM trials WHERE workload_ref = 1"},
      {"every OK trial of a device deleted",
       "DELETE FROM trials WHERE status = 'OK' AND device_ref = 3"},
  };
  for (const auto& [what, sql] : edits) {
    Raw(path, sql);
    ExpectAgreement(path, what);
  }
  Raw(path, "DELETE FROM trials");
  ExpectAgreement(path, "every trial deleted");
  EXPECT_EQ(Raw(path, "SELECT count(*) FROM best_trials"), "0");
  EXPECT_EQ(Raw(path, "SELECT count(*) FROM trial_counts"), "0");
}

// A version-2 file with data: the migration fills the maintained tables from
// it, and `best` answers exactly as the version-2 view did.
TEST(MaintainedBestTest, MigratesAVersionTwoDatabase) {
  const std::string path = ScratchDir() + "/v2.db";
  // 3 devices x 4 workloads x 3 builds x 2 settings, 2,400 trials whose
  // latencies repeat (ties of median, and of median and min), a fifth of
  // them failed (every trial of 7 triples).
  testing::CreateAtVersion(
      path, 2,
      "INSERT INTO devices (device_key, info_json, first_seen, last_seen) VALUES "
      "  ('dev/a', '{}', '2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z'),"
      "  ('dev/b', '{}', '2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z'),"
      "  ('dev/c', '{}', '2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z');"
      "INSERT INTO builds (build_id) VALUES ('0.1.0-000000000001'), ('0.1.0-000000000002');"
      "INSERT INTO settings (settings) VALUES ('threads=0');"
      "INSERT INTO device_builds (device_ref, build_ref, info_json, first_seen, last_seen) "
      "  SELECT d.id, b.id, '', '2026-11-01T00:00:00.000Z', "
      "    '2026-11-0' || (1 + (d.id + b.id) % 3) || 'T00:00:00.000Z' "
      "  FROM devices d, builds b WHERE b.id > 1;"
      "INSERT INTO workloads (workload_key, op_kind, dtype, macs) VALUES "
      "  ('w0', 'conv2d', 'int8', 1000), ('w1', 'conv2d', 'int8', 2000),"
      "  ('w2', 'dense', 'fp32', 3000), ('w3', 'dense', 'int8', 4000);"
      "INSERT INTO jobs (job_id, device_ref, state, created_at) "
      "  SELECT 'job-' || id, id, 'done', '2026-11-01T00:00:00.000Z' FROM devices;"
      "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2400) "
      "INSERT INTO trials (job_ref, seq, device_ref, workload_ref, build_ref, settings_ref, "
      "  config, status, median_us, min_us, created_at) "
      "SELECT 1 + i % 3, i, 1 + i % 3, 1 + (i / 3) % 4, 1 + (i / 12) % 3, 1 + (i / 7) % 2, "
      "  'tile=' || (i % 13), CASE WHEN i % 3 = 0 AND i % 4 = 0 THEN 'WRONG_OUTPUT' "
      "    WHEN i % 9 = 1 THEN 'TIMEOUT' ELSE 'OK' END, "
      "  10 + (i * 7919) % 5, 9 + (i * 104729) % 3 * 0.5, '2026-11-01T00:00:00.000Z' "
      "FROM n;");
  const std::string all = absl::StrCat(kBestColumns, ", device_ref, build_ref");
  const auto v2_best_by_build = RawRows(path, Sorted(all, "SELECT * FROM best_by_build"));
  const auto v2_best = RawRows(path, Sorted(kBestColumns, "SELECT * FROM best"));
  ASSERT_EQ(v2_best_by_build.size(), 29u);  // of 36 triples, 7 have no OK trial
  ASSERT_FALSE(v2_best.empty());

  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), 4);
  EXPECT_EQ(RawRows(path, Sorted(all, "SELECT * FROM best_by_build")), v2_best_by_build);
  EXPECT_EQ(RawRows(path, Sorted(kBestColumns, "SELECT * FROM best")), v2_best);
  ExpectAgreement(path, "after the migration");
  EXPECT_EQ(Raw(path,
                "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema "
                "WHERE type = 'index' AND tbl_name = 'trials' AND sql IS NOT NULL "
                "ORDER BY name)"),
            "trials_config,trials_ok");
  EXPECT_EQ(Raw(path, "PRAGMA foreign_key_check"), "");

  // And it stays right as trials come in.
  TrialMaker maker(5);
  std::vector<TrialRecord> batch;
  for (int64_t seq = 10000; seq < 10300; ++seq) {
    TrialRecord t = maker.Next("job-1", seq, "dev/a");
    t.workload_key = "w0";
    t.settings = "threads=0";
    batch.push_back(t);
  }
  ASSERT_TRUE(store->AddTrials(batch).ok());
  ExpectAgreement(path, "after trials added to the migrated database");
}

// ---------------------------------------------------------------------------
// Bounded reads of one slice.

class SliceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ScratchDir() + "/q.db";
    store_ = OpenOrDie(path_);
    ASSERT_TRUE(store_->UpsertDevice({.device_key = "dev"}).ok());
    ASSERT_TRUE(store_->UpsertWorkload({"w", "conv2d", "int8", "s", 1000}).ok());
    ASSERT_TRUE(store_->CreateJob({.job_id = "job", .device_key = "dev"}).ok());
  }
  // One trial of the slice (dev, w, kBuild, kSettings).
  void Add(const std::string& config, const std::string& status, double median, double min = 0) {
    TrialRecord t;
    t.job_id = "job";
    t.seq = ++seq_;
    t.device_key = "dev";
    t.workload_key = "w";
    t.build_id = kBuild;
    t.settings = kSettings;
    t.config = config;
    t.status = status;
    t.median_us = median;
    t.min_us = min > 0 ? min : median;
    ASSERT_TRUE(store_->AddTrials({t}).ok());
  }
  std::vector<std::pair<double, double>> Latencies(int best, int spread) {
    absl::StatusOr<std::vector<TrialRecord>> sample = store_->Sample(kSlice, best, spread);
    EXPECT_TRUE(sample.ok()) << sample.status();
    std::vector<std::pair<double, double>> out;
    if (sample.ok()) {
      for (const TrialRecord& t : *sample) out.emplace_back(t.median_us, t.min_us);
    }
    return out;
  }

  static constexpr char kBuild[] = "0.1.0-000000000001";
  static constexpr char kSettings[] = "threads=0";
  const Slice kSlice{"dev", "w", kBuild, kSettings};
  std::string path_;
  std::unique_ptr<Store> store_;
  int64_t seq_ = 0;
};

TEST_F(SliceTest, TrialCountsPerSliceAndStatus) {
  Add("a=1", "OK", 5);
  Add("a=2", "OK", 6);
  Add("a=3", "TIMEOUT", 0);
  absl::StatusOr<std::vector<TrialCount>> counts = store_->TrialCounts();
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->size(), 2u);
  EXPECT_EQ((*counts)[0].status, "OK");
  EXPECT_EQ((*counts)[0].trials, 2);
  EXPECT_EQ((*counts)[0].build_id, kBuild);
  EXPECT_EQ((*counts)[0].settings, kSettings);
  EXPECT_EQ((*counts)[1].status, "TIMEOUT");
  EXPECT_EQ((*counts)[1].trials, 1);
  EXPECT_EQ(store_->TrialCounts({.device_key = "dev", .settings = kSettings})->size(), 2u);
  EXPECT_TRUE(store_->TrialCounts({.settings = "threads=1"})->empty());
  EXPECT_TRUE(store_->TrialCounts({.dtype = "fp32"})->empty());
  EXPECT_EQ(store_->TrialCounts({.job_id = "job"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SliceTest, MeasuredConfigsAreDistinctAndALoneRetryableFailureIsLeftOut) {
  for (int i = 0; i < 20; ++i) Add("a=1", "OK", 5);  // a long run: skipped by a seek
  Add("a=2", "TIMEOUT", 0);                          // alone: may be retried
  Add("a=3", "TIMEOUT", 0);
  Add("a=3", "TIMEOUT", 0);  // twice: measured
  Add("a=4", "WRONG_OUTPUT", 0);
  for (int i = 0; i < 7; ++i) Add("a=5", i % 2 ? "CRASH" : "OK", 7);
  absl::StatusOr<std::vector<std::string>> configs =
      store_->MeasuredConfigs(kSlice, {"TIMEOUT", "CRASH"});
  ASSERT_TRUE(configs.ok()) << configs.status();
  EXPECT_THAT(*configs, ElementsAre("a=1", "a=3", "a=4", "a=5"));
  EXPECT_THAT(*store_->MeasuredConfigs(kSlice), ElementsAre("a=1", "a=2", "a=3", "a=4", "a=5"));
  // Another slice, or one the database has never seen.
  EXPECT_TRUE(store_->MeasuredConfigs({"dev", "w", kBuild, "threads=1"})->empty());
  EXPECT_TRUE(store_->MeasuredConfigs({"nope", "w", kBuild, kSettings})->empty());
}

TEST_F(SliceTest, SampleTakesTheBestThenASpreadOverLogLatency) {
  for (int us = 100; us >= 1; --us) Add(absl::StrCat("a=", us), "OK", us);
  Add("fast=but_failed", "WRONG_OUTPUT", 0.5);
  // The 3 fastest, then the first at or above 3 * (100 / 3)^(1/2) = 17.3,
  // and the slowest.
  EXPECT_THAT(Latencies(3, 2),
              ElementsAre(std::pair{1.0, 1.0}, std::pair{2.0, 2.0}, std::pair{3.0, 3.0},
                          std::pair{18.0, 18.0}, std::pair{100.0, 100.0}));
  EXPECT_EQ(Latencies(1, 0).size(), 1u);
  EXPECT_EQ(Latencies(100, 100).size(), 100u);  // fewer than asked: every OK trial
  const int spread = 50;
  std::vector<std::pair<double, double>> sample = Latencies(1, spread);
  EXPECT_LE(sample.size(), 51u);
  EXPECT_TRUE(std::is_sorted(sample.begin(), sample.end()));
  EXPECT_EQ(sample.back().first, 100.0);
  EXPECT_EQ(store_->Sample(kSlice, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Sample(kSlice, 1, -1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->Sample({"dev", "w", kBuild, "threads=1"}, 4, 4)->empty());
}

TEST_F(SliceTest, SampleRanksTiesLikeBestAndSkipsEqualMedians) {
  Add("a", "OK", 10, 9);
  Add("copy_of_a", "OK", 10, 9);
  Add("lower_min", "OK", 10, 8.5);  // of the 10 us ones, first: lower min
  Add("slower", "OK", 11, 8);
  Add("b", "OK", 20, 19);  // of two equal, the earlier
  Add("copy_of_b", "OK", 20, 19);
  absl::StatusOr<std::vector<TrialRecord>> sample = store_->Sample(kSlice, 5, 0);
  ASSERT_TRUE(sample.ok()) << sample.status();
  std::vector<std::string> configs;
  for (const TrialRecord& t : *sample) configs.push_back(t.config);
  EXPECT_THAT(configs, ElementsAre("lower_min", "slower", "b"));
  // The first of the sample is the slice's `best`.
  absl::StatusOr<std::vector<BestRecord>> best = store_->Best({.build_id = kBuild});
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->size(), 1u);
  EXPECT_EQ((*best)[0].config, "lower_min");
}

}  // namespace
}  // namespace qtune::db
