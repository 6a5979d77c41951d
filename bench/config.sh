#!/usr/bin/env bash
#
# bench/config.sh -- original augtool script vs `pulp-init config`
#
# Times, side by side in ONE hyperfine run, on the same server.conf fixture
# and the same environment:
#   (a) original  bench/original/configure_pulp_server.sh (4 augtool processes)
#   (b) pulp-init `pulp-init config --conf SCRATCH`
# Before each timed run a fresh scratch copy of the fixture is restored
# (hyperfine --prepare), so every run does the same edit on the same input.
# Commands run without an intermediate shell (hyperfine -N).
#
# Environment knobs:
#   PULP_INIT_BIN  binary to benchmark (default: <repo>/target/release/pulp-init,
#                  built with `cargo build --release` if missing)
#   FIXTURE        server.conf to edit
#                  (default: tests/fixtures/server-conf/pulp-2.21-final.conf)
#   WARMUP / RUNS  hyperfine warmup / runs (default: 3 / 30)
#   BENCH_OUT      hyperfine JSON export
#                  (default: <repo>/bench/results/config.json)
#
# Not part of the test run; needs hyperfine, augtool (augeas-tools +
# augeas-lenses) and python3.

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"

FIXTURE="${FIXTURE:-$REPO/tests/fixtures/server-conf/pulp-2.21-final.conf}"
WARMUP="${WARMUP:-3}"
RUNS="${RUNS:-30}"
BENCH_OUT="${BENCH_OUT:-${REPO}/bench/results/config.json}"
ORIG_SCRIPT="${HERE}/original/configure_pulp_server.sh"

die() { echo "config.sh: $*" >&2; exit 1; }

for tool in hyperfine augtool python3; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
[ -f "$FIXTURE" ] || die "fixture not found: $FIXTURE"
[ -x "$ORIG_SCRIPT" ] || die "baseline script missing or not executable: $ORIG_SCRIPT"

# --- pulp-init binary --------------------------------------------------------
if [ -n "${PULP_INIT_BIN:-}" ]; then
  [ -x "$PULP_INIT_BIN" ] || die "PULP_INIT_BIN is not an executable: $PULP_INIT_BIN"
else
  PULP_INIT_BIN="${REPO}/target/release/pulp-init"
  if [ ! -x "$PULP_INIT_BIN" ]; then
    echo "== ${PULP_INIT_BIN} missing, building it (cargo build --release)" >&2
    (cd "$REPO" && cargo build --release) || die "cargo build --release failed"
    [ -x "$PULP_INIT_BIN" ] || die "build did not produce $PULP_INIT_BIN"
  fi
fi

# --- the same environment for both -------------------------------------------
export DB_SERVICE_HOST=db.example
export DB_SERVICE_PORT=27017
export MSG_SERVICE_HOST=msg.example
export MSG_SERVICE_PORT=5672
export MSG_SERVICE_USER=guest
export PULP_SERVER_NAME=pulp.example
unset SERVICE_HOST

# --- scratch files -------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pulp-init-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# The augtool script edits $AUG_ROOT/etc/pulp/server.conf (augeas root), so
# give it its own root; pulp-init gets a plain path with the same layout.
ORIG_ROOT="${WORK}/original"
NEW_ROOT="${WORK}/pulp-init"
ORIG_CONF="${ORIG_ROOT}/etc/pulp/server.conf"
NEW_CONF="${NEW_ROOT}/etc/pulp/server.conf"
mkdir -p "$(dirname "$ORIG_CONF")" "$(dirname "$NEW_CONF")"
export AUG_ROOT="$ORIG_ROOT"
export AUG_LENS_DIR="$HERE"

q() { printf '%q' "$1"; }
CMD_ORIG="$(q "$ORIG_SCRIPT")"
CMD_NEW="$(q "$PULP_INIT_BIN") config --conf $(q "$NEW_CONF")"
PREP_ORIG="cp $(q "$FIXTURE") $(q "$ORIG_CONF")"
PREP_NEW="cp $(q "$FIXTURE") $(q "$NEW_CONF")"

# --- correctness: one run of each on a fresh copy -----------------------------
check() { # name conf -> prints the edited keys per section, returns 1 on mismatch
  python3 - "$1" "$2" <<'PY'
import configparser, sys
name, path = sys.argv[1], sys.argv[2]
want = {
    ("server", "server_name"): "pulp.example",
    ("database", "seeds"): "db.example:27017",
    ("messaging", "url"): "tcp://msg.example:5672",
    ("tasks", "broker_url"): "qpid://guest@msg.example:5672/",
}
cp = configparser.RawConfigParser(strict=False, interpolation=None)
try:
    cp.read(path)
except configparser.Error as e:
    print(f"  {name}: result does not parse as INI: {e}")
    sys.exit(1)
ok = True
for (sec, key), exp in want.items():
    got = cp.get(sec, key, fallback=None) if cp.has_section(sec) else None
    good = got == exp
    ok &= good
    print(f"  {name:<10} {'[' + sec + ']':<12} {key:<12} = {got!s:<32} {'ok' if good else 'MISMATCH (want ' + exp + ')'}")
sys.exit(0 if ok else 1)
PY
}

echo "== correctness check (one run each on a fresh copy of $(basename "$FIXTURE"))"
status=0
eval "$PREP_ORIG"; eval "$CMD_ORIG" >/dev/null 2>&1 || { echo "  original: exit status $?"; status=1; }
eval "$PREP_NEW";  eval "$CMD_NEW"  >/dev/null 2>&1 || { echo "  pulp-init: exit status $?"; status=1; }
check original "$ORIG_CONF" || status=1
check pulp-init "$NEW_CONF" || status=1
echo "  raw lines (grep):"
for n in original pulp-init; do
  conf="$ORIG_CONF"; [ "$n" = pulp-init ] && conf="$NEW_CONF"
  grep -nE '^[[:space:]]*(server_name|seeds|url|broker_url)[[:space:]]*[:=]' "$conf" | sed "s/^/    $n:/" || true
done
[ "$status" -eq 0 ] && echo "  => both produce the intended values" \
                    || echo "  => WARNING: at least one result is not as intended (timings below still shown)"

# --- timing ------------------------------------------------------------------------
mkdir -p "$(dirname "$BENCH_OUT")"
echo
echo "== hyperfine (warmup ${WARMUP}, runs ${RUNS}, $(nproc) CPUs, fixture $(basename "$FIXTURE"))"
# -N (no intermediate shell): pulp-init runs in ~1 ms, below what hyperfine
# can correct for shell start-up; the baseline is exec'd via its shebang.
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" \
  --export-json "$BENCH_OUT" \
  -n original  --prepare "$PREP_ORIG" "$CMD_ORIG" \
  -n pulp-init --prepare "$PREP_NEW"  "$CMD_NEW"

# --- summary table -------------------------------------------------------------------
echo
python3 - "$BENCH_OUT" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
o, n = res["original"], res["pulp-init"]
ms = lambda s: f"{s * 1000:9.2f} ms"
print(f"{'command':<10} {'median':>12} {'mean':>12} {'stddev':>12} {'min':>12} {'max':>12}")
for name, r in (("original", o), ("pulp-init", n)):
    print(f"{name:<10} {ms(r['median']):>12} {ms(r['mean']):>12} {ms(r['stddev'] or 0):>12} {ms(r['min']):>12} {ms(r['max']):>12}")
print(f"ratio (original / pulp-init, medians): {o['median'] / n['median']:.1f}x")
PY
echo "JSON: $BENCH_OUT"
exit "$status"
