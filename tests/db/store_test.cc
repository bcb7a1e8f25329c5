#include "qtune/db/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <thread>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/db/test_util.h"

namespace qtune::db {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::MakeTrial;
using testing::OpenOrDie;
using testing::Raw;
using testing::Populate;
using testing::ReadFileBytes;
using testing::ScratchDir;
using testing::WriteFileBytes;


std::string ExportString(const Store& store, const Filter& filter = {}) {
  std::ostringstream out;
  absl::Status s = store.Export(out, filter);
  EXPECT_TRUE(s.ok()) << s;
  return out.str();
}

// ---------------------------------------------------------------------------
// Opening, migrations, refusing foreign files.

TEST(StoreOpenTest, FreshDatabaseGetsLatestSchema) {
  std::string path = ScratchDir() + "/q.db";
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), 4);
  EXPECT_EQ(store->path(), path);
  store.reset();
  EXPECT_EQ(Raw(path, "PRAGMA application_id"), std::to_string(0x7174756e));
  EXPECT_EQ(Raw(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(Raw(path, "SELECT group_concat(version || ':' || name) FROM schema_version"),
            "1:initial,2:builds,3:maintained_best,4:measurement_context");
  for (const char* table : {"devices", "workloads", "jobs", "tasks", "trials", "builds",
                            "settings", "device_builds", "trial_counts", "best_trials", "pool_agents"}) {
    EXPECT_EQ(Raw(path, std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                     "AND name = '") + table + "'"),
              "1")
        << table;
  }
  // history, best, best_by_build, current_builds
  EXPECT_EQ(Raw(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'view'"), "4");
}

TEST(StoreOpenTest, ReopeningIsANoOp) {
  std::string path = ScratchDir() + "/q.db";
  std::string applied = [&] {
    auto store = OpenOrDie(path);
    Populate(*store);
    return Raw(path, "SELECT applied_at FROM schema_version");
  }();
  std::string before = ExportString(*OpenOrDie(path, Store::Mode::kReadOnly));
  for (Store::Mode mode : {Store::Mode::kCreateIfMissing, Store::Mode::kMustExist,
                           Store::Mode::kReadOnly}) {
    auto store = OpenOrDie(path, mode);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->schema_version(), 4);
    EXPECT_EQ(ExportString(*store), before);
  }
  EXPECT_EQ(Raw(path, "SELECT count(*) FROM schema_version"), "4");
  EXPECT_EQ(Raw(path, "SELECT applied_at FROM schema_version"), applied);
}

TEST(StoreOpenTest, MissingFileModes) {
  std::string dir = ScratchDir();
  for (Store::Mode mode : {Store::Mode::kMustExist, Store::Mode::kReadOnly}) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir + "/missing.db", mode);
    EXPECT_TRUE(absl::IsNotFound(store.status())) << store.status();
    EXPECT_FALSE(std::filesystem::exists(dir + "/missing.db"));
  }
  EXPECT_TRUE(absl::IsInvalidArgument(Store::Open("").status()));
}

TEST(StoreOpenTest, EmptyFileIsInitializedForWritingButRefusedReadOnly) {
  std::string path = ScratchDir() + "/empty.db";
  WriteFileBytes(path, "");
  absl::StatusOr<std::unique_ptr<Store>> ro = Store::Open(path, Store::Mode::kReadOnly);
  EXPECT_TRUE(absl::IsFailedPrecondition(ro.status())) << ro.status();
  EXPECT_EQ(ReadFileBytes(path), "");
  auto store = OpenOrDie(path, Store::Mode::kMustExist);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), 4);
}

// Every refusal must leave the file byte for byte as it was, and the message
// must be one line.
void ExpectRefused(const std::string& path, const std::string& why) {
  std::string before = ReadFileBytes(path);
  for (Store::Mode mode : {Store::Mode::kCreateIfMissing, Store::Mode::kMustExist,
                           Store::Mode::kReadOnly}) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, mode);
    ASSERT_FALSE(store.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(why));
    EXPECT_EQ(store.status().message().find('\n'), std::string::npos);
  }
  EXPECT_EQ(std::hash<std::string>()(ReadFileBytes(path)), std::hash<std::string>()(before));
  EXPECT_EQ(ReadFileBytes(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(path + "-journal"));
}

