#!/usr/bin/env bash
# Compares `pgpilot bench` with `pgbench -S -M prepared` on the same select-only
# workload, alternating runs on a throwaway PostgreSQL 15 cluster, and prints both
# throughputs and their ratio (the bar: pgpilot >= 0.9 x pgbench).
#
# Usage: bench/bench-vs-pgbench.sh [ROUNDS] [SECONDS] [CLIENTS]
# Env:   PGBIN (default /usr/lib/postgresql/15/bin), PGPILOT (a pgpilot binary;
#        default: build it with cargo --release), SCALE (default 10).
set -euo pipefail

ROUNDS=${1:-2}
SECONDS_PER_RUN=${2:-20}
CLIENTS=${3:-4}
SCALE=${SCALE:-10}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${PGPILOT:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p pgpilot)
    PGPILOT="$ROOT/target/release/pgpilot"
fi

. "$ROOT/bench/lib/cluster.sh"
make_cluster_dir pgpilot-bench-vs-pgbench
trap stop_cluster EXIT INT TERM
start_cluster "shared_buffers = '256MB'
max_connections = 50"

URL="postgres://postgres@/postgres?host=$TMP&port=$PORT"
"$PGBIN/pgbench" -i -s "$SCALE" -q >/dev/null 2>&1

ACCOUNTS=$((SCALE * 100000))
cat >"$TMP/select.toml" <<TOML
# pgbench's built-in select-only script (-S)
[[query]]
name = "select_only"
sql = "SELECT abalance FROM pgbench_accounts WHERE aid = \$1"
params = ["int:1..$ACCOUNTS"]
TOML

pg_tps=()
pp_tps=()
for ((r = 1; r <= ROUNDS; r++)); do
    t=$("$PGBIN/pgbench" -S -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" 2>/dev/null |
        awk '/^tps/ {print $3; exit}')
    pg_tps+=("$t")
    echo "round $r: pgbench  $t tps"
    q=$("$PGPILOT" bench --db "$URL" --workload "$TMP/select.toml" --clients "$CLIENTS" \
        --duration "${SECONDS_PER_RUN}s" --warmup 0s --format json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["throughput_qps"])')
    pp_tps+=("$q")
    echo "round $r: pgpilot  $q statements/s"
done

python3 - "${pg_tps[*]}" "${pp_tps[*]}" <<'PY'
import sys
pg = [float(x) for x in sys.argv[1].split()]
pp = [float(x) for x in sys.argv[2].split()]
a, b = sum(pg) / len(pg), sum(pp) / len(pp)
print(f"pgbench mean {a:.0f} tps, pgpilot mean {b:.0f} statements/s, ratio {b / a:.3f}")
PY
