#!/usr/bin/env bash
# Installs what pgpilot needs on Debian/Ubuntu, only when something is missing:
# the PostgreSQL server (initdb, pg_ctl, pgbench), HypoPG, libclang (the pg_query
# crate builds PostgreSQL's parser with it) and Redis. Idempotent; needs root or sudo.
set -euo pipefail

pg_major="${PG_MAJOR:-15}"
packages=("postgresql-${pg_major}" "postgresql-${pg_major}-hypopg" "libclang-dev" "redis-server" "pgbadger")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # The Debian packages start a system cluster by default; pgpilot runs its own.
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "cargo is in ~/.cargo/bin: add it to PATH (source \"\$HOME/.cargo/env\")" >&2
  else
    echo "Rust is not installed: get it from https://rustup.rs (pgpilot needs Rust 1.80 or later)" >&2
  fi
  exit 1
fi
