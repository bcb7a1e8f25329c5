// File: test_util.h
// Helpers shared by the db tests: scratch files and a small populated store.
#ifndef QTUNE_TESTS_DB_TEST_UTIL_H_
#define QTUNE_TESTS_DB_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qtune/db/store.h"

namespace qtune::db::testing {

// A fresh, empty directory for this test, private to this process and
// removed when the process exits.
std::string ScratchDir();

// The whole content of a file ("" when missing).
std::string ReadFileBytes(const std::string& path);
void WriteFileBytes(const std::string& path, const std::string& bytes);

// Runs SQL on `path` with the plain SQLite API (no qtune code involved) and
// returns the first column of the first row, if any.
std::string Raw(const std::string& path, const std::string& sql);

// Every row of one query on `path` (plain SQLite API), each column as text
// ("NULL" for NULL), in the query's order.
std::vector<std::vector<std::string>> RawRows(const std::string& path, const std::string& sql);

// Writes a qtune database of schema `version` at `path` with the plain
// SQLite API, as a qtune of that version would have: its application id, the
// migrations 1..version, their schema_version rows; then runs `data_sql`
// (rows to migrate). Fails the test on an error.
void CreateAtVersion(const std::string& path, int version, const std::string& data_sql);

// Store::Open, failing the test (and returning null) on an error.
std::unique_ptr<Store> OpenOrDie(const std::string& path,
                                 Store::Mode mode = Store::Mode::kCreateIfMissing);

// A trial with the given latency; other fields are plausible defaults.
TrialRecord MakeTrial(const std::string& job_id, int64_t seq, const std::string& device,
                      const std::string& workload, const std::string& status, double median_us);

// Fills `store` with: device "dev/a" (and "dev/b"), workloads "conv/int8/a"
// (1e6 MACs, int8), "conv/fp32/a" (1e6 MACs, fp32), "dense/int8/b" (only
// failures), one job on dev/a with tasks and trials (OK and failed), one job
// on dev/b. Returns the first job's id.
std::string Populate(Store& store);

}  // namespace qtune::db::testing

#endif  // QTUNE_TESTS_DB_TEST_UTIL_H_
