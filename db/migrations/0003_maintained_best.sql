-- 0003_maintained_best: `best`, `best_by_build`, `db builds` and `db stats`
-- answer from two small tables that triggers keep up to date as trials are
-- inserted, updated or deleted (by qtune or by anyone with sqlite3), instead
-- of ranking and counting every trial at each query. Their cost follows the
-- number of (device, workload, build) triples, not the number of trials.
-- Two indexes let one slice (device, workload, build, settings) be read
-- bounded: its distinct configs (trials_config) and a sample of its OK
-- trials by latency (trials_ok), one seek per config or per trial.

-- Trials per (device, workload, build, settings, status). Maintained by the
-- triggers below; never written directly.
CREATE TABLE trial_counts (
  device_ref   INTEGER NOT NULL REFERENCES devices (id),
  workload_ref INTEGER NOT NULL REFERENCES workloads (id),
  build_ref    INTEGER NOT NULL REFERENCES builds (id),
  settings_ref INTEGER NOT NULL REFERENCES settings (id),
  status       TEXT NOT NULL,
  trials       INTEGER NOT NULL CHECK (trials > 0),
  PRIMARY KEY (device_ref, workload_ref, build_ref, settings_ref, status)
) WITHOUT ROWID;

-- The best OK trial per (device, workload, build): the lowest median_us;
-- ties go to the lower min_us, then to the lower trial id. Triples without
-- an OK trial have no row. Maintained by the triggers below.
CREATE TABLE best_trials (
  device_ref   INTEGER NOT NULL REFERENCES devices (id),
  workload_ref INTEGER NOT NULL REFERENCES workloads (id),
  build_ref    INTEGER NOT NULL REFERENCES builds (id),
  trial_ref    INTEGER NOT NULL,           -- trials.id, kept by the triggers
  PRIMARY KEY (device_ref, workload_ref, build_ref)
) WITHOUT ROWID;

INSERT INTO trial_counts (device_ref, workload_ref, build_ref, settings_ref, status, trials)
SELECT device_ref, workload_ref, build_ref, settings_ref, status, count(*)
FROM trials
GROUP BY device_ref, workload_ref, build_ref, settings_ref, status;

INSERT INTO best_trials (device_ref, workload_ref, build_ref, trial_ref)
SELECT device_ref, workload_ref, build_ref, id
FROM (SELECT device_ref, workload_ref, build_ref, id,
             ROW_NUMBER() OVER (PARTITION BY device_ref, workload_ref, build_ref
                                ORDER BY median_us, min_us, id) AS pos
      FROM trials WHERE status = 'OK')
WHERE pos = 1;

-- Indexes. trials_config lists the configs measured per (workload, device,
-- build, settings) without reading the rows, and serves every filter on a
-- prefix of it (it replaces trials_workload and trials_device_workload);
-- trials_ok reads the OK trials of a slice fastest first (the row id is the
-- last key of every index, so ties go to the earlier trial).
DROP INDEX trials_device_workload;
DROP INDEX trials_workload;
DROP INDEX trials_ok;
CREATE INDEX trials_config
  ON trials (workload_ref, device_ref, build_ref, settings_ref, config, status);
CREATE INDEX trials_ok
  ON trials (device_ref, workload_ref, build_ref, settings_ref, median_us, min_us)
  WHERE status = 'OK';

-- A trial enters the counts and, if OK and faster than the triple's best
-- (same order as best_trials), becomes its best.
CREATE TRIGGER trials_insert AFTER INSERT ON trials
BEGIN
  INSERT INTO trial_counts (device_ref, workload_ref, build_ref, settings_ref, status, trials)
  VALUES (new.device_ref, new.workload_ref, new.build_ref, new.settings_ref, new.status, 1)
  ON CONFLICT (device_ref, workload_ref, build_ref, settings_ref, status)
  DO UPDATE SET trials = trials + 1;
  INSERT INTO best_trials (device_ref, workload_ref, build_ref, trial_ref)
  SELECT new.device_ref, new.workload_ref, new.build_ref, new.id WHERE new.status = 'OK'
  ON CONFLICT (device_ref, workload_ref, build_ref) DO UPDATE SET trial_ref = new.id
  WHERE (SELECT b.median_us, b.min_us, b.id FROM trials b WHERE b.id = best_trials.trial_ref)
        > (new.median_us, new.min_us, new.id);
END;

