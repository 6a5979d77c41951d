# Helpers shared by scripts/mongo.sh and scripts/rabbitmq.sh (sourced, not run).

now_ms() { date +%s%3N; }

# True if something already accepts connections on 127.0.0.1:PORT.
port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# True if PID exists and is not a zombie.
alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [[ -n "$st" && "$st" != Z* ]]
}
pid_alive() { [[ -s "$1" ]] && alive "$(cat "$1")"; }
