// File: record_json.h (internal to qtune_db)
// The JSON members of each record type, shared by Store::Export/Import (which
// prefix a "table" member) and `qtune db ... --json`. Member names are the
// record field names and are part of the export format: keep them stable.
#ifndef QTUNE_DB_RECORD_JSON_H_
#define QTUNE_DB_RECORD_JSON_H_

#include <cstdint>
#include <set>
#include <string>


#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/json.h"
#include "qtune/db/store.h"

namespace qtune::db::internal {

using json::Json;

// Typed access to the members of a parsed JSON object, for readers that want
// every member accounted for: Get* marks a member as used; Finish() fails on
// members that were never asked for. Errors are INVALID_ARGUMENT naming the
// member. `object` must outlive this.
class JsonFields {
 public:
  explicit JsonFields(const Json& object);

  // Leaves *out unchanged when the member is absent (or null) and !required.
  absl::Status GetString(absl::string_view key, std::string* out, bool required = false);
  absl::Status GetBool(absl::string_view key, bool* out, bool required = false);
  absl::Status GetInt(absl::string_view key, int64_t* out, bool required = false);
  absl::Status GetInt32(absl::string_view key, int32_t* out, bool required = false);
  absl::Status GetDouble(absl::string_view key, double* out, bool required = false);
  // INVALID_ARGUMENT naming the first unused member.
  absl::Status Finish() const;

 private:
  // The member `key`, marked as used; null when absent.
  const Json* Find(absl::string_view key);
  const Json& object_;
  std::set<std::string, std::less<>> used_;  // member names asked for
};

void AddFields(Json& line, const DeviceRecord& r);
void AddFields(Json& line, const WorkloadRecord& r);
void AddFields(Json& line, const JobRecord& r);
void AddFields(Json& line, const TaskRecord& r);
void AddFields(Json& line, const TrialRecord& r);
// Adds "gops" after "min_us".
void AddFields(Json& line, const BestRecord& r);
void AddFields(Json& line, const BuildRecord& r);

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
