// File: record_json.h (internal to qtune_db)
// The JSON members of each record type, shared by Store::Export/Import (which
// prefix a "table" member) and `qtune db ... --json`. Member names are the
// record field names and are part of the export format: keep them stable.
#ifndef QTUNE_DB_RECORD_JSON_H_
#define QTUNE_DB_RECORD_JSON_H_

#include <cstdint>

#include "absl/status/status.h"
#include "common/json.h"
#include "qtune/db/store.h"

namespace qtune::db::internal {

using json::JsonFields;
using json::JsonLine;

void AddFields(JsonLine& line, const DeviceRecord& r);
void AddFields(JsonLine& line, const WorkloadRecord& r);
void AddFields(JsonLine& line, const JobRecord& r);
void AddFields(JsonLine& line, const TaskRecord& r);
void AddFields(JsonLine& line, const TrialRecord& r);
// Adds "gops" after "min_us".
void AddFields(JsonLine& line, const BestRecord& r);
void AddFields(JsonLine& line, const BuildRecord& r);

// Read the members written by AddFields; natural-key members are required,
// the others default to the record's defaults.
absl::Status ReadFields(JsonFields& in, DeviceRecord* r);
absl::Status ReadFields(JsonFields& in, WorkloadRecord* r);
absl::Status ReadFields(JsonFields& in, JobRecord* r);
absl::Status ReadFields(JsonFields& in, TaskRecord* r);
absl::Status ReadFields(JsonFields& in, TrialRecord* r);
absl::Status ReadFields(JsonFields& in, BuildRecord* r);

// Throughput in GOP/s for `macs` multiply-accumulates (2 ops each) taking
// `median_us` microseconds; 0 when the latency is not positive.
double Gops(int64_t macs, double median_us);

}  // namespace qtune::db::internal

#endif  // QTUNE_DB_RECORD_JSON_H_
