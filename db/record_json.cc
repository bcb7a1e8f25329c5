#include "db/record_json.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace qtune::db::internal {
namespace {

absl::Status Missing(absl::string_view key) {
  return absl::InvalidArgumentError(absl::StrCat("missing member \"", key, "\""));
}
absl::Status WrongType(absl::string_view key, absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat("member \"", key, "\" must be ", want));
}

}  // namespace

JsonFields::JsonFields(const Json& object) : object_(object) {}

const Json* JsonFields::Find(absl::string_view key) {
  auto it = object_.find(std::string(key));
  if (it == object_.end()) return nullptr;
  used_.emplace(key);
  return it->is_null() ? nullptr : &*it;
}

absl::Status JsonFields::GetString(absl::string_view key, std::string* out, bool required) {
  const Json* v = Find(key);
  if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
  if (!v->is_string()) return WrongType(key, "a string");
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status JsonFields::GetBool(absl::string_view key, bool* out, bool required) {
  const Json* v = Find(key);
  if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
  if (!v->is_boolean()) return WrongType(key, "true or false");
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status JsonFields::GetInt(absl::string_view key, int64_t* out, bool required) {
  const Json* v = Find(key);
  if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
  if (v->is_number_integer() && !v->is_number_unsigned()) {
    *out = v->get<int64_t>();
  } else if (v->is_number_unsigned() &&
             v->get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    *out = static_cast<int64_t>(v->get<uint64_t>());
  } else {
    return WrongType(key, "a 64-bit integer");
  }
  return absl::OkStatus();
}

absl::Status JsonFields::GetInt32(absl::string_view key, int32_t* out, bool required) {
  int64_t wide = *out;
  if (absl::Status s = GetInt(key, &wide, required); !s.ok()) return s;
  if (wide < std::numeric_limits<int32_t>::min() || wide > std::numeric_limits<int32_t>::max()) {
    return WrongType(key, "a 32-bit integer");
  }
  *out = static_cast<int32_t>(wide);
  return absl::OkStatus();
}

absl::Status JsonFields::GetDouble(absl::string_view key, double* out, bool required) {
  const Json* v = Find(key);
  if (v == nullptr) return required ? Missing(key) : absl::OkStatus();
  if (!v->is_number() || !std::isfinite(v->get<double>())) {
    return WrongType(key, "a finite number");
  }
  *out = v->get<double>();
  return absl::OkStatus();
}

absl::Status JsonFields::Finish() const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (used_.find(it.key()) == used_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown member \"", it.key(), "\""));
    }
  }
  return absl::OkStatus();
}

void AddFields(Json& line, const DeviceRecord& r) {
  line["device_key"] = r.device_key;
  line["arch"] = r.arch;
  line["cpu_name"] = r.cpu_name;
  line["cores"] = r.cores;
  line["info_json"] = r.info_json;
  line["first_seen"] = r.first_seen;
  line["last_seen"] = r.last_seen;
}

void AddFields(Json& line, const WorkloadRecord& r) {
  line["workload_key"] = r.workload_key;
  line["op_kind"] = r.op_kind;
  line["dtype"] = r.dtype;
  line["shape"] = r.shape;
  line["macs"] = r.macs;
}

void AddFields(Json& line, const JobRecord& r) {
  line["job_id"] = r.job_id;
  line["model"] = r.model;
  line["device_key"] = r.device_key;
  line["state"] = r.state;
  line["args_json"] = r.args_json;
  line["created_at"] = r.created_at;
  line["finished_at"] = r.finished_at;
  line["name"] = r.name;
  line["owner"] = r.owner;
  line["heartbeat_at"] = r.heartbeat_at;
}

void AddFields(Json& line, const TaskRecord& r) {
  line["job_id"] = r.job_id;
  line["name"] = r.name;
  line["workload_key"] = r.workload_key;
  line["occurrences"] = r.occurrences;
}

