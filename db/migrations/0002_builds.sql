-- 0002_builds: every trial names the kernel build that measured it and the
-- measurement settings it ran under; jobs get a name, an owner and a
-- heartbeat so that a job whose tuner died shows as interrupted and can be
-- resumed. Trials recorded before this migration belong to build 'unknown'
-- and settings 'unknown'.

-- Kernel builds: DeviceInfo.kernel_build_id of the agent that measured a
-- trial, "<version>-<12 hex digits>" derived at build time from the kernel
-- and measurement sources (docs/db-schema.md).
CREATE TABLE builds (
  id           INTEGER PRIMARY KEY,
  build_id     TEXT NOT NULL UNIQUE
);
INSERT INTO builds (id, build_id) VALUES (1, 'unknown');

-- The timing-relevant measurement settings of a trial, canonical text
-- ("warmup=1,min_ms=20,repeats=3..1000,threads=0,flush=0").
CREATE TABLE settings (
  id           INTEGER PRIMARY KEY,
  settings     TEXT NOT NULL UNIQUE
);
INSERT INTO settings (id, settings) VALUES (1, 'unknown');

-- Each build a device was seen with: the DeviceInfo the agent of that build
-- reported (devices.info_json holds only the latest), and when. The current
-- build of a device is its row with the latest last_seen (ties: higher id).
CREATE TABLE device_builds (
  id           INTEGER PRIMARY KEY,
  device_ref   INTEGER NOT NULL REFERENCES devices (id),
  build_ref    INTEGER NOT NULL REFERENCES builds (id),
  info_json    TEXT NOT NULL DEFAULT '',
  first_seen   TEXT NOT NULL,
  last_seen    TEXT NOT NULL,
  UNIQUE (device_ref, build_ref)
);
INSERT INTO device_builds (device_ref, build_ref, info_json, first_seen, last_seen)
SELECT d.id, 1, d.info_json, d.first_seen, d.last_seen FROM devices d;

-- trials gains build_ref and settings_ref; SQLite cannot add a referencing
-- column with a non-NULL default, so the table is rebuilt (row ids kept).
DROP VIEW best;
DROP VIEW history;
CREATE TABLE trials_v2 (
  id           INTEGER PRIMARY KEY,        -- insertion order
  job_ref      INTEGER NOT NULL REFERENCES jobs (id),
  seq          INTEGER NOT NULL,           -- position within the job
  device_ref   INTEGER NOT NULL REFERENCES devices (id),
  workload_ref INTEGER NOT NULL REFERENCES workloads (id),
  build_ref    INTEGER NOT NULL REFERENCES builds (id),
  settings_ref INTEGER NOT NULL REFERENCES settings (id),
  task         TEXT NOT NULL DEFAULT '',   -- task name, may be empty
  config       TEXT NOT NULL,              -- canonical config string
  config_json  TEXT NOT NULL DEFAULT '',   -- {"knob": value, ...}
  status       TEXT NOT NULL,              -- TrialStatus name: OK, WRONG_OUTPUT, ...
  message      TEXT NOT NULL DEFAULT '',   -- why, for every status but OK
  kernel       TEXT NOT NULL DEFAULT '',
  median_us    REAL NOT NULL DEFAULT 0,
  min_us       REAL NOT NULL DEFAULT 0,
  stddev_us    REAL NOT NULL DEFAULT 0,
  repeats      INTEGER NOT NULL DEFAULT 0,
  compile_ms   REAL NOT NULL DEFAULT 0,
  measure_ms   REAL NOT NULL DEFAULT 0,
  created_at   TEXT NOT NULL,
  UNIQUE (job_ref, seq)
);
INSERT INTO trials_v2 (id, job_ref, seq, device_ref, workload_ref, build_ref, settings_ref,
                       task, config, config_json, status, message, kernel, median_us, min_us,
                       stddev_us, repeats, compile_ms, measure_ms, created_at)
SELECT id, job_ref, seq, device_ref, workload_ref, 1, 1, task, config, config_json, status,
       message, kernel, median_us, min_us, stddev_us, repeats, compile_ms, measure_ms, created_at
FROM trials;
DROP TABLE trials;
ALTER TABLE trials_v2 RENAME TO trials;
-- History per device / workload, and the trial counts of `best`.
CREATE INDEX trials_device_workload ON trials (device_ref, workload_ref, build_ref, status);
CREATE INDEX trials_workload ON trials (workload_ref);
-- The ranking of `best` reads OK trials in this order without sorting.
CREATE INDEX trials_ok ON trials (device_ref, workload_ref, build_ref, median_us, min_us, id)
  WHERE status = 'OK';

-- Jobs: an optional user-given name (unique when set; `qtune tune --job-name`
-- resumes an interrupted job of that name), the process that runs it
-- ("host:pid:start", start = the process start time in clock ticks since
-- boot, so a reused pid is not mistaken for the owner) and its last sign of
-- life. A 'running' job whose owner is gone is 'interrupted'.
ALTER TABLE jobs ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN heartbeat_at TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX jobs_name ON jobs (name) WHERE name != '';
-- Jobs of 0001 were never resumable: a 'running' one was interrupted.
UPDATE jobs SET state = 'interrupted' WHERE state = 'running';

-- The current build of each device (see device_builds).
CREATE VIEW current_builds AS
SELECT b.device_ref, b.build_ref FROM device_builds b
WHERE NOT EXISTS (
  SELECT 1 FROM device_builds o
  WHERE o.device_ref = b.device_ref
    AND (o.last_seen > b.last_seen OR (o.last_seen = b.last_seen AND o.id > b.id)));

-- Every trial with the natural keys of what it references, in insertion
-- order of `id`.
CREATE VIEW history AS
SELECT t.id, j.job_id, t.seq, d.device_key, w.workload_key, w.op_kind, w.dtype,
       w.shape, b.build_id, s.settings, t.task, t.config, t.config_json, t.status, t.message,
       t.kernel, t.median_us, t.min_us, t.stddev_us, t.repeats, t.compile_ms,
       t.measure_ms, t.created_at
FROM trials t
JOIN jobs j ON j.id = t.job_ref
JOIN devices d ON d.id = t.device_ref
JOIN workloads w ON w.id = t.workload_ref
JOIN builds b ON b.id = t.build_ref
JOIN settings s ON s.id = t.settings_ref;

-- The best OK trial per (device, workload, build): the lowest median
-- latency; ties go to the lower min latency, then to the earlier trial.
-- `trials` counts every trial of the triple (failures included), `ok_trials`
-- the OK ones; triples without an OK trial have no row. gops = 2 * macs /
-- median latency, in GOP/s.
CREATE VIEW best_by_build AS
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
WHERE r.pos = 1;

-- `best`: best_by_build restricted to each device's current build, so that
-- latencies of old and new kernels are never mixed.
CREATE VIEW best AS
SELECT bb.device_key, bb.workload_key, bb.op_kind, bb.dtype, bb.shape, bb.macs, bb.build_id,
       bb.config, bb.config_json, bb.kernel, bb.median_us, bb.min_us, bb.gops, bb.trials,
       bb.ok_trials, bb.job_id, bb.created_at
FROM best_by_build bb
JOIN current_builds cb ON cb.device_ref = bb.device_ref AND cb.build_ref = bb.build_ref;
