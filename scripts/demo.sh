#!/usr/bin/env bash
# One command for a newcomer: install what is missing, build pgpilot, run the demo.
# Arguments are passed to `pgpilot demo` (e.g. --scale 0.1 --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
bash scripts/install-deps.sh
cargo build --release --locked -p pgpilot
exec ./target/release/pgpilot demo "$@"
