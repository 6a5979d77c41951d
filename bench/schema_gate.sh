#!/usr/bin/env bash
# Schema-gate detection latency: pulp-init's gate next to a 5 s polling loop (as
# pulp-oci-images' wait_on_database_migrations.sh), against SecantusDB. Not a test.
# Usage: bench/schema_gate.sh [TRIALS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
cargo build --release --locked --quiet
venv=${PULP_INIT_VENV:-/opt/pulp-init-venv}
work=$(mktemp -d)
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'scripts/mongo.sh stop "$work" >/dev/null 2>&1; rm -rf "$work"' EXIT
MONGO_STORAGE=:memory: scripts/mongo.sh start "$work" "$port" >/dev/null
"$venv/bin/python" bench/schema_gate.py --bin "$PWD/target/release/pulp-init" --port "$port" --trials "${1:-20}"
