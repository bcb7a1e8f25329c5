#!/usr/bin/env bash
# How qtune's database commands scale with the number of recorded trials.
#
#   scripts/bench-db.sh [--trials N] [--source DB] [--source-trials K] [--bin DIR]
#                       [--runs R] [--work DIR]
#
# Takes a real tuning database (--source, or one made here by tuning ResNet18
# int8+fp32 with --trials K per layer on a local qtune-agent), copies its jobs
# with their tasks and trials in SQL (new job ids and creation times, each
# copy an hour older than the last) until about N trials (10^6 by default,
# whole copies), and times each command on the small (source) and the big
# database: the median of R runs (5), interleaved, after one untimed run.
# Prints a markdown table with the ratios big/small, the file sizes and the
# bytes per trial. The binaries of --bin (default: the build's bin/) are
# measured; their schema is the one the databases are migrated to, so the
# same --source can be measured with an older build and a newer one.
# Smoke test: scripts/bench-db.sh --trials 20000 --source-trials 8 --runs 1
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

trials=1000000
source_db=""
source_trials=184   # x 32 layers: about the 5,856 trials of one scripts/run.sh
bin="${QTUNE_BUILD_DIR:-$root/build}/bin"
runs=5
work=""
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --trials) trials="$2"; shift 2 ;;
    --source) source_db="$2"; shift 2 ;;
    --source-trials) source_trials="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench-db: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for n in "$trials" "$source_trials" "$runs"; do
  if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then echo "bench-db: '$n' is not a positive number" >&2; exit 2; fi
done
command -v sqlite3 >/dev/null || { echo "bench-db: sqlite3 is missing (scripts/setup.sh)" >&2; exit 1; }
for b in qtune qtune-agent; do
  [ -x "$bin/$b" ] || { echo "bench-db: $bin/$b is missing (scripts/build.sh)" >&2; exit 1; }
done
if [ -n "$source_db" ] && [ ! -f "$source_db" ]; then
  echo "bench-db: $source_db does not exist" >&2; exit 1
fi