TEST(StoreOpenTest, RefusesRandomBytes) {
  std::string path = ScratchDir() + "/random.bin";
  std::mt19937 rng(42);
  std::string bytes(8192, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  WriteFileBytes(path, bytes);
  ExpectRefused(path, "not a SQLite database");
  WriteFileBytes(path, "hello, I am a text file\n");
  ExpectRefused(path, "not a SQLite database");
}

TEST(StoreOpenTest, RefusesSqliteMagicWithGarbage) {
  std::string path = ScratchDir() + "/corrupt.db";
  std::string bytes(4096, '\x5a');
  std::memcpy(bytes.data(), "SQLite format 3", 16);
  WriteFileBytes(path, bytes);
  ExpectRefused(path, "corrupt.db");
}

TEST(StoreOpenTest, RefusesSqliteDatabaseOfAnotherProgram) {
  std::string dir = ScratchDir();
  std::string plain = dir + "/other.db";
  Raw(plain, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);"
             "INSERT INTO notes (text) VALUES ('keep me');");
  ExpectRefused(plain, "not a qtune database");
  EXPECT_EQ(Raw(plain, "SELECT text FROM notes"), "keep me");

  std::string tagged = dir + "/tagged.db";
  Raw(tagged, "PRAGMA application_id = 305419896; CREATE TABLE t (x);");
  ExpectRefused(tagged, "application_id 0x12345678");

  // A foreign database in WAL mode, too.
  std::string wal = dir + "/wal.db";
  Raw(wal, "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);");
  ExpectRefused(wal, "not a qtune database");
}

TEST(StoreOpenTest, RefusesNewerSchemaVersion) {
  std::string path = ScratchDir() + "/future.db";
  OpenOrDie(path).reset();
  Raw(path, "INSERT INTO schema_version (version, name, applied_at) "
            "VALUES (999, 'from_the_future', '2030-01-01T00:00:00.000Z')");
  ExpectRefused(path, "schema version 999, newer than this qtune (4)");
}

TEST(StoreOpenTest, RefusesDirectory) {
  std::string dir = ScratchDir();
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir);
  EXPECT_TRUE(absl::IsFailedPrecondition(store.status())) << store.status();
}

// ---------------------------------------------------------------------------
// Writes.

TEST(StoreWriteTest, UpsertDeviceUpdatesInPlace) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  DeviceRecord d;
  d.device_key = "x86_64/avx512_vnni/zen4/2c";
  d.arch = "x86_64";
  d.cpu_name = "old name";
  d.cores = 2;
  ASSERT_TRUE(store->UpsertDevice(d).ok());
  auto first = store->Devices();
  ASSERT_TRUE(first.ok());
  d.cpu_name = "new name";
  d.cores = 4;
  ASSERT_TRUE(store->UpsertDevice(d).ok());
  auto devices = store->Devices();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ((*devices)[0].cpu_name, "new name");
  EXPECT_EQ((*devices)[0].cores, 4);
  EXPECT_EQ((*devices)[0].first_seen, (*first)[0].first_seen);
  EXPECT_GE((*devices)[0].last_seen, (*first)[0].last_seen);
  EXPECT_THAT((*devices)[0].first_seen,
              ::testing::MatchesRegex(
                  "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"));

  EXPECT_TRUE(absl::IsInvalidArgument(store->UpsertDevice(DeviceRecord{})));
}

TEST(StoreWriteTest, UpsertWorkloadDeduplicates) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  WorkloadRecord w{"conv/int8/k", "conv2d", "int8", "8x8x8", 512};
  ASSERT_TRUE(store->UpsertWorkload(w).ok());
  ASSERT_TRUE(store->UpsertWorkload(w).ok());
  w.shape = "8x8x8 (renamed)";
  ASSERT_TRUE(store->UpsertWorkload(w).ok());
  auto workloads = store->Workloads();
  ASSERT_TRUE(workloads.ok());
  ASSERT_EQ(workloads->size(), 1u);
  EXPECT_EQ((*workloads)[0].shape, "8x8x8 (renamed)");
  EXPECT_EQ((*workloads)[0].macs, 512);
  EXPECT_TRUE(absl::IsInvalidArgument(store->UpsertWorkload({"k", "", "int8", "", 1})));
  EXPECT_TRUE(absl::IsInvalidArgument(store->UpsertWorkload({"k", "conv2d", "int8", "", -1})));
}

