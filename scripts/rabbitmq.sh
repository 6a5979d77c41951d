#!/usr/bin/env bash
# Run a PRIVATE, loopback-only RabbitMQ node (own node name, ports, epmd, cookie, data in DIR).
# Usage: rabbitmq.sh start DIR PORT | stop DIR | adduser DIR USER PASS [VHOST] | queues DIR [VHOST] | status DIR
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

die() { echo "rabbitmq.sh: $*" >&2; exit 1; }
log() { echo "rabbitmq.sh: $*" >&2; }

usage() {
  sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Debian's /usr/sbin/rabbitmq-* wrappers `su rabbitmq` (which resets HOME and
# breaks a private cookie): call the real scripts directly when present.
find_bin() {
  local name=$1 dir
  for dir in "${RABBITMQ_BIN_DIR:-}" /usr/lib/rabbitmq/bin /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin; do
    if [[ -n "$dir" && -x "$dir/$name" ]]; then echo "$dir/$name"; return 0; fi
  done
  command -v "$name" || die "$name not found (run scripts/install-deps.sh)"
}



# Export the whole private environment of the node whose state lives in DIR.
load_env() {
  local dir=$1
  [[ -f "$dir/env" ]] || die "$dir/env missing: node was never started with '$0 start $dir PORT'"
  # shellcheck source=/dev/null
  . "$dir/env"
}

write_env() {
  local dir=$1 port=$2 dist=$3 epmd=$4 node=$5
  cat > "$dir/env" <<ENV
export HOME='$dir'
export RABBITMQ_NODENAME='$node'
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$dist
export ERL_EPMD_PORT=$epmd
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_CONF_ENV_FILE='$dir/rabbitmq-env.conf'
export RABBITMQ_CONFIG_FILE='$dir/rabbitmq.conf'
export RABBITMQ_ADVANCED_CONFIG_FILE='$dir/advanced.config'
export RABBITMQ_ENABLED_PLUGINS_FILE='$dir/enabled_plugins'
export RABBITMQ_MNESIA_BASE='$dir/mnesia'
export RABBITMQ_LOG_BASE='$dir/log'
export RABBITMQ_PID_FILE='$dir/pid'
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
ENV
}

ctl() { timeout "${RABBITMQ_CTL_TIMEOUT:-60}" "$(find_bin rabbitmqctl)" -q -n "$RABBITMQ_NODENAME" "$@"; }


cmd_start() {
  [[ $# -eq 2 ]] || usage
  local dir port dist epmd node t0 t1
  mkdir -p "$1"; dir=$(cd "$1" && pwd); port=$2
  if ! [[ "$port" =~ ^[0-9]+$ ]] || (( port < 1 || port > 65535 )); then die "bad PORT: $port"; fi
  if [[ -f "$dir/env" ]] && pid_alive "$dir/pid"; then
    load_env "$dir"
    if [[ "$RABBITMQ_NODE_PORT" == "$port" ]] && ctl await_startup >/dev/null 2>&1; then
      log "node $RABBITMQ_NODENAME already running (pid $(cat "$dir/pid"))"
      return 0
    fi
    die "a node is already running from $dir (pid $(cat "$dir/pid")); stop it first"
  fi
  # Distribution port: PORT+20000 (or PORT-20000 when that would overflow);
  # private epmd on PORT+10000 (or PORT-10000). Both overridable.
  if (( port + 20000 <= 65535 )); then dist=$((port + 20000)); else dist=$((port - 20000)); fi
  if (( port + 10000 <= 65535 )); then epmd=$((port + 10000)); else epmd=$((port - 10000)); fi
  dist=${PI_RABBITMQ_DIST_PORT:-$dist}
  epmd=${PI_RABBITMQ_EPMD_PORT:-$epmd}
  node=${PI_RABBITMQ_NODENAME:-pi-$port@localhost}
  if port_busy "$port"; then die "127.0.0.1:$port is already in use"; fi
  mkdir -p "$dir/mnesia" "$dir/log"
  rm -f "$dir/pid"
  : > "$dir/rabbitmq-env.conf"            # shadow /etc/rabbitmq/rabbitmq-env.conf
  echo '[].' > "$dir/enabled_plugins"     # no management plugin, nothing else
  echo '[].' > "$dir/advanced.config"
  cat > "$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$port
loopback_users.guest = true
disk_free_limit.absolute = 1MB
log.console = false
log.file.level = info
CONF
  write_env "$dir" "$port" "$dist" "$epmd" "$node"
  echo "$node" > "$dir/node"
  load_env "$dir"
  cd "$dir"
  t0=$(now_ms)
  "$(find_bin rabbitmq-server)" -detached > "$dir/log/startup.out" 2>&1 \
    || { cat "$dir/log/startup.out" >&2; die "rabbitmq-server -detached failed"; }
  if ! ctl wait "$dir/pid" --timeout "${RABBITMQ_START_TIMEOUT:-60}" >/dev/null 2>"$dir/log/wait.err"; then
    cat "$dir/log/wait.err" >&2
    tail -n 30 "$dir"/log/*.log >&2 2>/dev/null || true
    cmd_stop "$dir" || true
    die "node $node did not start"
  fi
  t1=$(now_ms)
  log "node $node up on 127.0.0.1:$port (dist $dist, epmd $epmd, pid $(cat "$dir/pid")) in $((t1 - t0)) ms"
}

# epmd refuses -kill while a node is still registered (e.g. right after a
# SIGKILL), so retry for a while, then kill whatever epmd listens on OUR port.
stop_private_epmd() {
  local deadline pids
  command -v epmd >/dev/null 2>&1 || return 0
  deadline=$(( $(now_ms) + 5000 ))
  while timeout 2 epmd -port "$ERL_EPMD_PORT" -names >/dev/null 2>&1; do
    timeout 2 epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
    (( $(now_ms) < deadline )) || break
    sleep 0.2
  done
  if command -v ss >/dev/null 2>&1; then
    pids=$(ss -Hltnp "sport = :$ERL_EPMD_PORT" 2>/dev/null | grep -o '"epmd",pid=[0-9]*' | grep -o '[0-9]*$' | sort -u || true)
    if [[ -n "$pids" ]]; then
      log "killing private epmd $pids on port $ERL_EPMD_PORT"
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
    fi
  fi
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  local dir=$1 pid deadline
  [[ -d "$dir" ]] || { log "$dir does not exist; nothing to stop"; return 0; }
  dir=$(cd "$dir" && pwd)
  [[ -f "$dir/env" ]] || { log "$dir/env missing; nothing to stop"; return 0; }
  load_env "$dir"
  if pid_alive "$dir/pid"; then
    pid=$(cat "$dir/pid")
    RABBITMQ_CTL_TIMEOUT=${RABBITMQ_STOP_TIMEOUT:-20} ctl stop "$dir/pid" >/dev/null 2>&1 || true
    if alive "$pid"; then
      log "rabbitmqctl stop did not finish; SIGTERM $pid"
      kill -TERM "$pid" 2>/dev/null || true
      deadline=$(( $(now_ms) + ${RABBITMQ_KILL_AFTER_MS:-10000} ))
      while alive "$pid" && (( $(now_ms) < deadline )); do sleep 0.1; done
      if alive "$pid"; then
        log "SIGKILL $pid"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$(( $(now_ms) + 3000 ))
        while alive "$pid" && (( $(now_ms) < deadline )); do sleep 0.1; done
      fi
    fi
  fi
  rm -f "$dir/pid"
  # The private epmd (ERL_EPMD_PORT) was started by this node; it is ours to end.
  stop_private_epmd
  log "node $RABBITMQ_NODENAME stopped"
}

cmd_adduser() {
  [[ $# -eq 3 || $# -eq 4 ]] || usage
  local dir=$1 user=$2 pass=$3 vhost=${4:-/}
  load_env "$dir"
  if [[ "$vhost" != "/" ]]; then
    ctl list_vhosts name | grep -qxF -- "$vhost" || ctl add_vhost "$vhost" >/dev/null
  fi
  if ctl list_users | awk '{print $1}' | grep -qxF -- "$user"; then
    ctl change_password "$user" "$pass" >/dev/null
  else
    ctl add_user "$user" "$pass" >/dev/null
  fi
  ctl set_permissions -p "$vhost" "$user" '.*' '.*' '.*' >/dev/null
  log "user $user has full permissions on vhost $vhost"
}

cmd_queues() {
  [[ $# -eq 1 || $# -eq 2 ]] || usage
  load_env "$1"
  ctl list_queues --no-table-headers -p "${2:-/}" name
}

cmd_status() {
  [[ $# -eq 1 ]] || usage
  load_env "$1"
  pid_alive "$1/pid" && ctl await_startup >/dev/null 2>&1 && { echo "running $RABBITMQ_NODENAME"; return 0; }
  echo "stopped"; return 1
}

[[ $# -ge 1 ]] || usage
sub=$1; shift
case "$sub" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  adduser) cmd_adduser "$@" ;;
  queues) cmd_queues "$@" ;;
  status) cmd_status "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