void AddFields(Json& line, const TrialRecord& r) {
  line["job_id"] = r.job_id;
  line["seq"] = r.seq;
  line["device_key"] = r.device_key;
  line["workload_key"] = r.workload_key;
  line["build_id"] = r.build_id.empty() ? kUnknownBuild : r.build_id;
  line["settings"] = r.settings.empty() ? kUnknownSettings : r.settings;
  line["task"] = r.task;
  line["config"] = r.config;
  line["config_json"] = r.config_json;
  line["status"] = r.status;
  line["message"] = r.message;
  line["kernel"] = r.kernel;
  line["median_us"] = json::Number(r.median_us);
  line["min_us"] = json::Number(r.min_us);
  line["stddev_us"] = json::Number(r.stddev_us);
  line["repeats"] = r.repeats;
  line["compile_ms"] = json::Number(r.compile_ms);
  line["measure_ms"] = json::Number(r.measure_ms);
  line["created_at"] = r.created_at;
  line["cv"] = json::Number(r.cv);
  line["outside_load"] = json::Number(r.outside_load);
  line["remeasures"] = r.remeasures;
  line["cpu_mhz"] = json::Number(r.cpu_mhz);
  line["temp_c"] = json::Number(r.temp_c);
}

void AddFields(Json& line, const BestRecord& r) {
  line["device_key"] = r.device_key;
  line["workload_key"] = r.workload_key;
  line["op_kind"] = r.op_kind;
  line["dtype"] = r.dtype;
  line["shape"] = r.shape;
  line["macs"] = r.macs;
  line["build_id"] = r.build_id;
  line["config"] = r.config;
  line["config_json"] = r.config_json;
  line["kernel"] = r.kernel;
  line["median_us"] = json::Number(r.median_us);
  line["min_us"] = json::Number(r.min_us);
  line["gops"] = json::Number(Gops(r.macs, r.median_us));
  line["trials"] = r.trials;
  line["ok_trials"] = r.ok_trials;
  line["job_id"] = r.job_id;
  line["created_at"] = r.created_at;
}

void AddFields(Json& line, const BuildRecord& r) {
  line["device_key"] = r.device_key;
  line["build_id"] = r.build_id;
  line["info_json"] = r.info_json;
  line["first_seen"] = r.first_seen;
  line["last_seen"] = r.last_seen;
  line["trials"] = r.trials;
  line["ok_trials"] = r.ok_trials;
  line["current"] = r.current;
}