own_work=0
if [ -z "$work" ]; then work="$(mktemp -d)"; own_work=1; fi
mkdir -p "$work"
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  if [ "$own_work" = 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

# A local agent for the source tune and the timed tunes.
rm -f "$work/port" "$work"/t.* "$work"/o.*
"$bin/qtune-agent" --listen 127.0.0.1:0 --port-file "$work/port" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/port" ] && break
  kill -0 "$agent_pid" 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/port" ] || { echo "bench-db: qtune-agent did not start" >&2; exit 1; }
agent="127.0.0.1:$(cat "$work/port")"

if [ -z "$source_db" ]; then
  source_db="$work/source.db"
  echo "bench-db: tuning resnet18 int8,fp32 with --trials $source_trials for the source database" >&2
  "$bin/qtune" tune --model resnet18 --dtype int8,fp32 --trials "$source_trials" \
    --agent "$agent" --db "$source_db" --json >"$work/source.log"
fi

# small.db: the source, migrated to the schema of $bin (a write open migrates).
small="$work/small.db"
big="$work/big.db"
rm -f "$small"* "$big"*
sqlite3 "$source_db" ".backup '$small'"
"$bin/qtune" db import --db "$small" --file /dev/null >/dev/null
sqlite3 "$small" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
per_copy="$(sqlite3 "$small" "SELECT count(*) FROM trials")"
[ "$per_copy" -gt 0 ] || { echo "bench-db: the source database has no trials" >&2; exit 1; }
copies=$(( (trials + per_copy / 2) / per_copy - 1 ))
[ "$copies" -ge 1 ] || copies=1

echo "bench-db: copying $per_copy trials $copies times" >&2
copy_start=$(date +%s)
cp "$small" "$big"
sqlite3 "$big" <<SQL >/dev/null
PRAGMA journal_mode = DELETE;
PRAGMA cache_size = -262144;
BEGIN;
CREATE TEMP TABLE copies (k INTEGER PRIMARY KEY);
WITH RECURSIVE c (k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < $copies)
INSERT INTO copies SELECT k FROM c;
CREATE TEMP TABLE source_jobs AS SELECT * FROM jobs;
-- Copy k is k hours older than its source job.
INSERT INTO jobs (job_id, model, device_ref, state, args_json, created_at, finished_at,
                  name, owner, heartbeat_at)
SELECT j.job_id || '-' || c.k, j.model, j.device_ref, j.state, j.args_json,
       strftime('%Y-%m-%dT%H:%M:%fZ', j.created_at, '-' || c.k || ' hours'),
       CASE WHEN j.finished_at = '' THEN ''
            ELSE strftime('%Y-%m-%dT%H:%M:%fZ', j.finished_at, '-' || c.k || ' hours') END,
       '', j.owner, strftime('%Y-%m-%dT%H:%M:%fZ', j.heartbeat_at, '-' || c.k || ' hours')
FROM copies c, source_jobs j ORDER BY c.k, j.id;
CREATE TEMP TABLE job_map AS
SELECT c.k, j.id AS old_ref, n.id AS new_ref
FROM copies c, source_jobs j JOIN jobs n ON n.job_id = j.job_id || '-' || c.k;
INSERT INTO tasks (job_ref, name, workload_ref, occurrences)
SELECT m.new_ref, t.name, t.workload_ref, t.occurrences
FROM job_map m JOIN tasks t ON t.job_ref = m.old_ref ORDER BY m.k, t.id;
INSERT INTO trials (job_ref, seq, device_ref, workload_ref, build_ref, settings_ref, task,
                    config, config_json, status, message, kernel, median_us, min_us,
                    stddev_us, repeats, compile_ms, measure_ms, created_at)
SELECT m.new_ref, t.seq, t.device_ref, t.workload_ref, t.build_ref, t.settings_ref, t.task,
       t.config, t.config_json, t.status, t.message, t.kernel, t.median_us, t.min_us,
       t.stddev_us, t.repeats, t.compile_ms, t.measure_ms,
       strftime('%Y-%m-%dT%H:%M:%fZ', t.created_at, '-' || m.k || ' hours')
FROM job_map m JOIN trials t ON t.job_ref = m.old_ref ORDER BY m.k, t.id;
COMMIT;
PRAGMA journal_mode = WAL;
SQL
copy_s=$(( $(date +%s) - copy_start ))

count() { sqlite3 "$1" "SELECT count(*) FROM trials"; }
bytes() { sqlite3 "$1" "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size"; }
small_trials="$(count "$small")"
big_trials="$(count "$big")"
small_bytes="$(bytes "$small")"
big_bytes="$(bytes "$big")"
echo "bench-db: $small_trials and $big_trials trials ($copy_s s to copy); timing $runs runs" >&2

# Timings: seconds per run, one file per (command, database).
declare -a names=(best report stats tune history jobs)
run_one() {  # command database -> appends the wall seconds (and the tune's overhead)
  local cmd="$1" db="$2" tag="$3" start end out
  start=$(date +%s%N)
  case "$cmd" in
    best) "$bin/qtune" db best --db "$db" >/dev/null ;;
    report) "$bin/qtune" report --model resnet18 --db "$db" --out "$work/report.html" >/dev/null ;;
    stats) "$bin/qtune" db stats --db "$db" >/dev/null ;;
    tune)
      out="$("$bin/qtune" tune --model resnet18 --layers fc --dtype int8 --trials 4 \
        --agent "$agent" --db "$db" --json)"
      ;;
    history) "$bin/qtune" db history --db "$db" --limit 20 >/dev/null ;;
    jobs) "$bin/qtune" db jobs --db "$db" --limit 5 >/dev/null ;;
  esac
  end=$(date +%s%N)
  if [ -n "$tag" ]; then
    echo "$(( (end - start) / 1000 ))" >>"$work/t.$cmd.$tag"
    if [ "$cmd" = tune ]; then
      printf '%s\n' "$out" | sed -n 's/.*"overhead_ms_per_trial":\([0-9.e+-]*\).*/\1/p' \
        >>"$work/o.$tag"
    fi
  fi
}
for cmd in "${names[@]}"; do run_one "$cmd" "$small" ""; run_one "$cmd" "$big" ""; done
for _ in $(seq 1 "$runs"); do
  for cmd in "${names[@]}"; do
    run_one "$cmd" "$small" small
    run_one "$cmd" "$big" big
  done
done

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
seconds() { awk -v us="$(median "$1")" 'BEGIN { printf "%.3f s", us / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "-" }'; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
schema="$(sqlite3 "$small" "SELECT max(version) FROM schema_version")"
echo "$bin (schema version $schema), $cpu, median of $runs runs"
echo
echo "| command | $small_trials trials | $big_trials trials | big/small |"
echo "|---|---|---|---|"
label() {
  case "$1" in
    best) echo '`qtune db best`' ;;
    report) echo '`qtune report --model resnet18`' ;;
    stats) echo '`qtune db stats`' ;;
    tune) echo '`qtune tune --layers fc --dtype int8 --trials 4` (wall)' ;;
    history) echo '`qtune db history --limit 20`' ;;
    jobs) echo '`qtune db jobs --limit 5`' ;;
  esac
}
for cmd in "${names[@]}"; do
  s="$(median "$work/t.$cmd.small")"; b="$(median "$work/t.$cmd.big")"
  echo "| $(label "$cmd") | $(seconds "$work/t.$cmd.small") | $(seconds "$work/t.$cmd.big") | $(ratio "$s" "$b") |"
  if [ "$cmd" = tune ]; then
    os="$(median "$work/o.small")"; ob="$(median "$work/o.big")"
    printf '| tune `overhead_ms_per_trial` | %.1f | %.1f | %s |\n' "$os" "$ob" "$(ratio "$os" "$ob")"
  fi
done
awk -v sb="$small_bytes" -v bb="$big_bytes" -v st="$small_trials" -v bt="$big_trials" 'BEGIN {
  printf "| file size | %.1f MB | %.1f MB | %.2fx |\n", sb / 1e6, bb / 1e6, bb / sb
  printf "| bytes per trial (file / trials) | %.0f | %.0f | |\n", sb / st, bb / bt
  printf "| bytes per added trial ((big - small) / added trials) | | %.0f | |\n", (bb - sb) / (bt - st)
}'
