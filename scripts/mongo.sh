#!/usr/bin/env bash
# Run SecantusDB (MongoDB wire protocol, secantusd-py) on 127.0.0.1 in the background, state in DIR.
# Usage: mongo.sh start DIR PORT [--auth USER PASS DB] [-- EXTRA_SECANTUSD_ARGS...] | stop DIR | status DIR
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

VENV=${PULP_INIT_VENV:-/opt/pulp-init-venv}
READY_TIMEOUT=${MONGO_READY_TIMEOUT:-30}     # seconds to wait for hello
STOP_GRACE_MS=${MONGO_STOP_GRACE_MS:-2000}   # SIGTERM -> SIGKILL deadline

die() { echo "mongo.sh: $*" >&2; exit 1; }
log() { echo "mongo.sh: $*" >&2; }
usage() { sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

find_tool() {
  if [[ -x "$VENV/bin/$1" ]]; then echo "$VENV/bin/$1"; return 0; fi
  command -v "$1" || die "$1 not found (run scripts/install-deps.sh)"
}


# Poll (no blind sleep) until PORT accepts a connection and answers `hello`,
# the daemon PID dies, or the deadline passes. Optional USER PASS DB: also
# authenticate and run a command that needs auth.
py_wait_ready() {
  "$(find_tool python)" - "$@" <<'PY'
import os, sys, time, socket
port, pid, timeout, tls = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
creds = sys.argv[5:8]
import pymongo
deadline = time.monotonic() + timeout
last = None
def pid_alive():
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
while time.monotonic() < deadline:
    if not pid_alive():
        print(f"secantusd (pid {pid}) exited before becoming ready", file=sys.stderr)
        sys.exit(3)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        kw = dict(directConnection=True, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
        if tls:
            kw.update(tls=True, tlsInsecure=True)
        c = pymongo.MongoClient("127.0.0.1", port, **kw)
        try:
            r = c.admin.command("hello")
            if not r.get("ok"):
                raise RuntimeError(f"hello: {r}")
        finally:
            c.close()
        break
    except Exception as e:  # not up yet
        last = e
        time.sleep(0.05)
else:
    print(f"secantusd on port {port} not ready after {timeout}s: {last!r}", file=sys.stderr)
    sys.exit(4)
if creds:
    user, pw, db = creds
    c = pymongo.MongoClient("127.0.0.1", port, directConnection=True, username=user, password=pw,
                            authSource=db, authMechanism="SCRAM-SHA-256",
                            serverSelectionTimeoutMS=3000, **({"tls": True, "tlsInsecure": True} if tls else {}))
    try:
        c[db].list_collection_names()
    finally:
        c.close()
PY
}

py_create_user() {
  "$(find_tool python)" - "$@" <<'PY'
import sys, pymongo
port, user, pw, db, tls = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"
kw = {"tls": True, "tlsInsecure": True} if tls else {}
c = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=5000, **kw)
d = c[db]
roles = [{"role": "readWrite", "db": db}, {"role": "dbAdmin", "db": db}]
exists = d.command("usersInfo", user).get("users")
if exists:
    d.command("updateUser", user, pwd=pw, roles=roles, mechanisms=["SCRAM-SHA-256"])
else:
    d.command("createUser", user, pwd=pw, roles=roles, mechanisms=["SCRAM-SHA-256"])
c.close()
PY
}

# launch DIR PORT AUTH(0|1) EXTRA... ; writes DIR/pid
launch() {
  local dir=$1 port=$2 auth=$3 storage pid
  shift 3
  storage=${MONGO_STORAGE:-$dir/data}
  local args=(--config "$dir/secantusd.toml" --host 127.0.0.1 --port "$port"
              --storage-path "$storage" --standalone --log-level "${MONGO_LOG_LEVEL:-INFO}")
  [[ "$auth" == 1 ]] && args+=(--auth)
  args+=("$@")
  # setsid: own session, so a signal to the caller's process group can't hit it.
  setsid "$(find_tool secantusd-py)" "${args[@]}" </dev/null >>"$dir/secantusd.log" 2>&1 &
  pid=$!
  echo "$pid" > "$dir/pid"
}

# stop_pid PID GRACE_MS: SIGTERM, wait up to GRACE_MS, then SIGKILL.
stop_pid() {
  local pid=$1 grace=$2 deadline
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(now_ms) + grace ))
  while alive "$pid" && (( $(now_ms) < deadline )); do sleep 0.05; done
  if alive "$pid"; then
    log "pid $pid ignored SIGTERM for ${grace} ms; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$(( $(now_ms) + 3000 ))
    while alive "$pid" && (( $(now_ms) < deadline )); do sleep 0.05; done
  fi
}