TEST(StoreWriteTest, Jobs) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  JobRecord job;
  job.device_key = "nowhere";
  EXPECT_TRUE(absl::IsNotFound(store->CreateJob(job).status()));

  ASSERT_TRUE(store->UpsertDevice({.device_key = "dev"}).ok());
  job.device_key = "dev";
  job.model = "resnet18";
  absl::StatusOr<std::string> id = store->CreateJob(job);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_THAT(*id, ::testing::MatchesRegex(
                       "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  absl::StatusOr<std::string> id2 = store->CreateJob(job);
  ASSERT_TRUE(id2.ok());
  EXPECT_NE(*id, *id2);

  job.job_id = *id;
  EXPECT_TRUE(absl::IsAlreadyExists(store->CreateJob(job).status()));
  job.job_id = "";
  job.state = "sleeping";
  EXPECT_TRUE(absl::IsInvalidArgument(store->CreateJob(job).status()));

  auto jobs = store->Jobs({.job_id = *id});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state, "running");
  EXPECT_EQ((*jobs)[0].finished_at, "");
  EXPECT_EQ((*jobs)[0].model, "resnet18");

  ASSERT_TRUE(store->FinishJob(*id, "done").ok());
  jobs = store->Jobs({.job_id = *id});
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ((*jobs)[0].state, "done");
  EXPECT_NE((*jobs)[0].finished_at, "");
  EXPECT_TRUE(absl::IsNotFound(store->FinishJob("no-such-job", "done")));
  EXPECT_TRUE(absl::IsInvalidArgument(store->FinishJob(*id, "running")));
  EXPECT_TRUE(absl::IsInvalidArgument(store->FinishJob(*id, "exploded")));
}

TEST(StoreWriteTest, AddTasksUpsertsByName) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  std::string job = Populate(*store);
  ASSERT_TRUE(store->AddTasks({{job, "fc", "dense/int8/b", 2}}).ok());
  auto tasks = store->Tasks({.job_id = job});
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 3u);
  EXPECT_EQ((*tasks)[0].name, "layer1.0.conv1");
  EXPECT_EQ((*tasks)[2].name, "fc");
  EXPECT_EQ((*tasks)[2].occurrences, 2);
  // One bad task: none of the batch lands.
  EXPECT_TRUE(absl::IsNotFound(
      store->AddTasks({{job, "new1", "conv/int8/a", 1}, {job, "new2", "no/such", 1}})));
  tasks = store->Tasks({.job_id = job});
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ(tasks->size(), 3u);
  auto by_dtype = store->Tasks({.job_id = job, .dtype = "fp32"});
  ASSERT_TRUE(by_dtype.ok());
  ASSERT_EQ(by_dtype->size(), 1u);
  EXPECT_EQ((*by_dtype)[0].workload_key, "conv/fp32/a");
}

