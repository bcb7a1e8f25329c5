// Kernel builds, measurement settings, and jobs whose process died
// (schema version 2).
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qtune/db/store.h"
#include "tests/db/test_util.h"

namespace qtune::db {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeTrial;
using testing::OpenOrDie;
using testing::Raw;
using testing::ScratchDir;

constexpr char kOld[] = "0.1.0-000000000001";
constexpr char kNew[] = "0.1.0-000000000002";

// A device seen with `build`, and a job on it.
std::string StartJob(Store& store, const std::string& build, const std::string& name = "") {
  EXPECT_TRUE(store.UpsertDevice({.device_key = "dev", .info_json = "{}", .build_id = build}).ok());
  EXPECT_TRUE(store.UpsertWorkload({"conv/int8/a", "conv2d", "int8", "1x1", 1000}).ok());
  absl::StatusOr<std::string> job = store.CreateJob({.device_key = "dev", .name = name});
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? *job : "";
}

TrialRecord Trial(const std::string& job, int64_t seq, const std::string& build, double us) {
  TrialRecord t = MakeTrial(job, seq, "dev", "conv/int8/a", "OK", us);
  t.build_id = build;
  t.settings = "warmup=1,min_ms=20,repeats=3..1000,threads=0,flush=0";
  return t;
}

TEST(BuildsTest, BestRanksTheCurrentBuildUnlessAskedForMore) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  const std::string old_job = StartJob(*store, kOld);
  ASSERT_TRUE(store->AddTrials({Trial(old_job, 1, kOld, 10), Trial(old_job, 2, kOld, 12)}).ok());
  const std::string new_job = StartJob(*store, kNew);
  ASSERT_TRUE(store->AddTrials({Trial(new_job, 1, kNew, 30)}).ok());

  absl::StatusOr<std::string> current = store->CurrentBuild("dev");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(*current, kNew);
  // The faster old kernel does not hide behind the new build's result.
  absl::StatusOr<std::vector<BestRecord>> best = store->Best();
  ASSERT_TRUE(best.ok()) << best.status();
  ASSERT_EQ(best->size(), 1u);
  EXPECT_EQ((*best)[0].build_id, kNew);
  EXPECT_EQ((*best)[0].median_us, 30);
  EXPECT_EQ((*best)[0].trials, 1);

  best = store->Best({.builds = Filter::Builds::kAll});
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->size(), 2u);
  EXPECT_EQ((*best)[0].build_id, kOld);
  EXPECT_EQ((*best)[0].median_us, 10);
  EXPECT_EQ((*best)[0].trials, 2);
  best = store->Best({.build_id = kOld});
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->size(), 1u);
  EXPECT_EQ((*best)[0].median_us, 10);

  absl::StatusOr<std::vector<BuildRecord>> builds = store->Builds();
  ASSERT_TRUE(builds.ok()) << builds.status();
  ASSERT_EQ(builds->size(), 2u);
  EXPECT_EQ((*builds)[0].build_id, kOld);
  EXPECT_FALSE((*builds)[0].current);
  EXPECT_EQ((*builds)[0].trials, 2);
  EXPECT_EQ((*builds)[1].build_id, kNew);
  EXPECT_TRUE((*builds)[1].current);
  EXPECT_EQ((*builds)[1].info_json, "{}");

  // History lists every build unless told otherwise.
  EXPECT_EQ(store->History()->size(), 3u);
  EXPECT_EQ(store->History({.builds = Filter::Builds::kCurrent})->size(), 1u);
  EXPECT_EQ(store->History({.build_id = kOld})->size(), 2u);
  EXPECT_EQ((*store->History({.build_id = kNew}))[0].settings,
            "warmup=1,min_ms=20,repeats=3..1000,threads=0,flush=0");
}

