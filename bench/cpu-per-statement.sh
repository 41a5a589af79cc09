#!/usr/bin/env bash
# Client CPU per statement (perf stat task-clock) of `pgbench -S -M prepared` and of
# `pgpilot bench` on the same select-only workload, alternating runs on a throwaway
# PostgreSQL 15 cluster. Needs `perf`.
#
# Usage: bench/cpu-per-statement.sh [ROUNDS] [SECONDS] [CLIENTS] [PGPILOT...]
#        (several pgpilot binaries may be given to compare builds; default: build one)
# Env:   PGBIN (default /usr/lib/postgresql/15/bin), SCALE (default 10),
#        PGBENCH_JOBS (pgbench -j, default 2).
set -euo pipefail

ROUNDS=${1:-2}
SECONDS_PER_RUN=${2:-20}
CLIENTS=${3:-4}
shift $(($# < 3 ? $# : 3))
SCALE=${SCALE:-10}
JOBS=${PGBENCH_JOBS:-2}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

BINS=("$@")
if [[ ${#BINS[@]} -eq 0 ]]; then
    (cd "$ROOT" && cargo build --release -q -p pgpilot)
    BINS=("$ROOT/target/release/pgpilot")
fi

. "$ROOT/bench/lib/cluster.sh"
make_cluster_dir pgpilot-cpu-per-statement
trap stop_cluster EXIT INT TERM
start_cluster "shared_buffers = '256MB'
max_connections = 50"

URL="postgres://postgres@/postgres?host=$TMP&port=$PORT"
"$PGBIN/pgbench" -i -s "$SCALE" -q >/dev/null 2>&1
cat >"$TMP/select.toml" <<TOML
[[query]]
name = "select_only"
sql = "SELECT abalance FROM pgbench_accounts WHERE aid = \$1"
params = ["int:1..$((SCALE * 100000))"]
TOML

# per_stmt NAME PERF_FILE STATEMENTS RATE
per_stmt() {
    python3 - "$@" <<'PY'
import sys
name, perf, n, rate = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
vals = {}
for line in open(perf):
    f = line.strip().split(",")
    if len(f) > 2 and f[0] and f[0][0].isdigit():
        vals[f[2]] = float(f[0])
ms, cs = vals.get("task-clock", 0.0), vals.get("context-switches", 0.0)
print(f"{name}: {rate:.0f}/s, {ms * 1000 / n:.2f} us client CPU per statement, {cs / n:.2f} context switches per statement")
PY
}

for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
    perf stat -x, -e task-clock,context-switches -o "$TMP/pgbench.perf" -- \
        "$PGBIN/pgbench" -S -M prepared -c "$CLIENTS" -j "$JOBS" -T "$SECONDS_PER_RUN" >"$TMP/pgbench.out" 2>/dev/null
    n=$(awk '/number of transactions actually processed/ {print $NF}' "$TMP/pgbench.out" | cut -d/ -f1)
    tps=$(awk '/^tps/ {print $3; exit}' "$TMP/pgbench.out")
    per_stmt "  pgbench -j $JOBS" "$TMP/pgbench.perf" "$n" "$tps"
    for bin in "${BINS[@]}"; do
        perf stat -x, -e task-clock,context-switches -o "$TMP/pgpilot.perf" -- \
            "$bin" bench --db "$URL" --workload "$TMP/select.toml" --clients "$CLIENTS" \
            --duration "${SECONDS_PER_RUN}s" --warmup 0s --format json >"$TMP/pgpilot.json"
        read -r n q < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["statements"], s["throughput_qps"])' "$TMP/pgpilot.json")
        per_stmt "  $bin" "$TMP/pgpilot.perf" "$n" "$q"
    done
done