TEST(StoreWriteTest, AddTrialsIsAllOrNothing) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  std::string job = Populate(*store);
  auto before = store->History();
  ASSERT_TRUE(before.ok());

  // A reference that does not exist, in the middle of the batch.
  absl::Status s = store->AddTrials({MakeTrial(job, 100, "dev/a", "conv/int8/a", "OK", 5),
                                     MakeTrial(job, 101, "dev/a", "no/such/workload", "OK", 5),
                                     MakeTrial(job, 102, "dev/a", "conv/int8/a", "OK", 5)});
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("trial #1"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("no/such/workload"));

  // A duplicate natural key (job, seq), within the batch and against the db.
  s = store->AddTrials({MakeTrial(job, 100, "dev/a", "conv/int8/a", "OK", 5),
                        MakeTrial(job, 100, "dev/a", "conv/int8/a", "OK", 6)});
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  s = store->AddTrials({MakeTrial(job, 100, "dev/a", "conv/int8/a", "OK", 5),
                        MakeTrial(job, 0, "dev/a", "conv/int8/a", "OK", 6)});
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;

  // Values that cannot be stored faithfully.
  TrialRecord nan = MakeTrial(job, 103, "dev/a", "conv/int8/a", "OK", 5);
  nan.median_us = std::nan("");
  s = store->AddTrials({MakeTrial(job, 100, "dev/a", "conv/int8/a", "OK", 5), nan});
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  TrialRecord no_status = MakeTrial(job, 104, "dev/a", "conv/int8/a", "", 5);
  EXPECT_TRUE(absl::IsInvalidArgument(store->AddTrials({no_status})));

  auto after = store->History();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size());

  ASSERT_TRUE(store->AddTrials({}).ok());
  ASSERT_TRUE(store->AddTrials({MakeTrial(job, 100, "dev/a", "conv/int8/a", "OK", 5),
                                MakeTrial(job, 101, "dev/a", "conv/int8/a", "TIMEOUT", 0)})
                  .ok());
  after = store->History();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size() + 2);
  EXPECT_NE(after->back().created_at, "");
}

TEST(StoreWriteTest, ReadOnlyStoreRefusesWrites) {
  std::string path = ScratchDir() + "/q.db";
  std::string job = Populate(*OpenOrDie(path));
  auto store = OpenOrDie(path, Store::Mode::kReadOnly);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(absl::IsFailedPrecondition(store->UpsertDevice({.device_key = "x"})));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      store->AddTrials({MakeTrial(job, 50, "dev/a", "conv/int8/a", "OK", 5)})));
  std::istringstream in("");
  EXPECT_TRUE(absl::IsFailedPrecondition(store->Import(in).status()));
}

// ---------------------------------------------------------------------------
// Queries.

TEST(StoreQueryTest, BestIgnoresFailuresAndBreaksTies) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  std::string job = Populate(*store);
  // Ties on conv/fp32/a: equal median -> lower min wins; equal both -> earlier.
  TrialRecord tie_a = MakeTrial(job, 10, "dev/a", "conv/fp32/a", "OK", 25);
  TrialRecord tie_b = MakeTrial(job, 11, "dev/a", "conv/fp32/a", "OK", 25);
  TrialRecord tie_c = MakeTrial(job, 12, "dev/a", "conv/fp32/a", "OK", 25);
  tie_a.min_us = 24;
  tie_b.min_us = 20;
  tie_c.min_us = 20;
  ASSERT_TRUE(store->AddTrials({tie_a, tie_b, tie_c}).ok());

  auto best = store->Best();
  ASSERT_TRUE(best.ok()) << best.status();
  // dense/int8/b has only failures: no row. dev/a first, fastest first.
  ASSERT_EQ(best->size(), 3u);
  const BestRecord& a0 = (*best)[0];
  EXPECT_EQ(a0.device_key, "dev/a");
  EXPECT_EQ(a0.workload_key, "conv/int8/a");
  EXPECT_EQ(a0.median_us, 10);  // not the 1 us WRONG_OUTPUT trial
  EXPECT_EQ(a0.config, "tile_m=1");
  EXPECT_EQ(a0.trials, 3);
  EXPECT_EQ(a0.ok_trials, 2);
  EXPECT_EQ(a0.op_kind, "conv2d");
  EXPECT_EQ(a0.dtype, "int8");
  EXPECT_EQ(a0.macs, 1000000);
  EXPECT_EQ(a0.job_id, job);
  EXPECT_EQ(a0.kernel, "conv2d_u8s8u8_direct_4x16c4__generic");

  const BestRecord& a1 = (*best)[1];
  EXPECT_EQ(a1.workload_key, "conv/fp32/a");
  EXPECT_EQ(a1.config, "tile_m=11");  // tie on median: min 20 beats 24; seq 11 before 12
  EXPECT_EQ(a1.trials, 4);
  EXPECT_EQ(a1.ok_trials, 4);

  EXPECT_EQ((*best)[2].device_key, "dev/b");
  EXPECT_EQ((*best)[2].median_us, 30);

  auto filtered = store->Best({.device_key = "dev/a", .dtype = "fp32"});
  ASSERT_TRUE(filtered.ok());
  ASSERT_EQ(filtered->size(), 1u);
  EXPECT_EQ((*filtered)[0].workload_key, "conv/fp32/a");
  auto limited = store->Best({.limit = 1});
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_EQ((*limited)[0].workload_key, "conv/int8/a");
  auto by_job = store->Best({.job_id = "job-b"});
  ASSERT_TRUE(by_job.ok());
  ASSERT_EQ(by_job->size(), 1u);
  EXPECT_EQ((*by_job)[0].device_key, "dev/b");
}

