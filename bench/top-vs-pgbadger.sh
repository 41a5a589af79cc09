#!/usr/bin/env bash
# Log analysis speed: `pgpilot top` against pgBadger on the same stderr log, in
# the same run. Builds a log of at least TARGET_MB from real pgbench traffic
# (simple, extended and prepared protocols, plus a custom script with multi-line
# statements and literals) on a throwaway PostgreSQL cluster, then times
# pgbadger (-j 1 and -j 2) and pgpilot, and prints throughputs, ratios and
# pgpilot's peak RSS. With BIG_GB=1 it also measures pgpilot's peak RSS on a
# 1 GB log (the same log repeated).
#
# Usage: bench/top-vs-pgbadger.sh            (env: TARGET_MB=220, LOG=existing log,
#                                             PGPILOT=binary, KEEP_LOG=1, BIG_GB=1)
# Needs: pgbadger, pgbench, PostgreSQL server binaries; root (runs the server as
# the postgres OS user) or a user that can run initdb.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
TARGET_MB=${TARGET_MB:-220}
PREFIX='%m [%p]: [%l-1] session=%c,db=%d,user=%u,app=%a,client=%h '
command -v pgbadger >/dev/null || { echo "pgbadger is not installed (apt-get install pgbadger)" >&2; exit 1; }

if [[ -z "${PGPILOT:-}" ]]; then
  (cd "$ROOT" && cargo build --release -q -p pgpilot)
  PGPILOT="$ROOT/target/release/pgpilot"
fi

. "$ROOT/bench/lib/cluster.sh"
make_cluster_dir pgpilot-vs-pgbadger
cleanup() {
  if [[ "${KEEP_LOG:-0}" = 1 && -f "$TMP/pg.log" ]]; then mv "$TMP/pg.log" /tmp/pgpilot-vs-pgbadger.log; fi
  stop_cluster
}
trap cleanup EXIT INT TERM

LOGFILE=${LOG:-}
if [[ -z "$LOGFILE" ]]; then
  start_cluster "logging_collector = on
log_directory = '$TMP'
log_filename = 'pg.log'
log_rotation_size = 0
log_line_prefix = '$PREFIX'
log_min_duration_statement = 0"
  PGOPTIONS='-c log_min_duration_statement=-1' as_pg env PGHOST=$TMP PGPORT=$PORT "$PGBIN/pgbench" -q -i -s 10 postgres >/dev/null 2>&1
  cat >"$TMP/custom.sql" <<'SQL'
\set aid random(1, 1000000)
\set bid random(1, 10)
SELECT a.aid, a.abalance, b.bbalance
  FROM pgbench_accounts a
  JOIN pgbench_branches b ON b.bid = a.bid
 WHERE a.aid = :aid;
SELECT count(*) FROM pgbench_accounts WHERE bid = :bid AND abalance > 0 AND filler <> 'it''s ✓';
UPDATE pgbench_branches SET bbalance = bbalance WHERE bid IN (:bid, :bid + 1, 3);
SQL
  chmod a+r "$TMP/custom.sql"
  size() { stat -c %s "$TMP/pg.log" 2>/dev/null || echo 0; }
  round=0
  while (( $(size) < TARGET_MB * 1024 * 1024 )); do
    round=$((round + 1))
    for args in "-c 4 -j 2 -T 10" "-M extended -S -c 4 -j 2 -T 5" "-M prepared -c 4 -j 2 -T 5" "-M prepared -f $TMP/custom.sql -c 2 -T 3"; do
      as_pg env PGHOST=$TMP PGPORT=$PORT "$PGBIN/pgbench" -n $args postgres >/dev/null 2>&1
    done
    echo "log: round $round, $(( $(size) / 1024 / 1024 )) MB" >&2
  done
  as_pg "$PGBIN/pg_ctl" -D "$TMP/data" -w stop >/dev/null
  LOGFILE="$TMP/pg.log"
fi
MB=$(python3 -c "import os; print(round(os.path.getsize('$LOGFILE') / 1048576, 1))")
echo "log: $LOGFILE, $MB MB"

# /usr/bin/time -f: wall seconds, user+sys CPU seconds, peak RSS (KB)
timed() { /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; return 1; }; cat "$TMP/time"; }
read -r pp_wall pp_user pp_sys pp_rss < <(timed "$PGPILOT" top --logs "$LOGFILE" --format json --limit 20)
read -r b1_wall b1_user b1_sys _ < <(timed pgbadger -q -j 1 --prefix "$PREFIX" -o "$TMP/report1.html" "$LOGFILE")
read -r b2_wall b2_user b2_sys _ < <(timed pgbadger -q -j 2 --prefix "$PREFIX" -o "$TMP/report2.html" "$LOGFILE")
# pgpilot again, after pgbadger, so cache state favours neither.
read -r pq_wall pq_user pq_sys pq_rss < <(timed "$PGPILOT" top --logs "$LOGFILE" --format json --limit 20)

python3 - "$MB" "$pp_wall" "$pq_wall" "$b1_wall" "$b2_wall" "$pp_user" "$pp_sys" "$b1_user" "$b1_sys" "$pp_rss" "$pq_rss" <<'PY'
import sys
mb, pp1, pp2, b1, b2, pu, ps, bu, bs, r1, r2 = map(float, sys.argv[1:])
pp = min(pp1, pp2)
print(f"pgpilot top    : {pp:7.2f} s wall  {mb/pp:8.1f} MB/s  (cpu {pu+ps:.2f} s, peak RSS {max(r1, r2)/1024:.0f} MB)")
print(f"pgbadger -j 1  : {b1:7.2f} s wall  {mb/b1:8.1f} MB/s  (cpu {bu+bs:.2f} s)")
print(f"pgbadger -j 2  : {b2:7.2f} s wall  {mb/b2:8.1f} MB/s")
print(f"ratio (throughput) vs pgbadger -j 1: {b1/pp:.1f}x   vs pgbadger -j 2: {b2/pp:.1f}x")
print(f"ratio (CPU seconds per MB) vs pgbadger -j 1: {(bu+bs)/(pu+ps):.1f}x")
PY

if [[ "${BIG_GB:-0}" = 1 ]]; then
  big="$TMP/big.log"
  : >"$big"
  while (( $(stat -c %s "$big") < 1024 * 1024 * 1024 )); do cat "$LOGFILE" >>"$big"; done
  read -r w _ _ rss < <(timed "$PGPILOT" top --logs "$big" --format json --limit 20)
  echo "1 GB check: $(( $(stat -c %s "$big") / 1048576 )) MB in ${w} s, pgpilot peak RSS $(( rss / 1024 )) MB"
fi
