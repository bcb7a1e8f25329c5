-- 0004_measurement_context: what the agent saw while it timed a trial, and
-- the agents a daemon was asked to dial.
--
-- Trials gain the measurement's coefficient of variation, the load from
-- other processes, how often the timing was repeated because of it, and the
-- core's frequency and the hottest thermal zone where Linux exposes them.
-- Stored as small integers (0 = not measured / not readable), so that a
-- trial stays small: cv in thousandths, outside load in hundredths of a core,
-- MHz, tenths of a degree Celsius.
ALTER TABLE trials ADD COLUMN cv_permille INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN load_centicores INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN remeasures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN cpu_mhz INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN temp_decidegrees INTEGER NOT NULL DEFAULT 0;

DROP VIEW history;
CREATE VIEW history AS
SELECT t.id, j.job_id, t.seq, d.device_key, w.workload_key, w.op_kind, w.dtype,
       w.shape, b.build_id, s.settings, t.task, t.config, t.config_json, t.status, t.message,
       t.kernel, t.median_us, t.min_us, t.stddev_us, t.repeats, t.compile_ms,
       t.measure_ms, t.created_at, t.cv_permille / 1000.0 AS cv,
       t.load_centicores / 100.0 AS outside_load, t.remeasures, t.cpu_mhz,
       t.temp_decidegrees / 10.0 AS temp_c
FROM trials t
JOIN jobs j ON j.id = t.job_ref
JOIN devices d ON d.id = t.device_ref
JOIN workloads w ON w.id = t.workload_ref
JOIN builds b ON b.id = t.build_ref
JOIN settings s ON s.id = t.settings_ref;

-- Agents added to a daemon's pool with `qtune devices add`: a restarted
-- daemon dials them again (with its --agent-token; tokens are not stored).
-- Agents that join with --register come back by their heartbeats.
CREATE TABLE pool_agents (
  id           INTEGER PRIMARY KEY,
  address      TEXT NOT NULL UNIQUE,       -- HOST:PORT
  added_at     TEXT NOT NULL
);
