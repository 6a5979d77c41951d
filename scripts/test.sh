#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs what the tests need, then the
# format and lint gates, the unit and integration tests, and the static build.
# Usage: scripts/test.sh   (as root: tests use PID and mount namespaces)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="${PULP_INIT_VENV:-/opt/pulp-init-venv}/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked -- --test-threads="${PULP_INIT_TEST_THREADS:-2}"
scripts/build-static.sh
