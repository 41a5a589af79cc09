#!/usr/bin/env bash
# Regenerates the small real-PostgreSQL fixtures under tests/data/ (and, with
# BIG=1, a large pgbench log in /tmp for the throughput example). Runs a
# throwaway PostgreSQL 15 cluster as the `postgres` OS user in /tmp. Needs root.
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
OUT="$(cd "$(dirname "$0")/.." && pwd)/tests/data"
D=$(mktemp -d /tmp/pgpilot-logs-XXXX); chown postgres "$D"
PORT=${PORT:-54987}
as_pg() { runuser -u postgres -- "$@"; }
as_pg $BIN/initdb -D "$D/data" -A trust -U postgres >/dev/null
cat >> "$D/data/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$D'
listen_addresses = ''
logging_collector = on
log_destination = 'stderr,csvlog,jsonlog'
log_directory = '$D/log'
log_filename = 'pg.log'
log_rotation_size = 0
log_line_prefix = '%m [%p]: [%l-1] session=%c,db=%d,user=%u,app=%a,client=%h '
log_min_duration_statement = 0
log_checkpoints = on
log_connections = off
shared_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = -1
lc_messages = 'C'
log_timezone = 'UTC'
CONF
as_pg $BIN/pg_ctl -D "$D/data" -l "$D/server.out" -w start >/dev/null
export PGHOST=$D PGPORT=$PORT PGUSER=postgres
PSQL="as_pg env PGHOST=$D PGPORT=$PORT $BIN/../../../../bin/psql -X -q -d postgres"
PSQL="runuser -u postgres -- env PGHOST=$D PGPORT=$PORT psql -X -q -d postgres"
PGB="runuser -u postgres -- env PGHOST=$D PGPORT=$PORT"
$PGB PGOPTIONS='-c log_min_duration_statement=-1' pgbench -q -i -s 1 postgres >/dev/null 2>&1
if [ "${BIG:-0}" = 1 ]; then
  $PGB pgbench -n -c 4 -j 2 -T "${SECS:-90}" postgres >/dev/null 2>&1
  $PGB pgbench -n -c 4 -j 2 -M extended -S -T 30 postgres >/dev/null 2>&1
  as_pg $BIN/pg_ctl -D "$D/data" -w stop >/dev/null
  cp "$D/log/pg.log" /tmp/pgpilot-big.log; ls -l /tmp/pgpilot-big.log
  rm -rf "$D"; exit 0
fi
# 1. simple protocol: 12 statements (10 numbered, 1 multi-line, 1 literal), 2 errors
$PSQL <<'SQL'
SELECT 1;
SELECT 2;
SELECT 3;
SELECT 4;
SELECT 5;
SELECT 6;
SELECT 7;
SELECT 8;
SELECT 9;
SELECT 10;
SELECT
  'multi',
  'line' AS x;
SELECT 'it''s', E'new\nline', 'Grüße ✓' AS lit;
SELECT 1/0;
SELEC broken;
SQL
# 2. extended protocol: 2 clients x 5 transactions of select-only = 10 executions
$PGB pgbench -n -M extended -S -c 2 -t 5 postgres >/dev/null 2>&1
# 3. prepared: 2 clients x 5 = 10 executions
$PGB pgbench -n -M prepared -S -c 2 -t 5 postgres >/dev/null 2>&1
# 4. extended with a quoted string parameter containing the separator text: 3 executions
printf "SELECT :s::text AS v, NULL::int AS n;\n" > "$D/q.sql"; chmod a+r "$D/q.sql"
$PGB pgbench -n -M extended -f "$D/q.sql" -D "s=it's, \$2 = 'x'" -c 1 -t 3 postgres >/dev/null 2>&1
# 5. log_statement=all + log_duration (no min duration): 3 statements, each logged twice
$PGB PGOPTIONS='-c log_min_duration_statement=-1 -c log_statement=all -c log_duration=on' psql -X -q -d postgres <<'SQL'
SELECT 'a';
SELECT 'b';
SELECT 'c';
SQL
# 6. auto_explain text and json: 2 plans, plus their 2 statements
$PSQL <<'SQL'
SET auto_explain.log_min_duration = 0;
SELECT count(*) FROM pgbench_branches;
SET auto_explain.log_format = 'json';
SELECT count(*) FROM pgbench_tellers;
SQL
$PSQL -c 'CHECKPOINT'
as_pg $BIN/pg_ctl -D "$D/data" -w stop >/dev/null
cp "$D/log/pg.log" "$OUT/pg15.log"; cp "$D/log/pg.csv" "$OUT/pg15.csv"; cp "$D/log/pg.json" "$OUT/pg15.json"
rm -rf "$D"
ls -l "$OUT"