std::vector<int64_t> Seqs(const std::vector<TrialRecord>& trials) {
  std::vector<int64_t> seqs;
  for (const TrialRecord& t : trials) seqs.push_back(t.seq);
  return seqs;
}

TEST(StoreQueryTest, HistoryFilters) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  std::string job = Populate(*store);
  auto all = store->History();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ((*all)[2].status, "WRONG_OUTPUT");
  EXPECT_EQ((*all)[2].message, "failed: WRONG_OUTPUT");
  EXPECT_EQ((*all)[5].job_id, "job-b");

  auto history = [&](const Filter& f) {
    auto h = store->History(f);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? Seqs(*h) : std::vector<int64_t>{};
  };
  EXPECT_THAT(history({.job_id = job}), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(history({.device_key = "dev/b"}), ElementsAre(0));
  EXPECT_THAT(history({.workload_key = "conv/int8/a"}), ElementsAre(0, 1, 2, 0));
  EXPECT_THAT(history({.dtype = "fp32"}), ElementsAre(3));
  EXPECT_THAT(history({.device_key = "dev/a", .dtype = "int8"}), ElementsAre(0, 1, 2, 4));
  EXPECT_THAT(history({.job_id = job, .limit = 2}), ElementsAre(3, 4));  // the last two
  EXPECT_THAT(history({.device_key = "dev/none"}), ElementsAre());
  EXPECT_THAT(history({.workload_key = "conv/fp32/a", .job_id = "job-b"}), ElementsAre());

  const TrialRecord& t = (*all)[1];
  EXPECT_EQ(t.device_key, "dev/a");
  EXPECT_EQ(t.workload_key, "conv/int8/a");
  EXPECT_EQ(t.task, "layer1");
  EXPECT_EQ(t.config_json, "{\"tile_m\":1}");
  EXPECT_EQ(t.min_us, 9);
  EXPECT_EQ(t.repeats, 10);
  EXPECT_EQ(t.compile_ms, 1.25);
}

TEST(StoreQueryTest, WorkloadAndJobFilters) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  std::string job = Populate(*store);
  auto keys = [&](const Filter& f) {
    std::vector<std::string> out;
    auto w = store->Workloads(f);
    EXPECT_TRUE(w.ok()) << w.status();
    if (w.ok()) {
      for (const auto& r : *w) out.push_back(r.workload_key);
    }
    return out;
  };
  EXPECT_THAT(keys({}), ElementsAre("conv/fp32/a", "conv/int8/a", "dense/int8/b"));
  EXPECT_THAT(keys({.dtype = "int8"}), ElementsAre("conv/int8/a", "dense/int8/b"));
  EXPECT_THAT(keys({.device_key = "dev/b"}), ElementsAre("conv/int8/a"));
  EXPECT_THAT(keys({.job_id = job}), ElementsAre("conv/fp32/a", "conv/int8/a", "dense/int8/b"));

  auto jobs = store->Jobs({.device_key = "dev/b"});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].job_id, "job-b");
  jobs = store->Jobs({.dtype = "fp32"});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].job_id, job);
  jobs = store->Jobs({.limit = 1});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].job_id, "job-b");  // the most recent
}

