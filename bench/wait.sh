#!/usr/bin/env bash
#
# bench/wait.sh -- waiting for the dependencies: pulp-init vs the original
# test_db_available.py vs wait-for-it, in ONE run, side by side.
#
#   1. detection delay: a dependency becomes reachable at a recorded instant
#      (bench/gate.py starts listening 1-3 s after the tool was started and
#      forwards to the running SecantusDB); delay = tool exit - listen, both
#      from CLOCK_MONOTONIC. >= 20 trials per tool, tools interleaved.
#   2. cost of one readiness check with everything up (hyperfine):
#      `pulp-init check` vs `wait-for-it -t 1` (TCP only) vs test_db_available.py.
#   3. end to end, beat role, everything up (hyperfine, fresh server.conf
#      before each run): `pulp-init --role beat --skip-migrate --user root -- /bin/true` (root: the original run.sh is re-created running its command as root too)
#      vs bench/original/run.sh /bin/true (4x augtool + test_db_available.py).
#
# Starts a private SecantusDB and a private RabbitMQ on 127.0.0.1 (ports
# 25900-25999 only), scratch files in /tmp/bench-wait-*, and stops/removes
# everything on exit. Not part of the test run.
#
# Environment knobs:
#   PULP_INIT_BIN   binary (default <repo>/target/release/pulp-init; must know
#                   the `wait` and `check` subcommands; never built here)
#   TRIALS          detection trials per tool (default 20)
#   DELAY_MIN/MAX   gate opens uniformly in [MIN, MAX] s after start (1 / 3)
#   SEED            random seed for the delays (default: time-based)
#   TUNED_CAP       also measure `pulp-init wait --retry-cap TUNED_CAP`
#                   (default 200ms; empty: skip that row)
#   WARMUP / RUNS   hyperfine warmup / runs for parts 2 and 3 (3 / 30)
#   FIXTURE         server.conf for part 3
#                   (default tests/fixtures/server-conf/pulp-2.21-final.conf)
#   PORT_BASE       first port used (default 25900; uses PORT_BASE..+19)
#   RESULTS         output directory (default <repo>/bench/results)
#
# Needs: hyperfine, wait-for-it, augtool (+ augeas-lenses), runuser (optional),
# python3, the venv /opt/pulp-init-venv (pymongo, secantusd-py), rabbitmq-server.

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"
VENV="${PULP_INIT_VENV:-/opt/pulp-init-venv}"
VPY="${VENV}/bin/python"

TRIALS="${TRIALS:-20}"
DELAY_MIN="${DELAY_MIN:-1}"
DELAY_MAX="${DELAY_MAX:-3}"
SEED="${SEED:-}"
TUNED_CAP="${TUNED_CAP-200ms}"
WARMUP="${WARMUP:-3}"
RUNS="${RUNS:-30}"
FIXTURE="${FIXTURE:-$REPO/tests/fixtures/server-conf/pulp-2.21-final.conf}"
PORT_BASE="${PORT_BASE:-25900}"
RESULTS="${RESULTS:-$REPO/bench/results}"
PULP_INIT_BIN="${PULP_INIT_BIN:-$REPO/target/release/pulp-init}"
ORIG="${HERE}/original"

MONGO_PORT=$((PORT_BASE + 1))
RABBIT_PORT=$((PORT_BASE + 2))
RABBIT_EPMD_PORT=$((PORT_BASE + 3))   # rabbitmq.sh would use PORT+10000
RABBIT_DIST_PORT=$((PORT_BASE + 4))   # rabbitmq.sh would use PORT+20000
GATE_PORT_BASE=$((PORT_BASE + 10))    # one gate port per tool: +10 .. +13

die() { echo "wait.sh: $*" >&2; exit 1; }
say() { echo "== $*"; }

# --- preconditions --------------------------------------------------------------
(( PORT_BASE >= 25900 && PORT_BASE + 19 <= 25999 )) || die "PORT_BASE must keep ports within 25900-25999"
(( TRIALS >= 20 )) || echo "wait.sh: warning: TRIALS=$TRIALS (< 20): percentiles will be rough" >&2
for tool in hyperfine wait-for-it augtool python3; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
[ -x "$VPY" ] || die "venv python not found: $VPY (run scripts/install-deps.sh)"
[ -f "$FIXTURE" ] || die "fixture not found: $FIXTURE"
[ -x "$PULP_INIT_BIN" ] || die "pulp-init binary not found: $PULP_INIT_BIN (cargo build --release, or set PULP_INIT_BIN)"
for sub in wait check; do
  "$PULP_INIT_BIN" "$sub" --help >/dev/null 2>&1 \
    || die "$PULP_INIT_BIN has no '$sub' subcommand (stale build? rebuild or set PULP_INIT_BIN)"
