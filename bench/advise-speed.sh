#!/usr/bin/env bash
# How fast is `pgpilot advise` on a workload of 100 distinct queries over a
# 10-table schema (issue 5: under 30 s here)? It builds the schema on a throwaway
# cluster, runs every query with statement logging on, then times
# `pgpilot advise --logs … --format json` and prints the wall time, the number
# of what-if plans made, the recommendations and the estimated cost cut.
#
#   PGPILOT=target/release/pgpilot bash bench/advise-speed.sh [ROWS_PER_TABLE]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-200000}
PGPILOT=${PGPILOT:-target/release/pgpilot}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
. bench/lib/cluster.sh

[[ -x $PGPILOT ]] || { echo "build pgpilot first: cargo build --release (or set PGPILOT)" >&2; exit 1; }
make_cluster_dir pgpilot-advise-speed
trap stop_cluster EXIT INT TERM
start_cluster "shared_preload_libraries = 'pg_stat_statements'
log_destination = 'stderr'
logging_collector = off
log_line_prefix = '%m [%p]: [%l-1] db=%d,user=%u '"
LOG=$TMP/server.out

# Ten tables t0..t9: an id, two foreign-key-like ints, a skewed status, a
# timestamp, a text, a numeric and a flag; each with a primary key only.
{
    echo "CREATE EXTENSION hypopg;"
    for t in 0 1 2 3 4 5 6 7 8 9; do
        cat <<SQL
CREATE TABLE t$t (
    id bigint PRIMARY KEY, a int NOT NULL, b int NOT NULL,
    status text NOT NULL, created_at timestamptz NOT NULL,
    email text NOT NULL, amount numeric NOT NULL, flag boolean NOT NULL);
INSERT INTO t$t SELECT g, g % 1000, (g * 7) % 50000,
    (ARRAY['active','active','active','active','inactive','pending'])[1 + g % 6],
    now() - (g % 100000) * interval '1 minute', 'user' || g || '@example.com',
    (g % 997) * 1.5, g % 10 = 0
  FROM generate_series(1, $ROWS) g;
SQL
    done
} | psql -q -X -v ON_ERROR_STOP=1 >/dev/null
# ANALYZE once the load's row counts have reached the statistics (a backend
# flushes them up to a second after its writes), so n_mod_since_analyze is 0.
sleep 2
psql -q -X -c "ANALYZE" >/dev/null

# 100 distinct statement shapes: ten templates over the ten tables.
queries() {
    for t in 0 1 2 3 4 5 6 7 8 9; do
        u=$(( (t + 1) % 10 ))
        echo "SELECT * FROM t$t WHERE a = $((t * 3 + 1));"
        echo "SELECT id, email FROM t$t WHERE b = $((t * 11 + 5)) AND status = 'pending';"
        echo "SELECT * FROM t$t WHERE created_at > now() - interval '2 hours' ORDER BY created_at DESC LIMIT 20;"
        echo "SELECT * FROM t$t WHERE lower(email) = 'user$((t + 17))@example.com';"
        echo "SELECT status, count(*) FROM t$t WHERE a BETWEEN 10 AND 20 GROUP BY status;"
        echo "SELECT x.id, y.email FROM t$t x JOIN t$u y ON y.id = x.b WHERE x.a = $((t + 2));"
        echo "SELECT * FROM t$t WHERE status = 'pending' ORDER BY created_at DESC LIMIT 10;"
        echo "SELECT sum(amount) FROM t$t WHERE b IN ($((t + 1)), $((t + 2)), $((t + 3)));"
        echo "UPDATE t$t SET flag = NOT flag WHERE id = $((t + 100));"
        echo "SELECT id FROM t$t WHERE a = $((t + 5)) AND created_at > now() - interval '30 days' ORDER BY id LIMIT 5;"
    done
}
SQLFILE=$TMP/queries.sql
queries >"$SQLFILE"
psql -q -X -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
from=$(stat -c %s "$LOG")
for _ in 1 2 3; do psql -q -X -f "$SQLFILE" >/dev/null; done
psql -q -X -c "ALTER SYSTEM SET log_min_duration_statement = -1" -c "SELECT pg_reload_conf()" >/dev/null
tail -c +$((from + 1)) "$LOG" >"$TMP/workload.log"
distinct=$(sort -u "$SQLFILE" | wc -l)

url="postgresql://postgres@/postgres?host=$TMP&port=$PORT"
start=$(date +%s.%N)
"$PGPILOT" advise --db "$url" --logs "$TMP/workload.log" --format json >"$TMP/plan.json"
cp "$TMP/plan.json" "${PLAN_OUT:-/dev/null}" 2>/dev/null || true
end=$(date +%s.%N)
python3 - "$TMP/plan.json" "$start" "$end" "$distinct" "$ROWS" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
before, after = plan["workload_cost_before"], plan["workload_cost_after"]
print(f"advise: {sys.argv[4]} distinct statements on 10 tables of {int(sys.argv[5]):,} rows")
print(f"  wall time        {wall:.2f} s   (target < 30 s)")
print(f"  what-if plans    {plan['whatif_plans']}")
print(f"  recommendations  {len(plan['recommendations'])}")
cut = (1 - after / before) * 100 if before else 0
print(f"  estimated cost   {before:,.0f} -> {after:,.0f} ({cut:.1f} % less)")
for r in plan["recommendations"][:12]:
    print(f"    {r['ddl']}")
PY
