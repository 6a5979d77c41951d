#!/usr/bin/env bash
# Liveness of a Celery worker (issue 18 §1): `pulp-init check --live` next to what operators
# use today, `celery inspect ping -d <worker>` (Python start-up, then a broadcast over the
# broker and the worker's reply). One private RabbitMQ (scripts/rabbitmq.sh), one SecantusDB
# (scripts/mongo.sh), one stand-in worker (tests/apps/celery, heartbeating into `workers` as
# Pulp does) reached directly. Both tools are pointed at the broker through a counting TCP
# relay, so the table shows each tool's own broker traffic: connections and bytes.
# Knobs: RUNS (30), PULP_INIT_BIN (default: the static release build, built if missing),
#        PULP_INIT_VENV (/opt/pulp-init-venv), BENCH_OUT (bench/results/live)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
RUNS=${RUNS:-30}
venv=${PULP_INIT_VENV:-/opt/pulp-init-venv}
out=${BENCH_OUT:-$here/results/live}
mkdir -p "$out"
die() { echo "live.sh: $*" >&2; exit 1; }
bin=${PULP_INIT_BIN:-$root/target/x86_64-unknown-linux-musl/release/pulp-init}
if [[ -z ${PULP_INIT_BIN:-} && ! -x $bin ]]; then "$root/scripts/build-static.sh" >&2; fi
[[ -x $bin ]] || die "no pulp-init at $bin"
[[ -x $venv/bin/celery ]] || die "no celery in $venv (scripts/install-deps.sh)"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/scripts/rabbitmq.sh" stop "$work/rabbit" >/dev/null 2>&1 || true
  "$root/scripts/mongo.sh" stop "$work/mongo" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mport=$(port); rport=$(port); pport=$(port)
mkdir -p "$work/mongo" "$work/rabbit" "$work/cache"
MONGO_STORAGE=:memory: "$root/scripts/mongo.sh" start "$work/mongo" "$mport" >/dev/null
"$root/scripts/rabbitmq.sh" start "$work/rabbit" "$rport" >/dev/null

# The counting relay: every connection and byte to the broker through it, both ways.
"$venv/bin/python" - "$pport" "$rport" "$work/relay.count" <<'PY' &
import socket, sys, threading
listen, target, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock(); stats = [0, 0]
def save():
    with open(path + ".tmp", "w") as f: f.write(f"{stats[0]} {stats[1]}\n")
    import os; os.replace(path + ".tmp", path)
def pump(a, b):
    try:
        while (data := a.recv(65536)):
            with lock: stats[1] += len(data); save()
            b.sendall(data)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen)); srv.listen(64); save()
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", target))
    with lock: stats[0] += 1; save()
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
PY
pids+=($!)

host=$(cat /proc/sys/kernel/hostname)
name="reserved_resource_worker-1@$host"
# The worker itself talks to RabbitMQ directly: the relay counts only the tools.
(cd "$root/tests/apps/celery" && \
  TEST_BROKER_URL="amqp://guest:guest@127.0.0.1:$rport//" \
  TEST_MONGO_URL="mongodb://127.0.0.1:$mport/" TEST_WORKING_DIRECTORY="$work/cache" \
  exec "$venv/bin/celery" -A pulp_test_app worker -n 'reserved_resource_worker-1@%h' -c 1 \
    -l WARNING) > "$work/worker.log" 2>&1 &
pids+=($!)

cat > "$work/server.conf" <<EOF
[database]
seeds: 127.0.0.1:$mport
[tasks]
broker_url: amqp://guest:guest@127.0.0.1:$pport//
EOF

export PULP_SERVER_CONF=$work/server.conf
for _ in $(seq 600); do
  "$bin" check --live --role worker --start-period 0s >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin" check --live --role worker --start-period 0s >/dev/null || {
  cat "$work/worker.log" >&2; die "the worker did not come up"; }

PYTHONPATH=$root/tests/apps/celery "$venv/bin/python" - "$bin" "$venv/bin/celery" "$name" \
  "$RUNS" "$work/relay.count" "$pport" <<'PY' | tee "$out/summary.txt"
import os, statistics, subprocess, sys, time
bin_, celery, name, runs, count, pport = sys.argv[1:7]
runs = int(runs)
env = dict(os.environ, TEST_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{pport}//")
def relay():
    time.sleep(0.2)  # the relay's last bytes of a closing connection
    return [int(x) for x in open(count).read().split()]
tools = {
    "pulp-init check --live": [bin_, "check", "--live", "--role", "worker", "--start-period", "0s"],
    "celery inspect ping -d": [celery, "-A", "pulp_test_app", "inspect", "ping", "-d", name],
}
rows = {}
for tool, argv in tools.items():
    before = relay()
    times, last = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(argv, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            sys.exit(f"{tool} exited {p.returncode}: {p.stdout}{p.stderr}")
        last = (p.stdout.strip().splitlines() or [""])[-1]
    after = relay()
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    rows[tool] = (statistics.median(times), p95, after[0] - before[0], after[1] - before[1], last)
print(f"worker {name}; {runs} runs each; broker traffic through a counting relay")
print(f"{'tool':26} {'median':>9} {'p95':>9} {'broker conns':>13} {'broker bytes':>13}")
for tool, (med, p95, conns, nbytes, _) in rows.items():
    print(f"{tool:26} {med*1000:7.1f}ms {p95*1000:7.1f}ms {conns:13d} {nbytes:13d}")
a, b = rows["pulp-init check --live"], rows["celery inspect ping -d"]
print(f"ratio (median): check --live is {b[0]/a[0]:.1f}x faster")
for tool, r in rows.items():
    print(f"last answer of {tool}: {r[4]}")
PY
