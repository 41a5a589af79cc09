#!/usr/bin/env bash
# One command for the whole test suite: install what is missing, then run every
# test. Tests start their own throwaway PostgreSQL clusters; nothing else is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
bash scripts/install-deps.sh
cargo test --workspace --locked "$@"