// A reader in another thread, with its own Store, sees whole batches only.
TEST(StoreConcurrencyTest, ReaderSeesWholeBatchesWhileWriterCommits) {
  std::string path = ScratchDir() + "/q.db";
  auto writer = OpenOrDie(path);
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->UpsertDevice({.device_key = "dev"}).ok());
  ASSERT_TRUE(writer->UpsertWorkload({"w", "conv2d", "int8", "s", 100}).ok());
  absl::StatusOr<std::string> job = writer->CreateJob({.job_id = "job", .device_key = "dev"});
  ASSERT_TRUE(job.ok());

  constexpr int kBatches = 40;
  constexpr int kBatchSize = 25;
  std::atomic<bool> done{false};
  std::atomic<bool> reader_stopped{false};
  std::atomic<int> reads{0};
  std::string reader_error;  // written by the reader, read after join()
  std::thread reader([&] {
    struct Stop {
      std::atomic<bool>& flag;
      ~Stop() { flag = true; }
    } stop{reader_stopped};
    auto store = Store::Open(path, Store::Mode::kReadOnly);
    if (!store.ok()) {
      reader_error = store.status().ToString();
      return;
    }
    size_t last = 0;
    while (true) {
      bool finished = done.load();
      auto history = (*store)->History({.job_id = "job"});
      auto best = (*store)->Best();
      if (!history.ok() || !best.ok()) {
        reader_error = "read failed";
        return;
      }
      size_t n = history->size();
      if (n % kBatchSize != 0 || n < last) {
        reader_error = "saw " + std::to_string(n) + " trials after " + std::to_string(last);
        return;
      }
      if (!best->empty() && (*best)[0].trials % kBatchSize != 0) {
        reader_error = "best counted a partial batch";
        return;
      }
      last = n;
      ++reads;
      if (finished) {
        if (n != static_cast<size_t>(kBatches * kBatchSize)) reader_error = "missed trials";
        return;
      }
    }
  });
  // Start writing once the reader is reading, so that the two overlap.
  while (reads.load() == 0 && !reader_stopped.load()) std::this_thread::yield();
  for (int b = 0; b < kBatches; ++b) {
    std::vector<TrialRecord> batch;
    for (int i = 0; i < kBatchSize; ++i) {
      int64_t seq = static_cast<int64_t>(b) * kBatchSize + i;
      batch.push_back(MakeTrial("job", seq, "dev", "w", seq % 7 == 0 ? "CRASH" : "OK",
                                100.0 - static_cast<double>(seq) / 10));
    }
    ASSERT_TRUE(writer->AddTrials(batch).ok());
  }
  done = true;
  reader.join();
  EXPECT_EQ(reader_error, "");
  EXPECT_GT(reads.load(), 0);
}

// ---------------------------------------------------------------------------
// Export / import.

// Trials whose doubles and strings are awkward to carry through text.
void AddAwkwardRows(Store& store, const std::string& job) {
  const double doubles[] = {0.1,
                            1e-300,
                            123456.789012345,
                            1.0 / 3.0,
                            std::numeric_limits<double>::denorm_min(),
                            std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::min(),
                            5e-324 * 3,
                            9007199254740993.0,
                            0.0,
                            2.5};
  std::vector<TrialRecord> trials;
  int64_t seq = 1000;
  for (double d : doubles) {
    TrialRecord t = MakeTrial(job, seq++, "dev/a", "conv/int8/a", "OK", d);
    t.min_us = d / 7;
    t.stddev_us = d * 0.3;
    t.compile_ms = std::nextafter(d, 1.0);
    trials.push_back(t);
  }
  TrialRecord text = MakeTrial(job, seq++, "dev/a", "conv/int8/a", "WRONG_OUTPUT", 0);
  text.message = "max |diff| = 3 at \"out[0,1]\"\nsecond line\ttab \\ backslash / slash";
  text.config = "tile=\x01\x1f\x7f";
  text.config_json = "{\"name\": \"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80\"}";
  text.task = std::string("nul\0byte", 8);
  trials.push_back(text);
  ASSERT_TRUE(store.AddTrials(trials).ok());
  DeviceRecord d;
  d.device_key = "dev/\"quoted\"\n\xe2\x9c\x93";
  d.info_json = "{\"caches\":[1,2,3],\"name\":\"a\\\"b\"}";
  ASSERT_TRUE(store.UpsertDevice(d).ok());
}