cmd_start() {
  [[ $# -ge 2 ]] || usage
  local dir port auth=0 user="" pass="" db="" tls=0 t0 a
  mkdir -p "$1"; dir=$(cd "$1" && pwd); port=$2; shift 2
  if ! [[ "$port" =~ ^[0-9]+$ ]] || (( port < 1 || port > 65535 )); then die "bad PORT: $port"; fi
  if [[ "${1:-}" == "--auth" ]]; then
    [[ $# -ge 4 ]] || usage
    auth=1; user=$2; pass=$3; db=$4; shift 4
  fi
  if [[ "${1:-}" == "--" ]]; then shift; fi
  for a in "$@"; do [[ "$a" == --tls-cert-file* ]] && tls=1; done
  if [[ "$auth" == 1 && "${MONGO_STORAGE:-}" == ":memory:" ]]; then
    die "--auth needs persistent storage (users are created before a restart with --auth)"
  fi
  if pid_alive "$dir/pid"; then
    if [[ "$(cat "$dir/port" 2>/dev/null)" == "$port" && "$(cat "$dir/auth" 2>/dev/null)" == "$auth" ]] \
       && py_wait_ready "$port" "$(cat "$dir/pid")" 5 "$tls" >/dev/null; then
      log "already running (pid $(cat "$dir/pid")) on 127.0.0.1:$port"
      return 0
    fi
    die "another secantusd runs from $dir (pid $(cat "$dir/pid")); stop it first"
  fi
  if port_busy "$port"; then die "127.0.0.1:$port is already in use"; fi
  : > "$dir/secantusd.toml"     # empty config: disables auto-discovery of ~/.secantus, /etc/secantus
  echo "$port" > "$dir/port"
  echo "$auth" > "$dir/auth"
  t0=$(now_ms)
  if [[ "$auth" == 1 ]]; then
    # SecantusDB has no localhost exception: provision the user on an
    # auth-less run, stop it cleanly, then restart with --auth.
    launch "$dir" "$port" 0 "$@"
    if ! py_wait_ready "$port" "$(cat "$dir/pid")" "$READY_TIMEOUT" "$tls"; then
      stop_pid "$(cat "$dir/pid")" 0; tail -n 20 "$dir/secantusd.log" >&2; die "secantusd did not start"
    fi
    py_create_user "$port" "$user" "$pass" "$db" "$tls" || { stop_pid "$(cat "$dir/pid")" 0; die "createUser failed"; }
    stop_pid "$(cat "$dir/pid")" 15000   # graceful: let WiredTiger checkpoint the user
    launch "$dir" "$port" 1 "$@"
    if ! py_wait_ready "$port" "$(cat "$dir/pid")" "$READY_TIMEOUT" "$tls" "$user" "$pass" "$db"; then
      stop_pid "$(cat "$dir/pid")" 0; tail -n 20 "$dir/secantusd.log" >&2; die "secantusd --auth did not start or auth failed"
    fi
    log "secantusd up with --auth on 127.0.0.1:$port (pid $(cat "$dir/pid"), user $user on $db) in $(( $(now_ms) - t0 )) ms"
  else
    launch "$dir" "$port" 0 "$@"
    if ! py_wait_ready "$port" "$(cat "$dir/pid")" "$READY_TIMEOUT" "$tls"; then
      stop_pid "$(cat "$dir/pid")" 0; tail -n 20 "$dir/secantusd.log" >&2; die "secantusd did not start"
    fi
    pid_alive "$dir/pid" || die "secantusd exited right after start; see $dir/secantusd.log"
    log "secantusd up on 127.0.0.1:$port (pid $(cat "$dir/pid")) in $(( $(now_ms) - t0 )) ms"
  fi
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  local dir=$1
  [[ -s "$dir/pid" ]] || { log "no $dir/pid; nothing to stop"; return 0; }
  stop_pid "$(cat "$dir/pid")" "$STOP_GRACE_MS"
  rm -f "$dir/pid"
  log "stopped"
}

cmd_status() {
  [[ $# -eq 1 ]] || usage
  if pid_alive "$1/pid"; then echo "running pid $(cat "$1/pid") port $(cat "$1/port" 2>/dev/null)"; return 0; fi
  echo "stopped"; return 1
}

[[ $# -ge 1 ]] || usage
sub=$1; shift
case "$sub" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  *) usage ;;
esac