TEST(BuildsTest, ExportAndImportKeepBuilds) {
  const std::string dir = ScratchDir();
  auto source = OpenOrDie(dir + "/a.db");
  const std::string a = StartJob(*source, kOld);
  ASSERT_TRUE(source->AddTrials({Trial(a, 1, kOld, 10)}).ok());
  const std::string b = StartJob(*source, kNew);
  ASSERT_TRUE(source->AddTrials({Trial(b, 1, kNew, 30)}).ok());
  std::ostringstream exported;
  ASSERT_TRUE(source->Export(exported).ok());
  EXPECT_THAT(exported.str(), HasSubstr("\"table\":\"builds\""));

  auto target = OpenOrDie(dir + "/b.db");
  std::istringstream in(exported.str());
  absl::StatusOr<ImportStats> stats = target->Import(in);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->builds, 2);
  std::ostringstream again;
  ASSERT_TRUE(target->Export(again).ok());
  EXPECT_EQ(again.str(), exported.str());
  absl::StatusOr<std::vector<BestRecord>> best = target->Best();
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->size(), 1u);
  EXPECT_EQ((*best)[0].build_id, kNew);
}

TEST(BuildsTest, ImportedTrialsWithoutBuildsBelongToTheUnknownBuild) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  std::istringstream in(
      "{\"table\":\"devices\",\"device_key\":\"d\"}\n"
      "{\"table\":\"workloads\",\"workload_key\":\"w\",\"op_kind\":\"dense\",\"dtype\":\"int8\"}\n"
      "{\"table\":\"jobs\",\"job_id\":\"j\",\"device_key\":\"d\",\"state\":\"done\"}\n"
      "{\"table\":\"trials\",\"job_id\":\"j\",\"seq\":1,\"device_key\":\"d\",\"workload_key\":\"w\","
      "\"config\":\"a=1\",\"status\":\"OK\",\"median_us\":5}\n");
  ASSERT_TRUE(store->Import(in).ok());
  absl::StatusOr<std::vector<BestRecord>> best = store->Best();
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->size(), 1u);
  EXPECT_EQ((*best)[0].build_id, kUnknownBuild);
  EXPECT_EQ((*store->History())[0].settings, kUnknownSettings);
}