TEST(StoreExportTest, RoundTripIsByteExact) {
  std::string dir = ScratchDir();
  auto source = OpenOrDie(dir + "/a.db");
  std::string job = Populate(*source);
  AddAwkwardRows(*source, job);
  std::string first = ExportString(*source);
  EXPECT_THAT(first, HasSubstr("\"median_us\":0.1,"));
  EXPECT_THAT(first, HasSubstr("\"median_us\":1e-300,"));
  EXPECT_THAT(first, HasSubstr("\"median_us\":123456.789012345,"));
  EXPECT_THAT(first, HasSubstr("\\nsecond line\\ttab \\\\ backslash"));
  EXPECT_THAT(first, HasSubstr("caf\xc3\xa9 \xe6\x97\xa5"));
  EXPECT_THAT(first, HasSubstr("\\u0001\\u001f\x7f"));
  EXPECT_THAT(first, HasSubstr("nul\\u0000byte"));
  // Order: devices, workloads, jobs, tasks, trials; "table" first on each line.
  EXPECT_EQ(first.rfind("{\"table\":\"devices\"", 0), 0u);
  EXPECT_LT(first.rfind("\"table\":\"devices\""), first.find("\"table\":\"workloads\""));
  EXPECT_LT(first.rfind("\"table\":\"workloads\""), first.find("\"table\":\"jobs\""));
  EXPECT_LT(first.rfind("\"table\":\"jobs\""), first.find("\"table\":\"tasks\""));
  EXPECT_LT(first.rfind("\"table\":\"tasks\""), first.find("\"table\":\"trials\""));

  auto target = OpenOrDie(dir + "/b.db");
  std::istringstream in(first);
  absl::StatusOr<ImportStats> stats = target->Import(in);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->devices, 3);
  EXPECT_EQ(stats->workloads, 3);
  EXPECT_EQ(stats->jobs, 2);
  EXPECT_EQ(stats->tasks, 3);
  EXPECT_EQ(stats->trials, 6 + 12);
  EXPECT_EQ(stats->skipped, 0);
  EXPECT_EQ(ExportString(*target), first);

  // The doubles came back bit for bit. (Insertion order differs: the import
  // inserts in export order, by job then seq.)
  auto a = source->History();
  auto b = target->History();
  ASSERT_TRUE(a.ok() && b.ok());
  auto by_key = [](const TrialRecord& x, const TrialRecord& y) {
    return std::tie(x.job_id, x.seq) < std::tie(y.job_id, y.seq);
  };
  std::sort(a->begin(), a->end(), by_key);
  std::sort(b->begin(), b->end(), by_key);
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    for (auto field : {&TrialRecord::median_us, &TrialRecord::min_us, &TrialRecord::stddev_us,
                       &TrialRecord::compile_ms, &TrialRecord::measure_ms}) {
      double x = (*a)[i].*field, y = (*b)[i].*field;
      EXPECT_EQ(std::memcmp(&x, &y, sizeof(double)), 0) << i << ": " << x << " vs " << y;
    }
    EXPECT_EQ((*a)[i].task, (*b)[i].task);
    EXPECT_EQ((*a)[i].created_at, (*b)[i].created_at);
  }

  // Importing again adds nothing and changes nothing.
  std::istringstream again(first);
  stats = target->Import(again);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->devices + stats->workloads + stats->jobs + stats->tasks + stats->trials, 0);
  // devices, (device, build) pairs, workloads, jobs, tasks, trials
  EXPECT_EQ(stats->builds, 0);
  EXPECT_EQ(stats->skipped, 3 + 3 + 3 + 2 + 3 + 18);
  EXPECT_EQ(ExportString(*target), first);
}

TEST(StoreExportTest, ImportMergesIntoAnExistingDatabase) {
  std::string dir = ScratchDir();
  auto a = OpenOrDie(dir + "/a.db");
  Populate(*a);
  auto b = OpenOrDie(dir + "/b.db");
  ASSERT_TRUE(b->UpsertDevice({.device_key = "dev/a", .cpu_name = "kept"}).ok());
  std::istringstream in(ExportString(*a));
  auto stats = b->Import(in);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->devices, 1);  // dev/b; dev/a already there
  EXPECT_EQ(stats->skipped, 2);  // dev/a and its (unknown) build
  auto devices = b->Devices();
  ASSERT_TRUE(devices.ok());
  EXPECT_EQ((*devices)[0].cpu_name, "kept");
  EXPECT_EQ(b->History()->size(), 6u);
}