-- A trial leaves the counts; when it was its triple's best, the next best
-- OK trial (if any) takes its place.
CREATE TRIGGER trials_delete AFTER DELETE ON trials
BEGIN
  DELETE FROM trial_counts
  WHERE device_ref = old.device_ref AND workload_ref = old.workload_ref
    AND build_ref = old.build_ref AND settings_ref = old.settings_ref AND status = old.status
    AND trials = 1;
  UPDATE trial_counts SET trials = trials - 1
  WHERE device_ref = old.device_ref AND workload_ref = old.workload_ref
    AND build_ref = old.build_ref AND settings_ref = old.settings_ref AND status = old.status;
  DELETE FROM best_trials
  WHERE device_ref = old.device_ref AND workload_ref = old.workload_ref
    AND build_ref = old.build_ref AND trial_ref = old.id;
  INSERT INTO best_trials (device_ref, workload_ref, build_ref, trial_ref)
  SELECT device_ref, workload_ref, build_ref, id FROM trials
  WHERE old.status = 'OK' AND device_ref = old.device_ref AND workload_ref = old.workload_ref
    AND build_ref = old.build_ref AND status = 'OK'
    AND NOT EXISTS (SELECT 1 FROM best_trials x WHERE x.device_ref = old.device_ref
                    AND x.workload_ref = old.workload_ref AND x.build_ref = old.build_ref)
  ORDER BY median_us, min_us, id LIMIT 1;
END;

-- An update that moves a trial or changes its ranking: its old key leaves the
-- counts, its new key enters them, and both triples' best is chosen again.
CREATE TRIGGER trials_update
AFTER UPDATE OF id, device_ref, workload_ref, build_ref, settings_ref, status, median_us, min_us
ON trials
BEGIN
  DELETE FROM trial_counts
  WHERE device_ref = old.device_ref AND workload_ref = old.workload_ref
    AND build_ref = old.build_ref AND settings_ref = old.settings_ref AND status = old.status
    AND trials = 1;
  UPDATE trial_counts SET trials = trials - 1
  WHERE device_ref = old.device_ref AND workload_ref = old.workload_ref
    AND build_ref = old.build_ref AND settings_ref = old.settings_ref AND status = old.status;
  INSERT INTO trial_counts (device_ref, workload_ref, build_ref, settings_ref, status, trials)
  VALUES (new.device_ref, new.workload_ref, new.build_ref, new.settings_ref, new.status, 1)
  ON CONFLICT (device_ref, workload_ref, build_ref, settings_ref, status)
  DO UPDATE SET trials = trials + 1;
  DELETE FROM best_trials
  WHERE (device_ref = old.device_ref AND workload_ref = old.workload_ref
         AND build_ref = old.build_ref)
     OR (device_ref = new.device_ref AND workload_ref = new.workload_ref
         AND build_ref = new.build_ref);
  INSERT INTO best_trials (device_ref, workload_ref, build_ref, trial_ref)
  SELECT * FROM (
    SELECT device_ref, workload_ref, build_ref, id FROM trials
    WHERE device_ref = old.device_ref AND workload_ref = old.workload_ref
      AND build_ref = old.build_ref AND status = 'OK'
    ORDER BY median_us, min_us, id LIMIT 1)
  UNION
  SELECT * FROM (
    SELECT device_ref, workload_ref, build_ref, id FROM trials
    WHERE device_ref = new.device_ref AND workload_ref = new.workload_ref
      AND build_ref = new.build_ref AND status = 'OK'
    ORDER BY median_us, min_us, id LIMIT 1);
END;

-- Views: the same names and columns as in 0002, now reading the maintained
-- tables.
DROP VIEW best;
DROP VIEW best_by_build;

-- The best OK trial per (device, workload, build): the lowest median
-- latency; ties go to the lower min latency, then to the earlier trial.
-- `trials` counts every trial of the triple (failures included), `ok_trials`
-- the OK ones; triples without an OK trial have no row. gops = 2 * macs /
-- median latency, in GOP/s.
CREATE VIEW best_by_build AS
WITH counts AS (
  SELECT device_ref, workload_ref, build_ref, sum(trials) AS trials,
         sum(CASE WHEN status = 'OK' THEN trials ELSE 0 END) AS ok_trials
  FROM trial_counts
  GROUP BY device_ref, workload_ref, build_ref
)
SELECT d.device_key, w.workload_key, w.op_kind, w.dtype, w.shape, w.macs, b.build_id,
       r.config, r.config_json, r.kernel, r.median_us, r.min_us,
       2.0 * w.macs / (r.median_us * 1000.0) AS gops,
       c.trials, c.ok_trials, j.job_id, r.created_at,
       bt.device_ref, bt.build_ref
FROM best_trials bt
JOIN trials r ON r.id = bt.trial_ref
JOIN counts c ON c.device_ref = bt.device_ref AND c.workload_ref = bt.workload_ref
             AND c.build_ref = bt.build_ref
JOIN devices d ON d.id = bt.device_ref
JOIN workloads w ON w.id = bt.workload_ref
JOIN builds b ON b.id = bt.build_ref
JOIN jobs j ON j.id = r.job_ref;

-- `best`: best_by_build restricted to each device's current build, so that
-- latencies of old and new kernels are never mixed.
CREATE VIEW best AS
SELECT bb.device_key, bb.workload_key, bb.op_kind, bb.dtype, bb.shape, bb.macs, bb.build_id,
       bb.config, bb.config_json, bb.kernel, bb.median_us, bb.min_us, bb.gops, bb.trials,
       bb.ok_trials, bb.job_id, bb.created_at
FROM best_by_build bb
JOIN current_builds cb ON cb.device_ref = bb.device_ref AND cb.build_ref = bb.build_ref;
