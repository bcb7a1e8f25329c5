#include "db/record_json.h"

#include "common/status_macros.h"

namespace qtune::db::internal {

void AddFields(JsonLine& line, const DeviceRecord& r) {
  line.Str("device_key", r.device_key)
      .Str("arch", r.arch)
      .Str("cpu_name", r.cpu_name)
      .Int("cores", r.cores)
      .Str("info_json", r.info_json)
      .Str("first_seen", r.first_seen)
      .Str("last_seen", r.last_seen);
}

void AddFields(JsonLine& line, const WorkloadRecord& r) {
  line.Str("workload_key", r.workload_key)
      .Str("op_kind", r.op_kind)
      .Str("dtype", r.dtype)
      .Str("shape", r.shape)
      .Int("macs", r.macs);
}

void AddFields(JsonLine& line, const JobRecord& r) {
  line.Str("job_id", r.job_id)
      .Str("model", r.model)
      .Str("device_key", r.device_key)
      .Str("state", r.state)
      .Str("args_json", r.args_json)
      .Str("created_at", r.created_at)
      .Str("finished_at", r.finished_at)
      .Str("name", r.name)
      .Str("owner", r.owner)
      .Str("heartbeat_at", r.heartbeat_at);
}

void AddFields(JsonLine& line, const TaskRecord& r) {
  line.Str("job_id", r.job_id)
      .Str("name", r.name)
      .Str("workload_key", r.workload_key)
      .Int("occurrences", r.occurrences);
}

void AddFields(JsonLine& line, const TrialRecord& r) {
  line.Str("job_id", r.job_id)
      .Int("seq", r.seq)
      .Str("device_key", r.device_key)
      .Str("workload_key", r.workload_key)
      .Str("build_id", r.build_id.empty() ? kUnknownBuild : r.build_id)
      .Str("settings", r.settings.empty() ? kUnknownSettings : r.settings)
      .Str("task", r.task)
      .Str("config", r.config)
      .Str("config_json", r.config_json)
      .Str("status", r.status)
      .Str("message", r.message)
      .Str("kernel", r.kernel)
      .Double("median_us", r.median_us)
      .Double("min_us", r.min_us)
      .Double("stddev_us", r.stddev_us)
      .Int("repeats", r.repeats)
      .Double("compile_ms", r.compile_ms)
      .Double("measure_ms", r.measure_ms)
      .Str("created_at", r.created_at);
}

void AddFields(JsonLine& line, const BestRecord& r) {
  line.Str("device_key", r.device_key)
      .Str("workload_key", r.workload_key)
      .Str("op_kind", r.op_kind)
      .Str("dtype", r.dtype)
      .Str("shape", r.shape)
      .Int("macs", r.macs)
      .Str("build_id", r.build_id)
      .Str("config", r.config)
      .Str("config_json", r.config_json)
      .Str("kernel", r.kernel)
      .Double("median_us", r.median_us)
      .Double("min_us", r.min_us)
      .Double("gops", Gops(r.macs, r.median_us))
      .Int("trials", r.trials)
      .Int("ok_trials", r.ok_trials)
      .Str("job_id", r.job_id)
      .Str("created_at", r.created_at);
}

void AddFields(JsonLine& line, const BuildRecord& r) {
  line.Str("device_key", r.device_key)
      .Str("build_id", r.build_id)
      .Str("info_json", r.info_json)
      .Str("first_seen", r.first_seen)
      .Str("last_seen", r.last_seen)
      .Int("trials", r.trials)
      .Int("ok_trials", r.ok_trials)
      .Bool("current", r.current);
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
  return in.Finish();
}

double Gops(int64_t macs, double median_us) {
  if (!(median_us > 0)) return 0;
  return 2.0 * static_cast<double>(macs) / (median_us * 1e3);
}

}  // namespace qtune::db::internal