absl::Status ReadFields(JsonFields& in, BuildRecord* r) {
  QTUNE_RETURN_IF_ERROR(in.GetString("device_key", &r->device_key, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("build_id", &r->build_id, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("info_json", &r->info_json));
  QTUNE_RETURN_IF_ERROR(in.GetString("first_seen", &r->first_seen));
  QTUNE_RETURN_IF_ERROR(in.GetString("last_seen", &r->last_seen));
  // Derived columns: written for readers, recomputed by the store.
  int64_t ignored = 0;
  bool ignored_flag = false;
  QTUNE_RETURN_IF_ERROR(in.GetInt("trials", &ignored));
  QTUNE_RETURN_IF_ERROR(in.GetInt("ok_trials", &ignored));
  QTUNE_RETURN_IF_ERROR(in.GetBool("current", &ignored_flag));
  return in.Finish();
}

absl::Status ReadFields(JsonFields& in, DeviceRecord* r) {
  QTUNE_RETURN_IF_ERROR(in.GetString("device_key", &r->device_key, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("arch", &r->arch));
  QTUNE_RETURN_IF_ERROR(in.GetString("cpu_name", &r->cpu_name));
  QTUNE_RETURN_IF_ERROR(in.GetInt32("cores", &r->cores));
  QTUNE_RETURN_IF_ERROR(in.GetString("info_json", &r->info_json));
  QTUNE_RETURN_IF_ERROR(in.GetString("first_seen", &r->first_seen));
  QTUNE_RETURN_IF_ERROR(in.GetString("last_seen", &r->last_seen));
  return in.Finish();
}

absl::Status ReadFields(JsonFields& in, WorkloadRecord* r) {
  QTUNE_RETURN_IF_ERROR(in.GetString("workload_key", &r->workload_key, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("op_kind", &r->op_kind));
  QTUNE_RETURN_IF_ERROR(in.GetString("dtype", &r->dtype));
  QTUNE_RETURN_IF_ERROR(in.GetString("shape", &r->shape));
  QTUNE_RETURN_IF_ERROR(in.GetInt("macs", &r->macs));
  return in.Finish();
}

absl::Status ReadFields(JsonFields& in, JobRecord* r) {
  QTUNE_RETURN_IF_ERROR(in.GetString("job_id", &r->job_id, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("model", &r->model));
  QTUNE_RETURN_IF_ERROR(in.GetString("device_key", &r->device_key, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("state", &r->state));
  QTUNE_RETURN_IF_ERROR(in.GetString("args_json", &r->args_json));
  QTUNE_RETURN_IF_ERROR(in.GetString("created_at", &r->created_at));
  QTUNE_RETURN_IF_ERROR(in.GetString("finished_at", &r->finished_at));
  QTUNE_RETURN_IF_ERROR(in.GetString("name", &r->name));
  QTUNE_RETURN_IF_ERROR(in.GetString("owner", &r->owner));
  QTUNE_RETURN_IF_ERROR(in.GetString("heartbeat_at", &r->heartbeat_at));
  return in.Finish();
}

absl::Status ReadFields(JsonFields& in, TaskRecord* r) {
  QTUNE_RETURN_IF_ERROR(in.GetString("job_id", &r->job_id, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("name", &r->name, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("workload_key", &r->workload_key, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetInt32("occurrences", &r->occurrences));
  return in.Finish();
}

absl::Status ReadFields(JsonFields& in, TrialRecord* r) {
  QTUNE_RETURN_IF_ERROR(in.GetString("job_id", &r->job_id, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetInt("seq", &r->seq, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("device_key", &r->device_key, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("workload_key", &r->workload_key, /*required=*/true));
  QTUNE_RETURN_IF_ERROR(in.GetString("build_id", &r->build_id));
  QTUNE_RETURN_IF_ERROR(in.GetString("settings", &r->settings));
  QTUNE_RETURN_IF_ERROR(in.GetString("task", &r->task));
  QTUNE_RETURN_IF_ERROR(in.GetString("config", &r->config));
  QTUNE_RETURN_IF_ERROR(in.GetString("config_json", &r->config_json));
  QTUNE_RETURN_IF_ERROR(in.GetString("status", &r->status));
  QTUNE_RETURN_IF_ERROR(in.GetString("message", &r->message));
  QTUNE_RETURN_IF_ERROR(in.GetString("kernel", &r->kernel));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("median_us", &r->median_us));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("min_us", &r->min_us));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("stddev_us", &r->stddev_us));
  QTUNE_RETURN_IF_ERROR(in.GetInt32("repeats", &r->repeats));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("compile_ms", &r->compile_ms));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("measure_ms", &r->measure_ms));
  QTUNE_RETURN_IF_ERROR(in.GetString("created_at", &r->created_at));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("cv", &r->cv));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("outside_load", &r->outside_load));
  QTUNE_RETURN_IF_ERROR(in.GetInt32("remeasures", &r->remeasures));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("cpu_mhz", &r->cpu_mhz));
  QTUNE_RETURN_IF_ERROR(in.GetDouble("temp_c", &r->temp_c));
  return in.Finish();
}

double Gops(int64_t macs, double median_us) {
  if (!(median_us > 0)) return 0;
  return 2.0 * static_cast<double>(macs) / (median_us * 1e3);
}

}  // namespace qtune::db::internal