TEST(StoreExportTest, MalformedLineFailsAtomicallyWithItsLineNumber) {
  std::string dir = ScratchDir();
  auto source = OpenOrDie(dir + "/a.db");
  Populate(*source);
  std::string good = ExportString(*source);

  auto target = OpenOrDie(dir + "/b.db");
  std::string before = ExportString(*target);
  auto expect_fails = [&](const std::string& text, const std::string& where,
                          const std::string& why) {
    std::istringstream in(text);
    absl::StatusOr<ImportStats> stats = target->Import(in);
    ASSERT_FALSE(stats.ok());
    EXPECT_THAT(std::string(stats.status().message()), HasSubstr(where)) << stats.status();
    EXPECT_THAT(std::string(stats.status().message()), HasSubstr(why)) << stats.status();
    EXPECT_EQ(ExportString(*target), before);
  };
  // Line 3 of the export, cut in half.
  std::istringstream lines(good);
  std::string text, line;
  for (int i = 1; std::getline(lines, line); ++i) {
    text += (i == 3 ? line.substr(0, line.size() / 2) : line) + "\n";
  }
  expect_fails(text, "import line 3:", "");
  // good + an empty line (skipped, but counted) + the bad line.
  std::string gizmo_line = std::to_string(std::count(good.begin(), good.end(), '\n') + 2);
  expect_fails(good + "\n{\"table\":\"gizmos\"}\n", "import line " + gizmo_line + ":",
               "unknown table");
  expect_fails(good + "{\"table\":\"devices\",\"device_key\":\"x\",\"colour\":\"red\"}\n",
               "import line", "unknown member \"colour\"");
  expect_fails(
      "{\"table\":\"jobs\",\"job_id\":\"j\",\"device_key\":\"nowhere\",\"state\":\"done\"}",
      "import line 1:", "device 'nowhere' not found");
  expect_fails(good + "{\"table\":\"trials\",\"job_id\":\"job-b\",\"seq\":\"one\"}\n",
               "import line", "\"seq\" must be a 64-bit integer");
  expect_fails(good + "{\"table\":\"trials\",\"job_id\":\"job-b\",\"seq\":9,"
                      "\"device_key\":\"dev/b\",\"workload_key\":\"conv/int8/a\","
                      "\"status\":\"OK\",\"median_us\":1e999}\n",
               "import line", "\"median_us\" must be a finite number");
  expect_fails("[1, 2]\n", "import line 1:", "expected '{'");
  expect_fails("{\"table\":\"devices\",\"device_key\":\"a\",\"device_key\":\"b\"}",
               "import line 1:", "duplicate member");
}

TEST(StoreExportTest, FilteredExportIsSelfContained) {
  std::string dir = ScratchDir();
  auto source = OpenOrDie(dir + "/a.db");
  std::string job = Populate(*source);
  std::string text = ExportString(*source, {.device_key = "dev/b"});
  EXPECT_THAT(text, Not(HasSubstr("\"device_key\":\"dev/a\"")));
  EXPECT_THAT(text, Not(HasSubstr(job)));

  auto target = OpenOrDie(dir + "/b.db");
  std::istringstream in(text);
  auto stats = target->Import(in);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->devices, 1);
  EXPECT_EQ(stats->jobs, 1);
  EXPECT_EQ(stats->workloads, 1);
  EXPECT_EQ(stats->trials, 1);
  EXPECT_EQ(ExportString(*target), text);

  // By dtype: only fp32 trials, with the job and device they need.
  std::string fp32 = ExportString(*source, {.dtype = "fp32"});
  auto target2 = OpenOrDie(dir + "/c.db");
  std::istringstream in2(fp32);
  stats = target2->Import(in2);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->trials, 1);
  EXPECT_EQ(stats->tasks, 1);
  EXPECT_EQ(stats->workloads, 1);
}

}  // namespace
}  // namespace qtune::db
