#!/bin/bash
#
# Baseline for bench/wait.sh: the start-up sequence of the original Pulp 2
# images' run.sh (here for the beat role):
#
#   configure_pulp_server.sh                  4 augtool processes edit server.conf
#   test_db_available.py                      wait for MongoDB (12 x 5 s)
#   exec runuser apache -s /bin/bash -c '<celery beat ...>'
#
# Changes so it can run here as a benchmark (documented in bench/README.md):
#   * the command to exec is "$@" (e.g. /bin/true) instead of celery beat;
#   * the benchmark runs as root, so it is exec'd as root: `runuser -u root --`
#     when runuser exists (keeps runuser's PAM session set-up), else directly.
#     The original's extra `/bin/bash -c` hop is not kept;
#   * the scripts are taken from this directory; server.conf is
#     $AUG_ROOT/etc/pulp/server.conf (AUG_ROOT, AUG_LENS_DIR: see
#     configure_pulp_server.sh; default: the live /etc/pulp/server.conf);
#   * if the database check fails, run.sh exits 1 instead of starting the
#     service (assumption: the service cannot work without MongoDB anyway).
# Only MongoDB is waited for; the broker is not checked at all.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PULP_INIT_VENV:-/opt/pulp-init-venv}/bin/python"
export PULP_SERVER_CONF="${PULP_SERVER_CONF:-${AUG_ROOT:-}/etc/pulp/server.conf}"

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }

"$HERE/configure_pulp_server.sh"

"$PYTHON" "$HERE/test_db_available.py" "$PULP_SERVER_CONF" || exit 1

if command -v runuser >/dev/null 2>&1; then
  exec runuser -u root -- "$@"
fi
exec "$@"