done
for f in "$ORIG/run.sh" "$ORIG/configure_pulp_server.sh" "$ORIG/test_db_available.py" "$HERE/gate.py"; do
  [ -x "$f" ] || die "missing or not executable: $f"
done
port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
for p in "$MONGO_PORT" "$RABBIT_PORT" "$RABBIT_EPMD_PORT" "$RABBIT_DIST_PORT" \
         $(seq "$GATE_PORT_BASE" $((GATE_PORT_BASE + 3))); do
  if port_busy "$p"; then die "127.0.0.1:$p is already in use"; fi
done

# --- scratch dir, services, cleanup ---------------------------------------------
WORK="$(mktemp -d /tmp/bench-wait-XXXXXX)"
MONGO_DIR="$WORK/mongo"
RABBIT_DIR="$WORK/rabbit"
cleanup() {
  local rc=$?
  set +e
  [ -f "$RABBIT_DIR/env" ] && "$REPO/scripts/rabbitmq.sh" stop "$RABBIT_DIR" >/dev/null 2>&1
  [ -f "$MONGO_DIR/pid" ] && "$REPO/scripts/mongo.sh" stop "$MONGO_DIR" >/dev/null 2>&1
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$RESULTS" "$WORK/logs"

# Benchmark a snapshot: the binary in the tree may be rebuilt during the run.
BIN_MTIME="$(date -u -r "$PULP_INIT_BIN" '+%Y-%m-%d %H:%M:%S UTC')"
cp "$PULP_INIT_BIN" "$WORK/pulp-init"
PULP_INIT_SRC="$PULP_INIT_BIN"
PULP_INIT_BIN="$WORK/pulp-init"

say "starting SecantusDB on 127.0.0.1:$MONGO_PORT and RabbitMQ on 127.0.0.1:$RABBIT_PORT"
MONGO_STORAGE=:memory: "$REPO/scripts/mongo.sh" start "$MONGO_DIR" "$MONGO_PORT" 2>"$WORK/logs/mongo-start.log" \
  || { cat "$WORK/logs/mongo-start.log" >&2; die "SecantusDB did not start"; }
PI_RABBITMQ_EPMD_PORT="$RABBIT_EPMD_PORT" PI_RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" \
  "$REPO/scripts/rabbitmq.sh" start "$RABBIT_DIR" "$RABBIT_PORT" 2>"$WORK/logs/rabbit-start.log" \
  || { cat "$WORK/logs/rabbit-start.log" >&2; die "RabbitMQ did not start"; }
cat "$WORK/logs/mongo-start.log" "$WORK/logs/rabbit-start.log" | sed 's/^/   /'

BROKER_URL="amqp://guest:guest@127.0.0.1:${RABBIT_PORT}//"
# server.conf for parts 1 and 2: [database] seeds -> SEEDS, broker -> RabbitMQ.
write_conf() { # path seeds
  cat > "$1" <<CONF
[database]
name: pulp_database
seeds: $2

[messaging]
transport: rabbitmq
url: ${BROKER_URL}

[tasks]
broker_url: ${BROKER_URL}
CONF
}
CHECK_CONF="$WORK/check.conf"
write_conf "$CHECK_CONF" "127.0.0.1:${MONGO_PORT}"

PI_VERSION="$("$PULP_INIT_BIN" --version 2>/dev/null || echo '?')"
PI_SHA="$(sha256sum "$PULP_INIT_BIN" | cut -c1-12)"

# --- sanity: everything answers with both services up -------------------------------
say "sanity check (services up; each must exit 0)"
sanity() { # name cmd...
  local name=$1; shift
  if "$@" >"$WORK/logs/sanity-$name.log" 2>&1; then
    echo "   ok    $name"
  else
    echo "   FAIL  $name (exit $?):"; sed 's/^/         /' "$WORK/logs/sanity-$name.log"; exit 1
  fi
}
sanity pulp-init-check "$PULP_INIT_BIN" check --conf "$CHECK_CONF"
sanity pulp-init-wait  "$PULP_INIT_BIN" wait --conf "$CHECK_CONF" --timeout 10s
sanity test_db_available "$VPY" "$ORIG/test_db_available.py" "$CHECK_CONF"
sanity wait-for-it wait-for-it -h 127.0.0.1 -p "$MONGO_PORT" -t 1

# =================================================================================
# 1. detection delay
# =================================================================================
echo
say "1. detection delay: $TRIALS trials per tool, gate opens ${DELAY_MIN}-${DELAY_MAX} s after start"
DETECT_JSON="$RESULTS/wait-detection.json"
DETECT_CSV="$RESULTS/wait-detection.csv"
TOOLS_SPEC="$WORK/tools.json"
"$VPY" - "$TOOLS_SPEC" "$PULP_INIT_BIN" "$VPY" "$ORIG/test_db_available.py" "$TUNED_CAP" <<'PY'
import json, sys
out, pi, vpy, tda, cap = sys.argv[1:6]
tools = [
    # {conf} and {port} are filled in per trial.
    {"name": "pulp-init wait", "argv": [pi, "wait", "--conf", "{conf}", "--timeout", "60s"]},
    {"name": "test_db_available.py", "argv": [vpy, tda, "{conf}"]},
    {"name": "wait-for-it", "argv": ["wait-for-it", "-h", "127.0.0.1", "-p", "{port}", "-t", "60"]},
]
if cap:
    tools.append({"name": f"pulp-init wait --retry-cap {cap}",
                  "argv": [pi, "wait", "--conf", "{conf}", "--timeout", "60s", "--retry-cap", cap]})
json.dump(tools, open(out, "w"))
PY

python3 - "$TOOLS_SPEC" "$WORK" "$HERE/gate.py" "$GATE_PORT_BASE" "$MONGO_PORT" "$BROKER_URL" \
  "$TRIALS" "$DELAY_MIN" "$DELAY_MAX" "${SEED}" "$DETECT_JSON" "$DETECT_CSV" <<'PY'
import json, os, random, signal, subprocess, sys, time

(spec, work, gate, gate_base, mongo_port, broker_url, trials, dmin, dmax, seed,
 out_json, out_csv) = sys.argv[1:13]
tools = json.load(open(spec))
gate_base, mongo_port, trials = int(gate_base), int(mongo_port), int(trials)
dmin, dmax = float(dmin), float(dmax)
seed = int(seed) if seed else time.time_ns() % 2**32
rng = random.Random(seed)
TRIAL_TIMEOUT = 90  # s; the original gives up after ~66 s

for i, t in enumerate(tools):
    t["port"] = gate_base + i
    t["conf"] = os.path.join(work, f"gate-{i}.conf")
    with open(t["conf"], "w") as f:
        f.write(f"[database]\nname: pulp_database\nseeds: 127.0.0.1:{t['port']}\n\n"
                f"[messaging]\ntransport: rabbitmq\nurl: {broker_url}\n\n"
                f"[tasks]\nbroker_url: {broker_url}\n")
    t["argv"] = [a.replace("{conf}", t["conf"]).replace("{port}", str(t["port"])) for a in t["argv"]]

def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()

rows = []
for n in range(trials):
    order = list(range(len(tools)))
    rng.shuffle(order)  # interleave tools, random order each round
    for i in order:
        t = tools[i]
        delay = rng.uniform(dmin, dmax)
        stamp = os.path.join(work, f"stamp-{i}")
        if os.path.exists(stamp):
            os.unlink(stamp)
        log = open(os.path.join(work, "logs", f"detect-{i}-{n}.log"), "w")
        t0 = time.monotonic_ns()
        tool = subprocess.Popen(t["argv"], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        g = subprocess.Popen([sys.executable, gate, "--port", str(t["port"]),
                              "--target-port", str(mongo_port),
                              "--listen-at", str(t0 + int(delay * 1e9)), "--stamp", stamp],
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = tool.wait(timeout=TRIAL_TIMEOUT)
            t_exit = time.monotonic_ns()
        except subprocess.TimeoutExpired:
            kill_group(tool)
            rc, t_exit = "timeout", None
        g.terminate()
        try:
            g.wait(timeout=5)
        except subprocess.TimeoutExpired:
            kill_group(g)
        log.close()
        listen = int(open(stamp).read()) if os.path.exists(stamp) else None
        ok = rc == 0 and listen is not None and t_exit is not None and t_exit >= listen
        d_ms = (t_exit - listen) / 1e6 if (listen is not None and t_exit is not None) else None
        rows.append({"tool": t["name"], "trial": n, "gate_delay_s": round(delay, 4),
                     "listen_after_start_ms": None if listen is None else round((listen - t0) / 1e6, 2),
                     "exit_code": rc, "detect_ms": None if d_ms is None else round(d_ms, 3), "ok": ok})
        mark = "" if ok else "   <-- FAILED (see log)"
        print(f"   trial {n + 1:>2}/{trials}  {t['name']:<34} gate at {delay:5.2f} s  "
              f"exit {rc!s:>3}  delay {('%9.1f ms' % d_ms) if d_ms is not None else '        -'}{mark}",
              flush=True)
        if not ok:
            print(open(log.name).read()[-2000:], file=sys.stderr)

with open(out_csv, "w") as f:
    f.write("tool,trial,gate_delay_s,listen_after_start_ms,exit_code,detect_ms,ok\n")
    for r in rows:
        f.write(",".join(str(r[k]) for k in
                         ("tool", "trial", "gate_delay_s", "listen_after_start_ms", "exit_code", "detect_ms", "ok")) + "\n")
json.dump({"seed": seed, "trials": trials, "delay_range_s": [dmin, dmax],
           "tools": [{"name": t["name"], "argv": t["argv"]} for t in tools], "rows": rows},
          open(out_json, "w"), indent=1)
failed = [r for r in rows if not r["ok"]]
print(f"   seed {seed}; {len(rows) - len(failed)}/{len(rows)} trials ok")
sys.exit(1 if failed else 0)
PY

# =================================================================================
# 2. cost of one readiness check (both services up)
# =================================================================================
echo
say "2. one readiness check, both services up (hyperfine -N, warmup $WARMUP, runs $RUNS)"
CHECK_JSON="$RESULTS/wait-check.json"
q() { printf '%q' "$1"; }
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$CHECK_JSON" \
  -n "pulp-init check" "$(q "$PULP_INIT_BIN") check --conf $(q "$CHECK_CONF")" \
  -n "wait-for-it -t 1 (TCP only)" "wait-for-it -h 127.0.0.1 -p $MONGO_PORT -t 1" \
  -n "test_db_available.py" "$(q "$VPY") $(q "$ORIG/test_db_available.py") $(q "$CHECK_CONF")"

# =================================================================================
# 3. end to end, beat role (both services up)
# =================================================================================
echo
say "3. end to end, beat role, both services up (hyperfine -N, warmup $WARMUP, runs $RUNS)"
export DB_SERVICE_HOST=127.0.0.1
export DB_SERVICE_PORT="$MONGO_PORT"
export MSG_SERVICE_HOST=127.0.0.1
export MSG_SERVICE_PORT="$RABBIT_PORT"
export MSG_SERVICE_TYPE=rabbitmq
export MSG_SERVICE_USER=guest
export MSG_SERVICE_PASSWORD=guest
export PULP_SERVER_NAME=pulp.example
unset SERVICE_HOST PULP_SERVER_CONF
ORIG_ROOT="$WORK/e2e-original"
NEW_CONF="$WORK/e2e-pulp-init/etc/pulp/server.conf"
mkdir -p "$ORIG_ROOT/etc/pulp" "$(dirname "$NEW_CONF")"
export AUG_ROOT="$ORIG_ROOT" AUG_LENS_DIR="$HERE"
CMD_NEW="$(q "$PULP_INIT_BIN") --role beat --skip-migrate --user root --conf $(q "$NEW_CONF") -- /bin/true"
CMD_ORIG="$(q "$ORIG/run.sh") /bin/true"
PREP_NEW="cp $(q "$FIXTURE") $(q "$NEW_CONF")"
PREP_ORIG="cp $(q "$FIXTURE") $(q "$ORIG_ROOT/etc/pulp/server.conf")"

# Correctness first: each exits 0 and writes the seeds it then waited for.
for side in pulp-init original; do
  if [ "$side" = pulp-init ]; then eval "$PREP_NEW"; cmd=$CMD_NEW; conf=$NEW_CONF
  else eval "$PREP_ORIG"; cmd=$CMD_ORIG; conf=$ORIG_ROOT/etc/pulp/server.conf; fi
  if ! eval "$cmd" >"$WORK/logs/e2e-$side.log" 2>&1; then
    echo "   FAIL  $side: exit status $?"; sed 's/^/         /' "$WORK/logs/e2e-$side.log"; exit 1
  fi
  python3 - "$side" "$conf" "127.0.0.1:$MONGO_PORT" <<'PY' || exit 1
import configparser, sys
side, path, want = sys.argv[1:4]
cp = configparser.RawConfigParser(strict=False, interpolation=None)
cp.read(path)
got = {k: cp.get(s, k, fallback=None) for s, k in
       (("database", "seeds"), ("server", "server_name"), ("tasks", "broker_url"))}
ok = got["seeds"] == want
print(f"   {'ok  ' if ok else 'FAIL'}  {side:<9} exit 0; seeds={got['seeds']} server_name={got['server_name']} "
      f"broker_url={got['broker_url']}")
sys.exit(0 if ok else 1)
PY
done

E2E_JSON="$RESULTS/wait-e2e.json"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$E2E_JSON" \
  -n "pulp-init --role beat" --prepare "$PREP_NEW" "$CMD_NEW" \
  -n "original run.sh" --prepare "$PREP_ORIG" "$CMD_ORIG"

# =================================================================================
# summary
# =================================================================================
echo
say "summary ($(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'); $PI_VERSION, $PULP_INIT_SRC built $BIN_MTIME, sha256 $PI_SHA)"
python3 - "$DETECT_JSON" "$CHECK_JSON" "$E2E_JSON" "$TUNED_CAP" <<'PY'
import json, statistics, sys

det_path, check_path, e2e_path, tuned = sys.argv[1:5]

def pct(xs, p):
    """Linear-interpolated percentile (numpy's default)."""
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

def fmt(ms):
    return f"{ms / 1000:8.2f} s " if ms >= 10000 else f"{ms:8.1f} ms"

det = json.load(open(det_path))
names = [t["name"] for t in det["tools"]]
base = "pulp-init wait"
stats = {}
for n in names:
    xs = [r["detect_ms"] for r in det["rows"] if r["tool"] == n and r["ok"]]
    stats[n] = (len(xs), pct(xs, 50), pct(xs, 95), min(xs), max(xs), statistics.fmean(xs))
print(f"\n1. detection delay (tool exit - gate listen), {det['trials']} trials each, "
      f"gate opens {det['delay_range_s'][0]:g}-{det['delay_range_s'][1]:g} s after start")
print(f"   {'tool':<34} {'n':>3} {'p50':>11} {'p95':>11} {'min':>11} {'max':>11}   {'p50 / pulp-init':>15}")
for n in names:
    k, p50, p95, lo, hi, _ = stats[n]
    print(f"   {n:<34} {k:>3} {fmt(p50)} {fmt(p95)} {fmt(lo)} {fmt(hi)}   {p50 / stats[base][1]:>14.1f}x")
_, p50, p95, *_ = stats[base]
g1 = p50 <= 150
g2 = p95 <= 600
print(f"   goal pulp-init wait p50 <= 150 ms: {p50:.0f} ms -> {'MET' if g1 else 'MISSED'};"
      f"  p95 <= 600 ms: {p95:.0f} ms -> {'MET' if g2 else 'MISSED'}")

def hf(path):
    return {r["command"]: r for r in json.load(open(path))["results"]}

def hf_table(title, res, base, note=""):
    print(f"\n{title}")
    print(f"   {'command':<34} {'median':>11} {'p95':>11} {'mean':>11} {'min':>11} {'max':>11}   {'median / base':>13}")
    b = res[base]["median"]
    for name, r in res.items():
        t = [x * 1000 for x in r["times"]]
        print(f"   {name:<34} {fmt(r['median'] * 1000)} {fmt(pct(t, 95))} {fmt(r['mean'] * 1000)} "
              f"{fmt(r['min'] * 1000)} {fmt(r['max'] * 1000)}   {r['median'] / b:>12.1f}x")
    if note:
        print(note)

hf_table("2. one readiness check, both up (hyperfine -N)", hf(check_path), "pulp-init check")
e2e = hf(e2e_path)
hf_table("3. end to end, beat role, both up (hyperfine -N, fresh server.conf each run)", e2e, "pulp-init --role beat")
ratio = e2e["original run.sh"]["median"] / e2e["pulp-init --role beat"]["median"]
print(f"   goal original / pulp-init >= 100x: {ratio:.0f}x -> {'MET' if ratio >= 100 else 'MISSED'}")
PY
echo
echo "JSON/CSV: $DETECT_JSON $DETECT_CSV $CHECK_JSON $E2E_JSON"