// A database written by schema version 1 (before builds): its trials become
// build 'unknown', and its running jobs interrupted.
TEST(BuildsTest, MigratesAVersionOneDatabase) {
  const std::string path = ScratchDir() + "/v1.db";
  testing::CreateAtVersion(
      path, 1,
      "INSERT INTO devices (device_key, info_json, first_seen, last_seen) VALUES "
      "  ('dev', '{\"cores\":2}', '2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z');"
      "INSERT INTO workloads (workload_key, op_kind, dtype) VALUES ('w', 'conv2d', 'int8');"
      "INSERT INTO jobs (job_id, device_ref, state, created_at) VALUES "
      "  ('old', 1, 'running', '2026-11-01T00:00:00.000Z');"
      "INSERT INTO trials (job_ref, seq, device_ref, workload_ref, config, status, median_us, "
      "  created_at) VALUES (1, 1, 1, 1, 'a=1', 'OK', 7, '2026-11-01T00:00:01.000Z'),"
      "  (1, 2, 1, 1, 'a=2', 'OK', 6, '2026-11-01T00:00:02.000Z');");
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), 4);
  absl::StatusOr<std::vector<TrialRecord>> trials = store->History();
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 2u);
  for (const TrialRecord& t : *trials) {
    EXPECT_EQ(t.build_id, kUnknownBuild);
    EXPECT_EQ(t.settings, kUnknownSettings);
  }
  EXPECT_EQ(Raw(path, "SELECT group_concat(id) FROM trials"), "1,2");  // row ids kept
  absl::StatusOr<std::vector<BestRecord>> best = store->Best();
  ASSERT_TRUE(best.ok());
  ASSERT_EQ(best->size(), 1u);
  EXPECT_EQ((*best)[0].median_us, 6);
  EXPECT_EQ((*best)[0].build_id, kUnknownBuild);
  absl::StatusOr<std::vector<BuildRecord>> builds = store->Builds();
  ASSERT_TRUE(builds.ok());
  ASSERT_EQ(builds->size(), 1u);
  EXPECT_EQ((*builds)[0].info_json, "{\"cores\":2}");
  EXPECT_TRUE((*builds)[0].current);
  EXPECT_EQ(store->Jobs()->front().state, "interrupted");
  EXPECT_EQ(Raw(path, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(Raw(path, "PRAGMA foreign_key_check"), "");

  // A new build of the device becomes current; the old results stay.
  ASSERT_TRUE(store->UpsertDevice({.device_key = "dev", .build_id = kNew}).ok());
  EXPECT_EQ(*store->CurrentBuild("dev"), kNew);
  EXPECT_TRUE(store->Best()->empty());
  EXPECT_EQ(store->Best({.builds = Filter::Builds::kAll})->size(), 1u);
}

// ---------------------------------------------------------------------------
// Jobs whose tuner died.

TEST(JobOwnerTest, TellsLiveFromDeadOwners) {
  EXPECT_FALSE(JobOwnerGone(CurrentJobOwner(), ""));
  const std::string host = CurrentJobOwner().substr(0, CurrentJobOwner().find(':'));
  // pid 1 exists, but was not started at tick 1 by this test.
  EXPECT_TRUE(JobOwnerGone(absl::StrCat(host, ":1:1"), ""));
  EXPECT_TRUE(JobOwnerGone(absl::StrCat(host, ":999999999:5"), ""));
  // Another host: the heartbeat decides.
  const std::string fresh = NowTimestamp();
  EXPECT_FALSE(JobOwnerGone("elsewhere:12:34", fresh));
  const std::string stale = absl::FormatTime(
      "%Y-%m-%dT%H:%M:%E3SZ",
      absl::Now() - absl::Seconds(kJobHeartbeatTimeoutSeconds + 60), absl::UTCTimeZone());
  EXPECT_TRUE(JobOwnerGone("elsewhere:12:34", stale));
  EXPECT_TRUE(JobOwnerGone("", ""));
}

TEST(JobOwnerTest, AnOwnerElsewhereIsGoneExactlyWhenItsHeartbeatIsStale) {
  FakeClock clock;
  const std::string beat = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", clock.Now(), absl::UTCTimeZone());
  for (int seconds = 0; seconds <= 2 * kJobHeartbeatTimeoutSeconds; seconds += 45) {
    FakeClock later(clock.Now() + absl::Seconds(seconds));
    EXPECT_EQ(JobOwnerGone("elsewhere:12:34", beat, later), seconds > kJobHeartbeatTimeoutSeconds)
        << seconds << " s after the heartbeat";
  }
}

TEST(JobOwnerTest, AJobWhoseProcessDiedIsInterruptedAndCanBeResumed) {
  const std::string path = ScratchDir() + "/q.db";
  OpenOrDie(path).reset();
  // A tuner process that creates a job and dies without finishing it.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path);
    if (!store.ok()) _exit(2);
    StartJob(**store, kNew, "nightly");
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  auto store = OpenOrDie(path);
  EXPECT_EQ(Raw(path, "SELECT state FROM jobs"), "running");  // as it was left
  absl::StatusOr<std::vector<JobRecord>> jobs = store->Jobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state, "interrupted");
  absl::StatusOr<JobRecord> job = store->FindJob("nightly");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state, "interrupted");

  ASSERT_TRUE(store->ResumeJob(job->job_id).ok());
  job = store->FindJob("nightly");
  EXPECT_EQ(job->state, "running");
  EXPECT_EQ(job->owner, CurrentJobOwner());
  // Now it is ours and alive: nobody else may take it, and it cannot be
  // created twice.
  absl::Status again = store->ResumeJob(job->job_id);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("still running"));
  EXPECT_EQ(store->CreateJob({.device_key = "dev", .name = "nightly"}).status().code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(store->FinishJob(job->job_id, "done").ok());
  again = store->ResumeJob(job->job_id);
  EXPECT_THAT(again.message(), HasSubstr("is done"));
  EXPECT_TRUE(absl::IsNotFound(store->FindJob("other").status()));
}

TEST(JobOwnerTest, TrialsAreAHeartbeat) {
  auto store = OpenOrDie(ScratchDir() + "/q.db");
  const std::string job = StartJob(*store, kNew);
  ASSERT_TRUE(store->Heartbeat(job).ok());
  const std::string before = store->Jobs()->front().heartbeat_at;
  absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(store->AddTrials({Trial(job, 1, kNew, 1)}).ok());
  EXPECT_GT(store->Jobs()->front().heartbeat_at, before);
  EXPECT_TRUE(absl::IsNotFound(store->Heartbeat("nope")));
}

}  // namespace
}  // namespace qtune::db
