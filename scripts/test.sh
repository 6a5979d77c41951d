#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs what the tests need, then the
# format and lint gates, the static build, the Docker test images (when a Docker engine
# answers; built here, cached), and the unit, integration and Docker tests.
# Usage: scripts/test.sh   (as root: tests use PID and mount namespaces)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="${PULP_INIT_VENV:-/opt/pulp-init-venv}/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
scripts/build-static.sh
scripts/images.sh --if-engine
cargo test --locked -- --test-threads="${PULP_INIT_TEST_THREADS:-2}"
