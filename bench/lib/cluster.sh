# shellcheck shell=bash
# Throwaway PostgreSQL cluster for the comparison scripts in bench/: a temp dir the
# server's OS user can use (the postgres user when run as root), a free port, a
# Unix socket in the temp dir, and a trap that stops the server and removes it.
#
#   . "$(dirname "$0")/lib/cluster.sh"
#   make_cluster_dir NAME          # sets TMP
#   trap stop_cluster EXIT INT TERM   (or a cleanup of your own that calls it)
#   start_cluster "extra = 'setting'"   # sets PORT, exports PGHOST/PGPORT/PGUSER/PGDATABASE
# Needs PGBIN (the server binaries' directory).

as_pg() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

make_cluster_dir() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$TMP"
    if [[ $(id -u) -eq 0 ]]; then chown postgres "$TMP"; fi
}

stop_cluster() {
    as_pg "$PGBIN/pg_ctl" -D "$TMP/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}

start_cluster() {
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$PGBIN/initdb" -D "$TMP/data" -A trust -U postgres >/dev/null
    cat >>"$TMP/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$TMP'
fsync = off
synchronous_commit = off
lc_messages = 'C'
${1:-}
CONF
    as_pg "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/server.out" -w start >/dev/null
    export PGHOST=$TMP PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
}
