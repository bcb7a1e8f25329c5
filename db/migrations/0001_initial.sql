-- 0001_initial: the first qtune schema.
-- Natural keys are TEXT columns with UNIQUE constraints; rows reference each
-- other through INTEGER row ids in the *_ref columns. Timestamps are UTC
-- ISO-8601 strings with millisecond precision ("2026-11-28T09:24:47.123Z").
-- Latencies are in microseconds, compile and measure times in milliseconds.

CREATE TABLE schema_version (
  version      INTEGER PRIMARY KEY,        -- NNNN of db/migrations/NNNN_name.sql
  name         TEXT NOT NULL,
  applied_at   TEXT NOT NULL
);

CREATE TABLE devices (
  id           INTEGER PRIMARY KEY,
  device_key   TEXT NOT NULL UNIQUE,       -- "x86_64/avx512_vnni/amd-epyc-9b14/2c"
  arch         TEXT NOT NULL DEFAULT '',
  cpu_name     TEXT NOT NULL DEFAULT '',
  cores        INTEGER NOT NULL DEFAULT 0,
  info_json    TEXT NOT NULL DEFAULT '',   -- the full DeviceInfo message as JSON
  first_seen   TEXT NOT NULL,
  last_seen    TEXT NOT NULL
);

CREATE TABLE workloads (
  id           INTEGER PRIMARY KEY,
  workload_key TEXT NOT NULL UNIQUE,       -- kernels::CanonicalKey(op)
  op_kind      TEXT NOT NULL,              -- "conv2d", "dense", ...
  dtype        TEXT NOT NULL,              -- "int8", "fp32"
  shape        TEXT NOT NULL DEFAULT '',   -- kernels::ShapeString(op)
  macs         INTEGER NOT NULL DEFAULT 0 CHECK (macs >= 0)
);
CREATE INDEX workloads_dtype ON workloads (dtype);

CREATE TABLE jobs (
  id           INTEGER PRIMARY KEY,
  job_id       TEXT NOT NULL UNIQUE,       -- random UUID v4
  model        TEXT NOT NULL DEFAULT '',
  device_ref   INTEGER NOT NULL REFERENCES devices (id),
  state        TEXT NOT NULL,              -- running, done, failed, cancelled
  args_json    TEXT NOT NULL DEFAULT '',
  created_at   TEXT NOT NULL,
  finished_at  TEXT NOT NULL DEFAULT ''    -- empty while running
);
CREATE INDEX jobs_device ON jobs (device_ref);

CREATE TABLE tasks (
  id           INTEGER PRIMARY KEY,        -- insertion order
  job_ref      INTEGER NOT NULL REFERENCES jobs (id),
  name         TEXT NOT NULL,              -- "layer1.0.conv1"
  workload_ref INTEGER NOT NULL REFERENCES workloads (id),
  occurrences  INTEGER NOT NULL DEFAULT 1 CHECK (occurrences >= 0),
  UNIQUE (job_ref, name)
);
CREATE INDEX tasks_workload ON tasks (workload_ref);

CREATE TABLE trials (
  id           INTEGER PRIMARY KEY,        -- insertion order
  job_ref      INTEGER NOT NULL REFERENCES jobs (id),
  seq          INTEGER NOT NULL,           -- position within the job
  device_ref   INTEGER NOT NULL REFERENCES devices (id),
  workload_ref INTEGER NOT NULL REFERENCES workloads (id),
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
-- History per device / workload, and the trial counts of `best`.
CREATE INDEX trials_device_workload ON trials (device_ref, workload_ref, status);
CREATE INDEX trials_workload ON trials (workload_ref);
-- The ranking of `best` reads OK trials in this order without sorting.
CREATE INDEX trials_ok ON trials (device_ref, workload_ref, median_us, min_us, id)
  WHERE status = 'OK';

-- Every trial with the natural keys of what it references, in insertion
-- order of `id`.
CREATE VIEW history AS
SELECT t.id, j.job_id, t.seq, d.device_key, w.workload_key, w.op_kind, w.dtype,
       w.shape, t.task, t.config, t.config_json, t.status, t.message, t.kernel,
       t.median_us, t.min_us, t.stddev_us, t.repeats, t.compile_ms,
       t.measure_ms, t.created_at
FROM trials t
JOIN jobs j ON j.id = t.job_ref
JOIN devices d ON d.id = t.device_ref
JOIN workloads w ON w.id = t.workload_ref;

-- The best OK trial per (device, workload): the lowest median latency; ties
-- go to the lower min latency, then to the earlier trial. `trials` counts
-- every trial of the pair (failures included), `ok_trials` the OK ones; pairs
-- without an OK trial have no row. gops = 2 * macs / median latency, in GOP/s.
CREATE VIEW best AS
WITH counts AS (
  SELECT device_ref, workload_ref, COUNT(*) AS trials,
         SUM(status = 'OK') AS ok_trials
  FROM trials
  GROUP BY device_ref, workload_ref
),
ranked AS (
  SELECT t.*, ROW_NUMBER() OVER (PARTITION BY t.device_ref, t.workload_ref
                                 ORDER BY t.median_us, t.min_us, t.id) AS pos
  FROM trials t
  WHERE t.status = 'OK'
)
SELECT d.device_key, w.workload_key, w.op_kind, w.dtype, w.shape, w.macs,
       r.config, r.config_json, r.kernel, r.median_us, r.min_us,
       2.0 * w.macs / (r.median_us * 1000.0) AS gops,
       c.trials, c.ok_trials, j.job_id, r.created_at
FROM ranked r
JOIN counts c ON c.device_ref = r.device_ref AND c.workload_ref = r.workload_ref
JOIN devices d ON d.id = r.device_ref
JOIN workloads w ON w.id = r.workload_ref
JOIN jobs j ON j.id = r.job_ref
WHERE r.pos = 1;
